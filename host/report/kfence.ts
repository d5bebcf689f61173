// KFENCE report text as mm/kfence/report.c prints it in 6.12: the header and
// detail line per error type, the stack (internal frames skipped for errors
// found on the free path), the object with its allocation and free tracks
// ("(%lu.%06lus ago)" since 6.12). The footer follows report.c: with
// no_hash_pointers a fault prints show_regs() (the pc line and the Call Trace),
// otherwise only dump_stack_print_info(), and %p addresses are hashed.
import * as abi from "../../abi/abi.js";
import type { RawRecord } from "./record.js";
import { SEPARATOR, cpuLines, callTrace, pcLine, px } from "./common.js";
import { formatFrame, type Frame } from "../stackdepot.js";
import type { FormatContext } from "./context.js";

export type KfenceErrorType = "out-of-bounds" | "use-after-free" | "memory corruption" | "invalid" | "invalid free";
export type KfenceObjectState = "unused" | "allocated" | "rcu freeing" | "freed";

export interface KfenceTrack {
  pid: number;
  cpu: number;
  timeNs: bigint;
  /** The printed frames (allocator internals skipped), innermost first. */
  stack: string[];
}

export interface KfenceObjectInfo {
  index: number;
  state: KfenceObjectState;
  start: bigint;
  size: number;
  /** Cache name, or "<destroyed>". */
  cache: string;
  allocated?: KfenceTrack;
  freed?: KfenceTrack;
}

/** Structured facts of a KFENCE report (Report.extra.kfence). */
export interface KfenceDetails {
  errorType: KfenceErrorType;
  isWrite: boolean;
  address: bigint;
  /** First printed frame (the function in the title). */
  ip: string;
  object?: KfenceObjectInfo;
  /** Out-of-bounds: which side of the object and the printed distance. */
  side?: "left" | "right";
  distance?: number;
  /** Memory corruption: the bytes shown, and which of them differ from the canary. */
  corrupted?: { bytes: number[]; changed: boolean[] };
}

const STATES: Record<number, KfenceObjectState> = {
  [abi.KFENCE_OBJECT_UNUSED]: "unused",
  [abi.KFENCE_OBJECT_ALLOCATED]: "allocated",
  [abi.KFENCE_OBJECT_RCU_FREEING]: "rcu freeing",
  [abi.KFENCE_OBJECT_FREED]: "freed",
};
export function kfenceState(code: number): KfenceObjectState {
  return STATES[code] ?? "unused";
}

/**
 * get_stack_skipnr(): how many frames to skip to get out of the allocator.
 * Faults (type out-of-bounds, use-after-free, invalid) skip nothing; errors
 * found on the free path and allocation/free tracks (type undefined) skip up
 * to and including the first kfree / kmem_cache_free / __kmalloc /
 * kmem_cache_alloc frame, or else past the last KFENCE-internal frame.
 */
export function stackSkipnr(frames: Frame[], type?: number): number {
  if (type === abi.KFENCE_ERROR_OOB || type === abi.KFENCE_ERROR_UAF || type === abi.KFENCE_ERROR_INVALID) return 0;
  const n = frames.length;
  let fallback = 0;
  let skipnr = 0;
  for (; skipnr < n; skipnr++) {
    const name = frames[skipnr].name;
    if (name.startsWith("kfence_") || name.startsWith("__kfence_") || name.startsWith("__kmem_cache_free") ||
        (name.length > 0 && "__slab_free".startsWith(name))) {
      fallback = skipnr + 1;
    }
    if (name.startsWith("kfree") || name.startsWith("kmem_cache_free") || name.startsWith("__kmalloc") ||
        name.startsWith("kmem_cache_alloc")) {
      skipnr++;
      return skipnr < n ? skipnr : 0;
    }
  }
  if (fallback < n) return fallback;
  return 0;
}

/** "%lu.%06lu" of a nanosecond count. */
export function secUsec(ns: bigint): string {
  const v = ns < 0n ? 0n : ns;
  return `${v / 1000000000n}.${((v % 1000000000n) / 1000n).toString().padStart(6, "0")}`;
}

/** kfence_print_stack(): the track line and its frames. */
export function trackLines(word: string, t: KfenceTrack, nowNs: bigint, missing: string): string[] {
  const head = `${word} by task ${t.pid} on cpu ${t.cpu} at ${secUsec(t.timeNs)}s (${secUsec(nowNs - t.timeNs)}s ago):`;
  return [head, ...(t.stack.length ? t.stack.map((f) => ` ${f}`) : [` no ${missing} stack`])];
}

/**
 * kfence_print_object(): the object section (without the debugfs separator).
 * `pointer` is printk's %p (hashed unless no_hash_pointers).
 */
export function objectLines(o: KfenceObjectInfo, nowNs: bigint, pointer: (va: bigint) => string = px): string[] {
  if (o.state === "unused") return [`kfence-#${o.index} unused`];
  const out = [`kfence-#${o.index}: 0x${pointer(o.start)}-0x${pointer(o.start + BigInt(o.size) - 1n)}, size=${o.size}, cache=${o.cache}`, ""];
  if (o.allocated) out.push(...trackLines("allocated", o.allocated, nowNs, "allocation"));
  if ((o.state === "freed" || o.state === "rcu freeing") && o.freed) {
    out.push("", ...trackLines(o.state === "rcu freeing" ? "rcu freeing" : "freed", o.freed, nowNs, "deallocation"));
  }
  return out;
}

/** A track's printed frames from its depot stack. */
export function trackFrames(frames: Frame[]): string[] {
  return frames.slice(stackSkipnr(frames)).map(formatFrame);
}

const TITLES: Record<number, KfenceErrorType> = {
  [abi.KFENCE_ERROR_OOB]: "out-of-bounds",
  [abi.KFENCE_ERROR_UAF]: "use-after-free",
  [abi.KFENCE_ERROR_CORRUPTION]: "memory corruption",
  [abi.KFENCE_ERROR_INVALID]: "invalid",
  [abi.KFENCE_ERROR_INVALID_FREE]: "invalid free",
};

export interface KfenceFormatted {
  type: string;
  title: string;
  lines: string[];
  details: KfenceDetails;
}

/** kfence_report_error() for one REP_KFENCE record. */
export function formatKfence(r: RawRecord, ctx: FormatContext, accessFrames: Frame[], noHashPointers: boolean): KfenceFormatted {
  const type = r.errcode;
  const errorType = TITLES[type] ?? "invalid";
  const isWrite = (r.flags & abi.RF_WRITE) !== 0;
  const access = isWrite ? "write" : "read";
  const skip = stackSkipnr(accessFrames, type);
  const shown = accessFrames.slice(skip);
  const ip = shown[0] ? formatFrame(shown[0]) : "0x0";
  // every address in the report is printed with %p: hashed unless booted with no_hash_pointers
  const addr = `0x${ctx.pointer(r.addr)}`;
  const idx = r.kfIndex;
  const hasObject = (r.flags & abi.RF_OBJECT) !== 0;
  const details: KfenceDetails = { errorType, isWrite, address: r.addr, ip };

  let title: string;
  let detail: string;
  switch (type) {
    case abi.KFENCE_ERROR_OOB: {
      const left = r.addr < r.kfStart;
      // the right-side distance counts from the object's start (the kernel's arithmetic)
      const distance = left ? r.kfStart - r.addr : r.addr - r.kfStart;
      title = `BUG: KFENCE: out-of-bounds ${access} in ${ip}`;
      detail = `Out-of-bounds ${access} at ${addr} (${distance}B ${left ? "left" : "right"} of kfence-#${idx}):`;
      details.side = left ? "left" : "right";
      details.distance = Number(distance);
      break;
    }
    case abi.KFENCE_ERROR_UAF:
      title = `BUG: KFENCE: use-after-free ${access} in ${ip}`;
      detail = `Use-after-free ${access} at ${addr} (in kfence-#${idx}):`;
      break;
    case abi.KFENCE_ERROR_CORRUPTION: {
      title = `BUG: KFENCE: memory corruption in ${ip}`;
      const bytes = Array.from(r.kfCorrupt.subarray(0, r.kfCorruptLen));
      const changed = bytes.map((_, i) => ((r.kfCorruptMask >> i) & 1) === 1);
      const shownBytes = bytes.map((b, i) => (!changed[i] ? " ." : noHashPointers ? ` 0x${b.toString(16).padStart(2, "0")}` : " !")).join("");
      detail = `Corrupted memory at ${addr} [${shownBytes} ] (in kfence-#${idx}):`;
      details.corrupted = { bytes, changed };
      break;
    }
    case abi.KFENCE_ERROR_INVALID_FREE:
      title = `BUG: KFENCE: invalid free in ${ip}`;
      detail = `Invalid free of ${addr} (in kfence-#${idx}):`;
      break;
    default:
      title = `BUG: KFENCE: invalid ${access} in ${ip}`;
      detail = `Invalid ${access} at ${addr}:`;
  }

  const lines = [SEPARATOR, title, "", detail, ...shown.map((f) => ` ${formatFrame(f)}`)];
  if (hasObject) {
    const obj = recordObject(r, ctx);
    details.object = obj;
    lines.push("", ...objectLines(obj, r.timeNs, ctx.pointer));
  }
  lines.push("");
  const task = ctx.task(r.pid, r.cpu);
  const fault = type === abi.KFENCE_ERROR_OOB || type === abi.KFENCE_ERROR_UAF || type === abi.KFENCE_ERROR_INVALID;
  if (noHashPointers && fault) {
    // show_regs(): the info lines, the faulting instruction, the trace (no register file here)
    lines.push(...cpuLines(r.cpu, task, r.taint, ctx.arch));
    lines.push(...pcLine(accessFrames[0], ctx.arch));
    lines.push(...callTrace(accessFrames, ctx.arch));
  } else {
    lines.push(...cpuLines(r.cpu, task, r.taint, ctx.arch));
  }
  lines.push(SEPARATOR);
  const kind = type === abi.KFENCE_ERROR_OOB || type === abi.KFENCE_ERROR_UAF || type === abi.KFENCE_ERROR_INVALID
    ? `${errorType} ${access}` : errorType;
  return { type: kind, title, lines, details };
}

function recordObject(r: RawRecord, ctx: FormatContext): KfenceObjectInfo {
  const state = kfenceState(r.kfState);
  const cache = r.kfCacheNull ? "<destroyed>" : ctx.cacheName(r.cache);
  const o: KfenceObjectInfo = { index: r.kfIndex, state, start: r.kfStart, size: r.kfSize, cache };
  o.allocated = { pid: r.allocPid, cpu: r.allocCpu, timeNs: r.allocTimeNs, stack: trackFrames(ctx.stackFrames(r.allocStack)) };
  if (state === "freed" || state === "rcu freeing") {
    o.freed = { pid: r.freePid, cpu: r.freeCpu, timeNs: r.freeTimeNs, stack: trackFrames(ctx.stackFrames(r.freeStack)) };
  }
  return o;
}
