// fuzz --cpus N (host/fuzz/smp.ts): the unit's stream in segments, run by N
// CPUs at once in rounds, with no call into the host between segments.
//
// Every CPU calls fuzz_rounds as its job. In a round each CPU runs its own
// ops of segment k (owner.ts: slot s's place in segment k), from the list
// of them the generator made, while CPU 0 also generates segment k + 1 and
// its lists into the other half of the tape buffer; then all meet at a
// barrier and go on with k + 1. A CPU that stops (the report ring nearly full, a panic, an op
// refused) says so at the barrier: after that round every CPU
// returns, the host drains the ring, and the next call goes on where each CPU
// stopped. The host also gets control back every `maxSegs` segments (its
// progress, deadline and Ctrl-C) and after every segment in check mode (the
// oracle reads that segment's log before the next one overwrites it).
import { FZ_BUF_SIZE, FZ_LOG_OPS, FZR_DONE, FZR_BAD_OP, FZR_ALONE, FZC_RESUME_POS, FZC_RESUME_OP, FZ_MAX_CPUS, FZI_SEGMENT, FZI_FIRST_OP,
         FZI_OPS, FZI_START, FZI_BYTES, FZI_CPUS, FZT_RUN, FZT_GENERATE, FZT_WAIT, FZT_COUNT, FZ_TICK, FZ_TASK } from "../../abi/abi";
import { FUZZ_BUF, FUZZ_MISC } from "../statics";
import { fuzzRunList, statsOf } from "./tape";
import { fuzzGenFillIndexed, fuzz_gen_bytes, fuzz_gen_op } from "./gen";
import { thisCpu, smpActive, smpMayWait, smpJobsAborted, smpJobsArm, smp_jobs_abort } from "../smp";
import { nextSpinBudget } from "../locks";
import { futexWait, wallNs } from "../host";
import { fuzzOwnerCpus, fuzzSlotOwner, fuzzOwnerValid, fuzzOwnerSegment, fuzzTickSlot } from "./owner";

// the rounds' state, after the interpreter's part of FUZZ_MISC
// @ts-ignore: decorator
@inline const RB: usize = FUZZ_MISC + 0xc00;
// @ts-ignore: decorator
@inline const RB_K: usize = RB;             // the segment the CPUs are on
// @ts-ignore: decorator
@inline const RB_CPUS: usize = RB + 4;
// @ts-ignore: decorator
@inline const RB_SEG_OPS: usize = RB + 8;
// @ts-ignore: decorator
@inline const RB_GEN_LEFT: usize = RB + 12; // ops of the unit not generated yet
// @ts-ignore: decorator
@inline const RB_NEXT: usize = RB + 16;     // 1: segment k + 1 is generated
// the barrier generation whose round a CPU stopped in, plus one (only ever
// raised between arms: a CPU already in a later round cannot make a slower
// one stop early, and nothing needs clearing between rounds)
// @ts-ignore: decorator
@inline const RB_STOP: usize = RB + 20;
// segment k is in half k & 1; its description (u32 each): first op, ops, bytes
// @ts-ignore: decorator
@inline const RB_SEG: usize = RB + 32;
// the barrier: arrivals, and the generation (each on its own line)
// @ts-ignore: decorator
@inline const RB_ARRIVED: usize = RB + 64;
// @ts-ignore: decorator
@inline const RB_RELEASED: usize = RB + 128;
// where each CPU's time went (FZT_*, u64 ns): FZ_MAX_CPUS rows of 32 bytes
// @ts-ignore: decorator
@inline const RB_TIME: usize = RB + 256;
// @ts-ignore: decorator
@inline const HALF: u32 = <u32>FZ_BUF_SIZE / 2;
// A waiter spins up to `barrierSpins` rounds before it sleeps: a futex
// wake-up costs tens of microseconds, a segment's part a few hundred. The
// budget adapts (locks.ts nextSpinBudget): long while each CPU has a core to
// itself, short when threads outnumber cores.
// @ts-ignore: decorator
@inline const BARRIER_SPINS_MIN: u32 = 4000;
// @ts-ignore: decorator
@inline const BARRIER_SPINS_MAX: u32 = 1 << 20;
let barrierSpins: u32 = BARRIER_SPINS_MAX;
// @ts-ignore: decorator
@inline const BARRIER_WAIT_NS: i64 = 1000000;
// @ts-ignore: decorator
@inline const BARRIER_MAX_WAITS: u32 = 60000;     // at least a minute of 1 ms waits

// @ts-ignore: decorator
@inline function seg(k: u32): usize { return RB_SEG + (<usize>(k & 1) << 4); }
// @ts-ignore: decorator
@inline function halfStart(k: u32): u32 { return (k & 1) * HALF; }

// Each half ends with its segment's index: every CPU's ops in a list of its
// own, so that no CPU steps over the others' ops (an unpredictable branch per
// op, which cost CPU 0, running a fifth of them, about 4 ns an op of the
// stream). The generator appends each op to its CPU's list as it writes it
// (2.8 ns an op; a counting sort after the segment cost more, and a list each
// CPU built by scanning the segment saved nothing: docs/fuzz.md). The
// segment's bytes (at most FZ_LOG_OPS ops of 19 bytes) stay far below the index.
// @ts-ignore: decorator
@inline const IDX_BYTES: u32 = 0x60000;
// @ts-ignore: decorator
@inline function index(k: u32): usize { return FUZZ_BUF + <usize>(halfStart(k) + HALF - IDX_BYTES); }
// @ts-ignore: decorator
@inline const IDX_COUNT: usize = 0;                 // u32 x FZ_MAX_CPUS: each CPU's ops
// @ts-ignore: decorator
@inline const IDX_OFFS: usize = 64;                 // u32 x FZ_LOG_OPS: op i's byte offset in the half
// @ts-ignore: decorator
@inline const IDX_LISTS: usize = IDX_OFFS + (<usize>FZ_LOG_OPS << 2);      // FZ_MAX_CPUS lists of u16 i, in order
// @ts-ignore: decorator
@inline const IDX_STRIDE: usize = <usize>FZ_LOG_OPS << 1;
// @ts-ignore: decorator
@inline function listOf(x: usize, cpu: u32): usize { return x + IDX_LISTS + <usize>cpu * IDX_STRIDE; }

// Generate segment k into its half, with its index: at most the segment's ops and what is left of the unit.
function generate(k: u32): void {
  const left = load<u32>(RB_GEN_LEFT);
  const want = min<u32>(load<u32>(RB_SEG_OPS), left);
  const d = seg(k);
  const x = index(k);
  store<u32>(d, fuzz_gen_op());
  memory.fill(x + IDX_COUNT, 0, <usize>FZ_MAX_CPUS << 2);
  const n: u32 = want == 0 ? 0 : fuzzGenFillIndexed(FUZZ_BUF + <usize>halfStart(k), HALF - IDX_BYTES, want, x + IDX_OFFS, x + IDX_LISTS, IDX_STRIDE,
                                                      x + IDX_COUNT, fuzzOwnerSegment(k));
  store<u32>(d, n, 4);
  store<u32>(d, n == 0 ? 0 : fuzz_gen_bytes(), 8);
  store<u32>(RB_GEN_LEFT, left - n);
}

// All `cpus` CPUs meet here, each saying whether it stopped in the round.
// Returns 0 to go on, 1 when some CPU stopped, -1 when they do not meet: a
// job failed (smp_jobs_abort), or, as a last resort against a hang (a CPU's
// thread gone), a minute of waiting passed; then the others are told to give
// up too.
function barrier(cpus: u32, stopped: bool): i32 {
  const released = atomic.load<u32>(RB_RELEASED);
  if (stopped) atomic.store<u32>(RB_STOP, released + 1);
  if (atomic.add<u32>(RB_ARRIVED, 1) == cpus - 1) {
    atomic.store<u32>(RB_ARRIVED, 0);
    atomic.add<u32>(RB_RELEASED, 1);
    atomic.notify(RB_RELEASED, cpus);
  } else {
    const wait = smpMayWait();
    const spins = barrierSpins;
    let waits: u32 = 0;
    for (let i: u32 = 0; atomic.load<u32>(RB_RELEASED) == released; i++) {
      if (smpJobsAborted()) return -1;
      if (!wait || i < spins) continue;
      if (++waits > BARRIER_MAX_WAITS) { smp_jobs_abort(); return -1; }
      futexWait(RB_RELEASED, <i32>released, BARRIER_WAIT_NS);
    }
    if (wait) barrierSpins = nextSpinBudget(spins, waits != 0, BARRIER_SPINS_MIN, BARRIER_SPINS_MAX);
  }
  return atomic.load<u32>(RB_STOP) == released + 1 ? 1 : 0;
}

// Add the time since `since` to this CPU's `what`; returns now. At most three
// reads of the host's clock a segment: nothing next to a segment's hundreds
// of microseconds at the default size.
function timeSince(what: u32, since: u64): u64 {
  const now = wallNs();
  const a = RB_TIME + (<usize>thisCpu << 5) + (<usize>what << 3);
  store<u64>(a, load<u64>(a) + (now - since));
  return now;
}

// Where CPU c goes on: the place in its list of the segment's ops, and that op (its counters' resume words).
function resumeAt(c: u32, pos: u32, op: u32): void {
  const st = statsOf(c);
  store<u64>(st + (<usize>FZC_RESUME_POS << 3), pos);
  store<u64>(st + (<usize>FZC_RESUME_OP << 3), op);
}

// ── exports ─────────────────────────────────────────────────────────────────
// CPU 0, after fuzz_begin and the generator's set-up: rounds on `cpus` CPUs of
// `segOps` ops a segment, `ops` ops in all. Generates segment 0; returns its
// ops (0: none, or bad arguments).
export function fuzz_rounds_begin(cpus: u32, segOps: u32, ops: u32): u32 {
  // (the generator set up the slots' owner rule for its CPUs: gen.ts fuzz_gen_init)
  if (cpus < 2 || cpus > <u32>FZ_MAX_CPUS || segOps == 0 || segOps > <u32>FZ_LOG_OPS || fuzzOwnerCpus() != cpus) return 0;
  memory.fill(RB, 0, 192);
  memory.fill(RB_TIME, 0, <usize>FZ_MAX_CPUS << 5);
  store<u32>(RB_CPUS, cpus);
  store<u32>(RB_SEG_OPS, segOps);
  store<u32>(RB_GEN_LEFT, ops);
  generate(0);
  for (let c: u32 = 0; c < cpus; c++) resumeAt(c, 0, 0);
  return load<u32>(seg(0), 4);
}

// CPU 0, before each call of fuzz_rounds on every CPU (none of them running yet).
export function fuzz_rounds_arm(): void {
  atomic.store<u32>(RB_STOP, 0);
  atomic.store<u32>(RB_ARRIVED, 0);
  smpJobsArm();
}

// Every CPU's job: at most maxSegs segments' rounds (flags bit 0: the per-op
// log). Returns this CPU's FZR_* for its last part of a segment (FZR_DONE
// when it finished it); fuzz_rounds_info says where the rounds are.
export function fuzz_rounds(maxSegs: u32, flags: u32): i32 {
  const cpus = load<u32>(RB_CPUS);
  if (!smpActive || cpus < 2 || thisCpu >= cpus) return FZR_BAD_OP;
  const log = (flags & 1) != 0;
  const st = statsOf(thisCpu);
  let k = load<u32>(RB_K);
  let rc = FZR_DONE;
  let t = wallNs();
  for (let s: u32 = 0; s < maxSegs; s++) {
    const d = seg(k);
    if (load<u32>(d, 4) == 0) break;           // the unit's stream is over
    if (thisCpu == 0 && load<u32>(RB_NEXT) == 0) {
      generate(k + 1);
      store<u32>(RB_NEXT, 1);
      t = timeSince(FZT_GENERATE, t);
    }
    const first = load<u32>(d);
    const x = index(k);
    const pos = <u32>load<u64>(st + (<usize>FZC_RESUME_POS << 3));
    const mine = load<u32>(x + IDX_COUNT + (<usize>thisCpu << 2));
    if (pos < mine) {
      rc = fuzzRunList(listOf(x, thisCpu), pos, mine, x + IDX_OFFS, FUZZ_BUF + <usize>halfStart(k), load<u32>(d, 8), first, log);
    }
    t = timeSince(FZT_RUN, t);
    const met = barrier(cpus, rc != FZR_DONE);
    t = timeSince(FZT_WAIT, t);
    if (met < 0) return FZR_ALONE;
    if (met > 0) break;
    // segment k is done on every CPU: on to k + 1 (CPU 0 generated it before the barrier)
    k++;
    resumeAt(thisCpu, 0, 0);
    if (thisCpu == 0) {
      store<u32>(RB_K, k);
      store<u32>(RB_NEXT, 0);
    }
  }
  return rc;
}

// Where the rounds are (FZI_*): the segment k, its first op, its ops, where its
// bytes start in the tape buffer, their length; the CPUs.
export function fuzz_rounds_info(what: u32): u32 {
  const k = load<u32>(RB_K);
  switch (what) {
    case FZI_SEGMENT: return k;
    case FZI_FIRST_OP: return load<u32>(seg(k));
    case FZI_OPS: return load<u32>(seg(k), 4);
    case FZI_START: return halfStart(k);
    case FZI_BYTES: return load<u32>(seg(k), 8);
    case FZI_CPUS: return load<u32>(RB_CPUS);
    default: return 0;
  }
}

/** CPU `cpu`'s time in the rounds since fuzz_rounds_begin, in ns: FZT_RUN, FZT_GENERATE or FZT_WAIT (anything else: 0). */
export function fuzz_rounds_time(cpu: u32, what: u32): f64 {
  return cpu < <u32>FZ_MAX_CPUS && what < <u32>FZT_COUNT ? <f64>load<u64>(RB_TIME + (<usize>cpu << 5) + (<usize>what << 3)) : 0;
}

/**
 * The CPU that runs op `op` of the stream (opcode, slot), in segment k, on
 * `cpus` CPUs, CPU 0 having `shares & 0xff` places of the slots' cycle and each
 * other CPU `shares >> 8` (owner.ts); 0xffffffff: no such rule.
 */
export function fuzz_cpu_of_op(code: u32, slot: u32, k: u32, cpus: u32, shares: u32, op: u32): u32 {
  const cpu0 = shares & 0xff, other = shares >> 8;
  if (!fuzzOwnerValid(cpus, cpu0, other)) return 0xffffffff;
  code &= 0x7f;
  return code == FZ_TASK ? 0 : fuzzSlotOwner(code == FZ_TICK ? fuzzTickSlot(op) : slot, k, cpus, cpu0, other);
}
