// The report pipeline: drain the core's record ring, format each record with
// the formatter registered for its kind (REP_* in abi.ts), log its text, keep
// the report (bounded by shadowfence.max_reports) and hand it to the listener.
// Every report kind, built in or a subsystem's, plugs in through register().
import * as abi from "../../abi/abi.js";
import { Fifo } from "../bounded.js";
import { readRecord, type RawRecord } from "./record.js";
import type { Report, RecordFormatter } from "./report.js";
import type { OopsContext } from "./oops.js";
import type { TaskInfo } from "./common.js";
import type { CoreExports } from "../exports.js";
import type { Frame } from "../stackdepot.js";


/** What the pipeline uses of the engine (the Engine provides it). */
export interface PipelineEngine {
  readonly exports: CoreExports;
  readonly memory: WebAssembly.Memory;
  readonly options: { maxReports: number };
  readonly guestHooks: { onReport?: (r: Report) => void };
  formatContext(): OopsContext;
  task(pid: number, cpu?: number): TaskInfo;
  printk(text: string, ns?: bigint): void;
}

/** The engine's private side the pipeline needs. */
export interface PipelineSinks {
  /** Append a report's lines to the kernel log at its record's time. */
  logLines(ns: bigint, lines: string[]): void;
  /** The stack of a record's access: its depot stack, else the host call's. */
  accessFrames(r: RawRecord): Frame[];
}

export class ReportPipeline {
  private readonly formatters = new Map<number, RecordFormatter>();
  /** Retained report objects; `taken`: reports published before the last take(). */
  private readonly all = new Fifo<Report>();
  private taken = 0;
  private lostSeen = 0n;
  private view: DataView | undefined;
  // A listener runs while a report is published. Engine calls from inside it are
  // refused (busy): the ring is being drained and the core may be inside a guest's
  // hook. A listener that throws does not stop the drain; its first error is
  // rethrown once every record is published.
  private inCallback = false;
  private callbackError: { error: unknown } | undefined;

  constructor(private readonly engine: PipelineEngine, private readonly sinks: PipelineSinks) {}

  /** The formatter of one record kind (a later registration replaces an earlier one). */
  register(kind: number, fn: RecordFormatter): void {
    this.formatters.set(kind, fn);
  }

  /** True while a report listener runs. */
  get busy(): boolean {
    return this.inCallback;
  }

  /**
   * Read the ring: `keep` sees each raw record (and its linear address) and
   * returns true to publish it; panic records are always published.
   */
  drain(keep: (r: RawRecord, at: number) => boolean): void {
    const e = this.engine.exports;
    const head = e.ring_head() >>> 0;
    let tail = e.ring_tail() >>> 0;
    const base = e.ring_base();
    let ctx: OopsContext | undefined;
    while (tail !== head) {
      const at = base + (tail % abi.RING_RECORDS) * abi.REC_SIZE;
      const r = readRecord(this.engine.memory.buffer, at);
      // consumed before it is published: nothing a formatter or callback does can publish it twice
      tail = (tail + 1) >>> 0;
      e.ring_consume(1);
      if (keep(r, at) || r.kind === abi.REP_PANIC) this.publish(r, (ctx ??= this.engine.formatContext()));
    }
    const buf = this.engine.memory.buffer;
    if (this.view?.buffer !== buf) this.view = new DataView(buf);
    const lost = this.view.getBigUint64(e.stats_base() + abi.STAT_REPORTS_LOST * 8, true);
    if (lost > this.lostSeen) {
      this.engine.printk(`shadowfence: report ring overflowed: ${lost - this.lostSeen} report(s) lost`);
      this.lostSeen = lost;
    }
    const failed = this.callbackError;
    this.callbackError = undefined;
    if (failed) throw failed.error;
  }

  private publish(r: RawRecord, ctx: OopsContext): void {
    const task = this.engine.task(r.pid);
    const base = {
      seq: r.seq, address: r.addr, size: r.size, isWrite: (r.flags & abi.RF_WRITE) !== 0, pid: r.pid, comm: task.comm,
      cpu: r.cpu, timeNs: r.timeNs, raw: r,
    };
    const fmt = this.formatters.get(r.kind);
    if (!fmt) {
      this.engine.printk(`shadowfence: report record of unknown kind ${r.kind} skipped`);
      return;
    }
    const report: Report = { ...base, ...fmt(r, ctx, () => this.sinks.accessFrames(r)) };
    this.sinks.logLines(r.timeNs, report.text.split("\n"));
    this.retain(report);
    this.dispatch(report);
  }

  /** Keep a report, dropping the oldest past shadowfence.max_reports (said once in dmesg, counted in stats()). */
  private retain(report: Report): void {
    const max = this.engine.options.maxReports;
    this.all.push(report);
    if (this.all.length <= max) return;
    this.all.shift();
    if (this.all.dropped === 1) {
      this.engine.printk(`shadowfence: keeping the newest ${max} report objects (shadowfence.max_reports); older ones are dropped, stats().reports.dropped counts them`);
    }
  }

  private dispatch(report: Report): void {
    const cb = this.engine.guestHooks.onReport;
    if (!cb) return;
    this.inCallback = true;
    try {
      cb(report);
    } catch (error) {
      this.callbackError ??= { error };
    } finally {
      this.inCallback = false;
    }
  }

  /** The retained reports, in order. */
  retained(): Report[] {
    return this.all.since(0);
  }
  /** Reports since the last take() (those still retained). */
  take(): Report[] {
    const p = this.all.since(this.taken);
    this.taken = this.all.pushed;
    return p;
  }
  get retainedCount(): number {
    return this.all.length;
  }
  get dropped(): number {
    return this.all.dropped;
  }
}
