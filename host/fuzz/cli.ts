// The `shadowfence fuzz` and `shadowfence replay` commands (Node only).
import { readFileSync, existsSync, statSync } from "node:fs";
import { fuzz, summaryText, summaryJson, checkCpusUsage, parseCpus, checkSegmentOps } from "./runner.js";
import { resolveOptions } from "../config.js";
import { kfenceStudy, studyText } from "./study.js";
import { PROFILES, DEFAULT_PLANT, parsePlant, type Profile } from "./generator.js";
import { decodeTape, describeOp, readOp, emptyOp, opOffsets, TapeError } from "./tape.js";
import { replay } from "./exec.js";
import { checkTape } from "./check.js";
import { isReference, decodeReference, referenceTape, replayReference } from "./reference.js";

export interface FuzzCliOptions {
  seconds?: string; ops?: string; workers?: string; seed?: string; profile: string; cmdline: string;
  out?: string; plant?: string; check?: boolean; study?: string; minimise: boolean; unitOps?: string; json?: boolean;
  progress?: boolean; maxOutput?: string; maxReproducer?: string; unitTimeout?: string; cpus?: string; segmentOps?: string;
}

/** A byte size as memparse() reads it: a number and an optional K, M or G suffix. */
function bytes(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)([kmg]?)$/i.exec(v.trim());
  const n = m ? Number(m[1]) * 2 ** ({ "": 0, k: 10, m: 20, g: 30 }[m[2].toLowerCase() as "" | "k" | "m" | "g"]) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${what} must be a size in bytes with an optional K, M or G suffix, got ${JSON.stringify(v)}`);
  return n;
}

export function int(v: string | undefined, what: string, min = 0): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v.replace(/_/g, ""));
  if (!Number.isSafeInteger(n) || n < min) throw new RangeError(`${what} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

function seconds1000(v: string): number {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new RangeError(`--unit-timeout must be a positive number of seconds, got ${JSON.stringify(v)}`);
  return n * 1000;
}

export async function fuzzCommand(o: FuzzCliOptions): Promise<void> {
  if (!(PROFILES as readonly string[]).includes(o.profile)) throw new RangeError(`--profile must be one of ${PROFILES.join(", ")}, got ${JSON.stringify(o.profile)}`);
  const profile = o.profile as Profile;
  checkCpusUsage(o);
  if (o.study !== undefined) {
    if (o.study !== "kfence") throw new RangeError(`--study: the study is "kfence", got ${JSON.stringify(o.study)}`);
    const rows = await kfenceStudy({ ops: int(o.ops, "--ops", 1), seed: int(o.seed, "--seed"), workers: int(o.workers, "--workers", 1),
      profile: o.profile === "mixed" ? "slab-churn" : profile, cmdline: o.cmdline,
      cpus: parseCpus(o.cpus, resolveOptions({ cmdline: o.cmdline }).nrCpus), segmentOps: checkSegmentOps(int(o.segmentOps, "--segment-ops", 0)) });
    process.stdout.write(o.json ? JSON.stringify(rows, null, 2) + "\n" : studyText(rows));
    return;
  }
  const ops = int(o.ops, "--ops", 1), seconds = o.seconds !== undefined ? Number(o.seconds) : undefined;
  if (seconds !== undefined && !(seconds > 0)) throw new RangeError(`--seconds must be a positive number, got ${JSON.stringify(o.seconds)}`);
  const s = await fuzz({
    ops, seconds: ops === undefined && seconds === undefined ? 10 : seconds, workers: int(o.workers, "--workers", 1), cpus: o.cpus,
    segmentOps: int(o.segmentOps, "--segment-ops", 0),
    seed: int(o.seed, "--seed"), profile, cmdline: o.cmdline, out: o.out ?? "fuzz-out",
    plant: o.plant !== undefined ? parsePlant(o.plant) : DEFAULT_PLANT, check: o.check, minimise: o.minimise,
    unitOps: int(o.unitOps, "--unit-ops", 1), progress: o.progress === false ? false : undefined,
    maxOutputBytes: bytes(o.maxOutput, "--max-output"), maxReproducerBytes: bytes(o.maxReproducer, "--max-reproducer"),
    unitTimeoutMs: o.unitTimeout !== undefined ? seconds1000(o.unitTimeout) : undefined,
  });
  process.stdout.write(o.json ? JSON.stringify(summaryJson(s), null, 2) + "\n" : `${summaryText(s)}\nsummary and reproducers: ${o.out ?? "fuzz-out"}/\n`);
  if (s.disagreements.length) process.exitCode = 1;
}

export interface ReplayCliOptions { cmdline: string; json?: boolean; ops?: boolean; check?: boolean }

export async function replayCommand(file: string, o: ReplayCliOptions): Promise<void> {
  if (!existsSync(file)) throw new TapeError(`${file}: no such file`);
  if (statSync(file).isDirectory()) throw new TapeError(`${file}: is a directory, not a tape`);
  const bytes = readFileSync(file);
  // a reproducer stored by reference: regenerated from its seed, unit and op count
  const ref = isReference(bytes) ? decodeReference(bytes, file) : undefined;
  const tape = ref ? (o.ops || o.check ? referenceTape(ref) : undefined) : decodeTape(bytes, file);
  if (o.ops && tape) {
    const offs = opOffsets(tape.body);
    const dv = new DataView(tape.body.buffer, tape.body.byteOffset, tape.body.byteLength);
    const op = emptyOp();
    for (let i = 0; i + 1 < offs.length; i++) {
      readOp(tape.body, dv, offs[i], op);
      process.stdout.write(`${String(i).padStart(8)}  ${describeOp(op, tape.header)}\n`);
    }
    return;
  }
  if (o.check && tape) {
    const d = checkTape(tape, o.cmdline);
    process.stdout.write(d ? `DISAGREEMENT at op ${d.op}: ${d.what}\n  expected ${d.expected}\n  got      ${d.got}\n`
      : `the oracle agrees with every verdict (${tape.ops} ops)\n`);
    if (d) process.exitCode = 1;
    return;
  }
  const r = ref ? replayReference(ref, { cmdline: o.cmdline }) : replay(tape!, { cmdline: o.cmdline });
  if (o.json) {
    process.stdout.write(JSON.stringify({
      ops: r.ops, panicked: r.panicked, reportsLost: r.reportsLost,
      reports: r.findings.map((f) => ({ op: f.op, signature: f.signature, text: r.reports.find((x) => x.seq === f.raw.seq)?.text })),
    }, null, 2) + "\n");
    return;
  }
  for (const rep of r.reports) process.stdout.write(rep.text + "\n\n");
  const sigs = [...new Set(r.findings.map((f) => f.signature))];
  const from = ref ?? tape!.header;
  process.stderr.write(`replayed ${r.ops} ops${ref ? " regenerated from the reference" : ""} (profile ${from.profile}, seed ${from.seed}, unit ${from.unit}): ` +
    `${r.findings.length} report(s)${r.reportsLost ? `, ${r.reportsLost} lost` : ""}${r.panicked ? ", the kernel panicked" : ""}\n`);
  for (const s of sigs) process.stderr.write(`  ${s}\n`);
  if (ref?.signature) {
    const hit = r.findings.find((f) => f.signature === ref.signature && f.op === ref.ops - 1);
    process.stderr.write(hit ? `the reference's bug is reproduced at op ${hit.op}: ${ref.signature}\n`
      : `the reference's bug was NOT reproduced at op ${ref.ops - 1}: ${ref.signature}\n`);
    if (!hit) process.exitCode = 1;
  }
}
