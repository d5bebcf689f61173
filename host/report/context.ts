// What a report formatter may ask of the engine: stacks, names, memory, the layout.
// A leaf module, so every formatter can import it without import cycles.
import type { Frame } from "../stackdepot.js";
import type { TaskInfo } from "./common.js";

export interface FormatContext {
  arch: "x86_64" | "arm64";
  tags: boolean;
  /** Frames of a depot stack, innermost first. */
  stackFrames(handle: number): Frame[];
  cacheName(id: number): string;
  /** Virtual address of a cache's struct kmem_cache (page dump raw lines). */
  cacheVa(id: number): bigint;
  task(pid: number, cpu?: number): TaskInfo;
  /** %pS of a kernel-image or module address (globals), if known. */
  symbolize(addr: bigint): Frame | undefined;
  /** A NUL-terminated string in simulated memory. */
  readCString(va: bigint): string | undefined;
  /** Raw bytes of simulated memory (no KASAN check), undefined where unmapped. */
  peek(va: bigint, n: number): Uint8Array | undefined;
  /** A pointer as printk's %p prints it: hashed, or raw with no_hash_pointers (16 hex digits, no 0x). */
  pointer(va: bigint): string;
  /** Frame of a code address stored in simulated memory (stack frame pc). */
  codeFrame(pc: bigint): Frame | undefined;
  pageOffset: bigint;
  vmemmapStart: bigint;
  /** shadowfence.slab=slab: slab pages are dumped as a 6.1 SLAB kernel dumps them. */
  slabAllocator?: "slub" | "slab";
}
