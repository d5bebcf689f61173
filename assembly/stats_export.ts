// Where the counters live, for the host's view of them.
import { STATS_BASE } from "./stats";
export function stats_base(): usize { return STATS_BASE; }
