// The report ring: fixed-size records (layout in abi/abi.ts, R_*) that the core
// fills and the host turns into kernel text. Nothing is dropped silently: when
// the ring is full the record goes to a scratch slot and STAT_REPORTS_LOST counts it.
import { RING_RECORDS, REC_SIZE, R_KIND, R_SEQ, R_TIME, R_PID, R_CPU, R_TAINT,
         STAT_REPORTS, STAT_REPORTS_LOST } from "../abi/abi";
import { statInc } from "./stats";
import { RING_TABLE } from "./statics";
import { clockNow, currentPid, currentCpu, taint } from "./task";

// @ts-ignore: decorator
@inline export const RING_BASE: usize = RING_TABLE;
const LOST_RECORD: usize = memory.data(REC_SIZE, 8);
export let ringHead: u32 = 0;     // records written
export let ringTail: u32 = 0;     // records the host has consumed
export let seq: u32 = 0;

export function reportBegin(kind: i32): usize {
  let rec: usize;
  if (ringHead - ringTail >= <u32>RING_RECORDS) {
    statInc(STAT_REPORTS_LOST);
    rec = LOST_RECORD;
  } else {
    rec = RING_BASE + <usize>(ringHead % <u32>RING_RECORDS) * <usize>REC_SIZE;
    ringHead++;
  }
  statInc(STAT_REPORTS);
  memory.fill(rec, 0, REC_SIZE);
  store<u16>(rec + R_KIND, <u16>kind);
  store<u32>(rec + R_SEQ, ++seq);
  store<u64>(rec + R_TIME, clockNow());
  store<u32>(rec + R_PID, currentPid);
  store<u32>(rec + R_CPU, currentCpu);
  store<u32>(rec + R_TAINT, taint);
  return rec;
}

// Records still unread by the host; workloads return to the host before the ring fills.
// @ts-ignore: decorator
@inline export function ringPending(): u32 { return ringHead - ringTail; }

export function ring_base(): usize { return RING_BASE; }
export function ring_head(): u32 { return ringHead; }
export function ring_tail(): u32 { return ringTail; }
export function ring_consume(n: u32): void {
  if (n > ringHead - ringTail) n = ringHead - ringTail;
  ringTail += n;
}
