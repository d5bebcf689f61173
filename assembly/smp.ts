// CPUs as threads (issue 14). Each CPU is its own instance of the core over
// one shared memory, with its own wasm globals (docs/smp.md's audit classes
// every one):
// - machine state set at boot stays in globals, which the hot paths read:
//   CPU 0 publishes it, a CPU copies it as it starts (assembly/smp_state.ts,
//   generated from the audit);
// - machine state that changes after boot lives in linear memory
//   (statics.ts MACHINE_STATE), one copy for all CPUs, under the kernel lock:
//   one CPU runs kernel code at a time, as under Linux 2.0-2.6's big kernel
//   lock, except SLUB's lockless per-CPU paths (below). With one CPU nothing
//   is taken.
import { currentCpu } from "./task";
import { HOST_BUF, HOST_BUF_SIZE, PERCPU_HOST_BUF, PERCPU_FAST } from "./statics";
import { statAdd } from "./stats";
import { STAT_SLAB_ALLOCS, STAT_SLAB_FREES } from "../abi/abi";
import { untag, kasanMemToShadow } from "./mm/layout";
import { kasanMode } from "./kasan/kasan";
import { dmShadowStart, dmShadowEnd, dmShadowLin } from "./kasan/shadow";
import { KERNEL_LOCK, MUTEX_SPINS, LOCK_SPUN, LOCK_SLEPT, sleepingLock, sleepingLockSpinning, sleepingUnlock, nextSpinBudget } from "./locks";
import { STATE_READY, bootStateSave, bootStateLoad } from "./smp_state";
import { quarantineHostEntry } from "./kasan/quarantine";

// @ts-ignore: decorator
@inline export const SMP_MAX_CPUS: u32 = 8;

/** This instance's CPU (per instance: 0 on the thread that booted). */
export let thisCpu: u32 = 0;
/** CPU threads are running: kernel code takes the kernel lock. */
export let smpActive: bool = false;
// nesting of kernel_enter on this CPU (a kernel call that calls back into the host, which calls the kernel)
let kernelDepth: i32 = 0;
// sleeping (host.ts futexWait, Atomics.wait) is allowed on this thread (not on a browser's main thread)
let mayWait: bool = true;

/** CPU 0, after boot: publish the boot state for the other CPUs. */
export function smp_boot_state_save(): void {
  bootStateSave();
  atomic.store<u32>(STATE_READY, 1);
}

/**
 * CPU 0, as the other CPUs' threads start: from now on kernel code runs under
 * the kernel lock. Publishes the boot state.
 */
export function smp_start(): void {
  if (smpActive || kernelDepth != 0) return;
  bootStateSave();
  atomic.store<u32>(STATE_READY, 1);
  smpActive = true;
}

/** Whether this thread may sleep on a lock word (0: spin only, as a browser's main thread must). */
export function smp_set_may_wait(on: i32): void { mayWait = on != 0; }
/** Whether this thread may sleep (host.ts futexWait) at all. */
export function smpMayWait(): bool { return mayWait; }

// A job that failed (a trap, an exception in its CPU's host code) raises this
// word, so the other CPUs' jobs waiting for it at a barrier inside the core
// (fuzz/rounds.ts; they wait at most 1 ms at a time) give up instead of
// waiting for ever.
// @ts-ignore: decorator
@inline const JOBS_ABORTED: usize = PERCPU_FAST + 0x800;
/** A job on some CPU failed: every in-job barrier gives up (the host calls this where a job threw). */
export function smp_jobs_abort(): void { atomic.store<u32>(JOBS_ABORTED, 1); }
/** Whether a job failed since smpJobsArm. */
// @ts-ignore: decorator
@inline export function smpJobsAborted(): bool { return atomic.load<u32>(JOBS_ABORTED) != 0; }
/** Before a gang of jobs that meet at in-core barriers starts (no job of theirs runs yet). */
export function smpJobsArm(): void { atomic.store<u32>(JOBS_ABORTED, 0); }

/**
 * A CPU other than 0 starts: copy the boot state into this instance's globals
 * and become CPU `cpu`. Returns 0, or -1 when the state is not published or
 * the CPU number is out of range (then nothing changes).
 */
export function smp_secondary_start(cpu: u32): i32 {
  if (cpu == 0 || cpu >= SMP_MAX_CPUS || atomic.load<u32>(STATE_READY) != 1) return -1;
  bootStateLoad();
  thisCpu = cpu;
  currentCpu = cpu;
  smpActive = true;
  return 0;
}

/** Enter kernel code: take the kernel lock (unless this CPU holds it). Returns the depth to give kernelLeave. */
export function kernelEnter(): i32 { return kernelEnterSpinning(false); }
// Code that enters the kernel rarely (the fuzz interpreter: 4% of its ops)
// spins longer for the lock before it sleeps: under KASAN the other CPU may
// hold it for a quarantine reduction, and a waiter that sleeps pays the futex
// wake-up besides. Code that enters on every step (the churn job) keeps the
// short spin: there a sleeping waiter lets the holder take the lock again and
// again without handing it over, which is what is fast. The budget adapts
// (locks.ts nextSpinBudget); a lock found free changes nothing.
// @ts-ignore: decorator
@inline const RARE_ENTRY_SPINS_MAX: u32 = 1 << 17;
let rareEntrySpins: u32 = RARE_ENTRY_SPINS_MAX;
/** kernelEnter for code that enters rarely (above). */
export function kernelEnterRarely(): i32 { return kernelEnterSpinning(true); }
// Both entries: the depth, and the lock taken at depth 0 with the short spin
// or the adaptive long one.
// @ts-ignore: decorator
@inline function kernelEnterSpinning(rarely: bool): i32 {
  const depth = kernelDepth;
  if (!smpActive) return depth;
  if (depth == 0) {
    if (!rarely) {
      sleepingLock(KERNEL_LOCK, mayWait);
    } else {
      const spins = rareEntrySpins;
      const how = sleepingLockSpinning(KERNEL_LOCK, mayWait, spins);
      if ((mayWait && how == LOCK_SLEPT) || how == LOCK_SPUN) rareEntrySpins = nextSpinBudget(spins, how == LOCK_SLEPT, MUTEX_SPINS, RARE_ENTRY_SPINS_MAX);
    }
  }
  kernelDepth = depth + 1;
  return depth;
}
/** Leave kernel code entered at `depth` (also after a trap unwound inner levels): the outermost level releases the lock. */
export function kernelLeave(depth: i32): void {
  if (!smpActive || kernelDepth <= depth) return;
  kernelDepth = depth;
  if (depth == 0) {
    if (stopping) { stopping = false; atomic.store<u32>(FAST_STOP, 0); }
    sleepingUnlock(KERNEL_LOCK);
  }
}
// The host's brackets around a call it makes on a CPU: the call may read or
// change any CPU's per-CPU state (selfCheck, slabinfo, a cache's destruction,
// the counters), so the other CPUs also leave their lockless paths.
export function kernel_enter(): i32 {
  const depth = kernelEnter();
  if (depth == 0) {
    stopOthers();
    quarantineHostEntry();
  }
  return depth;
}
export function kernel_leave(depth: i32): void {
  // (also the host's clean-up after a trap, which may have left this CPU's mark)
  if (depth == 0 && smpActive) atomic.store<u32>(fastLine(thisCpu), 0);
  kernelLeave(depth);
}

// ── the lockless per-CPU paths ──────────────────────────────────────────────
// SLUB's cpu_slab and KASAN's per-CPU quarantine queue are used without the
// kernel lock (mm/slub.ts, "the lockless per-CPU paths"), as the kernel uses
// them without a shared lock.
// A CPU marks itself while it is on such a path; a kernel-lock holder that
// must touch other CPUs' per-CPU state (flush_all, the quarantine's walks,
// the host's calls) raises the stop word and waits for every mark to clear,
// which a path never waiting on anything does quickly: it plays the part of
// the kernel's IPIs and local locks. Both sides use seq-cst atomics (each
// stores its own word, then loads the other's), so one of them always sees
// the other.
// @ts-ignore: decorator
@inline const FAST_STOP: usize = PERCPU_FAST;
// @ts-ignore: decorator
@inline function fastLine(cpu: u32): usize { return PERCPU_FAST + 64 + (<usize>cpu << 6); }
// per CPU line: +0 on a lockless path (u32); +8 slab allocations, +16 slab
// frees not yet added to the counters (u64); +24, +32 lockless allocations
// and frees since boot, +40 quarantined objects given back to their slabs
// without the kernel lock (u64, the tests' evidence that the paths run)
// @ts-ignore: decorator
@inline export const FAST_ALLOCS: usize = 8;
// @ts-ignore: decorator
@inline export const FAST_FREES: usize = 16;
// @ts-ignore: decorator
@inline const FAST_DONE_ALLOCS: usize = 24;
// @ts-ignore: decorator
@inline const FAST_DONE_QUARANTINE: usize = 40;
// this CPU raised the stop word (it holds the kernel lock)
let stopping: bool = false;

/** Enter a lockless per-CPU path: false (nothing to do locklessly) with one CPU, or while a kernel-lock holder needs the per-CPU state. */
// @ts-ignore: decorator
@inline export function fastBegin(): bool {
  if (!smpActive) return false;
  const line = fastLine(thisCpu);
  atomic.store<u32>(line, 1);
  if (atomic.load<u32>(FAST_STOP) == 0) return true;
  atomic.store<u32>(line, 0);
  return false;
}
/**
 * Already on a lockless path (a loop that stays marked from one op to the
 * next, so that the two seq-cst stores are paid once per run of lockless
 * ops, not per op): true to go on, or false, having left the path, when a
 * kernel-lock holder raised the stop word. A loop must fastEnd before it
 * takes the kernel lock or returns.
 */
// @ts-ignore: decorator
@inline export function fastStay(): bool {
  if (atomic.load<u32>(FAST_STOP) == 0) return true;
  atomic.store<u32>(fastLine(thisCpu), 0);
  return false;
}
/** Leave it. */
// @ts-ignore: decorator
@inline export function fastEnd(): void { atomic.store<u32>(fastLine(thisCpu), 0); }
/** On a lockless path: count a slab allocation or free (FAST_ALLOCS / FAST_FREES), for the shared counters and the path's own tally. */
// @ts-ignore: decorator
@inline export function fastCount(which: usize): void {
  const line = fastLine(thisCpu);
  store<u64>(line + which, load<u64>(line + which) + 1);
  store<u64>(line + which + 16, load<u64>(line + which + 16) + 1);
}

/**
 * Under the kernel lock: wait until no other CPU is on a lockless path and
 * keep them off until the lock is released. Adds their counts to the shared
 * counters. Nothing to do with one CPU.
 */
export function stopOthers(): void {
  if (!smpActive || stopping) return;
  stopping = true;
  atomic.store<u32>(FAST_STOP, 1);
  for (let cpu: u32 = 0; cpu < SMP_MAX_CPUS; cpu++) {
    if (cpu != thisCpu) while (atomic.load<u32>(fastLine(cpu)) != 0) {}
  }
  fastFoldCounts();
}
/** Add every CPU's lockless counts to the shared counters (the host reads those; call with the others stopped, or with one CPU). */
export function fastFoldCounts(): void {
  for (let cpu: u32 = 0; cpu < SMP_MAX_CPUS; cpu++) {
    const line = fastLine(cpu);
    const allocs = load<u64>(line + FAST_ALLOCS), frees = load<u64>(line + FAST_FREES);
    if (allocs != 0) { statAdd(STAT_SLAB_ALLOCS, <i64>allocs); store<u64>(line + FAST_ALLOCS, 0); }
    if (frees != 0) { statAdd(STAT_SLAB_FREES, <i64>frees); store<u64>(line + FAST_FREES, 0); }
  }
}
/** On a lockless path: count n quarantined objects given back without the kernel lock. */
export function fastCountQuarantine(n: u32): void {
  const a = fastLine(thisCpu) + FAST_DONE_QUARANTINE;
  store<u64>(a, load<u64>(a) + n);
}
/** How many allocations (which 0) or frees (1) CPU `cpu` made on its lockless path, or quarantined objects it gave back there (2). */
export function smp_fast_done(cpu: u32, which: u32): u64 {
  return cpu < SMP_MAX_CPUS && which < 3 ? load<u64>(fastLine(cpu) + FAST_DONE_ALLOCS + (<usize>which << 3)) : 0;
}

/**
 * The KASAN shadow byte of a direct-map address, read from the boot state
 * alone (layout, shadow placement, mode): -1 when KASAN is off or va is not
 * in the direct map. Lets a test see that a CPU started with the state CPU 0
 * booted, without the TLB or the page tables.
 */
export function smp_probe_shadow(va: u64): i32 {
  if (kasanMode == 0) return -1;
  const sva = kasanMemToShadow(untag(va));
  if (sva - dmShadowStart >= dmShadowEnd - dmShadowStart) return -1;
  return <i32>load<u8>(dmShadowLin + <usize>(sva - dmShadowStart));
}
/** The host's transfer buffer of this CPU. */
export function host_buf(): usize { return thisCpu == 0 ? HOST_BUF : PERCPU_HOST_BUF + <usize>(thisCpu - 1) * HOST_BUF_SIZE; }
/** This instance's CPU number (0 until smp_secondary_start). */
export function smp_processor_id(): u32 { return thisCpu; }
