// A reproducer stored by reference: the generator's inputs (seed, unit,
// profile, planted rates, command line) and the op count, from which the tape
// is regenerated op for op. The runner writes one instead of a tape that did
// not shrink under --max-reproducer or would overrun --max-output; `shadowfence
// replay` accepts either form.
import * as abi from "../../abi/abi.js";
import { Engine } from "../engine.js";
import { Generator, generateTape, PROFILES, BUG_CLASSES, type GeneratorOptions, type Profile, type PlantRates } from "./generator.js";
import { TapeExecutor, runChunks, type Finding, type ReplayResult } from "./exec.js";
import { TapeError, type Tape } from "./tape.js";
import { CHUNK_OPS } from "./unit.js";

export const REFERENCE_FORMAT = "shadowfence-tape-reference";

export interface TapeReference {
  format: typeof REFERENCE_FORMAT;
  version: 1;
  /** The bug it reproduces (its last op raises it); "" for a --check disagreement's tape. */
  signature: string;
  seed: number;
  unit: number;
  profile: Profile;
  cmdline: string;
  plant: PlantRates;
  plantWrites: boolean;
  tick?: { every: number; us: number };
  /** The stream was made for this many CPUs (fuzz --cpus, above 1; replayed on one: the ops are the same). */
  cpus?: number;
  /** With cpus: the ops between two barriers it was made for (default 8192; its planted bugs span barriers). */
  segmentOps?: number;
  /** Ops 0 .. ops-1 of the unit's stream. */
  ops: number;
}

/** Longest reference: a unit's size (--unit-ops). */
const MAX_OPS = 0xffffffff;

export function makeReference(g: GeneratorOptions & { plantWrites: boolean }, ops: number, signature: string): TapeReference {
  return {
    format: REFERENCE_FORMAT, version: 1, signature, seed: g.seed, unit: g.unit ?? 0, profile: g.profile ?? "mixed",
    cmdline: g.cmdline ?? "", plant: g.plant ?? {}, plantWrites: g.plantWrites, ...(g.tick ? { tick: g.tick } : {}),
    ...(g.cpus && g.cpus > 1 ? { cpus: g.cpus, ...(g.segmentOps ? { segmentOps: g.segmentOps } : {}) } : {}), ops,
  };
}

export function encodeReference(r: TapeReference): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(r, null, 1) + "\n");
}

/** A reference file starts with "{" (a tape with the magic "SFTAPE"). */
export function isReference(file: Uint8Array): boolean {
  let i = 0;
  while (i < file.length && (file[i] === 0x20 || file[i] === 0x0a || file[i] === 0x0d || file[i] === 0x09)) i++;
  return file[i] === 0x7b;
}

/** Parse and check a reference file; every field is validated with an error naming it. */
export function decodeReference(file: Uint8Array, what = "reference"): TapeReference {
  if (file.length > 1 << 20) throw new TapeError(`${what}: ${file.length} bytes is too long for a tape reference`);
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(file));
  } catch (e) {
    throw new TapeError(`${what}: not a tape reference (${(e as Error).message})`);
  }
  const bad = (field: string, want: string): never => { throw new TapeError(`${what}: field ${field}: expected ${want}`); };
  if (typeof v !== "object" || v === null || Array.isArray(v)) return bad("(top)", "a JSON object");
  const o = v as Record<string, unknown>;
  if (o.format !== REFERENCE_FORMAT) bad("format", JSON.stringify(REFERENCE_FORMAT));
  if (o.version !== 1) bad("version", "1");
  const int = (k: string, max: number) => {
    const n = o[k];
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0 || n > max) bad(k, `an integer from 0 to ${max}`);
    return n as number;
  };
  const seed = int("seed", Number.MAX_SAFE_INTEGER);
  const unit = int("unit", 0xffffffff);
  const ops = int("ops", MAX_OPS);
  if (ops < 1) bad("ops", "at least 1");
  if (typeof o.signature !== "string") bad("signature", "a string");
  if (typeof o.profile !== "string" || !(PROFILES as readonly string[]).includes(o.profile)) bad("profile", PROFILES.join(", "));
  if (typeof o.cmdline !== "string" || o.cmdline.length > 4096) bad("cmdline", "a string of at most 4096 characters");
  if (typeof o.plantWrites !== "boolean") bad("plantWrites", "true or false");
  const plant: PlantRates = {};
  if (typeof o.plant !== "object" || o.plant === null || Array.isArray(o.plant)) bad("plant", "an object of rates");
  for (const [k, r] of Object.entries(o.plant as Record<string, unknown>)) {
    if (!(BUG_CLASSES as readonly string[]).includes(k)) bad(`plant.${k}`, `a class: ${BUG_CLASSES.join(", ")}`);
    if (typeof r !== "number" || !(r >= 0 && r < 0.5)) bad(`plant.${k}`, "a rate in [0, 0.5)");
    plant[k as keyof PlantRates] = r as number;
  }
  let tick: TapeReference["tick"];
  if (o.tick !== undefined) {
    const t = o.tick as Record<string, unknown>;
    const ok = (n: unknown) => typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= 0xffffffff;
    if (typeof t !== "object" || t === null || !ok(t.every) || !ok(t.us)) bad("tick", "{ every, us }: integers from 1 to 2^32-1");
    tick = { every: t.every as number, us: t.us as number };
  }
  let cpus: number | undefined;
  if (o.cpus !== undefined) {
    if (typeof o.cpus !== "number" || !Number.isInteger(o.cpus) || o.cpus < 2 || o.cpus > abi.FZ_MAX_CPUS) bad("cpus", `an integer from 2 to ${abi.FZ_MAX_CPUS}`);
    cpus = o.cpus as number;
  }
  let segmentOps: number | undefined;
  if (o.segmentOps !== undefined) {
    if (cpus === undefined) bad("segmentOps", "given only with cpus");
    if (typeof o.segmentOps !== "number" || !Number.isInteger(o.segmentOps) || o.segmentOps < 1 || o.segmentOps > abi.FZ_LOG_OPS) bad("segmentOps", `an integer from 1 to ${abi.FZ_LOG_OPS}`);
    segmentOps = o.segmentOps as number;
  }
  return { format: REFERENCE_FORMAT, version: 1, signature: o.signature as string, seed, unit, profile: o.profile as Profile,
    cmdline: o.cmdline as string, plant, plantWrites: o.plantWrites as boolean, ...(tick ? { tick } : {}), ...(cpus ? { cpus } : {}),
    ...(segmentOps ? { segmentOps } : {}), ops };
}

function generatorOf(r: TapeReference): GeneratorOptions {
  return { seed: r.seed, unit: r.unit, profile: r.profile, plant: r.plant, cmdline: r.cmdline, plantWrites: r.plantWrites, tick: r.tick, cpus: r.cpus, segmentOps: r.segmentOps };
}

/** The tape a reference stands for, in memory (for --ops and --check; replay streams instead). */
export function referenceTape(r: TapeReference, maxOps = 1 << 24): Tape {
  if (r.ops > maxOps) throw new TapeError(`reference of ${r.ops} ops: at most ${maxOps} are materialised as a tape (replay streams any length)`);
  return generateTape(generatorOf(r), r.ops);
}

/**
 * Replay a reference: the unit's stream regenerated chunk by chunk inside the
 * engine and run as it is made (memory does not grow with its length).
 */
export function replayReference(r: TapeReference, opts: { cmdline?: string; format?: (f: Finding) => boolean } = {}): ReplayResult {
  const g = generatorOf(r);
  const engine = Engine.createSync({ cmdline: `${r.cmdline} ${opts.cmdline ?? ""}`.trim() });
  const gen = new Generator(g, engine);
  const x = new TapeExecutor(engine, gen.header);
  return runChunks(engine, x, (op, onFinding) => {
    if (op >= r.ops) return undefined;
    const { ops: n, bytes } = gen.fillBuffer(Math.min(CHUNK_OPS, r.ops - op));
    return x.runBuffer(bytes, n, op, { onFinding });
  }, opts.format);
}
