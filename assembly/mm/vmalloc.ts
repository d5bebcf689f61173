// vmalloc space (mm/vmalloc.c). Entry points used by reports and task stacks;
// the allocator arrives with the vmalloc issue.
import { NO_PFN } from "./phys";

// The page behind a vmalloc address, after writing the area into a report
// record; NO_PFN when va is not in a live vmalloc area.
export function vmallocDescribe(rec: usize, va: u64): u32 { return NO_PFN; }
export function vmallocStack(size: u32): u64 { return 0; }
export function vfreeStack(va: u64): void {}
