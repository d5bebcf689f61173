// `shadowfence fuzz --study kfence`: how often does KFENCE catch a bug?
//
// KFENCE hands one allocation per sample interval to its guarded pool, so a
// bug is caught only if its object was sampled, and then only if the bug
// touches a guard page, a freed object's protected page or the canary checked
// at free. The study plants bugs at a known rate with KASAN off, runs the
// virtual clock at a fixed pace (one tick op every TICK_EVERY ops) and counts,
// per bug class, the planted bugs KFENCE reported. Next to that it gives the
// sampling model's expectation: the fraction of allocations KFENCE sees
// (one per interval of virtual time, over the eligible allocations) times the
// chance a sampled object's bug is caught, worked out per planted bug from
// KFENCE's placement (left or right edge of its page with equal chance, right
// edge rounded down to the cache alignment) and its access.
import * as abi from "../../abi/abi.js";
import { Engine } from "../engine.js";
import { Generator, ScenarioTracker, BUG_CLASSES, type BugClass, type Profile, type Scenario } from "./generator.js";
import { TapeExecutor, type Finding } from "./exec.js";
import { Pool, TIMED_OUT, parseCpus, checkSegmentOps, SEGMENT_OPS_WITHOUT_CPUS } from "./runner.js";
import { resolveOptions } from "../config.js";
import { generatorOptions, type Progress, type UnitJob } from "./unit.js";
import { runUnitSmp } from "./smp.js";

export const STUDY_TICK_EVERY = 100;      // ops per tick
export const STUDY_TICK_US = 1000;        // 1 ms of virtual time per tick
export const STUDY_INTERVALS = [1, 3, 10];
export const STUDY_PLANT = 1e-3;          // per op, per class
const CHUNK = 1 << 15;

export interface StudyJob {
  unit: number;
  ops: number;
  seed: number;
  profile: Profile;
  interval: number;
  cmdline: string;
  /** CPUs running the unit at once (fuzz --cpus; default 1): host/fuzz/smp.ts. */
  cpus?: number;
  /** Ops between two barriers on several CPUs (fuzz --segment-ops). */
  segmentOps?: number;
}

export interface ClassTally { planted: number; detected: number; pIfSampled: number }
export interface StudyUnitResult {
  interval: number;
  ops: number;
  virtualMs: number;
  allocations: number;
  kfenceAllocations: number;
  classes: Record<BugClass, ClassTally>;
}

/** Chance KFENCE catches this planted bug if its victim is a KFENCE object (align: the victim cache's). */
export function detectIfSampled(sc: Scenario, align: number): number {
  const P = 4096;
  switch (sc.cls) {
    case "uaf": case "double-free": case "invalid-free": return 1;
    case "oob": case "underflow": {
      const size = sc.size, w = sc.width;
      const leftAddr = 0, rightAddr = Math.floor((P - size) / align) * align;
      const caught = (addr: number) => {
        const start = addr + sc.off, end = start + w;
        if (start < 0 || end > P) return 1;           // a guard page faults
        return sc.write ? 1 : 0;                       // a write hits the canary checked at free; a read goes unseen
      };
      return 0.5 * caught(leftAddr) + 0.5 * caught(rightAddr);
    }
  }
}

function emptyTally(): Record<BugClass, ClassTally> {
  return Object.fromEntries(BUG_CLASSES.map((c) => [c, { planted: 0, detected: 0, pIfSampled: 0 }])) as Record<BugClass, ClassTally>;
}

const studyCmdline = (job: StudyJob) => `${job.cmdline} kasan=off kasan_multi_shot kfence.sample_interval=${job.interval}`.trim();
const studyPlant = () => Object.fromEntries(BUG_CLASSES.map((c) => [c, STUDY_PLANT])) as Record<BugClass, number>;
const STUDY_TICK = { every: STUDY_TICK_EVERY, us: STUDY_TICK_US };

/** A finding watcher that keeps the ops of KFENCE's reports: an access or free that faulted or was refused, or a corrupted canary found at free. */
function kfenceOpsOf(): { ops: Set<number>; watch: (f: Finding) => void } {
  const ops = new Set<number>();
  return { ops, watch: (f) => { if (f.raw.kind === abi.REP_KFENCE) ops.add(f.op); } };
}

/** The unit's tallies: each planted bug, caught or not, next to its chance if sampled. */
function studyResult(job: StudyJob, engine: Engine, tracker: ScenarioTracker, kfenceOps: Set<number>, ops: number): StudyUnitResult {
  const e = engine.exports;
  const align = (size: number) => {
    const sizes = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192];
    const i = sizes.findIndex((s) => size <= s);
    return i < 0 ? 4096 : e.cache_info(e.kmalloc_cache_id(i), abi.KC_ALIGN);
  };
  const classes = emptyTally();
  for (const sc of tracker.scenarios) {
    // a bug whose victim's last free has not run yet could still be caught: leave it out
    if ((sc.cls === "oob" || sc.cls === "underflow" || sc.cls === "invalid-free") && sc.lastOp < 0) continue;
    if (sc.vmalloc) continue;
    const t = classes[sc.cls];
    t.planted++;
    t.pIfSampled += detectIfSampled(sc, align(sc.size));
    if (kfenceOps.has(sc.bugOp) || (sc.lastOp >= 0 && kfenceOps.has(sc.lastOp))) t.detected++;
  }
  const st = engine.stats();
  return {
    interval: job.interval, ops, virtualMs: Math.floor(ops / STUDY_TICK_EVERY) * (STUDY_TICK_US / 1000),
    allocations: st.slab.allocs + st.kfence.allocations, kfenceAllocations: st.kfence.allocations, classes,
  };
}

export function runStudyUnit(job: StudyJob, progress?: Progress): StudyUnitResult {
  const cmdline = studyCmdline(job);
  const engine = Engine.createSync({ cmdline });
  const gen = new Generator({ seed: job.seed, unit: job.unit, profile: job.profile, plant: studyPlant(), cmdline, tick: STUDY_TICK }, engine);
  const x = new TapeExecutor(engine, gen.header);
  const tracker = new ScenarioTracker(gen.sites);
  const kf = kfenceOpsOf();
  const onFinding = (f: Finding) => { kf.watch(f); return false; };
  let op = 0;
  while (op < job.ops) {
    if (progress && Atomics.load(progress.stop, 0) !== 0) break;
    const { ops: n, bytes } = gen.fillBuffer(Math.min(CHUNK, job.ops - op));
    tracker.feed(gen.bufferView(bytes), op);
    const r = x.runBuffer(bytes, n, op, { onFinding });
    op += n;
    if (progress) progress.counters[progress.index * 4] += n;
    if (r.panicked) break;
  }
  const res = studyResult(job, engine, tracker, kf.ops, op);
  x.finish();
  return res;
}

/**
 * A study unit on job.cpus CPUs at once (fuzz --cpus, host/fuzz/smp.ts). KFENCE
 * takes whichever allocation comes first after its interval, so which objects
 * it samples depends on how the CPUs interleave, as on a real SMP kernel: the
 * same seed gives other counts from run to run, and the study compares them
 * with the same model. The planted bugs are the stream's, regenerated here.
 */
export async function runStudyUnitSmp(job: StudyJob, progress?: Progress): Promise<StudyUnitResult> {
  const unitJob: UnitJob = { unit: job.unit, ops: job.ops, seed: job.seed, profile: job.profile, cmdline: studyCmdline(job), plant: studyPlant(),
    plantWrites: true, check: false, tick: STUDY_TICK, cpus: job.cpus, segmentOps: job.segmentOps };
  const gen = new Generator(generatorOptions(unitJob));
  const tracker = new ScenarioTracker(gen.sites);
  const kf = kfenceOpsOf();
  let res: StudyUnitResult | undefined;
  await runUnitSmp(unitJob, progress, { finding: kf.watch, end: (engine, r) => {
    // the planted bugs of the ops the CPUs ran (fewer than asked when stopped)
    for (let op = 0; op < r.ops;) {
      const { ops: n, bytes } = gen.fillBuffer(Math.min(CHUNK, r.ops - op));
      if (n === 0) break;
      tracker.feed(gen.bufferView(bytes), op);
      op += n;
    }
    res = studyResult(job, engine, tracker, kf.ops, r.ops);
  } });
  return res!;
}

export interface StudyRow {
  interval: number;
  ops: number;
  allocations: number;
  kfenceAllocations: number;
  /** Fraction of allocations KFENCE saw, measured and by the model (one per interval). */
  seen: number;
  model: number;
  classes: Record<BugClass, ClassTally & { measured: number; expected: number }>;
}

export interface StudyOptions {
  ops?: number;
  seed?: number;
  workers?: number;
  profile?: Profile;
  cmdline?: string;
  intervals?: number[];
  unitOps?: number;
  /** CPUs each unit runs on at once (fuzz --cpus: 1..nr_cpus of the command line). */
  cpus?: number;
  segmentOps?: number;
}

/** Run the study: for each sample interval, `ops` ops in units across the workers. */
export async function kfenceStudy(opts: StudyOptions): Promise<StudyRow[]> {
  const ops = opts.ops ?? 10_000_000;
  const unitOps = opts.unitOps ?? 1 << 20;
  const intervals = opts.intervals ?? STUDY_INTERVALS;
  const cpus = parseCpus(opts.cpus, resolveOptions({ cmdline: opts.cmdline ?? "" }).nrCpus);
  const segmentOps = checkSegmentOps(opts.segmentOps);
  if (segmentOps !== undefined && cpus === 1) throw new RangeError(SEGMENT_OPS_WITHOUT_CPUS);
  const pool = new Pool(opts.workers ?? 1);
  const results: StudyUnitResult[] = [];
  try {
    await pool.start();
    const jobs: StudyJob[] = [];
    for (const interval of intervals) {
      for (let u = 0; u * unitOps < ops; u++) {
        jobs.push({ unit: u, ops: Math.min(unitOps, ops - u * unitOps), seed: opts.seed ?? 1, profile: opts.profile ?? "slab-churn",
          interval, cmdline: opts.cmdline ?? "", ...(cpus > 1 ? { cpus, segmentOps } : {}) });
      }
    }
    let i = 0;
    await pool.drive<StudyUnitResult>(() => (i < jobs.length ? { type: "study", job: jobs[i++] } : undefined), (r) => { if (r !== TIMED_OUT) results.push(r); });
  } finally {
    await pool.close();
  }
  return studyRows(results, intervals);
}

/** Per interval, the units' tallies summed, next to the sampling model (any order of units). */
export function studyRows(results: StudyUnitResult[], intervals: number[]): StudyRow[] {
  return intervals.map((interval) => {
    const rs = results.filter((r) => r.interval === interval);
    const sum = (f: (r: StudyUnitResult) => number) => rs.reduce((a, r) => a + f(r), 0);
    const allocations = sum((r) => r.allocations), kf = sum((r) => r.kfenceAllocations);
    const model = Math.min(1, sum((r) => r.virtualMs) / interval / Math.max(1, allocations));
    const classes = {} as StudyRow["classes"];
    for (const c of BUG_CLASSES) {
      const planted = sum((r) => r.classes[c].planted), detected = sum((r) => r.classes[c].detected);
      const pIf = sum((r) => r.classes[c].pIfSampled);
      classes[c] = { planted, detected, pIfSampled: pIf, measured: planted ? detected / planted : 0,
        expected: planted ? (model * pIf) / planted : 0 };
    }
    return { interval, ops: sum((r) => r.ops), allocations, kfenceAllocations: kf, seen: allocations ? kf / allocations : 0, model, classes };
  });
}

export function studyText(rows: StudyRow[]): string {
  const L: string[] = [];
  L.push(`KFENCE detection study: KASAN off, virtual clock ${STUDY_TICK_US / 1000} ms per ${STUDY_TICK_EVERY} ops, each bug class planted at ${STUDY_PLANT} per op`);
  L.push("");
  const head = ["interval", "bug class", "planted", "detected", "measured", "expected", "ratio"];
  const rowsOut: string[][] = [];
  for (const r of rows) {
    rowsOut.push([`${r.interval} ms`, `(sampling) KFENCE saw`, String(r.allocations), String(r.kfenceAllocations),
      pct(r.seen), pct(r.model), r.model ? (r.seen / r.model).toFixed(2) : "-"]);
    for (const c of BUG_CLASSES) {
      const t = r.classes[c];
      rowsOut.push(["", c, String(t.planted), String(t.detected), pct(t.measured), pct(t.expected), t.expected ? (t.measured / t.expected).toFixed(2) : "-"]);
    }
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rowsOut.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  L.push(line(head));
  L.push(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rowsOut) L.push(line(r));
  L.push("");
  L.push("measured: planted bugs KFENCE reported; expected: the sampling model (one allocation per interval of virtual");
  L.push("time, over the allocations made) times each bug's chance of being caught on a KFENCE object (guard page,");
  L.push("protected freed page, canary checked at free; an out-of-bounds read that stays on the object's page is never seen).");
  L.push("The sampling rows compare the allocations KFENCE saw with the model's one per interval.");
  return L.join("\n") + "\n";
}

function pct(x: number): string {
  return `${(x * 100).toFixed(x < 0.01 ? 3 : 2)}%`;
}
