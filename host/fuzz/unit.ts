// One unit of fuzzing work, as a worker runs it: a fresh engine, the unit's
// stream generated and run chunk by chunk inside wasm, reports signed and
// counted (only the first of each bug in the unit gets its kernel text).
// A unit depends on nothing but (seed, unit, profile, options), so the same
// run gives the same bugs on 1 worker or on N.
import * as abi from "../../abi/abi.js";
import { Engine, EnginePanicError } from "../engine.js";
import { Generator, generateTape, type GeneratorOptions, type Profile, type PlantRates, type BugClass } from "./generator.js";
import { TapeExecutor, type Finding } from "./exec.js";
import { Oracle } from "./oracle.js";
import { oracleFacts } from "./check.js";
import { encodeTape, decodeTape, pruneTape, type Tape } from "./tape.js";
import { minimise } from "./minimise.js";
import { replay } from "./exec.js";

export interface UnitJob {
  unit: number;
  ops: number;
  seed: number;
  profile: Profile;
  /** The full command line (kasan_multi_shot included). */
  cmdline: string;
  plant: PlantRates;
  plantWrites: boolean;
  check: boolean;
  tick?: { every: number; us: number };
  /** Stop by this time (Date.now() ms); the unit then reports the ops it ran. */
  deadline?: number;
  /** CPUs the unit runs on at once (fuzz --cpus; default 1): host/fuzz/smp.ts. */
  cpus?: number;
  /** Ops between two barriers on several CPUs (default generator.ts SEGMENT_OPS). */
  segmentOps?: number;
}

/** What fixes every unit of a run (fuzz()) or a campaign: the jobs below are built from it. */
export type UnitRecipe = Pick<UnitJob, "seed" | "profile" | "cmdline" | "plant" | "plantWrites" | "check" | "segmentOps"> & { cpus: number };

/** Unit `unit` of `ops` ops. */
export function unitJob(r: UnitRecipe, unit: number, ops: number): UnitJob {
  return { unit, ops, seed: r.seed, profile: r.profile, cmdline: r.cmdline, plant: r.plant, plantWrites: r.plantWrites, check: r.check, ...onCpus(r) };
}
// A recipe's CPUs and segment size, which shape its stream on several CPUs.
function onCpus(r: UnitRecipe): Pick<UnitJob, "cpus" | "segmentOps"> {
  return r.cpus > 1 ? { cpus: r.cpus, ...(r.segmentOps ? { segmentOps: r.segmentOps } : {}) } : {};
}
/** A unit's stream up to op `op`, for the minimiser: made for the unit's CPUs, replayed on one CPU, unchecked (docs/fuzz.md). */
export function prefixJob(r: UnitRecipe, unit: number, op: number): UnitJob {
  return { unit, ops: op + 1, seed: r.seed, profile: r.profile, cmdline: r.cmdline, plant: r.plant, plantWrites: r.plantWrites, check: false,
    ...onCpus(r) };
}

/** What identifies a bug and how often it was seen (a unit's record and the run's summary share it). */
export interface BugSignature {
  signature: string;
  type: string;
  accessSite: string;
  allocSite: string;
  title: string;
  count: number;
}

export interface BugRecord extends BugSignature {
  /** First occurrence: op index within its unit. */
  firstOp: number;
  text: string;
}

export interface UnitResult {
  unit: number;
  ops: number;
  reports: number;
  reportsLost: number;
  /** warn_alloc()'s allocation failures (fail_page_alloc, out of memory): the kernel's notices, not bugs. */
  allocWarnings: number;
  bugs: BugRecord[];
  planted: Record<BugClass, number>;
  status: number[];
  checksum: string;
  /** fuzz --cpus: the ops that took the lockless path (docs/fuzz.md, "Speed"). */
  lockless?: number;
  /** fuzz --cpus: where each CPU's time in the rounds went, in ms by the host's clock: running its ops of the segments
   * (from the generator's list of them), generating the next segment (CPU 0), waiting at the barriers. */
  cpuTime?: Array<{ run: number; generate: number; wait: number }>;
  /** fuzz --cpus: the ops each CPU ran (its slots' share of the stream, assembly/fuzz/owner.ts). */
  cpuOps?: number[];
  panicked?: { op: number; title: string };
  disagreement?: { op: number; what: string; expected: string; got: string; tape: Uint8Array };
  ms: number;
}

/** Shared progress: a worker's ops and reports (Float64Array slots), and the stop flag. */
export interface Progress {
  counters: Float64Array;
  index: number;
  stop: Int32Array;
}

export const CHUNK_OPS = 1 << 15;

export function generatorOptions(job: UnitJob): GeneratorOptions {
  return { seed: job.seed, unit: job.unit, profile: job.profile, plant: job.plant, cmdline: job.cmdline,
    plantWrites: job.plantWrites, tick: job.tick, ...(job.cpus && job.cpus > 1 ? { cpus: job.cpus, segmentOps: job.segmentOps } : {}) };
}

/**
 * warn_alloc() (page, slab and vmalloc allocations) and SLUB's slab_out_of_memory: an allocation
 * failed (injected or out of memory); the caller gets NULL, nothing is corrupted.
 */
export function isAllocWarning(f: Finding): boolean {
  const id = Number(f.raw.arg0);
  return (f.raw.kind === abi.REP_VMALLOC_WARN && id === abi.VMW_ALLOC_FAILED) ||
    (f.raw.kind === abi.REP_WARN && id === abi.WARN_ALLOC_FAILED);
}

/**
 * What a unit's reports add up to, on one CPU or several: its unique bugs
 * (the first occurrence of each signature, by op), the reports per op for
 * the oracle, the counts, and the progress the runner shows.
 */
export class UnitFindings {
  readonly bugs = new Map<string, BugRecord>();
  readonly byOp = new Map<number, Finding[]>();
  reports = 0;
  allocWarnings = 0;
  // the report (by seq) whose published text each bug keeps
  private readonly bySeq = new Map<number, BugRecord>();
  private readonly firstSeq = new Map<BugRecord, number>();
  private shown = 0;

  constructor(private readonly byOpForOracle: boolean) {}

  /** A finding as the ring is drained: true when its text is wanted (a bug's earliest occurrence so far). */
  readonly onFinding = (f: Finding): boolean => {
    // a panic is the consequence of the report before it (kasan.fault=panic, panic_on_warn): listed as such, not as a bug
    if (f.raw.kind === abi.REP_PANIC) return false;
    this.reports++;
    if (this.byOpForOracle) { const l = this.byOp.get(f.op); if (l) l.push(f); else this.byOp.set(f.op, [f]); }
    if (isAllocWarning(f)) { this.allocWarnings++; return false; }
    const b = this.bugs.get(f.signature);
    if (b) {
      b.count++;
      // several CPUs' reports come in the order they ran their ops: the earliest op's text is kept
      if (f.op < 0 || f.op >= b.firstOp) return false;
      b.firstOp = f.op;
      this.bySeq.delete(this.firstSeq.get(b)!);
      this.keepText(b, f.raw.seq);
      return true;
    }
    const nb: BugRecord = { signature: f.signature, type: f.type, accessSite: f.accessSite, allocSite: f.allocSite,
      title: "", count: 1, firstOp: f.op, text: "" };
    this.bugs.set(f.signature, nb);
    this.keepText(nb, f.raw.seq);
    return true;
  };

  private keepText(b: BugRecord, seq: number): void {
    this.bySeq.set(seq, b);
    this.firstSeq.set(b, seq);
  }

  /** The texts of the reports the engine published since: the bugs' first occurrences. */
  takeTexts(engine: Engine): void {
    for (const rep of engine.takeReports()) {
      const b = this.bySeq.get(rep.seq);
      if (b) { b.title = rep.title; b.text = rep.text; }
    }
  }

  /** n more ops done: the worker's progress counters. */
  progressed(progress: Progress | undefined, n: number): void {
    if (!progress) return;
    const slot = progress.index * 4;
    progress.counters[slot] += n;
    progress.counters[slot + 1] += this.reports - this.shown;
    this.shown = this.reports;
  }
}

/** The unit panicked at `op`: the panic the engine reported. */
export function panicAt(engine: Engine, op: number): { op: number; title: string } {
  const p = engine.reports().find((rep) => rep.kind === "panic");
  return { op, title: p?.title ?? "panic" };
}

export function runUnit(job: UnitJob, progress?: Progress): UnitResult {
  const t0 = Date.now();
  const engine = Engine.createSync({ cmdline: job.cmdline });
  const gen = new Generator(generatorOptions(job), engine);
  const x = new TapeExecutor(engine, gen.header);
  const oracle = job.check ? new Oracle(gen.header, oracleFacts(engine, x)) : undefined;
  const found = new UnitFindings(!!oracle);
  const { onFinding, byOp } = found;
  let op = 0;
  let panicked: UnitResult["panicked"];
  let disagreement: UnitResult["disagreement"];
  const chunk = oracle ? abi.FZ_LOG_OPS : CHUNK_OPS;
  try {
    while (op < job.ops) {
      if (progress && Atomics.load(progress.stop, 0) !== 0) break;
      if (job.deadline !== undefined && Date.now() >= job.deadline) break;
      const { ops: n, bytes } = gen.fillBuffer(Math.min(chunk, job.ops - op));
      const body = oracle ? gen.bufferView(bytes).slice() : undefined;
      byOp.clear();
      const r = x.runBuffer(bytes, n, op, { onFinding, log: !!oracle });
      found.takeTexts(engine);
      if (r.panicked) {
        op += r.ops;
        panicked = panicAt(engine, op);
        break;
      }
      if (oracle && body) {
        const d = oracle.check(body, op, new DataView(engine.memory.buffer, engine.exports.fuzz_log(), n * abi.FZ_LOG_SIZE), byOp);
        if (d) {
          disagreement = { ...d, tape: encodeTape(generateTape(generatorOptions(job), d.op + 1)) };
          op += n;
          break;
        }
      }
      op += n;
      found.progressed(progress, n);
    }
  } catch (err) {
    if (!(err instanceof EnginePanicError)) throw err;
    panicked = { op, title: err.message };
  }
  const c = x.counters();
  x.finish();
  return {
    unit: job.unit, ops: op, reports: found.reports, reportsLost: c.reportsLost, allocWarnings: found.allocWarnings, bugs: [...found.bugs.values()], planted: gen.planted(),
    status: c.status, checksum: c.checksum.toString(16), panicked, disagreement, ms: Date.now() - t0,
  };
}

export interface MinimiseJob {
  job: UnitJob;
  signature: string;
  /** The op of the first occurrence within the unit. */
  op: number;
  /** false: the unit's prefix up to the bug as it is (--no-minimise, or a second Ctrl-C). */
  shrink: boolean;
  deadline?: number;
  maxTests?: number;
  /** A reproducer larger than this is not sent back (the runner stores it by reference). */
  maxTapeBytes?: number;
}

export interface MinimiseResult {
  signature: string;
  tape: Uint8Array;
  ops: number;
  prefixOps: number;
  tests: number;
  /** A replay of the written file gave the signature. */
  reproduced: boolean;
  shrunk: boolean;
  text: string;
  title: string;
  /** Bytes of the encoded reproducer (`tape` is empty when it was over maxTapeBytes). */
  tapeBytes?: number;
}

function capped(file: Uint8Array, m: MinimiseJob): Uint8Array {
  return m.maxTapeBytes !== undefined && file.length > m.maxTapeBytes ? new Uint8Array(0) : file;
}

/** The unit's prefix up to the bug, shrunk, and its replay's report. */
export function runMinimise(m: MinimiseJob, progress?: Progress): MinimiseResult {
  const prefix = generateTape(generatorOptions(m.job), m.op + 1);
  if (!m.shrink) {
    const file = encodeTape(pruneTape(prefix));
    return { signature: m.signature, tape: capped(file, m), tapeBytes: file.length, ops: prefix.ops, prefixOps: prefix.ops, tests: 0,
      reproduced: false, shrunk: false, text: "", title: "" };
  }
  const stop = progress ? () => Atomics.load(progress.stop, 0) === 2 : undefined;
  const r = minimise(prefix, m.signature, { maxTests: m.maxTests, deadline: m.deadline, stop });
  // the reproducer as a user will replay it: from its file (with only the sites it uses, if it still reproduces), with its report's text
  const replayFile = (t: Tape) => {
    const file = encodeTape(t);
    const rep = replay(decodeTape(file, "reproducer"), { format: (f) => f.signature === m.signature });
    const f = rep.findings.find((x) => x.signature === m.signature);
    return { file, report: f && rep.reports.find((x) => x.seq === f.raw.seq) };
  };
  let out = replayFile(pruneTape(r.tape));
  if (!out.report) out = replayFile(r.tape);
  const { file, report } = out;
  return { signature: m.signature, tape: capped(file, m), tapeBytes: file.length, ops: r.tape.ops, prefixOps: prefix.ops, tests: r.tests,
    reproduced: r.reproduced && report !== undefined, shrunk: true, text: report?.text ?? "", title: report?.title ?? "" };
}
