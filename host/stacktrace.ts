// The engine's stack tracer: the frames a host call stands for (JS stack
// capture with the synthetic kernel frames pushed above and appended below it),
// their stack depot handles, and the code addresses guests and ASan frames
// register. Frame names and the depot itself live in stackdepot.ts.
import * as abi from "../abi/abi.js";
import { captureJsStack, alignArm64, type Frame, type FrameTable } from "./stackdepot.js";
import type { RawRecord } from "./report/record.js";
import type { CoreExports } from "./exports.js";

// arm64 has no ret_from_fork_asm: kernel threads start at ret_from_fork
export function arm64ThreadEntry(frames: Frame[]): Frame[] {
  return frames.filter((f) => f.name !== "ret_from_fork_asm")
    .map((f) => (f.name === "ret_from_fork" ? { name: "ret_from_fork", offset: 0x10, size: 0x20 } : f));
}

// a cache of the depot's own dedup: past this many distinct host stacks it starts over
const MAX_CACHED_HANDLES = 1 << 16;
// JS frames kept from a captured host stack
const MAX_JS_FRAMES = 16;

export class StackTracer {
  private readonly handles = new Map<string, number>();
  private readonly code = new Map<bigint, Frame>();
  private lazy: Frame[] | undefined;
  private suffixFrames: Frame[] = [];
  /** Frames pushed on top of captured host stacks (a kernel function the host runs, e.g. strlen). */
  private prefix: Frame[] = [];
  /** Function names that never show in captured stacks (helpers that are macros or inline in C). */
  transparent: ReadonlySet<string> = new Set();

  /** `core` is read when needed: the tracer exists before the core is instantiated. */
  constructor(private readonly frames: FrameTable, private readonly arm64: boolean,
              private readonly core: { readonly exports: CoreExports; readonly memory: WebAssembly.Memory }) {}

  /** Frames appended below the caller in captured host stacks (on arm64 threads start at ret_from_fork alone). */
  get suffix(): Frame[] { return this.suffixFrames; }
  set suffix(frames: Frame[]) {
    this.suffixFrames = this.arm64 ? arm64ThreadEntry(frames) : frames;
  }

  /** A new host call: its stack is captured again on demand. */
  reset(): void {
    this.lazy = undefined;
  }

  /** The current host stack, innermost first. */
  capture(): Frame[] {
    return [...this.prefix, ...captureJsStack(this.frames, MAX_JS_FRAMES, this.suffixFrames, this.transparent)];
  }

  /** Frames of the code that made the current host call (captured once, on demand). */
  hostFrames(): Frame[] {
    if (!this.lazy) this.lazy = this.capture();
    return this.lazy;
  }

  /** The stack of a record's access: its depot stack, else the host call's. */
  accessFrames(r: RawRecord): Frame[] {
    if (r.stack) return this.fetch(r.stack);
    const frames = this.hostFrames();
    return this.arm64 ? frames.map(alignArm64) : frames;
  }

  /** Run `fn` with `frames` (innermost first) on top of captured stacks. */
  withPrefix<T>(frames: Frame[], fn: () => T): T {
    const saved = this.prefix;
    this.prefix = [...frames, ...saved];
    try {
      return fn();
    } finally {
      this.prefix = saved;
    }
  }

  /** The depot handle of a host stack (frames innermost first). */
  handle(frames: Frame[]): number {
    if (frames.length === 0) return 0;
    const ids = (this.arm64 ? arm64ThreadEntry(frames) : frames).map((f) => this.frames.intern(f));
    const key = ids.join(",");
    let h = this.handles.get(key);
    if (h === undefined) {
      const e = this.core.exports;
      const base = e.host_buf() + abi.HOST_BUF_IDS;
      new Uint32Array(this.core.memory.buffer, base, ids.length).set(ids.slice(0, abi.HOST_BUF_IDS_MAX));
      h = e.depot_save(base, Math.min(ids.length, abi.HOST_BUF_IDS_MAX));
      if (this.handles.size >= MAX_CACHED_HANDLES) this.handles.clear();
      this.handles.set(key, h);
    }
    return h;
  }

  /** Frames of a depot stack, innermost first. */
  fetch(handle: number): Frame[] {
    if (!handle) return [];
    const e = this.core.exports;
    const base = e.host_buf();
    const n = e.depot_fetch(handle, base);
    const ids = Array.from(new Uint32Array(this.core.memory.buffer, base, n));
    return ids.map((id) => this.frames.get(id) ?? { name: `frame#${id}`, offset: 0, size: 1 });
  }

  /** Register a code address (a stack frame's pc) with the frame it stands for. */
  registerCode(pc: bigint, frame: Frame): void {
    this.code.set(pc, frame);
  }
  /** The frame registered at pc, in its canonical form. */
  codeFrame(pc: bigint): Frame | undefined {
    const f = this.code.get(pc);
    return f && this.frames.canonical(f);
  }
}
