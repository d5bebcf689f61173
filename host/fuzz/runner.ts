// `shadowfence fuzz`: worker threads (one engine each) run units of a seeded
// workload; the runner merges their reports by signature (bug type + access
// site + allocation site), shrinks one reproducer tape per unique bug and
// writes a summary (text and JSON). Ctrl-C stops the fuzzing and still
// writes the summary (twice: without shrinking).
import { Worker } from "node:worker_threads";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import os from "node:os";
import * as abi from "../../abi/abi.js";
import { resolveOptions } from "../config.js";
import { Engine } from "../engine.js";
import { checkCmdline } from "./check.js";
import { BUG_CLASSES, type Profile, type PlantRates, type BugClass } from "./generator.js";
import { generatorOptions, unitJob, prefixJob, type UnitRecipe, type UnitJob, type UnitResult, type MinimiseJob, type MinimiseResult, type BugRecord, type BugSignature } from "./unit.js";
import { makeReference, encodeReference } from "./reference.js";

export interface FuzzOptions {
  /** Stop after this many ops (deterministic), or ... */
  ops?: number;
  /** ... after this many seconds. */
  seconds?: number;
  workers?: number;
  /**
   * CPUs each unit runs on at once (1..nr_cpus of the command line, at most 8;
   * default 1): host/fuzz/smp.ts. A string is parsed (the CLI's argument).
   */
  cpus?: number | string;
  /** Ops between two barriers with several CPUs (default 8192; with --check at most 16384). */
  segmentOps?: number;
  seed?: number;
  profile?: Profile;
  cmdline?: string;
  /** Where reproducers and the summary go (nothing is written without it). */
  out?: string;
  plant?: PlantRates;
  plantWrites?: boolean;
  /** Ops per unit (each unit runs on a fresh engine). */
  unitOps?: number;
  check?: boolean;
  /** Shrink each bug's reproducer (default true; false writes the unit's prefix up to the bug). */
  minimise?: boolean;
  /** Time budget for shrinking one bug (ms, default 20 s). */
  minimiseMs?: number;
  /** Show a progress bar on stderr (default: when stderr is a TTY). */
  progress?: boolean;
  /** Stop early on SIGINT (default true; tests turn it off). */
  handleSignals?: boolean;
  /** Bytes the output folder may take (default 256 MiB); past it reproducers are stored by reference, then not at all. */
  maxOutputBytes?: number;
  /** Largest reproducer written as a tape (default 1 MiB); a larger one is stored by reference. */
  maxReproducerBytes?: number;
  /** Time limit of one unit (ms, default 120 s): its worker is terminated and the unit listed as timed out. */
  unitTimeoutMs?: number;
}

export const DEFAULT_MAX_OUTPUT = 256 << 20;
export const DEFAULT_MAX_REPRODUCER = 1 << 20;
export const DEFAULT_UNIT_TIMEOUT_MS = 120_000;

export interface BugSummary extends BugSignature {
  id: number;
  first: { unit: number; op: number };
  reproducer?: {
    file?: string; ops: number; prefixOps: number; tests: number; reproduced: boolean; shrunk: boolean;
    /** tape: written in full; reference: seed, unit and op count (bug-NNN.ref, replayable); none: not written (budget spent). */
    stored: "tape" | "reference" | "none";
    /** Bytes of the tape itself (for a reference: the tape it stands for, when the worker encoded it). */
    tapeBytes: number;
  };
}

export interface FuzzSummary {
  profile: Profile;
  seed: number;
  cmdline: string;
  workers: number;
  /** CPUs each unit ran on (fuzz --cpus). */
  cpus: number;
  unitOps: number;
  ops: number;
  units: number;
  reports: number;
  reportsLost: number;
  /** Allocation ops that got NULL (fail_page_alloc, out of memory); their slots hold NULL. */
  allocFailures: number;
  /** warn_alloc()'s allocation failures: counted, not listed as bugs. */
  allocWarnings: number;
  planted: Record<BugClass, number>;
  bugs: BugSummary[];
  /** Only in the written summary files: bugs left out of their list to keep the output budget. */
  bugsNotListed?: number;
  panics: Array<{ unit: number; op: number; title: string }>;
  disagreements: Array<{ unit: number; op: number; what: string; expected: string; got: string; file?: string }>;
  checked: boolean;
  interrupted: boolean;
  /** Units stopped at their time limit (their ops and reports are not counted). */
  timedOut: Array<{ unit: number; seconds: number }>;
  /** Bytes written to the output folder (reproducers and texts; the summary files), the budget, the per-reproducer cap, and how reproducers were stored. */
  output: { bytes: number; summaryBytes: number; maxBytes: number; maxReproducerBytes: number; tapes: number; references: number; notWritten: number };
  /** Timing (not deterministic): seconds, ops/s in all and per worker. */
  timing: { seconds: number; opsPerSecond: number; opsPerSecondPerWorker: number; minimiseSeconds: number };
  /** Kernel text of each bug's first report (not in the JSON file: see bug-NNN.txt). */
  texts: Record<string, string>;
}

const DEFAULT_UNIT_OPS = 1 << 20;

/** The worker script: next to this file when compiled; dist/ when running from the TS sources (tests). */
function workerUrl(): URL {
  const here = new URL("./worker.js", import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const dist = path.join(root, "dist/host/fuzz/worker.js");
  if (!existsSync(dist)) throw new Error(`fuzz worker not built (${dist}): run "npm run build"`);
  return new URL(`file://${dist}`);
}

type Job = { type: "unit"; job: UnitJob } | { type: "minimise"; job: MinimiseJob } | { type: "study"; job: unknown };

/** A job that overran its time limit: its worker was terminated (and replaced). */
export const TIMED_OUT = Symbol("timed out");

/** Worker threads sharing progress counters and a stop flag. */
export class Pool {
  readonly counters: Float64Array;
  readonly stop: Int32Array;
  private readonly workers: Worker[] = [];
  private readonly ready: Promise<void>[] = [];
  private readonly waiting = new Map<Worker, (r: unknown) => void>();
  private readonly failing = new Map<Worker, (e: Error) => void>();
  private readonly shared: { counters: SharedArrayBuffer; stop: SharedArrayBuffer };
  private readonly url: URL;

  constructor(readonly size: number) {
    const cb = new SharedArrayBuffer(8 * 4 * size), sb = new SharedArrayBuffer(4);
    this.counters = new Float64Array(cb);
    this.stop = new Int32Array(sb);
    this.shared = { counters: cb, stop: sb };
    this.url = workerUrl();
    for (let i = 0; i < size; i++) this.ready.push(this.spawn(i));
  }

  private spawn(i: number): Promise<void> {
    const w = new Worker(this.url, { workerData: { ...this.shared, index: i } });
    this.workers[i] = w;
    w.on("message", (m: { type: string; result?: unknown; message?: string; stack?: string }) => {
      if (m.type === "ready") return;
      const ok = this.waiting.get(w), bad = this.failing.get(w);
      this.waiting.delete(w);
      this.failing.delete(w);
      if (m.type === "error") bad?.(Object.assign(new Error(`fuzz worker ${i}: ${m.message}`), { stack: m.stack }));
      else ok?.(m.result);
    });
    w.on("error", (e) => { this.failing.get(w)?.(e); this.waiting.delete(w); this.failing.delete(w); });
    return new Promise((res, rej) => {
      w.once("message", () => res());
      w.once("error", rej);
    });
  }

  async start(): Promise<void> {
    await Promise.all(this.ready);
  }

  /**
   * Run jobs from `next()` on every worker until it returns undefined; `done`
   * sees each result, or TIMED_OUT for a job that ran longer than `limitMs`
   * (its worker thread is terminated and a fresh one takes its place).
   */
  async drive<R>(next: () => Job | undefined, done: (r: R | typeof TIMED_OUT, job: Job) => void, limitMs = Infinity): Promise<void> {
    await Promise.all(this.workers.map(async (_, i) => {
      for (let job = next(); job; job = next()) {
        const w = this.workers[i];
        let timer: ReturnType<typeof setTimeout> | undefined;
        const r = await new Promise<R | typeof TIMED_OUT>((res, rej) => {
          this.waiting.set(w, res as (r: unknown) => void);
          this.failing.set(w, rej);
          if (Number.isFinite(limitMs)) timer = setTimeout(() => res(TIMED_OUT), limitMs);
          w.postMessage(job);
        }).finally(() => clearTimeout(timer));
        if (r === TIMED_OUT) {
          this.waiting.delete(w);
          this.failing.delete(w);
          this.counters[i * 4 + 2] = 0;
          await w.terminate();
          await this.spawn(i);
        }
        done(r, job);
      }
    }));
  }

  private idle?: Worker[];
  private readonly queued: Array<(w: Worker) => void> = [];

  /** Run one job on the next idle worker (calls may overlap, each waits its turn); not mixed with drive(). */
  async run<R>(job: Job): Promise<R> {
    this.idle ??= [...this.workers];
    const w = this.idle.pop() ?? await new Promise<Worker>((res) => this.queued.push(res));
    try {
      return await new Promise<R>((res, rej) => {
        this.waiting.set(w, res as (r: unknown) => void);
        this.failing.set(w, rej);
        w.postMessage(job);
      });
    } finally {
      const next = this.queued.shift();
      if (next) next(w); else this.idle.push(w);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** A fresh summary for merging units into. */
export function newSummary(f: Pick<FuzzSummary, "profile" | "seed" | "cmdline" | "workers" | "unitOps" | "checked"> & { cpus?: number },
  budget: { maxBytes: number; maxReproducerBytes: number } = { maxBytes: DEFAULT_MAX_OUTPUT, maxReproducerBytes: DEFAULT_MAX_REPRODUCER }): FuzzSummary {
  return { cpus: 1, ...f, ops: 0, units: 0, reports: 0, reportsLost: 0, allocFailures: 0, allocWarnings: 0, planted: emptyPlanted(), bugs: [],
    panics: [], disagreements: [], interrupted: false, timedOut: [],
    output: { bytes: 0, summaryBytes: 0, ...budget, tapes: 0, references: 0, notWritten: 0 },
    timing: { seconds: 0, opsPerSecond: 0, opsPerSecondPerWorker: 0, minimiseSeconds: 0 }, texts: {} };
}

export type BugMerge = Map<string, BugRecord & { unit: number }>;

/**
 * Count one unit's result into the summary (any order: the earliest (unit, op) stays the first
 * occurrence). `storeDisagreement` writes a disagreement's tape and names its file.
 */
export function mergeUnitResult(s: FuzzSummary, bugs: BugMerge, r: UnitResult,
  storeDisagreement?: (d: Omit<NonNullable<UnitResult["disagreement"]>, "tape">, tape: Uint8Array) => string | undefined): void {
  s.ops += r.ops;
  s.units++;
  s.reports += r.reports;
  s.reportsLost += r.reportsLost;
  s.allocWarnings += r.allocWarnings;
  s.allocFailures += r.status[abi.FZS_ALLOC_FAILED] ?? 0;
  for (const c of BUG_CLASSES) s.planted[c] += r.planted[c];
  for (const b of r.bugs) {
    const have = bugs.get(b.signature);
    if (!have) { bugs.set(b.signature, { ...b, unit: r.unit }); continue; }
    have.count += b.count;
    if (r.unit < have.unit || (r.unit === have.unit && b.firstOp < have.firstOp)) {
      Object.assign(have, { unit: r.unit, firstOp: b.firstOp, text: b.text, title: b.title });
    }
  }
  if (r.panicked) s.panics.push({ unit: r.unit, ...r.panicked });
  if (r.disagreement) {
    const { tape, ...d } = r.disagreement;
    s.disagreements.push({ unit: r.unit, ...d, file: storeDisagreement?.(d, tape) });
  }
}

/** The merged bugs in first-occurrence order, numbered, with their texts. */
export function finishBugs(s: FuzzSummary, bugs: BugMerge): void {
  s.panics.sort((a, b) => a.unit - b.unit || a.op - b.op);
  s.timedOut.sort((a, b) => a.unit - b.unit);
  s.disagreements.sort((a, b) => a.unit - b.unit || a.op - b.op);
  const sorted = [...bugs.values()].sort((a, b) => a.unit - b.unit || a.firstOp - b.firstOp || (a.signature < b.signature ? -1 : 1));
  s.bugs = sorted.map((b, i) => ({
    id: i + 1, signature: b.signature, type: b.type, accessSite: b.accessSite, allocSite: b.allocSite, title: b.title,
    count: b.count, first: { unit: b.unit, op: b.firstOp },
  }));
  for (const b of sorted) s.texts[b.signature] = b.text;
}

function emptyPlanted(): Record<BugClass, number> {
  return Object.fromEntries(BUG_CLASSES.map((c) => [c, 0])) as Record<BugClass, number>;
}

/**
 * fuzz --cpus: 1..nr_cpus (of the command line), at most FZ_MAX_CPUS; a
 * one-line error naming the range otherwise.
 */
export function parseCpus(v: number | string | undefined, nrCpus: number): number {
  if (v === undefined) return 1;
  const n = typeof v === "number" ? v : /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  const max = Math.min(nrCpus, abi.FZ_MAX_CPUS);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    const why = Number.isInteger(n) && n > max && n <= abi.FZ_MAX_CPUS ? ` (the command line has nr_cpus=${nrCpus}; add nr_cpus=${n} to --cmdline for more)` : "";
    throw new RangeError(`--cpus must be an integer from 1 to ${max}${why}, got ${JSON.stringify(String(v))}`);
  }
  return n;
}

export const SEGMENT_OPS_WITHOUT_CPUS = "--segment-ops is for units on several CPUs: give --cpus 2 or more";

/** --segment-ops against --cpus, as given (fuzz and campaign start): a one-line usage error. */
export function checkCpusUsage(o: { cpus?: string; segmentOps?: string }): void {
  if (o.segmentOps !== undefined && (o.cpus === undefined || o.cpus.trim() === "1")) throw new RangeError(SEGMENT_OPS_WITHOUT_CPUS);
}

/**
 * The user's command line for units on `cpus` CPUs: several CPUs would let KFENCE's
 * sampling pick allocations by the interleaving (same seed, other bugs), so it is off
 * unless asked for (or --check, which turns it off anyway).
 */
export function cpusCmdline(userCmdline: string, cpus: number, check: boolean): string {
  return cpus > 1 && !check && !/(^|\s)kfence\.sample_interval=/.test(userCmdline) ? `${userCmdline} kfence.sample_interval=0`.trim() : userCmdline;
}

/** fuzz --segment-ops: 1..FZ_LOG_OPS, or undefined (the default); a one-line error otherwise. */
export function checkSegmentOps(segmentOps: number | undefined): number | undefined {
  if (segmentOps !== undefined && (!Number.isInteger(segmentOps) || segmentOps < 1 || segmentOps > abi.FZ_LOG_OPS)) throw new RangeError(`--segment-ops must be an integer from 1 to ${abi.FZ_LOG_OPS}, got ${segmentOps}`);
  return segmentOps;
}

/** Run a fuzzing campaign. */
export async function fuzz(opts: FuzzOptions): Promise<FuzzSummary> {
  const userCmdline = opts.cmdline ?? "";
  const cpus = parseCpus(opts.cpus, resolveOptions({ cmdline: userCmdline }).nrCpus);
  opts = { ...opts, cmdline: cpusCmdline(userCmdline, cpus, !!opts.check) };
  const segmentOps = checkSegmentOps(opts.segmentOps ?? undefined);
  // CPU threads spin on the kernel lock: workers x CPUs threads should not outnumber the cores
  const cores = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  const workers = opts.workers ?? Math.max(1, Math.floor(cores / cpus));
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw new RangeError(`--workers must be 1..256, got ${workers}`);
  if (opts.ops === undefined && opts.seconds === undefined) throw new RangeError("fuzz: give --ops or --seconds");
  if (opts.ops !== undefined && (!Number.isInteger(opts.ops) || opts.ops < 1)) throw new RangeError(`--ops must be a positive integer, got ${opts.ops}`);
  if (opts.seconds !== undefined && !(opts.seconds > 0)) throw new RangeError(`--seconds must be positive, got ${opts.seconds}`);
  const seed = opts.seed ?? 1;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`--seed must be a non-negative integer, got ${seed}`);
  const profile = opts.profile ?? "mixed";
  // --seconds runs are not deterministic anyway: bigger units boot fewer engines
  const unitOps = opts.unitOps ?? (opts.ops === undefined ? DEFAULT_UNIT_OPS * 4 : DEFAULT_UNIT_OPS);
  if (!Number.isInteger(unitOps) || unitOps < 1 || unitOps > 0xffffffff) throw new RangeError(`unit size must be 1..2^32-1 ops, got ${unitOps}`);
  const cmdline = opts.check ? checkCmdline(opts.cmdline ?? "") : `${opts.cmdline ?? ""} kasan_multi_shot`.trim();
  resolveOptions({ cmdline });   // a bad command line fails here, not in every worker
  Engine.createSync({ cmdline }); // so does one the kernel cannot boot with
  const plant = opts.plant ?? {};
  const plantWrites = opts.plantWrites ?? !opts.check;
  const recipe: UnitRecipe = { seed, profile, cmdline, plant, plantWrites, check: !!opts.check, cpus, segmentOps };
  const deadline = opts.seconds !== undefined ? Date.now() + opts.seconds * 1000 : undefined;
  const units = opts.ops !== undefined ? Math.ceil(opts.ops / unitOps) : Infinity;
  const maxBytes = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 65536) throw new RangeError(`--max-output must be at least 64K, got ${maxBytes}`);
  const maxReproducerBytes = opts.maxReproducerBytes ?? DEFAULT_MAX_REPRODUCER;
  if (!Number.isSafeInteger(maxReproducerBytes) || maxReproducerBytes < 1) throw new RangeError(`--max-reproducer must be a positive number of bytes, got ${maxReproducerBytes}`);
  const unitLimit = opts.unitTimeoutMs ?? DEFAULT_UNIT_TIMEOUT_MS;
  if (!(unitLimit > 0)) throw new RangeError(`--unit-timeout must be positive, got ${unitLimit}`);

  const pool = new Pool(workers);
  const out = new OutputBudget(opts.out, maxBytes, maxReproducerBytes);
  let interrupted = false;
  const onSigint = () => {
    if (Atomics.load(pool.stop, 0) === 0) { interrupted = true; Atomics.store(pool.stop, 0, 1); }
    else Atomics.store(pool.stop, 0, 2);
  };
  // a second Ctrl-C while shrinking: keep the rest unshrunk
  const onSigintShrinking = () => Atomics.store(pool.stop, 0, 2);
  if (opts.handleSignals !== false) process.on("SIGINT", onSigint);
  const bugs: BugMerge = new Map();
  const bar = opts.progress ?? process.stderr.isTTY === true ? await progressBar(pool, workers, opts.ops, opts.seconds, () => bugs.size) : undefined;
  const s = newSummary({ profile, seed, cmdline, workers, cpus, unitOps, checked: !!opts.check }, { maxBytes, maxReproducerBytes });
  const t0 = Date.now();
  try {
    await pool.start();
    let nextUnit = 0;
    await pool.drive<UnitResult>(() => {
      if (nextUnit >= units || Atomics.load(pool.stop, 0) !== 0 || (deadline !== undefined && Date.now() >= deadline)) return undefined;
      const unit = nextUnit++;
      const ops = opts.ops !== undefined ? Math.min(unitOps, opts.ops - unit * unitOps) : unitOps;
      return { type: "unit", job: { ...unitJob(recipe, unit, ops), deadline } };
    }, (res, job) => {
      if (res === TIMED_OUT) {
        s.timedOut.push({ unit: (job.job as UnitJob).unit, seconds: unitLimit / 1000 });
        return;
      }
      mergeUnitResult(s, bugs, res, opts.out ? (d, tape) => {
        const u = job.job as UnitJob;
        const ref = () => encodeReference(makeReference({ ...generatorOptions(u), plantWrites: u.plantWrites }, d.op + 1, ""));   // no signature: replay --check it
        return out.put(`disagreement-${res.unit}-${d.op}`, tape, ref, "")?.file;
      } : undefined);
    }, unitLimit);
    const fuzzSeconds = (Date.now() - t0) / 1000;
    s.interrupted = interrupted;
    finishBugs(s, bugs);
    s.timing = { seconds: fuzzSeconds, opsPerSecond: s.ops / fuzzSeconds, opsPerSecondPerWorker: s.ops / fuzzSeconds / workers, minimiseSeconds: 0 };
    bar?.stop();

    // one reproducer per unique bug, shrunk in parallel (a second Ctrl-C: the rest as they are)
    if (s.bugs.length) {
      const tm = Date.now();
      const shrink = opts.minimise !== false;
      Atomics.store(pool.stop, 0, 0);
      if (shrink && (opts.progress ?? process.stderr.isTTY)) process.stderr.write(`shrinking ${s.bugs.length} reproducer(s)... (Ctrl-C: keep them unshrunk)\n`);
      if (opts.handleSignals !== false) {
        process.off("SIGINT", onSigint);
        process.on("SIGINT", onSigintShrinking);
      }
      let i = 0;
      const budget = opts.minimiseMs ?? 20_000;
      // room kept for the summary files, written last (about 2 x 300 bytes a bug)
      out.reserve(16384 + 600 * s.bugs.length + 300 * s.disagreements.length + 100 * s.timedOut.length);
      const store = (m: MinimiseJob, res: MinimiseResult | typeof TIMED_OUT | undefined) => {
        const b = s.bugs.find((x) => x.signature === m.signature)!;
        // not shrunk (overran its budget and the unit limit, or the output budget is spent): by reference if it fits
        const r: MinimiseResult = res && res !== TIMED_OUT ? res : { signature: m.signature, tape: new Uint8Array(0), ops: m.op + 1,
          prefixOps: m.op + 1, tests: 0, reproduced: false, shrunk: false, text: "", title: "" };
        let file: string | undefined;
        let stored: "tape" | "reference" | "none" = "none";
        if (opts.out) {
          const ref = () => encodeReference(makeReference({ ...generatorOptions(m.job), plantWrites: m.job.plantWrites }, m.op + 1, b.signature));
          const put = out.put(`bug-${String(b.id).padStart(3, "0")}`, r.tape.length ? r.tape : undefined, ref,
            `${b.signature}\n\n${r.text || s.texts[b.signature]}\n`);
          file = put?.file;
          stored = put?.stored ?? "none";
        }
        b.reproducer = { file, ops: r.ops, prefixOps: r.prefixOps, tests: r.tests, reproduced: r.reproduced, shrunk: r.shrunk,
          stored, tapeBytes: r.tapeBytes ?? r.tape.length };
      };
      await pool.drive<MinimiseResult>(() => {
        for (;;) {
          if (i >= s.bugs.length) return undefined;
          const b = s.bugs[i++];
          const m: MinimiseJob = { job: prefixJob(recipe, b.first.unit, b.first.op), signature: b.signature, op: b.first.op, shrink: shrink && Atomics.load(pool.stop, 0) !== 2,
            deadline: Date.now() + budget, maxTapeBytes: maxReproducerBytes };
          // once even a reference and its text would not fit, shrinking is wasted work
          if (opts.out && out.full(4096)) { store(m, undefined); continue; }
          return { type: "minimise", job: m };
        }
      }, (res, j) => store(j.job as MinimiseJob, res), budget + unitLimit);
      s.timing.minimiseSeconds = (Date.now() - tm) / 1000;
    }
  } finally {
    bar?.stop();
    // only our own listeners: an embedding application keeps its handlers
    if (opts.handleSignals !== false) { process.off("SIGINT", onSigint); process.off("SIGINT", onSigintShrinking); }
    await pool.close();
  }
  Object.assign(s.output, out.counts());
  if (opts.out) s.output.summaryBytes = writeSummary(s, opts.out);
  return s;
}

/**
 * The output folder's budget: a reproducer is written as a tape when it is
 * under the per-reproducer cap and fits, else as a reference (a few hundred
 * bytes that `shadowfence replay` regenerates the tape from), else not at all.
 */
class OutputBudget {
  private used = 0;
  private reserved = 0;
  private tapes = 0;
  private references = 0;
  private notWritten = 0;
  constructor(private readonly dir: string | undefined, private readonly maxBytes: number, private readonly maxTape: number) {}

  reserve(n: number): void { this.reserved = n; }
  /** Less than n bytes of budget left. */
  full(n: number): boolean { return !this.fits(n); }
  private fits(n: number): boolean { return this.used + this.reserved + n <= this.maxBytes; }
  private write(name: string, data: Uint8Array | string): void {
    mkdirSync(this.dir!, { recursive: true });
    writeFileSync(path.join(this.dir!, name), data);
    this.used += typeof data === "string" ? Buffer.byteLength(data) : data.length;
  }

  /** Write `<base>.tape` (or `<base>.ref`) and `<base>.txt` (when text is given). */
  put(base: string, tape: Uint8Array | undefined, reference: () => Uint8Array, text: string): { file: string; stored: "tape" | "reference" } | undefined {
    if (!this.dir) return undefined;
    const textBytes = Buffer.byteLength(text);
    if (tape && tape.length <= this.maxTape && this.fits(tape.length + textBytes)) {
      this.write(`${base}.tape`, tape);
      if (text) this.write(`${base}.txt`, text);
      this.tapes++;
      return { file: path.join(this.dir, `${base}.tape`), stored: "tape" };
    }
    const ref = reference();
    if (this.fits(ref.length + textBytes)) {
      this.write(`${base}.ref`, ref);
      if (text) this.write(`${base}.txt`, text);
      this.references++;
      return { file: path.join(this.dir, `${base}.ref`), stored: "reference" };
    }
    this.notWritten++;
    return undefined;
  }

  counts(): { bytes: number; tapes: number; references: number; notWritten: number } {
    return { bytes: this.used, tapes: this.tapes, references: this.references, notWritten: this.notWritten };
  }
}

// ── progress ────────────────────────────────────────────────────────────────
async function progressBar(pool: Pool, workers: number, ops: number | undefined, seconds: number | undefined,
                           unique: () => number): Promise<{ stop(): void }> {
  const { default: cliProgress } = await import("cli-progress");
  const multi = new cliProgress.MultiBar({
    stream: process.stderr, hideCursor: true, clearOnComplete: false, autopadding: true, barsize: 30,
    format: " total    |{bar}| {done} | {rate} M ops/s | {reports} reports | {unique} unique bugs",
  }, cliProgress.Presets.shades_classic);
  const total = ops ?? Math.round((seconds ?? 0) * 10);
  const all = multi.create(total, 0, { done: "", rate: "0.0", reports: 0, unique: 0 });
  const bars = Array.from({ length: workers }, (_, i) => multi.create(1, 0, { name: `worker ${i}`, ops: 0, rate: "0.0", reports: 0, state: "" },
    { format: " {name} | {ops} ops | {rate} M ops/s | {reports} reports {state}" }));
  const t0 = Date.now();
  const last = new Float64Array(workers);
  let lastT = t0;
  const timer = setInterval(() => {
    const now = Date.now();
    let done = 0, reps = 0;
    for (let i = 0; i < workers; i++) {
      const o = pool.counters[i * 4];
      done += o;
      reps += pool.counters[i * 4 + 1];
      const rate = (o - last[i]) / Math.max(1, now - lastT) / 1000;
      last[i] = o;
      bars[i].update(0, { ops: o, rate: rate.toFixed(1), reports: pool.counters[i * 4 + 1],
        state: pool.counters[i * 4 + 2] === 2 ? "(shrinking)" : pool.counters[i * 4 + 2] === 0 ? "(idle)" : "" });
    }
    lastT = now;
    const elapsed = (now - t0) / 1000;
    all.update(ops ? Math.min(done, ops) : Math.min(total, Math.round(elapsed * 10)), {
      done: ops ? `${done}/${ops} ops` : `${elapsed.toFixed(1)}/${seconds} s`,
      rate: (done / Math.max(1, now - t0) / 1000).toFixed(1), reports: reps, unique: unique(),
    });
  }, 250);
  return { stop: () => { clearInterval(timer); multi.stop(); } };
}

// ── summary ─────────────────────────────────────────────────────────────────
export function summaryText(s: FuzzSummary): string {
  const L: string[] = [];
  const t = s.timing;
  L.push(`shadowfence fuzz: profile ${s.profile}, seed ${s.seed}, ${s.workers} worker(s)${s.cpus > 1 ? ` of ${s.cpus} CPUs each` : ""}, ${s.units} unit(s) of up to ${s.unitOps} ops${s.interrupted ? " (interrupted)" : ""}`);
  L.push(`command line: ${s.cmdline}`);
  L.push(`ops: ${s.ops} in ${t.seconds.toFixed(2)} s: ${(t.opsPerSecond / 1e6).toFixed(2)} M ops/s, ${(t.opsPerSecondPerWorker / 1e6).toFixed(2)} M ops/s per worker`);
  L.push(`reports: ${s.reports}, lost to a full report ring: ${s.reportsLost}; unique bugs: ${s.bugs.length}`);
  if (s.allocFailures || s.allocWarnings) {
    L.push(`allocations that failed: ${s.allocFailures} (the slot holds NULL); warn_alloc reports (not bugs): ${s.allocWarnings}`);
  }
  const planted = BUG_CLASSES.filter((c) => s.planted[c]).map((c) => `${c} ${s.planted[c]}`);
  if (planted.length) L.push(`planted bugs: ${planted.join(", ")}`);
  if (s.checked) L.push(`oracle: ${s.disagreements.length ? `${s.disagreements.length} disagreement(s)` : "agreed with every verdict"}`);
  for (const d of s.disagreements) L.push(`  DISAGREEMENT unit ${d.unit} op ${d.op}: ${d.what}: expected ${d.expected}, got ${d.got}${d.file ? ` (tape: ${d.file})` : ""}`);
  for (const p of s.panics) L.push(`  panic in unit ${p.unit} at op ${p.op}: ${p.title}`);
  if (s.timedOut.length) {
    L.push(`timed out: ${s.timedOut.length} unit(s) stopped at the ${s.timedOut[0].seconds} s limit (--unit-timeout), not counted above: ` +
      s.timedOut.map((t) => t.unit).join(", "));
  }
  const o = s.output;
  if (o.references || o.notWritten) {
    L.push(`reproducers: ${o.tapes} as tapes, ${o.references} by reference (over ${o.maxReproducerBytes} bytes, or past the output budget), ` +
      `${o.notWritten} not written${o.notWritten ? ` (the ${o.maxBytes}-byte output budget was spent)` : ""}`);
  }
  if (s.bugs.length) {
    L.push("");
    L.push("   #     count  first (unit:op)  reproducer");
    for (const b of s.bugs) {
      const r = b.reproducer;
      const name = r?.file ? path.basename(r.file) : r?.stored === "none" ? "not written" : "-";
      const repro = !r ? "-"
        : r.stored === "reference" ? `${name} (by reference: unit ${b.first.unit}, ops 0..${b.first.op}; ` +
          `${r.shrunk ? `shrunk to ${r.ops} ops` : "unshrunk"}${r.tapeBytes ? `, a ${r.tapeBytes}-byte tape` : ""})`
        : !r.shrunk ? `${name} (${r.ops} ops, unshrunk)`
        : `${name} (${r.ops} of ${r.prefixOps} ops${r.reproduced ? "" : ", NOT reproduced"})`;
      L.push(`${String(b.id).padStart(4)} ${String(b.count).padStart(9)}  ${`${b.first.unit}:${b.first.op}`.padEnd(15)}  ${repro}`);
      L.push(`       ${b.signature}`);
    }
  }
  if (s.bugsNotListed) L.push(`  ... ${s.bugsNotListed} more unique bug(s) not listed: the summary would pass the ${s.output.maxBytes}-byte output budget (--max-output)`);
  if (s.output.bytes) L.push(`\nreproducers and texts: ${s.output.bytes} bytes of the ${s.output.maxBytes}-byte output budget (--max-output)`);
  if (t.minimiseSeconds && s.bugs.some((b) => b.reproducer?.shrunk)) L.push(`\nreproducers shrunk in ${t.minimiseSeconds.toFixed(1)} s`);
  return L.join("\n") + "\n";
}

export function summaryJson(s: FuzzSummary): object {
  const { texts, ...rest } = s;
  void texts;
  return rest;
}

/**
 * Write summary.txt and summary.json within `room` bytes (by default what the
 * output budget has left): when every bug's line does not fit, the files list
 * the first ones and say how many they leave out (bugsNotListed). The header
 * is always written. Returns their bytes.
 */
export function writeSummary(s: FuzzSummary, out: string, room = s.output.maxBytes - s.output.bytes): number {
  mkdirSync(out, { recursive: true });
  const files = (listed: number) => {
    const cut: FuzzSummary = listed < s.bugs.length ? { ...s, bugs: s.bugs.slice(0, listed), bugsNotListed: s.bugs.length - listed } : s;
    const text = summaryText(cut), json = JSON.stringify(summaryJson(cut), null, 2) + "\n";
    return { text, json, bytes: Buffer.byteLength(text) + Buffer.byteLength(json) };
  };
  let f = files(s.bugs.length);
  if (f.bytes > room) {
    // the most bugs whose listing fits (the bytes grow with the number listed)
    let lo = 0, hi = s.bugs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (files(mid).bytes <= room) lo = mid;
      else hi = mid - 1;
    }
    f = files(lo);
  }
  writeFileSync(path.join(out, "summary.txt"), f.text);
  writeFileSync(path.join(out, "summary.json"), f.json);
  return f.bytes;
}

