// The contract between a rewritten guest and the runner: the functions the
// rewrite imports from module "shadowfence" (SEAL_IMPORTS), the layout it bakes
// in (shadow call stack, frame bytes, fuel), the hooks the runner answers
// (which calls are __asan_* hooks, which frame id names a site), and the
// context one rewrite carries (rewrite.ts for the module, rewrite_body.ts for
// each function).
import type { WasmModule } from "./wasm.js";

export interface ShadowStackLayout {
  /** Linear address of the ssp word and of the site word. */
  ssp: number;
  site: number;
  /** The ring: base (aligned to its size) and size - 1. */
  ringBase: number;
  ringMask: number;
}

/** Where the inline seal reads frame bytes (the engine's GUEST_FRAMES) and where RAM starts. */
export interface SealLayout extends ShadowStackLayout {
  guestFrames: number;
  physBase: number;
  /** Fuel a guest starts with (the runner's budget between clock checks). */
  fuel: number;
  /** A module that defines its own memory (a plain wasm32-wasi link) imports env.memory instead, at least this many pages. */
  importDefinedMemory?: number;
  /** The engine's memory is shared (the Node cores, ready for SMP): env.memory is imported shared, with wasm32's maximum. */
  sharedMemory?: boolean;
  /** Defined functions whose bodies become one call of an engine heap entry (a plain build's malloc & co.). */
  redirect?: Map<number, HeapEntry>;
  /** New i32 initial values of defined globals (the stack pointer of a stack-first link, moved above its data). */
  globalInit?: Map<number, number>;
  /** Export this global (the C stack pointer) as STACK_POINTER_EXPORT, so the leak scan reads the live stack. */
  exportStackPointer?: number;
  /**
   * Relocate an uninstrumented guest (a default wasm-ld layout) by this many bytes:
   * every access, data segment and memory.size moves (docs/guests.md, "Programs shadowfence cc did not build").
   */
  relocate?: number;
}

/** The export the rewriter adds for the guest's stack pointer. */
export const STACK_POINTER_EXPORT = "__shadowfence_sp";

export interface RewriteHooks {
  /** Calls to this function index store a site only (the __asan_* imports). */
  isHook(func: number): boolean;
  /** Bytes a hook checks at its address argument (__asan_load4: 4), 0 for any other function. */
  checkedBytes(func: number): number;
  /** Functions whose calls keep no shadow-stack frame (the shim); their memory accesses are checked all the same. */
  skip(func: number): boolean;
  /** The frame id naming a call site: `offset` is just past the call, relative to the body start. */
  frameId(func: number, offset: number, size: number): number;
}

/**
 * The functions the rewriter imports from module "shadowfence", in this order
 * (their indices follow the guest's own function imports, so every defined
 * function's index moves up by their number):
 *   seal(addr, offset, size, write)   a failed inline seal: stop an access the guest may not make
 *   load(addr, offset, size)          the full check before a load of uninstrumented code
 *   store(addr, offset, size)         ... before a store
 *   fill(dst, byte, n) -> dst         memory.fill, checked and done (__asan_memset)
 *   copy(dst, src, n) -> dst          memory.copy, checked and done (__asan_memmove)
 *   range(addr, n)                    the destination of memory.init (__asan_storeN)
 *   fuel() -> n                       the time limit: throws past the deadline, else the next budget
 */
export const SEAL_MODULE = "shadowfence";
export const SEAL_IMPORTS = ["seal", "load", "store", "fill", "copy", "range", "fuel",
  "kmalloc", "kcalloc", "kfree", "krealloc", "kmalloc_aligned", "ksize", "posix_memalign"] as const;
/** (params, results) of each seal import, all i32. */
export const SEAL_TYPES = [[4, 0], [3, 0], [3, 0], [3, 1], [3, 1], [2, 0], [0, 1],
  [1, 1], [2, 1], [1, 0], [2, 1], [2, 1], [1, 1], [3, 1]];   // i32 params, i32 results

/** The engine's heap entry points a guest's own allocator functions can be redirected to (bodies replaced). */
export type HeapEntry = "kmalloc" | "kcalloc" | "kfree" | "krealloc" | "kmalloc_aligned" | "ksize" | "posix_memalign" | "fill" | "copy";
/** (params, results) of each heap entry, all i32. */
export function heapEntryArity(e: HeapEntry): [number, number] {
  return SEAL_TYPES[SEAL_IMPORTS.indexOf(e)] as [number, number];
}

/** What one rewrite knows: the module, the layout, the hooks, where its imports and fuel global sit. */
export interface RewriteContext {
  m: WasmModule;
  layout: SealLayout;
  hooks: RewriteHooks;
  /** Index of the first seal import; defined functions move up by SEAL_IMPORTS.length. */
  sealBase: number;
  fuelGlobal: number;
  nGlobals: number;
}

/** A function index after the seal imports are inserted before the defined functions. */
export function shiftFunc(c: RewriteContext, f: number): number {
  return f >= c.m.funcImports ? f + SEAL_IMPORTS.length : f;
}
