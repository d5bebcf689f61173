// kmalloc and kfree on a CPU of several (issue 14): SLUB's per-CPU path without
// the kernel lock when it can finish there (slub.ts's kmallocFast, kfreeFast),
// else the whole call under the kernel lock. With one CPU, or before CPU threads
// start, this is plain kmalloc/kfree (nothing to lock).
import { kmalloc, kfree, kmallocFast, kfreeFast } from "./slub";
import { fastBegin, fastEnd, kernelEnter, kernelLeave } from "../smp";

export function kmallocSmp(size: u64, gfp: u32): u64 {
  if (fastBegin()) {
    const p = kmallocFast(size, gfp);
    fastEnd();
    if (p != 0) return p;
  }
  const d = kernelEnter();
  const p = kmalloc(size, gfp);
  kernelLeave(d);
  return p;
}

export function kfreeSmp(va: u64): void {
  if (fastBegin()) {
    const done = kfreeFast(va);
    fastEnd();
    if (done) return;
  }
  const d = kernelEnter();
  kfree(va);
  kernelLeave(d);
}
