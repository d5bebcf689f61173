// Running tapes on an engine: the tape's caches, tasks and sites are set up
// once, then op bytes go to the core's interpreter chunk by chunk. Reports
// come back as raw records stamped with their op; each gets a signature
// (bug type + access site + allocation site) without being formatted, and
// only the ones the caller keeps are turned into kernel text.
import * as abi from "../../abi/abi.js";
import { Engine, EnginePanicError, type Report } from "../engine.js";
import type { EngineOptions } from "../config.js";
import type { Frame } from "../stackdepot.js";
import type { RawRecord } from "../report/record.js";
import { BUG_NAMES } from "../report/kasan.js";
import { TapeError, OP_LEN, TASK_PID_BASE, validateHeader, type Tape, type TapeHeader } from "./tape.js";

/** Frames below every site: the interpreter runs as a kernel thread. */
export const FUZZ_SUFFIX: Frame[] = [
  { name: "fuzz_tape_run", offset: 0x1c4, size: 0x9a0 },
  { name: "kthread", offset: 0x289, size: 0x360 },
  { name: "ret_from_fork", offset: 0x2f, size: 0x70 },
  { name: "ret_from_fork_asm", offset: 0x19, size: 0x30 },
];

const KFENCE_TYPES: Record<number, string> = {
  [abi.KFENCE_ERROR_OOB]: "out-of-bounds", [abi.KFENCE_ERROR_UAF]: "use-after-free",
  [abi.KFENCE_ERROR_CORRUPTION]: "memory corruption", [abi.KFENCE_ERROR_INVALID]: "invalid",
  [abi.KFENCE_ERROR_INVALID_FREE]: "invalid free",
};
const WARN_TYPES: Record<number, string> = {
  [abi.WARN_KFREE_NOT_HEAP]: "free of non-heap memory", [abi.WARN_SLUB_DOUBLE_FREE]: "SLUB double free",
  [abi.WARN_WRONG_CACHE]: "wrong slab cache", [abi.WARN_CACHE_NOT_SLAB]: "free of non-slab object",
  [abi.WARN_SLUB_FREECHAIN]: "corrupted freechain", [abi.WARN_KFENCE]: "KFENCE internal",
  [abi.WARN_BAD_PAGE_FREE]: "bad page state", [abi.WARN_ALLOC_FAILED]: "page allocation failure",
  [abi.WARN_ALLOC_ORDER]: "allocation order too large", [abi.WARN_CALLBACK]: "callback failed",
  [abi.WARN_SLAB_ERR]: "slab_err", [abi.WARN_LIST_DEL]: "list_del corruption",
};
const VMW_TYPES: Record<number, string> = {
  [abi.VMW_VFREE_NONEXISTENT]: "vfree of nonexistent vm area", [abi.VMW_VFREE_BAD_ADDR]: "vfree of bad address",
  [abi.VMW_VUNMAP_NONEXISTENT]: "vunmap of nonexistent vm area", [abi.VMW_ALLOC_FAILED]: "vmalloc error",
  [abi.VMW_RANGE_FAILED]: "vmalloc range failed",
};

/** The bug type part of a signature, from the raw record (what the report's title says). */
export function bugType(r: RawRecord): string {
  const rw = (r.flags & abi.RF_WRITE) !== 0 ? "Write" : "Read";
  switch (r.kind) {
    case abi.REP_KASAN: return `KASAN: ${BUG_NAMES[r.bug] ?? "unknown-crash"} ${rw}`;
    case abi.REP_KASAN_FREE: return `KASAN: ${BUG_NAMES[r.bug] ?? "invalid-free"}`;
    case abi.REP_KFENCE: {
      const t = KFENCE_TYPES[r.errcode] ?? "unknown";
      return r.errcode === abi.KFENCE_ERROR_CORRUPTION || r.errcode === abi.KFENCE_ERROR_INVALID_FREE
        ? `KFENCE: ${t}` : `KFENCE: ${t} ${rw.toLowerCase()}`;
    }
    case abi.REP_OOPS: return "BUG: unable to handle page fault";
    case abi.REP_GPF: return "general protection fault";
    case abi.REP_WARN: return `WARNING: ${WARN_TYPES[Number(r.arg0)] ?? `warn ${r.arg0}`}`;
    case abi.REP_VMALLOC_WARN: return `WARNING: ${VMW_TYPES[Number(r.arg0)] ?? `vmalloc ${r.arg0}`}`;
    case abi.REP_PANIC: return "panic";
  }
  return `record kind ${r.kind}`;
}

/** One report as the fuzzer sees it. */
export interface Finding {
  signature: string;
  type: string;
  accessSite: string;
  allocSite: string;
  /** Index of the op that raised it (-1: none). */
  op: number;
  slot: number;
  raw: RawRecord;
}

export interface ChunkResult {
  ops: number;
  panicked: boolean;
}

export interface ExecOptions {
  /** Called for every report; return true to have its kernel text made (engine.takeReports()). */
  onFinding?: (f: Finding) => boolean;
  /** Per-op log (check mode): chunks must then hold at most FZ_LOG_OPS ops. */
  log?: boolean;
}

/** The tape's world set up on one engine: caches, tasks, site stacks, slots. */
export class TapeExecutor {
  readonly engine: Engine;
  readonly header: TapeHeader;
  readonly siteNames: string[];
  /** Engine cache id of each tape cache. */
  readonly cacheIds: number[] = [];
  private readonly siteByName = new Map<string, number>();
  private readonly handleSite = new Map<number, string>();
  private readonly u8: () => Uint8Array;
  private dv: DataView;
  opsRun = 0;
  private readonly saved: { pid: number; comm: string; cpu: number };

  constructor(engine: Engine, header: TapeHeader) {
    this.engine = engine;
    this.header = header;
    const e = engine.exports;
    validateHeader(header);
    if (e.fuzz_begin(header.slots) !== 0) throw new TapeError(`tape: ${header.slots} slots (at most ${abi.FZ_MAX_SLOTS})`);
    this.u8 = () => engine.u8view();
    this.dv = new DataView(engine.memory.buffer);
    header.caches.forEach((c, i) => {
      const cache = engine.kmem_cache_create(c.name, c.objectSize, { align: c.align || undefined, flags: c.flags });
      this.cacheIds.push(cache.id);
      e.fuzz_set_cache(i, cache.id, c.objectSize);
    });
    this.saved = engine.current;
    header.tasks.forEach((comm, i) => {
      engine.setTask({ pid: TASK_PID_BASE + i, comm, cpu: 0 });
      e.fuzz_set_task(i, TASK_PID_BASE + i);
    });
    // ops run as the tape's first task until a TASK op says otherwise
    if (header.tasks.length) engine.setTask({ pid: TASK_PID_BASE, cpu: 0 });
    else engine.setTask(this.saved);
    this.siteNames = header.sites.map((s) => s.name);
    const sites = e.fuzz_sites();
    header.sites.forEach((s, i) => {
      const h = engine.stackHandle([{ name: s.name, offset: s.offset, size: s.size }, ...FUZZ_SUFFIX]);
      this.dv.setUint32(sites + i * 4, h, true);
      this.siteByName.set(s.name, i);
    });
    engine.takeReports();
  }

  /** The first tape site in a depot stack (its allocation site), or "". */
  private siteOfStack(handle: number): string {
    if (!handle) return "";
    let s = this.handleSite.get(handle);
    if (s === undefined) {
      s = "";
      for (const f of this.engine.stackFrames(handle)) {
        if (this.siteByName.has(f.name)) { s = f.name; break; }
      }
      this.handleSite.set(handle, s);
    }
    return s;
  }

  /** Signature of a record raised by a tape op. */
  finding(r: RawRecord, at: number): Finding {
    const dv = this.dv.buffer === this.engine.memory.buffer ? this.dv : (this.dv = new DataView(this.engine.memory.buffer));
    const op = dv.getUint32(at + abi.R_FUZZ_OP, true) - 1;
    const slot = dv.getUint32(at + abi.R_FUZZ_SLOT, true) - 1;
    const site = dv.getUint32(at + abi.R_FUZZ_SITE, true);
    const allocSiteIdx = dv.getUint32(at + abi.R_FUZZ_ALLOC_SITE, true) - 1;
    const type = bugType(r);
    const accessSite = op >= 0 ? this.siteNames[site] ?? `site#${site}` : "-";
    // the allocation site of the pointer the op used (the tape's, as the
    // report's own object may be a neighbour: a left out-of-bounds access is
    // described relative to the previous slot's object)
    let allocSite = allocSiteIdx >= 0 ? this.siteNames[allocSiteIdx] ?? "" : "";
    if (!allocSite) allocSite = this.siteOfStack(r.allocStack) || this.siteOfStack(r.vmCaller) || "-";
    return { signature: `${type} | ${accessSite} | ${allocSite}`, type, accessSite, allocSite, op, slot, raw: r };
  }

  /**
   * Run whole ops (`body`, at most FZ_BUF_SIZE bytes) whose first op has index
   * `firstOp`. Stops early, with panicked set, if the engine panicked.
   */
  run(body: Uint8Array, nOps: number, firstOp: number, opts: ExecOptions = {}): ChunkResult {
    if (body.length > abi.FZ_BUF_SIZE) throw new RangeError(`tape chunk of ${body.length} bytes (at most ${abi.FZ_BUF_SIZE})`);
    if (this.engine.panicked) return { ops: 0, panicked: true };
    this.u8().set(body, this.engine.exports.fuzz_buf());
    return this.runBuffer(body.length, nOps, firstOp, opts);
  }

  /** Run the `bytes` bytes of ops already in the core's tape buffer (the generator writes there). */
  runBuffer(bytes: number, nOps: number, firstOp: number, opts: ExecOptions = {}): ChunkResult {
    const e = this.engine.exports;
    if (opts.log && nOps > abi.FZ_LOG_OPS) throw new RangeError(`logged chunk of ${nOps} ops (at most ${abi.FZ_LOG_OPS})`);
    if (this.engine.panicked) return { ops: 0, panicked: true };
    let pos = 0, op = firstOp >>> 0;
    const onFinding = opts.onFinding;
    const keep = (r: RawRecord, at: number) => (onFinding ? onFinding(this.finding(r, at)) : false);
    for (;;) {
      const rc = e.fuzz_run(pos, bytes, op, firstOp >>> 0, opts.log ? 1 : 0);
      if (e.ring_head() !== e.ring_tail()) this.engine.drainRecords(keep);
      pos = e.fuzz_pos() >>> 0;
      op = e.fuzz_next_op() >>> 0;
      if (rc === abi.FZR_DONE) break;
      if (rc === abi.FZR_PAUSED) continue;
      if (rc === abi.FZR_PANIC) {
        this.opsRun += (op - firstOp) >>> 0;
        return { ops: (op - firstOp) >>> 0, panicked: true };
      }
      throw new TapeError(`op ${op} (byte ${pos}): the interpreter refused it (${rc === abi.FZR_BAD_OP ? "bad opcode or length" : "field out of range"})`);
    }
    const n = (op - firstOp) >>> 0;
    if (n !== nOps) throw new TapeError(`chunk ran ${n} ops, expected ${nOps}`);
    this.opsRun += n;
    return { ops: n, panicked: false };
  }

  /** Per-op log entry i of the last logged chunk. */
  logEntry(i: number): { status: number; addr: bigint; homeLo: bigint; homeHi: bigint } {
    const b = this.engine.exports.fuzz_log() + i * abi.FZ_LOG_SIZE;
    const dv = this.dv.buffer === this.engine.memory.buffer ? this.dv : (this.dv = new DataView(this.engine.memory.buffer));
    return {
      status: dv.getUint32(b + abi.FZL_STATUS, true),
      addr: dv.getBigUint64(b + abi.FZL_ADDR, true),
      homeLo: dv.getBigUint64(b + abi.FZL_HOME_LO, true),
      homeHi: dv.getBigUint64(b + abi.FZL_HOME_HI, true),
    };
  }

  /** Counters: ops run, checksum of loaded values, ops per status. */
  counters(): { ops: number; checksum: bigint; status: number[]; reportsLost: number } {
    const b = this.engine.exports.fuzz_stats();
    const dv = new DataView(this.engine.memory.buffer);
    const status: number[] = [];
    for (let i = 0; i < abi.FZS_COUNT; i++) status.push(Number(dv.getBigUint64(b + (abi.FZC_STATUS + i) * 8, true)));
    return {
      ops: Number(dv.getBigUint64(b + abi.FZC_OPS * 8, true)),
      checksum: dv.getBigUint64(b + abi.FZC_CHECKSUM * 8, true),
      status,
      reportsLost: this.engine.stats().reports.lost,
    };
  }

  /** Back to the task the engine had before the tape. */
  finish(): void {
    this.engine.exports.fuzz_end();
    this.engine.setTask(this.saved);
  }
}

/** Split a tape body into chunks of whole ops: at most maxBytes bytes and maxOps ops each. */
export function* chunks(body: Uint8Array, maxBytes = abi.FZ_BUF_SIZE, maxOps = Infinity): Generator<{ bytes: Uint8Array; ops: number }> {
  let p = 0;
  while (p < body.length) {
    let q = p, n = 0;
    while (q < body.length && n < maxOps) {
      const len = OP_LEN[body[q] & 0x7f] || 1;
      if (q + len - p > maxBytes) break;
      q += len;
      n++;
    }
    if (q === p) throw new TapeError(`op at byte ${p} does not fit a chunk`);
    yield { bytes: body.subarray(p, q), ops: n };
    p = q;
  }
}

export interface ReplayResult {
  engine: Engine;
  findings: Finding[];
  reports: Report[];
  ops: number;
  panicked: boolean;
  checksum: bigint;
  status: number[];
  reportsLost: number;
}

/** Boot an engine for a tape (its command line, plus `extra`), and the options used. */
export function engineFor(header: TapeHeader, extra = "", base: EngineOptions = {}): Engine {
  return Engine.createSync({ ...base, cmdline: `${header.cmdline} ${extra}`.trim() });
}

/**
 * Replay a whole tape on a fresh engine. `format`: which findings get their
 * kernel text (default: every one).
 */
export function replay(tape: Tape, opts: { cmdline?: string; format?: (f: Finding) => boolean; engine?: Engine } = {}): ReplayResult {
  const engine = opts.engine ?? engineFor(tape.header, opts.cmdline ?? "");
  const x = new TapeExecutor(engine, tape.header);
  const it = chunks(tape.body)[Symbol.iterator]();
  return runChunks(engine, x, (op, onFinding) => {
    const c = it.next();
    return c.done ? undefined : x.run(c.value.bytes, c.value.ops, op, { onFinding });
  }, opts.format);
}

/**
 * Run chunks on x until `next` has none left or the engine panics, collecting
 * every finding (`format`: which get their kernel text; default every one).
 */
export function runChunks(engine: Engine, x: TapeExecutor, next: (op: number, onFinding: (f: Finding) => boolean) => ChunkResult | undefined,
  format: (f: Finding) => boolean = () => true): ReplayResult {
  const findings: Finding[] = [];
  const onFinding = (f: Finding) => { findings.push(f); return format(f); };
  let op = 0, panicked = false;
  try {
    for (let r = next(op, onFinding); r !== undefined; r = next(op, onFinding)) {
      op += r.ops;
      if (r.panicked) { panicked = true; break; }
    }
  } catch (err) {
    if (!(err instanceof EnginePanicError)) throw err;
    panicked = true;
  }
  const c = x.counters();
  x.finish();
  return { engine, findings, reports: engine.takeReports(), ops: op, panicked, checksum: c.checksum, status: c.status, reportsLost: c.reportsLost };
}
