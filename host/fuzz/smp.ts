// A fuzz unit on several CPUs (fuzz --cpus N): the unit's stream is cut into
// segments; in each segment every slot belongs to one CPU (assembly/fuzz/owner.ts:
// planted bugs' victims change CPU at every barrier, the workload's own objects
// every 8 barriers or so, and CPU 0, which also generates, has the smaller
// share), and each CPU runs its slots' ops of the segment (in stream order,
// from the list of them the generator wrote) at the same time as the others, on its own
// thread, entering the kernel per op (assembly/fuzz/tape.ts). The CPUs go from
// segment to segment inside the core (assembly/fuzz/rounds.ts): between two
// segments they meet at a barrier, so slots change hands there and an object
// one CPU freed is used or freed again by the next CPU (a cross-CPU
// use-after-free or double free, with the first CPU's task in the free track),
// while CPU 0 generates the next segment as the CPUs run one. The host gets
// control back every few segments (progress, deadline, Ctrl-C), when a CPU
// stops (the report ring nearly full, a panic), and in check mode after every
// segment.
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
import { Generator, SEGMENT_OPS, generateTape } from "./generator.js";
import { TapeExecutor, type Finding } from "./exec.js";
import { Oracle } from "./oracle.js";
import { oracleFacts } from "./check.js";
import { encodeTape, OP_LEN, TASK_PID_BASE, TapeError } from "./tape.js";
import { generatorOptions, UnitFindings, panicAt, type UnitJob, type UnitResult, type Progress } from "./unit.js";
import type { RawRecord } from "../report/record.js";

/**
 * How often the host looks at progress, the deadline and Ctrl-C: it gives the CPUs as many whole
 * segments as take about TURN_MS, at first OPS_PER_CALL ops' worth, at most MAX_OPS_PER_CALL.
 * Each turn costs the unit about half a millisecond (the CPU threads' wake-up and the barriers'
 * skew): 2^17 ops a turn, as before, ran 4M-op units 4%-5% slower than 2^20.
 */
const TURN_MS = 50;
const OPS_PER_CALL = 1 << 17;
const MAX_OPS_PER_CALL = 1 << 21;

/** What a caller may watch of a unit on several CPUs (the KFENCE study): every finding, and the engine before it stops. */
export interface SmpUnitWatch {
  finding?(f: Finding): void;
  end?(engine: Engine, result: UnitResult): void;
}

export async function runUnitSmp(job: UnitJob, progress?: Progress, watch?: SmpUnitWatch): Promise<UnitResult> {
  const t0 = Date.now();
  const cpus = job.cpus ?? 1;
  const seg = job.segmentOps ?? SEGMENT_OPS;
  if (!Number.isInteger(seg) || seg < 1 || seg > abi.FZ_LOG_OPS) throw new RangeError(`segment size must be 1..${abi.FZ_LOG_OPS} ops, got ${seg}`);
  if (!Number.isInteger(cpus) || cpus < 2 || cpus > abi.FZ_MAX_CPUS) throw new RangeError(`a unit on several CPUs needs 2..${abi.FZ_MAX_CPUS} CPUs, got ${cpus}`);
  if (!Number.isInteger(job.ops) || job.ops < 1 || job.ops > 0xffffffff) throw new RangeError(`a unit on several CPUs runs 1..${0xffffffff} ops, got ${job.ops}`);
  const engine = Engine.createSync({ cmdline: job.cmdline });
  try {
    if (cpus < 2 || cpus > engine.options.nrCpus) throw new RangeError(`--cpus ${cpus}: the engine has nr_cpus=${engine.options.nrCpus}`);
    const r = await runSegments(engine, job, cpus, seg, progress, t0, watch?.finding);
    watch?.end?.(engine, r);
    return r;
  } finally {
    await engine.stopCpus();
  }
}

async function runSegments(engine: Engine, job: UnitJob, cpus: number, segOps: number, progress: Progress | undefined, t0: number,
                           watch?: (f: Finding) => void): Promise<UnitResult> {
  const gen = new Generator(generatorOptions(job), engine);
  const x = new TapeExecutor(engine, gen.header);
  // CPU n runs as task n (the tape's sf-fuzz/n); starting it starts the CPU threads
  for (let c = 1; c < cpus; c++) engine.cpu(c).setTask({ pid: TASK_PID_BASE + c, cpu: c });
  const oracle = job.check ? new Oracle(gen.header, oracleFacts(engine, x)) : undefined;
  const e = engine.exports;
  const stats0 = e.fuzz_stats();
  const found = new UnitFindings(!!oracle);
  const { onFinding, byOp } = found;
  // a record names the op that raised it by its index in the stream
  const keep = (r: RawRecord, at: number): boolean => {
    const f = x.finding(r, at);
    watch?.(f);
    return onFinding(f);
  };
  // the ops every CPU ran so far
  const opsRun = (): number => {
    const dv = new DataView(engine.memory.buffer);
    let n = 0;
    for (let c = 0; c < cpus; c++) n += Number(dv.getBigUint64(stats0 + c * abi.FZ_STATS_STRIDE + abi.FZC_OPS * 8, true));
    return n;
  };
  if (e.fuzz_rounds_begin(cpus, segOps, job.ops) === 0) throw new TapeError("op 0: the generator wrote no op");
  const mostSegments = Math.max(1, Math.floor(MAX_OPS_PER_CALL / segOps));
  let segments = oracle ? 1 : Math.max(1, Math.floor(OPS_PER_CALL / segOps));

  let op = 0;
  let panicked: UnitResult["panicked"];
  let disagreement: UnitResult["disagreement"];
  let ended = false;
  try {
    for (;;) {
      if (progress && Atomics.load(progress.stop, 0) !== 0) break;
      if (job.deadline !== undefined && Date.now() >= job.deadline) break;
      const k = e.fuzz_rounds_info(abi.FZI_SEGMENT);
      const segFirst = e.fuzz_rounds_info(abi.FZI_FIRST_OP), n = e.fuzz_rounds_info(abi.FZI_OPS);
      if (n === 0) { ended = true; break; }
      const segAt = e.fuzz_rounds_info(abi.FZI_START), segBytes = e.fuzz_rounds_info(abi.FZI_BYTES);
      e.fuzz_rounds_arm();
      const t = performance.now();
      const res = await engine.onCpus(Array.from({ length: cpus }, (_, cpu) => ({ cpu, fuzz: { segments, log: !!oracle } })), keep);
      if (!oracle) segments = Math.min(mostSegments, Math.max(1, Math.round(segments * TURN_MS / Math.max(1, performance.now() - t))));
      found.takeTexts(engine);
      const ran = opsRun();
      found.progressed(progress, ran - op);
      op = ran;
      if (res.some((r) => r.rc === abi.FZR_PANIC)) {
        panicked = panicAt(engine, op);
        break;
      }
      for (const { cpu: c, rc } of res) {
        if (rc === abi.FZR_DONE || rc === abi.FZR_PAUSED) continue;
        if (rc === abi.FZR_ALONE) throw new TapeError(`CPU ${c}: the other CPUs did not come to the barrier after segment ${k} within a minute`);
        const at = Number(new DataView(engine.memory.buffer).getBigUint64(stats0 + c * abi.FZ_STATS_STRIDE + abi.FZC_RESUME_OP * 8, true));
        throw new TapeError(`CPU ${c}: op ${at} of segment ${k}: the interpreter refused it (${rc === abi.FZR_BAD_FIELD ? "field out of range" : "bad opcode or length"})`);
      }
      // check mode: the segment the CPUs just finished, in the order they ran its ops
      if (oracle && e.fuzz_rounds_info(abi.FZI_SEGMENT) !== k) {
        const body = new Uint8Array(engine.memory.buffer, e.fuzz_buf() + segAt, segBytes).slice();
        const d = checkSegment(oracle, engine, body, n, segFirst, byOp);
        byOp.clear();
        if (d) {
          disagreement = { ...d, tape: encodeTape(generateTape(generatorOptions(job), d.op + 1)) };
          break;
        }
      }
    }
  } catch (err) {
    if (!(err instanceof EnginePanicError)) throw err;
    op = opsRun();
    panicked = { op, title: err.message };
  }
  if (ended && op !== job.ops) throw new TapeError(`the unit ran ${op} ops of ${job.ops}: the generator ended its stream early`);
  // every CPU's counters
  const dv = new DataView(engine.memory.buffer);
  const status = new Array<number>(abi.FZS_COUNT).fill(0);
  let checksum = 0n, lockless = 0;
  for (let c = 0; c < cpus; c++) {
    const st = stats0 + c * abi.FZ_STATS_STRIDE;
    checksum = (checksum + dv.getBigUint64(st + abi.FZC_CHECKSUM * 8, true)) & 0xffffffffffffffffn;
    lockless += Number(dv.getBigUint64(st + abi.FZC_LOCKLESS * 8, true));
    for (let i = 0; i < abi.FZS_COUNT; i++) status[i] += Number(dv.getBigUint64(st + (abi.FZC_STATUS + i) * 8, true));
  }
  const reportsLost = engine.stats().reports.lost;
  x.finish();
  return {
    unit: job.unit, ops: op, reports: found.reports, reportsLost, allocWarnings: found.allocWarnings, bugs: [...found.bugs.values()], planted: gen.planted(),
    status, checksum: checksum.toString(16), lockless, panicked, disagreement, ms: Date.now() - t0,
    cpuOps: Array.from({ length: cpus }, (_, c) => Number(dv.getBigUint64(stats0 + c * abi.FZ_STATS_STRIDE + abi.FZC_OPS * 8, true))),
    cpuTime: Array.from({ length: cpus }, (_, c) => ({
      run: e.fuzz_rounds_time(c, abi.FZT_RUN) / 1e6, generate: e.fuzz_rounds_time(c, abi.FZT_GENERATE) / 1e6, wait: e.fuzz_rounds_time(c, abi.FZT_WAIT) / 1e6,
    })),
  };
}

/**
 * The oracle over one segment (`n` ops from stream op `first`), op by op in
 * the order the CPUs ran them (the kernel lock's order, FZL_SEQ): the body and
 * the log reordered alike.
 */
function checkSegment(oracle: Oracle, engine: Engine, body: Uint8Array, n: number, first: number, byOp: Map<number, Finding[]>) {
  const log = new Uint8Array(engine.memory.buffer, engine.exports.fuzz_log(), n * abi.FZ_LOG_SIZE);
  const ldv = new DataView(log.buffer, log.byteOffset, log.byteLength);
  const opAt = new Int32Array(n);
  for (let i = 0, p = 0; i < n; i++) {
    const len = OP_LEN[body[p] & 0x7f];
    if (!len) throw new TapeError(`op ${first + i}: bad opcode ${body[p] & 0x7f}`);
    opAt[i] = p;
    p += len;
  }
  const order = Array.from({ length: n }, (_, i) => i);
  const seq = (i: number) => ldv.getUint32(i * abi.FZ_LOG_SIZE + abi.FZL_SEQ, true);
  order.sort((a, b) => (seq(a) - seq(b)) | 0);
  const oBody = new Uint8Array(body.length), oLog = new Uint8Array(n * abi.FZ_LOG_SIZE);
  const found = new Map<number, Finding[]>();
  let p = 0;
  order.forEach((i, pos) => {
    const at = opAt[i], len = OP_LEN[body[at] & 0x7f];
    oBody.set(body.subarray(at, at + len), p);
    p += len;
    oLog.set(log.subarray(i * abi.FZ_LOG_SIZE, (i + 1) * abi.FZ_LOG_SIZE), pos * abi.FZ_LOG_SIZE);
    const fs = byOp.get(first + i);
    if (fs) found.set(first + pos, fs);
  });
  const d = oracle.check(oBody, first, new DataView(oLog.buffer), found);
  if (!d) return undefined;
  return { ...d, op: first + order[d.op - first] };
}
