// Host functions the kernel calls back: RCU callbacks (call_rcu, rcu_barrier),
// work items (queue_work, flush_workqueue) and slab constructors. Queueing
// records KASAN's aux stack on the object ("Last potentially related work
// creation:"); callbacks run later in the kernel's context for them (ksoftirqd,
// a kworker). The kernel has no exceptions: a callback that throws gets the
// WARN the kernel would raise where it invokes the callback, and the other
// pending callbacks still run. The Engine's methods of the same names delegate here.
import * as abi from "../abi/abi.js";
import type { CoreExports } from "./exports.js";
import type { Frame } from "./stackdepot.js";
import type { RawRecord } from "./report/record.js";
import { warnBlock, type OopsContext } from "./report/oops.js";
import { EnginePanicError } from "./errors.js";
import { addrArg, funcArg } from "./args.js";

const CALL_RCU_COMMON: Frame = { name: "__call_rcu_common.constprop.0", offset: 0x80, size: 0x990 };
const CALL_RCU: Frame = { name: "call_rcu", offset: 0x12, size: 0x20 };
const INSERT_WORK: Frame = { name: "insert_work", offset: 0x3a, size: 0x1a0 };
const QUEUE_WORK: Frame = { name: "__queue_work", offset: 0x5b7, size: 0xd70 };
const QUEUE_WORK_ON: Frame = { name: "queue_work_on", offset: 0x7e, size: 0x90 };
// where RCU callbacks and work items run
const SOFTIRQ_FRAMES: Frame[] = [
  { name: "rcu_do_batch", offset: 0x3bb, size: 0xba0 }, { name: "rcu_core", offset: 0x2c4, size: 0x9f0 },
  { name: "handle_softirqs", offset: 0x191, size: 0x550 }, { name: "run_ksoftirqd", offset: 0x34, size: 0x60 },
  { name: "smpboot_thread_fn", offset: 0x2ca, size: 0x5f0 }, { name: "kthread", offset: 0x289, size: 0x360 },
  { name: "ret_from_fork", offset: 0x2f, size: 0x70 }, { name: "ret_from_fork_asm", offset: 0x19, size: 0x30 },
];
const WORKER_FRAMES: Frame[] = [
  { name: "process_one_work", offset: 0x7bc, size: 0x1ba0 }, { name: "worker_thread", offset: 0x6c8, size: 0xf00 },
  { name: "kthread", offset: 0x289, size: 0x360 }, { name: "ret_from_fork", offset: 0x2f, size: 0x70 },
  { name: "ret_from_fork_asm", offset: 0x19, size: 0x30 },
];

// Where the kernel invokes each kind of callback: the WARN's site.
const CALLBACK_WARN_SITES: Record<number, { file: string; fn: Frame }> = {
  [abi.CALLBACK_RCU]: { file: "kernel/rcu/tree.c:2568", fn: { name: "rcu_do_batch", offset: 0x3bb, size: 0xba0 } },
  [abi.CALLBACK_WORK]: { file: "kernel/workqueue.c:3238", fn: { name: "process_one_work", offset: 0x7bc, size: 0x1ba0 } },
  [abi.CALLBACK_CTOR]: { file: "mm/slub.c:2417", fn: { name: "setup_object", offset: 0x3c, size: 0x60 } },
};

/** One printable line of at most 200 characters from whatever a callback threw. */
function thrownText(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const line = text.split("\n")[0].replace(/[^\x20-\x7e]/g, "?");
  return line.length > 200 ? line.slice(0, 200) + "..." : line;
}

/** What the callbacks use of the engine (the Engine provides it). */
export interface CallbacksEngine {
  readonly exports: CoreExports;
  readonly current: { pid: number; comm: string; cpu: number };
  readonly panicked: boolean;
  /** The frames below the caller (the context a callback runs in). */
  stackSuffix: Frame[];
  setTask(t: { pid: number; comm?: string; cpu?: number }): void;
  kernelCall<T>(capture: boolean, fn: () => T): T;
  callWithStack<T>(handle: number, fn: () => T): T;
  withFrames<T>(frames: Frame[], fn: () => T): T;
  stackHandle(frames: Frame[]): number;
}

export class Callbacks {
  private readonly rcuCallbacks: Array<() => void> = [];
  private readonly workItems: Array<() => void> = [];
  /** What each pending callback WARN says, in the order the core raised them. */
  private readonly warnTexts: string[] = [];

  constructor(private readonly e: CallbacksEngine) {}

  /**
   * Run one callback; if it throws, WARN as the kernel would at the site that
   * invoked it and carry on. A panic of the engine inside the callback is not swallowed.
   */
  run(kind: number, cb: (...a: never[]) => unknown, run: () => void, what: string): void {
    try {
      run();
    } catch (err) {
      if (err instanceof EnginePanicError || this.e.panicked) throw err;
      const name = cb.name ? cb.name.replace(/[^\w.$]/g, "?").slice(0, 64) : "(anonymous)";
      this.warnTexts.push(`${what} ${name} failed: ${thrownText(err)}`);
      const x = this.e.exports;
      if (kind === abi.CALLBACK_CTOR) x.warn_callback(kind);      // inside the allocation: printed when it returns
      // the trace starts below the invoking function, which the WARNING line names
      else this.e.callWithStack(this.e.stackHandle(this.e.stackSuffix.slice(1)), () => x.warn_callback(kind));
    }
  }

  /** Run `fn` as another task with another stack context (ksoftirqd, a kworker), then back. */
  asTask<T>(task: { pid: number; comm: string; cpu?: number }, suffix: Frame[], fn: () => T): T {
    const saved = { ...this.e.current };
    const savedSuffix = this.e.stackSuffix;
    this.e.setTask(task);
    this.e.stackSuffix = suffix;
    try {
      return fn();
    } finally {
      this.e.stackSuffix = savedSuffix;
      this.e.setTask(saved);
    }
  }

  /** A slab constructor the core calls back (sf_ctor); an i64 crosses the boundary signed. */
  runCtor(fn: { ctor: (addr: bigint) => void; cache: string } | undefined, va: bigint): void {
    // a ctor that throws must not unwind the allocator
    if (fn) this.run(abi.CALLBACK_CTOR, fn.ctor, () => fn.ctor(BigInt.asUintN(64, va)), `slab constructor of ${fn.cache}`);
  }

  /** The WARN of a callback that threw (a WARN_CALLBACK record). */
  formatWarn(r: RawRecord, ctx: OopsContext, frames: Frame[]): string[] {
    const site = CALLBACK_WARN_SITES[Number(r.arg1)] ?? CALLBACK_WARN_SITES[abi.CALLBACK_WORK];
    return warnBlock(r, ctx, frames, [this.warnTexts.shift() ?? "callback failed"], site);
  }

  call_rcu(head: bigint | number, func: () => void): void {
    const a = addrArg("call_rcu", "head", head);
    funcArg("call_rcu", "func", func);
    this.e.withFrames([CALL_RCU_COMMON, CALL_RCU], () => this.e.kernelCall(true, () => this.e.exports.kasan_record_aux_stack(a)));
    this.rcuCallbacks.push(func);
  }

  rcu_barrier(): void {
    const cpu = this.e.current.cpu;
    const run = this.rcuCallbacks.splice(0);
    if (run.length) {
      this.asTask({ pid: 14 + cpu * 8, comm: `ksoftirqd/${cpu}`, cpu }, SOFTIRQ_FRAMES,
        () => run.forEach((f) => this.run(abi.CALLBACK_RCU, f, f, "RCU callback")));
    }
    this.e.kernelCall(false, () => this.e.exports.rcu_barrier());
  }

  queue_work(work: bigint | number, func: () => void): void {
    const a = addrArg("queue_work", "work", work);
    funcArg("queue_work", "func", func);
    this.e.withFrames([INSERT_WORK, QUEUE_WORK, QUEUE_WORK_ON], () => this.e.kernelCall(true, () => this.e.exports.kasan_record_aux_stack(a)));
    this.workItems.push(func);
  }

  flush_workqueue(): void {
    const cpu = this.e.current.cpu;
    const run = this.workItems.splice(0);
    if (run.length) {
      this.asTask({ pid: 40 + cpu, comm: `kworker/${cpu}:1`, cpu }, WORKER_FRAMES,
        () => run.forEach((f) => this.run(abi.CALLBACK_WORK, f, f, "work function")));
    }
  }
}
