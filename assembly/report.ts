// The report ring: fixed-size records (layout in abi/abi.ts, R_*) that the core
// fills and the host turns into kernel text. Nothing is dropped silently: when
// the ring is full the record goes to a scratch slot and STAT_REPORTS_LOST counts it.
import { RING_RECORDS, REC_SIZE, R_KIND, R_SEQ, R_TIME, R_PID, R_CPU, R_TAINT,
         STAT_REPORTS, STAT_REPORTS_LOST } from "../abi/abi";
import { statInc } from "./stats";
import { RING_TABLE, MACHINE_STATE } from "./statics";
import { clockNow, currentPid, currentCpu, TS } from "./task";

// @ts-ignore: decorator
@inline export const RING_BASE: usize = RING_TABLE;
const LOST_RECORD: usize = memory.data(REC_SIZE, 8);
// The machine's, not this CPU's: linear memory (docs/smp.md, "The audit").
// @ts-ignore: decorator
@unmanaged class RingState {
  ringHead: u32;     // records written
  ringTail: u32;     // records the host has consumed
  seq: u32;
}
export const RS = changetype<RingState>(MACHINE_STATE + 0xa00);
if (offsetof<RingState>() > 0x100) ERROR("RingState outgrew its MACHINE_STATE slot");

export function reportBegin(kind: i32): usize {
  let rec: usize;
  if (RS.ringHead - RS.ringTail >= <u32>RING_RECORDS) {
    statInc(STAT_REPORTS_LOST);
    rec = LOST_RECORD;
  } else {
    rec = RING_BASE + <usize>(RS.ringHead % <u32>RING_RECORDS) * <usize>REC_SIZE;
    RS.ringHead++;
  }
  statInc(STAT_REPORTS);
  memory.fill(rec, 0, REC_SIZE);
  store<u16>(rec + R_KIND, <u16>kind);
  store<u32>(rec + R_SEQ, ++RS.seq);
  store<u64>(rec + R_TIME, clockNow());
  store<u32>(rec + R_PID, currentPid);
  store<u32>(rec + R_CPU, currentCpu);
  store<u32>(rec + R_TAINT, TS.taint);
  return rec;
}

// Records still unread by the host; workloads return to the host before the ring fills.
// @ts-ignore: decorator
@inline export function ringPending(): u32 { return RS.ringHead - RS.ringTail; }

export function ring_base(): usize { return RING_BASE; }
export function ring_head(): u32 { return RS.ringHead; }
export function ring_tail(): u32 { return RS.ringTail; }
export function ring_consume(n: u32): void {
  if (n > RS.ringHead - RS.ringTail) n = RS.ringHead - RS.ringTail;
  RS.ringTail += n;
}
