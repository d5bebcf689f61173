// Where the counters live, for the host's view of them.
import { STATS_BASE } from "./stats";
import { fastFoldCounts } from "./smp";
// (the CPUs' lockless slab counts go in first: the host brackets this call so they are stopped)
export function stats_base(): usize { fastFoldCounts(); return STATS_BASE; }
