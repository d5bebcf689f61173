// Reading report records out of the core's ring (layout: abi R_* offsets).
import * as abi from "../../abi/abi.js";

export interface RawRecord {
  kind: number;
  bug: number;
  flags: number;
  seq: number;
  addr: bigint;
  size: bigint;
  firstBad: bigint;
  timeNs: bigint;
  pid: number;
  cpu: number;
  stack: number;
  errcode: number;
  object: bigint;
  cache: number;
  objectSize: number;
  region: number;
  slot: number;
  allocPid: number;
  allocStack: number;
  allocCpu: number;
  allocTimeNs: bigint;
  freePid: number;
  freeStack: number;
  freeCpu: number;
  freeTimeNs: bigint;
  aux0: number;
  aux1: number;
  pfn: bigint;
  pageFlags: number;
  pageUse: number;
  pageOrder: number;
  pageRef: number;
  pageMapcount: number;
  headPfn: bigint;
  vmStart: bigint;
  vmSize: bigint;
  vmCaller: number;
  ptrTag: number;
  memTag: number;
  shadowRow: bigint;
  shadow: Uint8Array;
  pgwalk: bigint[];
  pgwalkLevels: number;
  die: number;
  kfIndex: number;
  kfStart: bigint;
  kfSize: number;
  kfCorruptLen: number;
  kfCorrupt: Uint8Array;
  kfCorruptMask: number;
  kfState: number;
  kfCacheNull: boolean;
  frameBase: bigint;
  frameId: number;
  taskPid: number;
  arg0: bigint;
  arg1: bigint;
  arg2: bigint;
  taint: number;
  /** SLAB's struct slab words (a SLAB slab page): slab_list.next, .prev, s_mem. */
  slabListNext: bigint;
  slabListPrev: bigint;
  slabSMem: bigint;
}

export function readRecord(mem: ArrayBuffer, at: number): RawRecord {
  const v = new DataView(mem, at, abi.REC_SIZE);
  const u64 = (o: number) => v.getBigUint64(o, true);
  const u32 = (o: number) => v.getUint32(o, true);
  const bytes = (o: number, n: number) => new Uint8Array(mem.slice(at + o, at + o + n));
  return {
    kind: v.getUint16(abi.R_KIND, true),
    bug: v.getUint8(abi.R_BUG),
    flags: v.getUint8(abi.R_FLAGS),
    seq: u32(abi.R_SEQ),
    addr: u64(abi.R_ADDR),
    size: u64(abi.R_SIZE),
    firstBad: u64(abi.R_FIRST_BAD),
    timeNs: u64(abi.R_TIME),
    pid: u32(abi.R_PID),
    cpu: u32(abi.R_CPU),
    stack: u32(abi.R_STACK),
    errcode: u32(abi.R_ERRCODE),
    object: u64(abi.R_OBJECT),
    cache: u32(abi.R_CACHE),
    objectSize: u32(abi.R_OBJSIZE),
    region: u32(abi.R_REGION),
    slot: u32(abi.R_SLOT),
    allocPid: u32(abi.R_ALLOC_PID),
    allocStack: u32(abi.R_ALLOC_STACK),
    allocCpu: u32(abi.R_ALLOC_CPU),
    allocTimeNs: u64(abi.R_ALLOC_TIME),
    freePid: u32(abi.R_FREE_PID),
    freeStack: u32(abi.R_FREE_STACK),
    freeCpu: u32(abi.R_FREE_CPU),
    freeTimeNs: u64(abi.R_FREE_TIME),
    aux0: u32(abi.R_AUX0),
    aux1: u32(abi.R_AUX1),
    pfn: u64(abi.R_PFN),
    pageFlags: u32(abi.R_PAGE_FLAGS),
    pageUse: v.getUint8(abi.R_PAGE_USE),
    pageOrder: v.getUint8(abi.R_PAGE_ORDER),
    pageRef: v.getInt32(abi.R_PAGE_REF, true),
    pageMapcount: v.getInt32(abi.R_PAGE_MAP, true),
    headPfn: u64(abi.R_HEAD_PFN),
    vmStart: u64(abi.R_VM_START),
    vmSize: u64(abi.R_VM_SIZE),
    vmCaller: u32(abi.R_VM_CALLER),
    ptrTag: v.getUint8(abi.R_PTR_TAG),
    memTag: v.getUint8(abi.R_MEM_TAG),
    shadowRow: u64(abi.R_SHADOW_ROW),
    shadow: bytes(abi.R_SHADOW, 80),
    pgwalk: [0, 1, 2, 3, 4].map((i) => u64(abi.R_PGWALK + i * 8)),
    pgwalkLevels: v.getUint8(abi.R_PGWALK_LEVELS),
    die: u32(abi.R_DIE),
    kfIndex: u32(abi.R_KF_INDEX),
    kfStart: u64(abi.R_KF_START),
    kfSize: u32(abi.R_KF_SIZE),
    kfCorruptLen: u32(abi.R_KF_CORRUPT_LEN),
    kfCorrupt: bytes(abi.R_KF_CORRUPT, 16),
    kfCorruptMask: v.getUint16(abi.R_KF_CORRUPT_MASK, true),
    kfState: v.getUint8(abi.R_KF_STATE),
    kfCacheNull: v.getUint8(abi.R_KF_CACHE_NULL) !== 0,
    frameBase: u64(abi.R_FRAME_BASE),
    frameId: u32(abi.R_FRAME_ID),
    taskPid: u32(abi.R_TASK_PID),
    arg0: u64(abi.R_ARG0),
    arg1: u64(abi.R_ARG1),
    arg2: u64(abi.R_ARG2),
    taint: u32(abi.R_TAINT),
    slabListNext: u64(abi.R_SLAB_LIST_NEXT),
    slabListPrev: u64(abi.R_SLAB_LIST_PREV),
    slabSMem: u64(abi.R_SLAB_S_MEM),
  };
}
