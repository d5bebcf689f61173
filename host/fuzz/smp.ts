// A fuzz unit on several CPUs (fuzz --cpus N): the unit's stream is cut into
// segments; in segment k slot s belongs to CPU (s + k) mod N, and each CPU
// runs its slots' ops of the segment (in stream order) at the same time as the
// others, on its own thread, entering the kernel per op (assembly/fuzz/tape.ts).
// The segments are barriers: between them every CPU has stopped, the report
// ring is drained and the slots change hands, so an object one CPU freed is
// used or freed again by the next CPU (a cross-CPU use-after-free or double
// free, with the first CPU's task in the free track).
//
// What a report is does not depend on the interleaving: within a segment no
// two CPUs touch one slot (a memcpy's two slots are on one CPU: the generator
// keeps them so), so each slot sees its ops in stream order, and the planted
// bugs are found by the same ops with the same signatures on every run. The
// oracle (--check) checks each op in the order the CPUs took the kernel lock,
// which the interpreter logs (FZL_SEQ); the placement it checks comes from the
// engine as on one CPU.
import * as abi from "../../abi/abi.js";
import { Engine, EnginePanicError } from "../engine.js";
import { Generator } from "./generator.js";
import { TapeExecutor, type Finding } from "./exec.js";
import { Oracle } from "./oracle.js";
import { oracleFacts } from "./check.js";
import { encodeTape, OP_LEN, TASK_PID_BASE, TapeError } from "./tape.js";
import { generateTape } from "./generator.js";
import { generatorOptions, UnitFindings, panicAt, type UnitJob, type UnitResult, type Progress } from "./unit.js";
import type { RawRecord } from "../report/record.js";

/** Ops per segment (between two barriers) by default; --check: at most FZ_LOG_OPS. */
export const SEGMENT_OPS = 8192;
/** The CPU that runs op `code` on `slot` in segment k of N CPUs: the slot's owner (ticks: CPU 0). */
export function cpuOfOp(code: number, slot: number, k: number, cpus: number): number {
  return code === abi.FZ_TICK || code === abi.FZ_TASK ? 0 : (slot + k) % cpus;
}

export async function runUnitSmp(job: UnitJob, progress?: Progress): Promise<UnitResult> {
  const t0 = Date.now();
  const cpus = job.cpus ?? 1;
  const seg = job.segmentOps ?? SEGMENT_OPS;
  if (!Number.isInteger(seg) || seg < 1 || seg > abi.FZ_LOG_OPS) throw new RangeError(`segment size must be 1..${abi.FZ_LOG_OPS} ops, got ${seg}`);
  if (!Number.isInteger(cpus) || cpus < 2 || cpus > abi.FZ_MAX_CPUS) throw new RangeError(`a unit on several CPUs needs 2..${abi.FZ_MAX_CPUS} CPUs, got ${cpus}`);
  const engine = Engine.createSync({ cmdline: job.cmdline });
  try {
    if (cpus < 2 || cpus > engine.options.nrCpus) throw new RangeError(`--cpus ${cpus}: the engine has nr_cpus=${engine.options.nrCpus}`);
    return await runSegments(engine, job, cpus, progress, t0);
  } finally {
    await engine.stopCpus();
  }
}

async function runSegments(engine: Engine, job: UnitJob, cpus: number, progress: Progress | undefined, t0: number): Promise<UnitResult> {
  const gen = new Generator(generatorOptions(job), engine);
  const x = new TapeExecutor(engine, gen.header);
  // CPU n runs as task n (the tape's sf-fuzz/n); starting it starts the CPU threads
  for (let c = 1; c < cpus; c++) engine.cpu(c).setTask({ pid: TASK_PID_BASE + c, cpu: c });
  const oracle = job.check ? new Oracle(gen.header, oracleFacts(engine, x)) : undefined;
  const segOps = job.segmentOps ?? SEGMENT_OPS;
  // each CPU's part of the tape buffer
  const region = Math.floor(abi.FZ_BUF_SIZE / cpus);
  const buf = engine.exports.fuzz_buf();
  const stats0 = engine.exports.fuzz_stats();
  const logAt = engine.exports.fuzz_log();

  const found = new UnitFindings(!!oracle);
  const { onFinding, byOp } = found;

  // the ops of the segment each CPU runs: stream index by CPU and local index
  const idx = Array.from({ length: cpus }, () => new Int32Array(segOps));
  const count = new Int32Array(cpus), bytesOf = new Int32Array(cpus), logOff = new Int32Array(cpus);
  let segStart = 0;
  // the interpreter numbers CPU c's ops from c << 24 (a record names its CPU's op); back to the stream's index
  const keep = (r: RawRecord, at: number): boolean => {
    const f = x.finding(r, at);
    if (f.op >= 0) {
      const c = f.op >>> 24, i = f.op & 0xffffff;
      f.op = c < cpus && i < count[c] ? segStart + idx[c][i] : -1;
    }
    return onFinding(f);
  };

  let op = 0;
  let panicked: UnitResult["panicked"];
  let disagreement: UnitResult["disagreement"];
  try {
    for (let k = 0; op < job.ops; k++) {
      if (progress && Atomics.load(progress.stop, 0) !== 0) break;
      if (job.deadline !== undefined && Date.now() >= job.deadline) break;
      const { ops: n, bytes } = gen.fillBuffer(Math.min(segOps, job.ops - op), region);
      if (n === 0) throw new TapeError(`op ${op}: the generator wrote no op`);
      const body = gen.bufferView(bytes).slice();
      segStart = op;
      // hand each op to its slot's CPU, in stream order
      count.fill(0);
      bytesOf.fill(0);
      const opAt = new Int32Array(n);
      const u8 = engine.u8view();
      for (let i = 0, p = 0; i < n; i++) {
        const code = body[p] & 0x7f;
        const len = OP_LEN[code];
        if (!len) throw new TapeError(`op ${op + i}: bad opcode ${code}`);
        const c = cpuOfOp(code, body[p + 3] | (body[p + 4] << 8), k, cpus);
        const dst = buf + c * region + bytesOf[c];
        for (let j = 0; j < len; j++) u8[dst + j] = body[p + j];
        bytesOf[c] += len;
        idx[c][count[c]++] = i;
        opAt[i] = p;
        p += len;
      }
      for (let c = 1; c < cpus; c++) logOff[c] = logOff[c - 1] + count[c - 1];
      byOp.clear();
      const pos = Array.from({ length: cpus }, (_, c) => c * region);
      const next = Array.from({ length: cpus }, (_, c) => (c << 24) >>> 0);
      const done = Array.from({ length: cpus }, (_, c) => count[c] === 0);
      let stopped = false;
      // run every CPU's part at once; a CPU that paused on a nearly full ring goes on after the drain
      while (!stopped && done.some((d) => !d)) {
        const jobs = [];
        for (let c = 0; c < cpus; c++) {
          if (done[c]) continue;
          jobs.push({ cpu: c, fuzz: { start: pos[c], len: c * region + bytesOf[c], op: next[c], logBase: ((c << 24) - logOff[c]) >>> 0, log: !!oracle } });
        }
        const res = await engine.onCpus(jobs, keep);
        const dv = new DataView(engine.memory.buffer);
        for (const { cpu: c, rc } of res) {
          const st = stats0 + c * abi.FZ_STATS_STRIDE;
          pos[c] = Number(dv.getBigUint64(st + abi.FZC_RESUME_POS * 8, true));
          next[c] = Number(dv.getBigUint64(st + abi.FZC_RESUME_OP * 8, true));
          if (rc === abi.FZR_DONE) done[c] = true;
          else if (rc === abi.FZR_PANIC) stopped = true;
          else if (rc !== abi.FZR_PAUSED) throw new TapeError(`CPU ${c}: op ${segStart + idx[c][(next[c] & 0xffffff)] } (byte ${pos[c]}): the interpreter refused it`);
        }
      }
      found.takeTexts(engine);
      let ran = 0;
      for (let c = 0; c < cpus; c++) ran += (next[c] - ((c << 24) >>> 0)) >>> 0;
      if (stopped) {
        op += ran;
        panicked = panicAt(engine, op);
        break;
      }
      if (ran !== n) throw new TapeError(`segment at op ${segStart} ran ${ran} ops, expected ${n}`);
      if (oracle) {
        const d = checkSegment(oracle, engine, logAt, body, opAt, n, idx, count, logOff, segStart, byOp);
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
  // every CPU's counters
  const dv = new DataView(engine.memory.buffer);
  const status = new Array<number>(abi.FZS_COUNT).fill(0);
  let checksum = 0n;
  for (let c = 0; c < cpus; c++) {
    const st = stats0 + c * abi.FZ_STATS_STRIDE;
    checksum = (checksum + dv.getBigUint64(st + abi.FZC_CHECKSUM * 8, true)) & 0xffffffffffffffffn;
    for (let i = 0; i < abi.FZS_COUNT; i++) status[i] += Number(dv.getBigUint64(st + (abi.FZC_STATUS + i) * 8, true));
  }
  const reportsLost = engine.stats().reports.lost;
  x.finish();
  return {
    unit: job.unit, ops: op, reports: found.reports, reportsLost, allocWarnings: found.allocWarnings, bugs: [...found.bugs.values()], planted: gen.planted(),
    status, checksum: checksum.toString(16), panicked, disagreement, ms: Date.now() - t0,
  };
}

/**
 * The oracle over one segment, op by op in the order the CPUs ran them (the
 * kernel lock's order, FZL_SEQ): the body and the log reordered alike.
 */
function checkSegment(oracle: Oracle, engine: Engine, logAt: number, body: Uint8Array, opAt: Int32Array, n: number, idx: Int32Array[],
  count: Int32Array, logOff: Int32Array, segStart: number, byOp: Map<number, Finding[]>) {
  const src = new Uint8Array(engine.memory.buffer, logAt, n * abi.FZ_LOG_SIZE);
  const ldv = new DataView(engine.memory.buffer, logAt, n * abi.FZ_LOG_SIZE);
  const order: Array<{ i: number; e: number; seq: number }> = [];
  for (let c = 0; c < count.length; c++) {
    for (let j = 0; j < count[c]; j++) {
      const e = (logOff[c] + j) * abi.FZ_LOG_SIZE;
      order.push({ i: idx[c][j], e, seq: ldv.getUint32(e + abi.FZL_SEQ, true) });
    }
  }
  order.sort((a, b) => ((a.seq - b.seq) | 0));
  const oBody = new Uint8Array(body.length), oLog = new Uint8Array(n * abi.FZ_LOG_SIZE);
  const found = new Map<number, Finding[]>();
  let p = 0;
  order.forEach((o, pos) => {
    const at = opAt[o.i], len = OP_LEN[body[at] & 0x7f];
    oBody.set(body.subarray(at, at + len), p);
    p += len;
    oLog.set(src.subarray(o.e, o.e + abi.FZ_LOG_SIZE), pos * abi.FZ_LOG_SIZE);
    const fs = byOp.get(segStart + o.i);
    if (fs) found.set(segStart + pos, fs);
  });
  const d = oracle.check(oBody, segStart, new DataView(oLog.buffer), found);
  if (!d) return undefined;
  return { ...d, op: segStart + order[d.op - segStart].i };
}
