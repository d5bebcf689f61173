// Fuzz campaigns across machines: the units of a campaign are BullMQ jobs on
// a Redis server; any number of `campaign worker` processes take them, run
// them on their own worker threads (the local runner's Pool and units) and
// store each result in Redis under its unit id. BullMQ does the queueing,
// locking, retries and stalled-job recovery; a unit's result is written by
// unit id (HSET: a unit run twice, after a worker died between writing and
// acknowledging, writes the same bytes twice and counts once), and every
// total is computed from those results, never incremented.
//
// Redis keys of campaign NAME:
//   sfc:campaigns              set of campaign names
//   sfc:NAME:meta              the campaign's options (JSON)
//   sfc:NAME:results           hash unit id -> unit result (JSON; reproducer tapes base64)
//   sfc:NAME:repro             hash bug id -> shrunk reproducer (JSON, tape base64)
//   sfc:NAME:retried           set of unit ids that were started more than once
//   sfc:NAME:machines          hash machine id -> its ops, units and times (JSON)
//   bull:sf-NAME:*             BullMQ's queue of the campaign's jobs
import os from "node:os";
import path from "node:path";
import { mkdirSync, writeFileSync } from "node:fs";
import { Queue, Worker, type Job } from "bullmq";
import type { Redis } from "ioredis";
import { resolveOptions } from "../../config.js";
import { checkCmdline } from "../check.js";
import { DEFAULT_PLANT, PROFILES, BUG_CLASSES, type PlantRates, type Profile, type BugClass } from "../generator.js";
import * as abi from "../../../abi/abi.js";
import { Pool, newSummary, mergeUnitResult, finishBugs, writeSummary, summaryText, parseCpus, cpusCmdline, checkSegmentOps, checkCpusUsage,
  type FuzzSummary, type BugMerge } from "../runner.js";
import { studyRows, studyText, STUDY_INTERVALS, type StudyUnitResult, type StudyRow } from "../study.js";
import { unitJob, prefixJob, runMinimise, type UnitResult, type UnitRecipe, type MinimiseResult } from "../unit.js";
import { connectRedis, CampaignError, parseRedisUrl } from "./redis.js";

export { CampaignError } from "./redis.js";

const DEFAULT_UNIT_OPS = 1 << 20;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const MAX_UNITS = 1_000_000;
/** A campaign sized in seconds queues units this many at a time (per interval for a study). */
const TIMED_BATCH = 16;

export interface CampaignMeta {
  name: string;
  version: 1;
  kind: "fuzz" | "study";
  seed: number;
  profile: Profile;
  /** Full command line (kasan_multi_shot or the oracle's configuration added), as the local runner builds it. */
  cmdline: string;
  /** The study's base command line (it adds its own KFENCE settings). */
  studyCmdline?: string;
  plant: PlantRates;
  plantWrites: boolean;
  check: boolean;
  /** CPUs each unit runs on (fuzz --cpus); absent (older campaigns): 1. */
  cpus?: number;
  /** Ops between two barriers on several CPUs (fuzz --segment-ops); absent: the default. */
  segmentOps?: number;
  ops: number;
  unitOps: number;
  units: number;
  intervals?: number[];
  /** Jobs to run: units, or units x intervals for a study. */
  jobs: number;
  /** A campaign sized in time: its starter queues units until this many seconds have passed. */
  seconds?: number;
  /** True while that starter is still queuing (units, jobs and ops still grow). */
  queuing?: boolean;
  created: number;
  startedBy: string;
}

export interface CampaignStartOptions {
  redis: string;
  name: string;
  /** Ops in all; or seconds: the starter keeps units queued for that long, then the campaign ends. One of the two. */
  ops?: number;
  seconds?: number;
  seed?: number;
  profile?: Profile;
  cmdline?: string;
  plant?: PlantRates;
  check?: boolean;
  study?: "kfence";
  unitOps?: number;
  /** CPUs each unit runs on, as fuzz --cpus (a string is parsed: the CLI's argument). */
  cpus?: number | string;
  /** As fuzz --segment-ops (only with cpus 2 or more). */
  segmentOps?: number;
  /** A campaign sized in seconds: called once its options are checked and its first units queued, as it starts keeping units queued. */
  onQueuing?: (meta: CampaignMeta) => void;
}

type UnitData = { kind: "unit"; unit: number; ops: number };
type StudyData = { kind: "study"; unit: number; ops: number; interval: number };
type ShrinkData = { kind: "shrink"; bug: number; signature: string; unit: number; op: number; budgetMs: number };
type JobData = UnitData | StudyData | ShrinkData;

export const keys = (name: string) => ({
  meta: `sfc:${name}:meta`, results: `sfc:${name}:results`, repro: `sfc:${name}:repro`,
  retried: `sfc:${name}:retried`, machines: `sfc:${name}:machines`,
});
const REGISTRY = "sfc:campaigns";
export const queueName = (name: string) => `sf-${name}`;

function checkName(name: string | undefined): string {
  if (!name || !NAME_RE.test(name)) {
    throw new RangeError(`--name: 1-64 letters, digits, '_', '.', '-' (starting with a letter or digit), got ${JSON.stringify(name ?? "")}`);
  }
  return name;
}

/** JSON from Redis, which other programs (or another version) may have written: a bad value is named, not thrown raw. */
function fromRedis<T>(raw: string, what: string): T {
  try {
    const v = JSON.parse(raw) as unknown;
    if (v === null || typeof v !== "object") throw new Error("not an object");
    return v as T;
  } catch {
    throw new CampaignError(`${what} in Redis: not valid JSON of this version`);
  }
}

/** The campaign's options as read back: checked as hostile input before a worker runs them. */
function checkMeta(m: CampaignMeta, name: string): CampaignMeta {
  const int = (v: unknown, lo: number, hi: number) => Number.isSafeInteger(v) && (v as number) >= lo && (v as number) <= hi;
  const bad = (what: string) => new CampaignError(`campaign ${name}: its options in Redis are not valid (${what})`);
  if (m.version !== 1 || m.name !== name) throw bad("version or name");
  if (m.kind !== "fuzz" && m.kind !== "study") throw bad("kind");
  if (!int(m.seed, 0, Number.MAX_SAFE_INTEGER) || !PROFILES.includes(m.profile)) throw bad("seed or profile");
  if (!int(m.unitOps, 1, 0xffffffff) || !int(m.units, 1, MAX_UNITS) || !int(m.jobs, 1, MAX_UNITS) || !int(m.ops, 1, Number.MAX_SAFE_INTEGER)) throw bad("sizes");
  if (typeof m.cmdline !== "string" || (m.studyCmdline !== undefined && typeof m.studyCmdline !== "string")) throw bad("command line");
  if (typeof m.plant !== "object" || m.plant === null || Object.entries(m.plant).some(([c, r]) => !BUG_CLASSES.includes(c as BugClass) || !(typeof r === "number" && r >= 0 && r <= 1))) throw bad("planted rates");
  if (m.intervals !== undefined && (!Array.isArray(m.intervals) || m.intervals.some((i) => !int(i, 1, 1_000_000)))) throw bad("intervals");
  if ((m.seconds !== undefined && !(typeof m.seconds === "number" && m.seconds > 0)) || (m.queuing !== undefined && typeof m.queuing !== "boolean")) throw bad("seconds");
  let nrCpus: number;
  try { nrCpus = resolveOptions({ cmdline: m.cmdline }).nrCpus; } catch (e) { throw bad((e as Error).message); }
  if (m.cpus !== undefined && !int(m.cpus, 1, Math.min(nrCpus, abi.FZ_MAX_CPUS))) throw bad("cpus");
  if (m.segmentOps !== undefined && !int(m.segmentOps, 1, abi.FZ_LOG_OPS)) throw bad("segment ops");
  return m;
}

const machineId = () => `${os.hostname()}/${process.pid}`;

async function readMeta(r: Redis, name: string): Promise<CampaignMeta> {
  const raw = await r.get(keys(name).meta);
  if (!raw) throw new CampaignError(`no campaign named ${JSON.stringify(name)} on this Redis`);
  return checkMeta(fromRedis<CampaignMeta>(raw, `campaign ${name}: its options`), name);
}

/** BullMQ's own connection: a duplicate of a checked client, so BullMQ owns (and closes) it. */
function bullConnection(r: Redis, persistent: boolean): Redis {
  const d = r.duplicate({ maxRetriesPerRequest: persistent ? null : 1, lazyConnect: false });
  d.on("error", () => {});
  return d;
}

// ── start ───────────────────────────────────────────────────────────────────
/** Queue the units of a new campaign; the name must be free. */
export async function startCampaign(o: CampaignStartOptions): Promise<CampaignMeta> {
  parseRedisUrl(o.redis);
  const name = checkName(o.name);
  if ((o.ops === undefined) === (o.seconds === undefined)) throw new RangeError("campaign start: give --ops N or --seconds S (one of them)");
  if (o.ops !== undefined && (!Number.isSafeInteger(o.ops) || o.ops < 1)) throw new RangeError(`--ops must be a positive integer, got ${o.ops}`);
  if (o.seconds !== undefined && !(Number.isFinite(o.seconds) && o.seconds > 0 && o.seconds <= 366 * 86400)) {
    throw new RangeError(`--seconds must be a positive number of seconds (at most a year), got ${o.seconds}`);
  }
  const seed = o.seed ?? 1;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`--seed must be a non-negative integer, got ${seed}`);
  const study = o.study === "kfence";
  const profile = o.profile ?? (study ? "slab-churn" : "mixed");
  if (!PROFILES.includes(profile)) throw new RangeError(`--profile must be one of ${PROFILES.join(", ")}, got ${JSON.stringify(profile)}`);
  const unitOps = o.unitOps ?? DEFAULT_UNIT_OPS;
  if (!Number.isInteger(unitOps) || unitOps < 1 || unitOps > 0xffffffff) throw new RangeError(`unit size must be 1..2^32-1 ops, got ${unitOps}`);
  const timed = o.seconds !== undefined;
  const units = timed ? TIMED_BATCH : Math.ceil(o.ops! / unitOps);
  const ops = timed ? units * unitOps : o.ops!;
  const intervals = study ? STUDY_INTERVALS : undefined;
  const jobs = units * (intervals?.length ?? 1);
  if (jobs > MAX_UNITS) throw new RangeError(`a campaign has at most ${MAX_UNITS} units, this one would have ${jobs}: raise --unit-ops`);
  if (study && o.check) throw new RangeError("--check and --study kfence do not go together (the study runs with KASAN off)");
  // --cpus and --segment-ops mean what they mean to fuzz(), so the units and their command line are the local run's
  const str = (v: number | string | undefined) => (v === undefined ? undefined : String(v));
  checkCpusUsage({ cpus: str(o.cpus), segmentOps: str(o.segmentOps) });
  const userCmdline = o.cmdline ?? "";
  const cpus = parseCpus(o.cpus, resolveOptions({ cmdline: userCmdline }).nrCpus);
  const segmentOps = checkSegmentOps(o.segmentOps);
  const withCpus = cpusCmdline(userCmdline, cpus, !!o.check);
  const cmdline = o.check ? checkCmdline(withCpus) : `${withCpus} kasan_multi_shot`.trim();
  resolveOptions({ cmdline });
  const meta: CampaignMeta = {
    name, version: 1, kind: study ? "study" : "fuzz", seed, profile, cmdline, studyCmdline: study ? (o.cmdline ?? "") : undefined,
    plant: o.plant ?? DEFAULT_PLANT, plantWrites: !o.check, check: !!o.check, cpus, ...(cpus > 1 && segmentOps ? { segmentOps } : {}),
    ops, unitOps, units, intervals, jobs,
    seconds: o.seconds, queuing: timed || undefined, created: Date.now(), startedBy: machineId(),
  };
  const r = await connectRedis(o.redis);
  let queue: Queue | undefined;
  try {
    const k = keys(name);
    // the name is claimed atomically: two starters with one name, one wins
    if ((await r.set(k.meta, JSON.stringify(meta), "NX")) !== "OK") throw new CampaignError(`a campaign named ${JSON.stringify(name)} already exists (campaign delete removes it)`);
    await r.sadd(REGISTRY, name);
    queue = new Queue(queueName(name), { connection: bullConnection(r, false) });
    const q = queue;
    const add = async (from: number, to: number) => {
      const all: Array<{ name: string; data: JobData; opts: { jobId: string } }> = [];
      for (const interval of intervals ?? [0]) {
        for (let u = from; u < to; u++) {
          const n = Math.min(unitOps, meta.ops - u * unitOps);
          all.push(study
            ? { name: "study", data: { kind: "study", unit: u, ops: n, interval }, opts: { jobId: `i${interval}-u${u}` } }
            : { name: "unit", data: { kind: "unit", unit: u, ops: n }, opts: { jobId: `u${u}` } });
        }
      }
      const jobOpts = { attempts: 3, backoff: { type: "fixed", delay: 1000 }, removeOnComplete: false, removeOnFail: false };
      for (let i = 0; i < all.length; i += 1000) {
        await q.addBulk(all.slice(i, i + 1000).map((j) => ({ ...j, opts: { ...jobOpts, ...j.opts } })));
      }
    };
    await add(0, units);
    if (timed) {
      o.onQueuing?.(meta);
      // a campaign sized in time: keep a batch of units waiting until the deadline, recording each
      // batch in the options first (status and report read units, jobs and ops from there)
      const deadline = meta.created + o.seconds! * 1000;
      while (Date.now() < deadline && meta.jobs + TIMED_BATCH * (intervals?.length ?? 1) <= MAX_UNITS) {
        if ((await q.getWaitingCount()) < TIMED_BATCH / 2) {
          const from = meta.units;
          Object.assign(meta, { units: from + TIMED_BATCH, ops: (from + TIMED_BATCH) * unitOps, jobs: (from + TIMED_BATCH) * (intervals?.length ?? 1) });
          await r.set(k.meta, JSON.stringify(meta));
          await add(from, meta.units);
        }
        await new Promise((res) => setTimeout(res, Math.min(500, Math.max(0, deadline - Date.now()))));
      }
      meta.queuing = false;
      await r.set(k.meta, JSON.stringify(meta));
    }
  } finally {
    await queue?.close();
    r.disconnect();
  }
  return meta;
}

// ── worker ──────────────────────────────────────────────────────────────────
export interface CampaignWorkerOptions {
  redis: string;
  /**
   * Units run at once, whatever their CPUs (as fuzz --workers). Default: the cores, a
   * unit on N CPUs counting N of them (floor(cores / N) units of such a campaign).
   */
  workers?: number;
  /** Serve only this campaign (default: every campaign on the Redis, found as they appear). */
  name?: string;
  /** BullMQ lockDuration and stalledInterval (ms, default 30000): a dead worker's unit is retried after about this long. */
  stallMs?: number;
  /** Lines about what the worker does (default: stderr). */
  log?: (line: string) => void;
}

export interface CampaignWorkerHandle {
  /** Resolves when the worker has stopped. */
  done: Promise<void>;
  stop(): Promise<void>;
}

interface MachineStats { host: string; pid: number; threads: number; ops: number; units: number; busyMs: number; started: number; firstStart: number; updated: number }

/** Threads a worker process runs at once: a job takes `n` of them, waiting its turn (first come, first served). */
class ThreadBudget {
  private used = 0;
  private readonly waiting: Array<{ n: number; go: () => void }> = [];
  constructor(readonly size: number) {}
  async take(n: number): Promise<void> {
    if (this.waiting.length === 0 && this.used + n <= this.size) { this.used += n; return; }
    await new Promise<void>((go) => this.waiting.push({ n, go }));
  }
  give(n: number): void {
    this.used -= n;
    while (this.waiting.length && this.used + this.waiting[0].n <= this.size) {
      const w = this.waiting.shift()!;
      this.used += w.n;
      w.go();
    }
  }
}

/** What a campaign's units are made from, as fuzz() makes a run's (older metas: one CPU). */
function recipe(m: CampaignMeta): UnitRecipe {
  return { seed: m.seed, profile: m.profile, cmdline: m.cmdline, plant: m.plant, plantWrites: m.plantWrites, check: m.check, cpus: m.cpus ?? 1, segmentOps: m.segmentOps };
}

const b64 = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString("base64");
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));

/** Take units from every campaign (or one) and run them on local worker threads until stopped. */
export async function campaignWorker(o: CampaignWorkerOptions): Promise<CampaignWorkerHandle> {
  parseRedisUrl(o.redis);
  if (o.name !== undefined) checkName(o.name);
  const threads = o.workers ?? Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new RangeError(`--workers must be 1..256, got ${threads}`);
  const stallMs = o.stallMs ?? 30_000;
  if (!Number.isInteger(stallMs) || stallMs < 500) throw new RangeError(`--stall-ms must be an integer >= 500, got ${stallMs}`);
  const log = o.log ?? ((l: string) => process.stderr.write(l + "\n"));
  const r = await connectRedis(o.redis, { persistent: true });
  const pool = new Pool(threads);
  await pool.start();
  // CPU threads spin on the kernel lock: by default a unit on N CPUs takes N of the cores (all of them if fewer), shared
  // by every campaign served; --workers W runs W units at once whatever their CPUs, as fuzz --workers W does
  const budget = new ThreadBudget(threads);
  const weight = (m: CampaignMeta) => (o.workers === undefined ? Math.min(m.cpus ?? 1, threads) : 1);
  const run = async <R>(job: Parameters<Pool["run"]>[0], n: number): Promise<R> => {
    await budget.take(n);
    try { return await pool.run<R>(job); } finally { budget.give(n); }
  };
  const me = machineId();
  const served = new Map<string, { worker: Worker; meta: CampaignMeta; stats: MachineStats }>();
  let stopping = false;
  const badMeta = new Set<string>();

  const processor = (name: string) => async (job: Job<JobData>): Promise<string> => {
    const c = served.get(name)!;
    const k = keys(name), m = c.meta, d = job.data;
    const started = Date.now();
    if (!c.stats.firstStart) c.stats.firstStart = started;
    if (d.kind === "shrink") {
      if (await r.hexists(k.repro, `b${d.bug}`)) return "already shrunk";
      const res = await run<MinimiseResult>({ type: "minimise", job: { job: prefixJob(recipe(m), d.unit, d.op), signature: d.signature, op: d.op,
        shrink: true, deadline: Date.now() + d.budgetMs } }, 1);
      await r.hset(k.repro, `b${d.bug}`, JSON.stringify({ ...res, tape: b64(res.tape), machine: me }));
      return "shrunk";
    }
    const id = d.kind === "study" ? `i${d.interval}-u${d.unit}` : `u${d.unit}`;
    // a unit whose result is stored is done, whoever acknowledged it
    if (await r.hexists(k.results, id)) return "already done";
    if (job.attemptsStarted > 1 || job.stalledCounter > 0) await r.sadd(k.retried, id);
    let stored: object;
    let ops: number;
    if (d.kind === "study") {
      const res = await run<StudyUnitResult>({ type: "study", job: { unit: d.unit, ops: d.ops, seed: m.seed, profile: m.profile,
        interval: d.interval, cmdline: m.studyCmdline ?? "", ...((m.cpus ?? 1) > 1 ? { cpus: m.cpus, segmentOps: m.segmentOps } : {}) } }, weight(m));
      ops = res.ops;
      stored = { ...res, unit: d.unit };
    } else {
      const res = await run<UnitResult>({ type: "unit", job: unitJob(recipe(m), d.unit, d.ops) }, weight(m));
      ops = res.ops;
      stored = { ...res, disagreement: res.disagreement && { ...res.disagreement, tape: b64(res.disagreement.tape) } };
    }
    const finished = Date.now();
    await r.hset(k.results, id, JSON.stringify({ ...stored, machine: me, started, finished }));
    c.stats.ops += ops;
    c.stats.units++;
    c.stats.busyMs += finished - started;
    c.stats.updated = finished;
    await r.hset(k.machines, me, JSON.stringify(c.stats));
    return id;
  };

  const serve = async (name: string) => {
    if (served.has(name) || stopping) return;
    const raw = await r.get(keys(name).meta);
    if (!raw || served.has(name)) return;
    let meta: CampaignMeta;
    try {
      meta = checkMeta(fromRedis<CampaignMeta>(raw, `campaign ${name}: its options`), name);
    } catch (e) {
      if (!badMeta.has(name)) log(`campaign ${name}: not served: ${(e as Error).message}`);
      badMeta.add(name);
      return;
    }
    const now = Date.now();
    // units of this campaign at once (its CPU threads aside): the machine's share of the report's workers
    const units = Math.max(1, Math.floor(threads / weight(meta)));
    const stats: MachineStats = { host: os.hostname(), pid: process.pid, threads: units, ops: 0, units: 0, busyMs: 0, started: now, firstStart: 0, updated: now };
    const worker = new Worker(queueName(name), processor(name), {
      connection: bullConnection(r, true), concurrency: units, lockDuration: stallMs, stalledInterval: stallMs,
      // a unit is retried after its worker died however often that happens; a unit that throws is tried 3 times
      maxStalledCount: 1000, autorun: false, name: me,
    });
    worker.on("error", () => {});    // connection errors: BullMQ reconnects
    worker.on("failed", (job, err) => log(`campaign ${name}: job ${job?.id} failed: ${err.message}`));
    served.set(name, { worker, meta, stats });
    await r.hset(keys(name).machines, me, JSON.stringify(stats));
    log(`campaign ${name}: serving (${units} thread(s)${(meta.cpus ?? 1) > 1 ? ` of ${meta.cpus} CPUs each` : ""})`);
    void worker.run().catch((e: Error) => log(`campaign ${name}: ${e.message}`));
  };

  // campaigns appear (start) and disappear (delete) while workers run
  const scan = async () => {
    try {
      const names = o.name ? [o.name] : await r.smembers(REGISTRY);
      for (const n of names) await serve(n);
      for (const [n, c] of served) {
        if (!(await r.exists(keys(n).meta))) {
          served.delete(n);
          log(`campaign ${n}: deleted, no longer served`);
          void c.worker.close(true);
        }
      }
    } catch { /* Redis away: try again at the next tick */ }
  };
  await scan();
  const timer = setInterval(() => void scan(), 1000);
  let resolveDone!: () => void;
  const done = new Promise<void>((res) => { resolveDone = res; });
  const stop = async () => {
    if (stopping) return done;
    stopping = true;
    clearInterval(timer);
    // units in flight are abandoned: their locks lapse and BullMQ hands them to another worker
    await Promise.all([...served.values()].map((c) => c.worker.close(true).catch(() => {})));
    await pool.close();
    r.disconnect();
    resolveDone();
  };
  return { done, stop };
}

// ── status ──────────────────────────────────────────────────────────────────
export interface CampaignStatus {
  name: string;
  meta: CampaignMeta;
  jobs: number;
  done: number;
  queued: number;
  active: number;
  failed: number;
  retried: number;
  ops: number;
  uniqueBugs: number;
  machines: Array<MachineStats & { id: string; opsPerSecond: number; live: boolean }>;
  opsPerSecond: number;
  finished: boolean;
}

async function statusWith(r: Redis, queue: Queue, name: string): Promise<CampaignStatus> {
  const meta = await readMeta(r, name);
  const k = keys(name);
  const [counts, results, retried, machines] = await Promise.all([
    queue.getJobCounts("waiting", "active", "completed", "failed", "delayed", "prioritized"),
    r.hgetall(k.results), r.scard(k.retried), r.hgetall(k.machines),
  ]);
  const sigs = new Set<string>();
  let ops = 0, first = Infinity, last = 0;
  for (const v of Object.values(results)) {
    const u = fromRedis<{ ops: number; started: number; finished: number; bugs?: Array<{ signature: string }> }>(v, `campaign ${name}: a unit result`);
    ops += u.ops;
    first = Math.min(first, u.started);
    last = Math.max(last, u.finished);
    for (const b of u.bugs ?? []) sigs.add(b.signature);
  }
  const now = Date.now();
  const ms = Object.entries(machines).map(([id, v]) => {
    const s = fromRedis<MachineStats>(v, `campaign ${name}: machine ${id}`);
    return { ...s, id, opsPerSecond: s.firstStart && s.updated > s.firstStart ? (s.ops / (s.updated - s.firstStart)) * 1000 : 0,
      live: now - s.updated < 60_000 };
  });
  const done = Object.keys(results).length;
  return {
    name, meta, jobs: meta.jobs, done, queued: counts.waiting + counts.delayed + counts.prioritized, active: counts.active,
    failed: counts.failed, retried, ops, uniqueBugs: sigs.size, machines: ms,
    opsPerSecond: done && last > first ? (ops / (last - first)) * 1000 : 0, finished: done >= meta.jobs && !meta.queuing,
  };
}

/** Run fn with a checked client and the campaign's queue (the campaign must exist). */
async function withCampaign<T>(redis: string, name: string, fn: (r: Redis, q: Queue, meta: CampaignMeta) => Promise<T>): Promise<T> {
  parseRedisUrl(redis);
  checkName(name);
  const r = await connectRedis(redis);
  let q: Queue | undefined;
  try {
    const meta = await readMeta(r, name);
    q = new Queue(queueName(name), { connection: bullConnection(r, false) });
    return await fn(r, q, meta);
  } finally {
    await q?.close().catch(() => {});
    r.disconnect();
  }
}

export async function campaignStatus(o: { redis: string; name: string }): Promise<CampaignStatus> {
  return withCampaign(o.redis, o.name, (r, q) => statusWith(r, q, o.name));
}

/** Poll the status until the campaign is finished (or fn returns false). */
export async function watchCampaign(o: { redis: string; name: string; everyMs?: number }, fn: (s: CampaignStatus) => boolean | void): Promise<CampaignStatus> {
  return withCampaign(o.redis, o.name, async (r, q) => {
    for (;;) {
      const s = await statusWith(r, q, o.name);
      if (fn(s) === false || s.finished) return s;
      await new Promise((res) => setTimeout(res, o.everyMs ?? 1000));
    }
  });
}

const rate = (x: number) => `${(x / 1e6).toFixed(2)} M ops/s`;

export function statusText(s: CampaignStatus): string {
  const L: string[] = [];
  const m = s.meta;
  L.push(`campaign ${s.name}: ${m.kind === "study" ? "KFENCE study, " : ""}profile ${m.profile}, seed ${m.seed}, ${m.ops} ops in ${m.units} unit(s) of up to ${m.unitOps}` +
    `${m.intervals ? ` x ${m.intervals.length} intervals` : ""}${(m.cpus ?? 1) > 1 ? `, on ${m.cpus} CPUs each${m.segmentOps ? ` (${m.segmentOps}-op segments)` : ""}` : ""}`);
  const width = 30, filled = Math.round((s.done / Math.max(1, s.jobs)) * width);
  L.push(`[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${s.done}/${s.jobs} units done${s.finished ? " (finished)" : ""}`);
  L.push(`units: queued ${s.queued}, active ${s.active}, done ${s.done}, failed ${s.failed}, retried ${s.retried}`);
  L.push(`ops: ${s.ops}, ${rate(s.opsPerSecond)} in total${m.kind === "fuzz" ? `; unique bugs so far: ${s.uniqueBugs}` : ""}`);
  for (const x of s.machines.sort((a, b) => (a.id < b.id ? -1 : 1))) {
    L.push(`  ${x.id.padEnd(28)} ${String(x.threads).padStart(3)} thread(s) ${String(x.units).padStart(6)} units ${String(x.ops).padStart(12)} ops  ${rate(x.opsPerSecond)}${x.live ? "" : " (idle)"}`);
  }
  return L.join("\n") + "\n";
}

// ── report ──────────────────────────────────────────────────────────────────
export interface CampaignReportOptions {
  redis: string;
  name: string;
  out?: string;
  /** Shrink reproducers (as jobs; needs a running worker). Default true. */
  minimise?: boolean;
  minimiseMs?: number;
  /** Give up waiting for shrink jobs after this long (ms, default 10 minutes). */
  waitMs?: number;
}

export interface StudyInterval extends StudyRow {
  /** 95% Wilson intervals of the measured detection probability, per class. */
  wilson: Record<BugClass, [number, number]>;
  /** Bugs KFENCE reported against total operations ("uptime"), unit by unit. */
  curve: Array<{ ops: number; detected: number }>;
}

export type CampaignReport = { kind: "fuzz"; summary: FuzzSummary } | { kind: "study"; rows: StudyInterval[]; meta: CampaignMeta };

/** 95% Wilson score interval of k successes in n trials. */
export function wilson(k: number, n: number, z = 1.959963984540054): [number, number] {
  if (n === 0) return [0, 1];
  const p = k / n, z2 = z * z, den = 1 + z2 / n;
  const mid = (p + z2 / (2 * n)) / den, half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / den;
  return [k === 0 ? 0 : Math.max(0, mid - half), k === n ? 1 : Math.min(1, mid + half)];
}

/** The finished campaign's summary and reproducers, as a local run writes them. */
export async function campaignReport(o: CampaignReportOptions): Promise<CampaignReport> {
  return withCampaign(o.redis, o.name, async (r, q, meta) => {
    const k = keys(o.name);
    const raw = await r.hgetall(k.results);
    const done = Object.keys(raw).length;
    if (done < meta.jobs || meta.queuing) {
      throw new CampaignError(`campaign ${o.name} is not finished: ${done} of ${meta.jobs} units done${meta.queuing ? ", its starter still queuing" : ""} (campaign status shows progress)`);
    }
    if (meta.kind === "study") {
      const results = Object.values(raw).map((v) => fromRedis<StudyUnitResult & { unit: number }>(v, `campaign ${o.name}: a unit result`));
      const rows = studyRows(results, meta.intervals!).map((row) => {
        const rs = results.filter((x) => x.interval === row.interval).sort((a, b) => a.unit - b.unit);
        let ops = 0, det = 0;
        const curve = rs.map((x) => { ops += x.ops; det += BUG_CLASSES.reduce((a, c) => a + x.classes[c].detected, 0); return { ops, detected: det }; });
        const wil = Object.fromEntries(BUG_CLASSES.map((c) => [c, wilson(row.classes[c].detected, row.classes[c].planted)])) as Record<BugClass, [number, number]>;
        return { ...row, wilson: wil, curve };
      });
      if (o.out) {
        mkdirSync(o.out, { recursive: true });
        writeFileSync(path.join(o.out, "study.txt"), fleetStudyText(meta, rows));
        writeFileSync(path.join(o.out, "study.json"), JSON.stringify(rows, null, 2) + "\n");
      }
      return { kind: "study", rows, meta };
    }
    const threads = Object.values(await r.hgetall(k.machines)).reduce((a, v) => a + (Number(fromRedis<MachineStats>(v, `campaign ${o.name}: a machine`).threads) || 0), 0);
    const s = newSummary({ profile: meta.profile, seed: meta.seed, cmdline: meta.cmdline, workers: Math.max(1, threads), cpus: meta.cpus ?? 1,
      unitOps: meta.unitOps, checked: meta.check });
    const bugs: BugMerge = new Map();
    let first = Infinity, last = 0;
    for (const v of Object.values(raw)) {
      const u = fromRedis<UnitResult & { started: number; finished: number; disagreement?: { tape: string } }>(v, `campaign ${o.name}: a unit result`);
      first = Math.min(first, u.started);
      last = Math.max(last, u.finished);
      const res = { ...u, disagreement: u.disagreement && { ...u.disagreement, tape: unb64(u.disagreement.tape as unknown as string) } } as UnitResult;
      mergeUnitResult(s, bugs, res, o.out ? (d, tape) => {
        mkdirSync(o.out!, { recursive: true });
        const file = path.join(o.out!, `disagreement-${res.unit}-${d.op}.tape`);
        writeFileSync(file, tape);
        return file;
      } : undefined);
    }
    finishBugs(s, bugs);
    const seconds = Math.max(1e-3, (last - first) / 1000);
    s.timing = { seconds, opsPerSecond: s.ops / seconds, opsPerSecondPerWorker: s.ops / seconds / s.workers, minimiseSeconds: 0 };
    // one shrink job per bug (job id = bug id: asking twice queues once); the results come back through Redis
    const shrink = o.minimise !== false;
    const t0 = Date.now();
    type StoredRepro = Omit<MinimiseResult, "tape"> & { tape: string };
    const repro = new Map<number, StoredRepro>();
    if (s.bugs.length) {
      const missing = async () => {
        const have = await r.hgetall(k.repro);
        for (const [id, v] of Object.entries(have)) repro.set(Number(id.slice(1)), fromRedis(v, `campaign ${o.name}: reproducer ${id}`));
        return s.bugs.filter((b) => !repro.has(b.id));
      };
      let todo = await missing();
      if (todo.length && shrink) {
        await q.addBulk(todo.map((b) => ({ name: "shrink", data: { kind: "shrink", bug: b.id, signature: b.signature, unit: b.first.unit,
          op: b.first.op, budgetMs: o.minimiseMs ?? 20_000 } as ShrinkData, opts: { jobId: `b${b.id}`, attempts: 3, removeOnComplete: false } })));
        const deadline = Date.now() + (o.waitMs ?? 600_000);
        while ((todo = await missing()).length) {
          if ((await q.getWorkersCount()) === 0) throw new CampaignError(`no campaign worker is running to shrink ${todo.length} reproducer(s): start one (shadowfence campaign worker), or report with --no-minimise`);
          if (Date.now() > deadline) throw new CampaignError(`${todo.length} reproducer(s) not shrunk in ${(o.waitMs ?? 600_000) / 1000} s`);
          const failed = (await q.getFailed()).filter((j) => (j.data as JobData).kind === "shrink" && todo.some((b) => `b${b.id}` === j.id));
          if (failed.length) throw new CampaignError(`shrinking bug ${failed[0].id} failed: ${failed[0].failedReason}`);
          await new Promise((res) => setTimeout(res, 300));
        }
      }
      for (const b of s.bugs) {
        let m: StoredRepro | undefined = repro.get(b.id);
        if (!m) {   // --no-minimise: the unit's prefix up to the bug, regenerated here
          const res = runMinimise({ job: prefixJob(recipe(meta), b.first.unit, b.first.op), signature: b.signature, op: b.first.op, shrink: false });
          m = { ...res, tape: b64(res.tape) };
        }
        let file: string | undefined;
        const tape = unb64(m.tape);
        if (o.out) {
          mkdirSync(o.out, { recursive: true });
          file = path.join(o.out, `bug-${String(b.id).padStart(3, "0")}.tape`);
          writeFileSync(file, tape);
          writeFileSync(file.replace(/\.tape$/, ".txt"), `${b.signature}\n\n${m.text || s.texts[b.signature]}\n`);
        }
        b.reproducer = { file, ops: m.ops, prefixOps: m.prefixOps, tests: m.tests, reproduced: m.reproduced, shrunk: m.shrunk,
          stored: file ? "tape" : "none", tapeBytes: tape.length };
      }
      s.timing.minimiseSeconds = (Date.now() - t0) / 1000;
    }
    if (o.out) writeSummary(s, o.out);
    return { kind: "fuzz", summary: s };
  });
}

export function fleetStudyText(meta: CampaignMeta, rows: StudyInterval[]): string {
  const L: string[] = [studyText(rows).trimEnd(), ""];
  L.push(`fleet: campaign ${meta.name}, ${meta.units} unit(s) of up to ${meta.unitOps} ops per interval, every unit its own engine and KFENCE sampling` +
    `${(meta.cpus ?? 1) > 1 ? ` (${meta.cpus} CPUs each)` : ""}`);
  L.push("detection probability per bug class, 95% Wilson interval, against the sampling model:");
  for (const row of rows) {
    for (const c of BUG_CLASSES) {
      const t = row.classes[c], [lo, hi] = row.wilson[c];
      const inside = t.expected >= lo && t.expected <= hi;
      L.push(`  ${`${row.interval} ms`.padEnd(6)} ${c.padEnd(13)} ${pctS(t.measured).padStart(8)} [${pctS(lo)}, ${pctS(hi)}]  model ${pctS(t.expected)}${t.planted ? (inside ? "  (inside)" : "  (OUTSIDE)") : ""}`);
    }
  }
  L.push("bugs KFENCE reported against total operations (uptime):");
  for (const row of rows) {
    const step = Math.max(1, Math.ceil(row.curve.length / 8));
    const pts = row.curve.filter((_p, i) => i % step === step - 1 || i === row.curve.length - 1);
    L.push(`  ${`${row.interval} ms`.padEnd(6)} ${pts.map((p) => `${(p.ops / 1e6).toFixed(1)}M:${p.detected}`).join("  ")}`);
  }
  return L.join("\n") + "\n";
}

function pctS(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

// ── delete ──────────────────────────────────────────────────────────────────
/** Remove everything a campaign stored (its queue and its results). */
export async function deleteCampaign(o: { redis: string; name: string }): Promise<void> {
  await withCampaign(o.redis, o.name, async (r, q) => {
    await r.del(keys(o.name).meta);     // workers see it gone and stop taking its units
    await q.obliterate({ force: true });
    const k = keys(o.name);
    await r.del(k.results, k.repro, k.retried, k.machines);
    await r.srem(REGISTRY, o.name);
  });
}

export { summaryText };
