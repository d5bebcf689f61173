// The format context the engine hands every report formatter: its options,
// layout and readers (stacks, names, tasks, memory, %p), in one place.
import type { Frame } from "../stackdepot.js";
import type { Layout } from "../layout.js";
import type { ResolvedOptions } from "../config.js";
import type { TaskInfo } from "./common.js";
import type { OopsContext } from "./oops.js";

/** What the format context reads of the engine (the Engine provides it). */
export interface ContextEngine {
  readonly options: Pick<ResolvedOptions, "arch" | "kasan" | "kasanMode" | "slabAllocator">;
  readonly layout: Layout;
  readonly exports: { cache_va(id: number): bigint };
  stackFrames(handle: number): Frame[];
  cacheName(id: number): string;
  task(pid: number, cpu?: number): TaskInfo;
  readCString(va: bigint): string | undefined;
  peek(va: bigint, n: number): Uint8Array | undefined;
  hashPointer(va: bigint): string;
}

/** `symbolize`: %pS of an image or module address; `codeFrame`: the frame of a registered code address. */
export function engineContext(e: ContextEngine, symbolize: (a: bigint) => Frame | undefined, codeFrame: (pc: bigint) => Frame | undefined): OopsContext {
  const { arch, kasan, kasanMode, slabAllocator } = e.options, l = e.layout;
  return {
    arch, kasan, tags: kasan && kasanMode === "sw_tags",
    stackFrames: (h) => e.stackFrames(h),
    cacheName: (id) => e.cacheName(id),
    cacheVa: (id) => BigInt.asUintN(64, e.exports.cache_va(id)),
    task: (pid, cpu) => e.task(pid, cpu),
    symbolize,
    readCString: (va) => e.readCString(va),
    peek: (va, n) => e.peek(va, n),
    pointer: (va) => e.hashPointer(va),
    codeFrame,
    slabAllocator,
    pageOffset: l.pageOffset, vmemmapStart: l.vmemmapStart, kasanShadowOffset: l.kasanShadowOffset,
    kasanShadowStart: l.kasanShadowStart, kasanShadowEnd: l.kasanShadowEnd, taskSize: l.taskSize,
  };
}
