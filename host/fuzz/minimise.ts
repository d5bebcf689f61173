// Reproducers: the shortest tape that still gives a bug's signature, by
// delta debugging (Zeller's ddmin) over whole ops, each candidate replayed
// on a freshly booted engine. Before ddmin, two cheap cuts that usually
// succeed: the ops of the bug's own slots only, and the ops since the bug
// slot's last allocation.
import * as abi from "../../abi/abi.js";
import { opOffsets, readOp, emptyOp, type Tape } from "./tape.js";
import { replay, type Finding } from "./exec.js";

export interface MinimiseOptions {
  /** Extra command-line parameters for the replays (the tape's own come first). */
  cmdline?: string;
  /** Give up refining after this many replays (the best tape so far is kept). */
  maxTests?: number;
  /** ... or at this time (Date.now() ms). */
  deadline?: number;
  /** ... or when this says so (a second Ctrl-C). */
  stop?: () => boolean;
}

export interface Minimised {
  tape: Tape;
  /** Replays run. */
  tests: number;
  /** The starting tape gave the signature (if not, `tape` is the input). */
  reproduced: boolean;
  /** The finding of the reproducer's replay with the signature. */
  finding?: Finding;
}

function build(t: Tape, ops: Uint8Array[]): Tape {
  let n = 0;
  for (const o of ops) n += o.length;
  const body = new Uint8Array(n);
  let p = 0;
  for (const o of ops) { body.set(o, p); p += o.length; }
  return { header: t.header, body, ops: ops.length };
}

/** Shrink `tape` to a short tape whose replay still reports `signature`. */
export function minimise(tape: Tape, signature: string, opts: MinimiseOptions = {}): Minimised {
  const maxTests = opts.maxTests ?? 2000;
  const deadline = opts.deadline ?? Infinity;
  const stop = opts.stop ?? (() => false);
  let tests = 0;
  const over = () => tests >= maxTests || Date.now() >= deadline || stop();
  let lastFinding: Finding | undefined;
  const test = (ops: Uint8Array[]): boolean => {
    if (ops.length === 0) return false;
    tests++;
    const r = replay(build(tape, ops), { cmdline: opts.cmdline, format: () => false });
    const f = r.findings.find((x) => x.signature === signature);
    if (f) lastFinding = f;
    return f !== undefined;
  };
  const offs = opOffsets(tape.body);
  let ops: Uint8Array[] = [];
  for (let i = 0; i + 1 < offs.length; i++) ops.push(tape.body.subarray(offs[i], offs[i + 1]));
  if (!test(ops)) return { tape, tests, reproduced: false };
  let best = lastFinding;
  const out = () => ({ tape: build(tape, ops), tests, reproduced: true, finding: best });

  // the bug's slots (the op that raised it, and a memcpy's source), and the ops since the slot's last allocation
  const bug = best!.op;
  const dv = new DataView(tape.body.buffer, tape.body.byteOffset, tape.body.byteLength);
  const o = emptyOp();
  readOp(tape.body, dv, offs[bug], o);
  const slots = new Set<number>([o.slot]);
  if (o.code === abi.FZ_MEMCPY) slots.add(o.src);
  const touches = (i: number) => {
    readOp(tape.body, dv, offs[i], o);
    if (o.code === abi.FZ_TICK || o.code === abi.FZ_TASK) return false;
    return slots.has(o.slot) || (o.code === abi.FZ_MEMCPY && slots.has(o.src));
  };
  const cut: Uint8Array[] = [];
  for (let i = 0; i <= bug && i < ops.length; i++) if (touches(i)) cut.push(ops[i]);
  if (cut.length < ops.length && test(cut)) { ops = cut; best = lastFinding; }

  // ddmin over ops: try each chunk alone, then each complement, refining the granularity
  let n = 2;
  while (ops.length >= 2 && !over()) {
    const size = Math.ceil(ops.length / n);
    const parts: Uint8Array[][] = [];
    for (let i = 0; i < ops.length; i += size) parts.push(ops.slice(i, i + size));
    let reduced = false;
    for (const part of parts) {
      if (over()) break;
      if (part.length < ops.length && test(part)) { ops = part; best = lastFinding; n = 2; reduced = true; break; }
    }
    if (!reduced && parts.length > 2) {
      for (let i = 0; i < parts.length; i++) {
        if (over()) break;
        const comp = parts.filter((_, j) => j !== i).flat();
        if (test(comp)) { ops = comp; best = lastFinding; n = Math.max(n - 1, 2); reduced = true; break; }
      }
    }
    if (!reduced) {
      if (n >= ops.length) break;
      n = Math.min(ops.length, n * 2);
    }
  }
  return out();
}
