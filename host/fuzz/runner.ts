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
import { resolveOptions } from "../config.js";
import { checkCmdline } from "./check.js";
import { BUG_CLASSES, type Profile, type PlantRates, type BugClass } from "./generator.js";
import type { UnitJob, UnitResult, MinimiseJob, MinimiseResult, BugRecord, BugSignature } from "./unit.js";

export interface FuzzOptions {
  /** Stop after this many ops (deterministic), or ... */
  ops?: number;
  /** ... after this many seconds. */
  seconds?: number;
  workers?: number;
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
}

export interface BugSummary extends BugSignature {
  id: number;
  first: { unit: number; op: number };
  reproducer?: { file?: string; ops: number; prefixOps: number; tests: number; reproduced: boolean; shrunk: boolean };
}

export interface FuzzSummary {
  profile: Profile;
  seed: number;
  cmdline: string;
  workers: number;
  unitOps: number;
  ops: number;
  units: number;
  reports: number;
  reportsLost: number;
  planted: Record<BugClass, number>;
  bugs: BugSummary[];
  panics: Array<{ unit: number; op: number; title: string }>;
  disagreements: Array<{ unit: number; op: number; what: string; expected: string; got: string; file?: string }>;
  checked: boolean;
  interrupted: boolean;
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

/** Worker threads sharing progress counters and a stop flag. */
export class Pool {
  readonly counters: Float64Array;
  readonly stop: Int32Array;
  private readonly workers: Worker[] = [];
  private readonly ready: Promise<void>[] = [];
  private readonly waiting = new Map<Worker, (r: unknown) => void>();
  private readonly failing = new Map<Worker, (e: Error) => void>();

  constructor(readonly size: number) {
    const cb = new SharedArrayBuffer(8 * 4 * size), sb = new SharedArrayBuffer(4);
    this.counters = new Float64Array(cb);
    this.stop = new Int32Array(sb);
    const url = workerUrl();
    for (let i = 0; i < size; i++) {
      const w = new Worker(url, { workerData: { counters: cb, stop: sb, index: i } });
      this.workers.push(w);
      this.ready.push(new Promise((res, rej) => {
        w.once("message", () => res());
        w.once("error", rej);
      }));
      w.on("message", (m: { type: string; result?: unknown; message?: string; stack?: string }) => {
        if (m.type === "ready") return;
        const ok = this.waiting.get(w), bad = this.failing.get(w);
        this.waiting.delete(w);
        this.failing.delete(w);
        if (m.type === "error") bad?.(Object.assign(new Error(`fuzz worker ${i}: ${m.message}`), { stack: m.stack }));
        else ok?.(m.result);
      });
      w.on("error", (e) => { this.failing.get(w)?.(e); this.waiting.delete(w); this.failing.delete(w); });
    }
  }

  async start(): Promise<void> {
    await Promise.all(this.ready);
  }

  /** Run jobs from `next()` on every worker until it returns undefined; `done` sees each result. */
  async drive<R>(next: () => Job | undefined, done: (r: R) => void): Promise<void> {
    await Promise.all(this.workers.map(async (w) => {
      for (let job = next(); job; job = next()) {
        const r = await new Promise<R>((res, rej) => {
          this.waiting.set(w, res as (r: unknown) => void);
          this.failing.set(w, rej);
          w.postMessage(job);
        });
        done(r);
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
export function newSummary(f: Pick<FuzzSummary, "profile" | "seed" | "cmdline" | "workers" | "unitOps" | "checked">): FuzzSummary {
  return { ...f, ops: 0, units: 0, reports: 0, reportsLost: 0, planted: emptyPlanted(), bugs: [], panics: [], disagreements: [],
    interrupted: false, timing: { seconds: 0, opsPerSecond: 0, opsPerSecondPerWorker: 0, minimiseSeconds: 0 }, texts: {} };
}

export type BugMerge = Map<string, BugRecord & { unit: number }>;

/** Count one unit's result into the summary (any order: the earliest (unit, op) stays the first occurrence). */
export function mergeUnitResult(s: FuzzSummary, bugs: BugMerge, r: UnitResult, out?: string): void {
  s.ops += r.ops;
  s.units++;
  s.reports += r.reports;
  s.reportsLost += r.reportsLost;
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
    let file: string | undefined;
    if (out) {
      mkdirSync(out, { recursive: true });
      file = path.join(out, `disagreement-${r.unit}-${d.op}.tape`);
      writeFileSync(file, tape);
    }
    s.disagreements.push({ unit: r.unit, ...d, file });
  }
}

/** The merged bugs in first-occurrence order, numbered, with their texts. */
export function finishBugs(s: FuzzSummary, bugs: BugMerge): void {
  s.panics.sort((a, b) => a.unit - b.unit || a.op - b.op);
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

/** Run a fuzzing campaign. */
export async function fuzz(opts: FuzzOptions): Promise<FuzzSummary> {
  const workers = opts.workers ?? Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
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
  const plant = opts.plant ?? {};
  const plantWrites = opts.plantWrites ?? !opts.check;
  const deadline = opts.seconds !== undefined ? Date.now() + opts.seconds * 1000 : undefined;
  const units = opts.ops !== undefined ? Math.ceil(opts.ops / unitOps) : Infinity;

  const pool = new Pool(workers);
  let interrupted = false;
  const onSigint = () => {
    if (Atomics.load(pool.stop, 0) === 0) { interrupted = true; Atomics.store(pool.stop, 0, 1); }
    else Atomics.store(pool.stop, 0, 2);
  };
  if (opts.handleSignals !== false) process.on("SIGINT", onSigint);
  const bugs: BugMerge = new Map();
  const bar = opts.progress ?? process.stderr.isTTY === true ? await progressBar(pool, workers, opts.ops, opts.seconds, () => bugs.size) : undefined;
  const s = newSummary({ profile, seed, cmdline, workers, unitOps, checked: !!opts.check });
  const t0 = Date.now();
  try {
    await pool.start();
    let nextUnit = 0;
    await pool.drive<UnitResult>(() => {
      if (nextUnit >= units || Atomics.load(pool.stop, 0) !== 0 || (deadline !== undefined && Date.now() >= deadline)) return undefined;
      const unit = nextUnit++;
      const ops = opts.ops !== undefined ? Math.min(unitOps, opts.ops - unit * unitOps) : unitOps;
      return { type: "unit", job: { unit, ops, seed, profile, cmdline, plant, plantWrites, check: !!opts.check, deadline } };
    }, (r) => mergeUnitResult(s, bugs, r, opts.out));
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
        process.on("SIGINT", () => Atomics.store(pool.stop, 0, 2));
      }
      let i = 0;
      const budget = opts.minimiseMs ?? 20_000;
      await pool.drive<MinimiseResult>(() => {
        if (i >= s.bugs.length) return undefined;
        const b = s.bugs[i++];
        const job: UnitJob = { unit: b.first.unit, ops: b.first.op + 1, seed, profile, cmdline, plant, plantWrites, check: false };
        return { type: "minimise", job: { job, signature: b.signature, op: b.first.op, shrink: shrink && Atomics.load(pool.stop, 0) !== 2,
          deadline: Date.now() + budget } };
      }, (r) => {
        const b = s.bugs.find((x) => x.signature === r.signature)!;
        let file: string | undefined;
        if (opts.out) {
          mkdirSync(opts.out, { recursive: true });
          file = path.join(opts.out, `bug-${String(b.id).padStart(3, "0")}.tape`);
          writeFileSync(file, r.tape);
          writeFileSync(file.replace(/\.tape$/, ".txt"), `${b.signature}\n\n${r.text || s.texts[b.signature]}\n`);
        }
        b.reproducer = { file, ops: r.ops, prefixOps: r.prefixOps, tests: r.tests, reproduced: r.reproduced, shrunk: r.shrunk };
      });
      s.timing.minimiseSeconds = (Date.now() - tm) / 1000;
    }
  } finally {
    bar?.stop();
    if (opts.handleSignals !== false) process.removeAllListeners("SIGINT");
    await pool.close();
  }
  if (opts.out) writeSummary(s, opts.out);
  return s;
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
  L.push(`shadowfence fuzz: profile ${s.profile}, seed ${s.seed}, ${s.workers} worker(s), ${s.units} unit(s) of up to ${s.unitOps} ops${s.interrupted ? " (interrupted)" : ""}`);
  L.push(`command line: ${s.cmdline}`);
  L.push(`ops: ${s.ops} in ${t.seconds.toFixed(2)} s: ${(t.opsPerSecond / 1e6).toFixed(2)} M ops/s, ${(t.opsPerSecondPerWorker / 1e6).toFixed(2)} M ops/s per worker`);
  L.push(`reports: ${s.reports}, lost to a full report ring: ${s.reportsLost}; unique bugs: ${s.bugs.length}`);
  const planted = BUG_CLASSES.filter((c) => s.planted[c]).map((c) => `${c} ${s.planted[c]}`);
  if (planted.length) L.push(`planted bugs: ${planted.join(", ")}`);
  if (s.checked) L.push(`oracle: ${s.disagreements.length ? `${s.disagreements.length} disagreement(s)` : "agreed with every verdict"}`);
  for (const d of s.disagreements) L.push(`  DISAGREEMENT unit ${d.unit} op ${d.op}: ${d.what}: expected ${d.expected}, got ${d.got}${d.file ? ` (tape: ${d.file})` : ""}`);
  for (const p of s.panics) L.push(`  panic in unit ${p.unit} at op ${p.op}: ${p.title}`);
  if (s.bugs.length) {
    L.push("");
    L.push("   #     count  first (unit:op)  reproducer");
    for (const b of s.bugs) {
      const r = b.reproducer;
      const repro = !r ? "-" : !r.shrunk ? `${r.file ? path.basename(r.file) : "-"} (${r.ops} ops, unshrunk)`
        : `${r.file ? path.basename(r.file) : "-"} (${r.ops} of ${r.prefixOps} ops${r.reproduced ? "" : ", NOT reproduced"})`;
      L.push(`${String(b.id).padStart(4)} ${String(b.count).padStart(9)}  ${`${b.first.unit}:${b.first.op}`.padEnd(15)}  ${repro}`);
      L.push(`       ${b.signature}`);
    }
  }
  if (t.minimiseSeconds && s.bugs.some((b) => b.reproducer?.shrunk)) L.push(`\nreproducers shrunk in ${t.minimiseSeconds.toFixed(1)} s`);
  return L.join("\n") + "\n";
}

export function summaryJson(s: FuzzSummary): object {
  const { texts, ...rest } = s;
  void texts;
  return rest;
}

export function writeSummary(s: FuzzSummary, out: string): void {
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, "summary.txt"), summaryText(s));
  writeFileSync(path.join(out, "summary.json"), JSON.stringify(summaryJson(s), null, 2) + "\n");
}

