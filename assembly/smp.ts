// CPUs as threads (issue 14). Each CPU is its own instance of the core over
// one shared memory, with its own wasm globals; machine state the core keeps in
// globals therefore has to move between instances (docs/smp.md's audit lists
// it; assembly/smp_state.ts, generated from that list, moves it):
// - the boot-only state, once: CPU 0 publishes it, a CPU copies it as it starts;
// - the state that changes after boot, under the kernel lock: one CPU runs
//   kernel code at a time, as under Linux 2.0-2.6's big kernel lock. The
//   holder saves that state to memory as it releases the lock, and the next
//   holder loads it if another CPU held the lock last. The hot paths keep
//   reading globals and constants; with one CPU nothing is taken or copied.
import { currentCpu } from "./task";
import { HOST_BUF, HOST_BUF_SIZE, PERCPU_HOST_BUF } from "./statics";
import { untag, kasanMemToShadow } from "./mm/layout";
import { kasanMode } from "./kasan/kasan";
import { dmShadowStart, dmShadowEnd, dmShadowLin } from "./kasan/shadow";
import { KERNEL_LOCK, sleepingLock, sleepingUnlock } from "./locks";
import { STATE_READY, STATE_OWNER, bootStateSave, bootStateLoad, machineStateSave, machineStateLoad } from "./smp_state";

// @ts-ignore: decorator
@inline export const SMP_MAX_CPUS: u32 = 8;

/** This instance's CPU (per instance: 0 on the thread that booted). */
export let thisCpu: u32 = 0;
/** CPU threads are running: kernel code takes the kernel lock. */
export let smpActive: bool = false;
// nesting of kernel_enter on this CPU (a kernel call that calls back into the host, which calls the kernel)
let kernelDepth: i32 = 0;
// atomic.wait is allowed on this thread (not on a browser's main thread)
let mayWait: bool = true;

/** CPU 0, after boot: publish the boot state for the other CPUs. */
export function smp_boot_state_save(): void {
  bootStateSave();
  atomic.store<u32>(STATE_READY, 1);
}

/**
 * CPU 0, as the other CPUs' threads start: from now on kernel code runs under
 * the kernel lock. Publishes the boot state and the machine state.
 */
export function smp_start(): void {
  if (smpActive || kernelDepth != 0) return;
  bootStateSave();
  machineStateSave();
  atomic.store<u32>(STATE_OWNER, thisCpu + 1);
  atomic.store<u32>(STATE_READY, 1);
  smpActive = true;
}

/** Whether this thread may sleep on a lock word (0: spin only, as a browser's main thread must). */
export function smp_set_may_wait(on: i32): void { mayWait = on != 0; }

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
export function kernelEnter(): i32 {
  const depth = kernelDepth;
  if (!smpActive) return depth;
  if (depth == 0) {
    sleepingLock(KERNEL_LOCK, mayWait);
    if (atomic.load<u32>(STATE_OWNER) != thisCpu + 1) machineStateLoad();
  }
  kernelDepth = depth + 1;
  return depth;
}
/** Leave kernel code entered at `depth` (also after a trap unwound inner levels): the outermost level releases the lock. */
export function kernelLeave(depth: i32): void {
  if (!smpActive || kernelDepth <= depth) return;
  kernelDepth = depth;
  if (depth == 0) {
    machineStateSave();
    atomic.store<u32>(STATE_OWNER, thisCpu + 1);
    sleepingUnlock(KERNEL_LOCK);
  }
}
export function kernel_enter(): i32 { return kernelEnter(); }
export function kernel_leave(depth: i32): void { kernelLeave(depth); }

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
