// The current task and CPU (set by the host or a workload), the taint mask and
// the engine clock (ns since boot; virtual unless kfence.clock=wall).
import { wallNs } from "./host";
import { cfg } from "./config";
import { CFG_NR_CPUS } from "../abi/abi";
import { kfenceClockMoved } from "./kfence/core";
import { slabClockMoved } from "./mm/slab";
import { MACHINE_STATE } from "./statics";

export let currentPid: u32 = 1;
export let currentCpu: u32 = 0;
// The machine's clock and taint, not this CPU's: linear memory (docs/smp.md, "The audit").
// @ts-ignore: decorator
@unmanaged class TaskState {
  clockNs: u64;
  wallBase: u64;     // kfence.clock=wall: the host's wall clock at boot
  wallOffset: u64;   // and what clock_set / clock_advance added to it
  taint: u32;
}
export const TS = changetype<TaskState>(MACHINE_STATE + 0x000);
if (offsetof<TaskState>() > 0x100) ERROR("TaskState outgrew its MACHINE_STATE slot");

// kernel/panic.c taint bits
// @ts-ignore: decorator
@inline export const TAINT_BAD_PAGE: u32 = 5;
// @ts-ignore: decorator
@inline export const TAINT_DIE: u32 = 7;
// @ts-ignore: decorator
@inline export const TAINT_WARN: u32 = 9;
// @ts-ignore: decorator
@inline export const TAINT_TEST: u32 = 18;

// a CPU past nr_cpus (the host checks; a raw call may not) is CPU 0: per-CPU
// tables (SLUB's kmem_cache_cpu, the quarantine's queues) hold nr_cpus
export function set_current(pid: u32, cpu: u32): void { currentPid = pid; currentCpu = cpu < <u32>cfg(CFG_NR_CPUS) ? cpu : 0; }
export function addTaint(bit: u32): void { TS.taint |= 1 << bit; }
export function set_taint(mask: u32): void { TS.taint = mask; }
export function get_taint(): u32 { return TS.taint; }

// kfence.clock=wall: the clock follows the host's wall clock (plus whatever
// tick() added), read on slow paths only; the virtual clock moves only when told.
export let clockWall: bool = false;
export function clockInit(wall: bool): void {
  clockWall = wall;
  TS.clockNs = 0;
  TS.wallOffset = 0;
  if (wall) TS.wallBase = wallNs();
}
export function clockSyncWall(): void {
  const t = wallNs() - TS.wallBase + TS.wallOffset;
  if (t > TS.clockNs) TS.clockNs = t;
}
// The clock as of now (slow paths: reports, tracks).
export function clockNow(): u64 {
  if (clockWall) clockSyncWall();
  return TS.clockNs;
}
// Advance without running timers (the caller runs them).
export function clockAddRaw(ns: u64): void { TS.clockNs += ns; }

export function clock_set(ns: u64): void {
  if (ns <= TS.clockNs) return;
  if (clockWall) TS.wallOffset += ns - TS.clockNs;
  TS.clockNs = ns;
  kfenceClockMoved();
  slabClockMoved();
}
export function clock_advance(ns: u64): void {
  TS.clockNs += ns;
  if (clockWall) { TS.wallOffset += ns; clockSyncWall(); }
  kfenceClockMoved();
  slabClockMoved();
}
export function clock_now(): u64 { return clockNow(); }
