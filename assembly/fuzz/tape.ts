// The op-tape interpreter: runs a chunk of a fuzz workload (format: docs/fuzz.md, "The tape format")
// inside wasm, op after op, with no call into JS per operation.
//
// A tape names objects by slot, so it does not depend on where the allocator
// puts them. Each op runs as the kernel code of its site: the site's depot
// stack becomes the current stack (the tracks and the access stack of a
// report), and every report record the op raises is stamped with the op
// index, the slot and the sites, so the host can deduplicate reports without
// formatting them.
//
// Slot (32 bytes):
//   ptr u64 | size u32 | state u8, kind u8, cache u8, pad u8 |
//   home lo u64 (untagged) | home size u32 | alloc site + 1 u32
// The home is the memory the object came from: its slab, its large-kmalloc
// pages, its vmalloc pages, or its KFENCE page with both guard pages. An op may
// reach the home and one page on either side of it, and every direct-map page
// it touches must be workload memory (slab pages of kmalloc and tape caches,
// large kmalloc pages, free pages, the KFENCE pool; vmalloc space always is).
// The engine's own frames (page tables, shadow, struct pages, the depot, the
// kmem_cache descriptors) are never touched. In-bounds accesses to live
// objects check their page with one byte load (GUEST_FRAMES).
//
// A stale or offset free may land on another slot's live object (a double
// free after the memory was reused, an invalid free hitting a neighbour):
// such frees scan the slots for the victim afterwards, so the slot table
// keeps saying what the kernel has freed.
import { FZ_KMALLOC, FZ_KZALLOC, FZ_CACHE_ALLOC, FZ_KFREE, FZ_KFREE_AT, FZ_KREALLOC, FZ_VMALLOC, FZ_VFREE,
         FZ_LOAD1, FZ_LOAD2, FZ_LOAD4, FZ_LOAD8, FZ_LOAD16, FZ_STORE1, FZ_STORE2, FZ_STORE4, FZ_STORE8,
         FZ_STORE16, FZ_MEMSET, FZ_MEMCPY, FZ_TICK, FZ_TASK, FZ_MAX_SLOTS, FZ_MAX_CACHES, FZ_MAX_TASKS,
         FZ_MAX_SIZE, FZ_BUF_SIZE, FZ_LOG_OPS, FZ_LOG_SIZE, FZL_STATUS, FZL_ADDR, FZL_HOME_LO, FZL_HOME_HI,
         FZS_DONE, FZS_EMPTY, FZS_REACH, FZS_UNSAFE, FZS_DANGLING, FZS_KIND, FZS_ALLOC_FAILED, FZS_REFUSED,
         FZR_DONE, FZR_PAUSED, FZR_PANIC, FZR_BAD_OP, FZR_BAD_FIELD, FZC_OPS, FZC_CHECKSUM, FZC_STATUS,
         FZC_COUNT, R_FUZZ_OP, R_FUZZ_SLOT, R_FUZZ_SITE, R_FUZZ_ALLOC_SITE, RING_RECORDS, REC_SIZE,
         FZC_RESUME_POS, FZC_RESUME_OP, FZC_LOCKLESS, FZ_STATS_STRIDE, FZ_MAX_CPUS, FZL_SEQ, PAGE_SHIFT, PAGE_SIZE, PHYS_BASE, GFP_KERNEL, GFP_ZERO, USE_FREE, USE_SLAB, USE_LARGE_KMALLOC,
         PG_TAIL, CFG_NR_CPUS, WARN_KFREE_NOT_HEAP, STAT_REPORTS, R_ADDR } from "../../abi/abi";
import { FZ_LEN_SIZED, FZ_LEN_CACHE_ALLOC, FZ_LEN_SLOT, FZ_LEN_MEMSET, FZ_LEN_MEMCPY, FZ_LEN_TICK, FZ_LEN_TASK,
         SCRATCH_STORE16 } from "../../abi/abi";
import { FUZZ_BUF, FUZZ_LOG, FUZZ_SLOTS, FUZZ_SITES, FUZZ_MISC, FUZZ_END, GUEST_FRAMES, GUEST_FRAME_HEAP } from "../statics";
import { kmalloc, kfree, isLiveObjectStart, kmallocFast, kfreeFast, kmemCacheAllocFast, kmemCacheFreeFast } from "../mm/slub";
import { kmem_cache_alloc, kmem_cache_free, krealloc } from "../mm/slab_common";
import { vmalloc, vfree, isVmallocAddr } from "../mm/vmalloc";
import { checkedLoadM, checkedStoreM, ModeOff, ModeGeneric, ModeTags, mem_memset, mem_memcpy, mem_load16,
         mem_store16, SCRATCH, directMapLin, directMapRangeLin } from "../mm/access";
import { PAGE_OFFSET, untag } from "../mm/layout";
import { nrFrames, pgUse, pgFlags, pgCache, pgOrder } from "../mm/phys";
import { FS, warnRecord } from "../mm/fault";
import { set_current_stack } from "../stackdepot";
import { set_current, clock_advance } from "../task";
import { ring_head, ringPending, RING_BASE } from "../report";
import { isKfenceAddress } from "../kfence/core";
import { kasanMode, KASAN_OFF, KASAN_GENERIC } from "../kasan/kasan";
import { cfg } from "../config";
import { statGet } from "../stats";
import { kernelEnterRarely, kernelLeave, smpActive, thisCpu, fastBegin, fastEnd, fastStay } from "../smp";
import { quarantineDeferReductions, quarantineDeferred, quarantineFreeDeferredLockless, quarantineFreeDeferredLocked } from "../kasan/quarantine";

// ── slots ───────────────────────────────────────────────────────────────────
// @ts-ignore: decorator
@inline const SLOT_EMPTY: u8 = 0;
// @ts-ignore: decorator
@inline const SLOT_LIVE: u8 = 1;
// @ts-ignore: decorator
@inline const SLOT_FREED: u8 = 2;       // the pointer is kept: use-after-free and double-free ops use it
// @ts-ignore: decorator
@inline const KIND_KMALLOC: u8 = 1;
// @ts-ignore: decorator
@inline const KIND_CACHE: u8 = 2;
// @ts-ignore: decorator
@inline const KIND_VMALLOC: u8 = 3;

// FUZZ_MISC: cache ids (FZ_MAX_CACHES x u32) and their object sizes, task pids
// (FZ_MAX_TASKS x u32), counters (per CPU: FZ_STATS_STRIDE bytes each, CPU 0's
// first), the op sequence of the per-op log (fuzz --cpus)
// @ts-ignore: decorator
@inline const CACHES: usize = FUZZ_MISC;
// @ts-ignore: decorator
@inline const TASKS: usize = FUZZ_MISC + 128;
// @ts-ignore: decorator
@inline const STATS: usize = FUZZ_MISC + 512;
// @ts-ignore: decorator
@inline const OP_SEQ: usize = FUZZ_MISC + 512 + FZ_MAX_CPUS * FZ_STATS_STRIDE;
// this CPU's counters (CPUs running tapes at once each keep their own)
// @ts-ignore: decorator
@inline export function statsOf(cpu: u32): usize { return STATS + <usize>cpu * <usize>FZ_STATS_STRIDE; }

// bytes of each op, by opcode; 0 = no such op (lengths from abi/abi.ts)
// @ts-ignore: decorator
@inline const SIZED: u8 = <u8>FZ_LEN_SIZED;
// @ts-ignore: decorator
@inline const SLOT: u8 = <u8>FZ_LEN_SLOT;
const OP_LEN: usize = memory.data<u8>([0, SIZED, SIZED, <u8>FZ_LEN_CACHE_ALLOC, SLOT, SIZED, SIZED, SIZED, SLOT,
                                       SIZED, SIZED, SIZED, SIZED, SIZED, SIZED, SIZED, SIZED, SIZED, SIZED,
                                       <u8>FZ_LEN_MEMSET, <u8>FZ_LEN_MEMCPY, <u8>FZ_LEN_TICK, <u8>FZ_LEN_TASK,
                                       0, 0, 0, 0, 0, 0, 0, 0, 0]);

// the tape's slot count, in memory: every CPU running the tape reads it
// @ts-ignore: decorator
@inline const NSLOTS: usize = OP_SEQ + 8;
// @ts-ignore: decorator
@inline function nSlots(): u32 { return load<u32>(NSLOTS); }
let resumePos: u32 = 0;
let resumeOp: u32 = 0;

// @ts-ignore: decorator
@inline function slotAt(i: u32): usize { return FUZZ_SLOTS + (<usize>i << 5); }
// @ts-ignore: decorator
@inline function sPtr(s: usize): u64 { return load<u64>(s); }
// @ts-ignore: decorator
@inline function sSize(s: usize): u32 { return load<u32>(s, 8); }
// @ts-ignore: decorator
@inline function sState(s: usize): u8 { return load<u8>(s, 12); }
// @ts-ignore: decorator
@inline function sKind(s: usize): u8 { return load<u8>(s, 13); }
// @ts-ignore: decorator
@inline function sCache(s: usize): u8 { return load<u8>(s, 14); }
// @ts-ignore: decorator
@inline function sHomeLo(s: usize): u64 { return load<u64>(s, 16); }
// @ts-ignore: decorator
@inline function sHomeSize(s: usize): u32 { return load<u32>(s, 24); }
// @ts-ignore: decorator
@inline function sAllocSite(s: usize): u32 { return load<u32>(s, 28); }
// @ts-ignore: decorator
@inline function setState(s: usize, v: u8): void { store<u8>(s, v, 12); }

// Where an object came from (see the header): its home, set when it is allocated.
function setHome(s: usize, va: u64, kind: u8, size: u32): void {
  const a = untag(va);
  let lo = a, n: u64 = 0;
  if (kind == KIND_VMALLOC) {
    n = (<u64>size + PAGE_SIZE - 1) & ~<u64>(PAGE_SIZE - 1);
  } else if (isKfenceAddress(a)) {
    lo = (a & ~<u64>(PAGE_SIZE - 1)) - PAGE_SIZE;
    n = 3 * PAGE_SIZE;
  } else {
    const off = a - PAGE_OFFSET;
    if (off < (<u64>nrFrames << PAGE_SHIFT)) {
      let pfn = <u32>(off >> PAGE_SHIFT);
      if (pgFlags(pfn) & PG_TAIL) pfn = pgCache(pfn);
      lo = PAGE_OFFSET + (<u64>pfn << PAGE_SHIFT);
      n = <u64>PAGE_SIZE << pgOrder(pfn);
    }
  }
  store<u64>(s, lo, 16);
  store<u32>(s, <u32>n, 24);
}

function slotAlloc(s: usize, va: u64, size: u32, kind: u8, cache: u8, site: u32): void {
  store<u64>(s, va);
  store<u32>(s, size, 8);
  store<u8>(s, SLOT_LIVE, 12);
  store<u8>(s, kind, 13);
  store<u8>(s, cache, 14);
  store<u32>(s, site + 1, 28);
  setHome(s, va, kind, size);
}

// A failed allocation leaves NULL in its slot (p = kmalloc(...) returned
// NULL; an object the slot held before leaks, as it would in C): later ops on
// the slot are skipped as on a slot that never held one, so nothing is
// reported through a stale pointer.
function slotNull(s: usize): void {
  store<u64>(s, 0);
  store<u32>(s, 0, 8);
  store<u8>(s, SLOT_EMPTY, 12);
  store<u64>(s, 0, 16);
  store<u32>(s, 0, 24);
}

// ── reach ───────────────────────────────────────────────────────────────────
// A direct-map page that workload ops may touch: a slab page of any cache but
// kmem_cache (whose objects are the caches' descriptors), a large kmalloc, a
// free page, or the KFENCE pool.
function workloadPage(va: u64): bool {
  if (isKfenceAddress(va)) return true;
  const off = va - PAGE_OFFSET;
  if (off >= (<u64>nrFrames << PAGE_SHIFT)) return false;
  const pfn = <u32>(off >> PAGE_SHIFT);
  const use = pgUse(pfn);
  if (use == USE_FREE || use == USE_LARGE_KMALLOC) return true;
  if (use != USE_SLAB) return false;
  const head = (pgFlags(pfn) & PG_TAIL) != 0 ? pgCache(pfn) : pfn;
  return pgCache(head) != 0;
}

// May an op touch [a, a + n) (untagged) through slot s? FZS_DONE if so.
function reach(s: usize, a: u64, n: u64): u32 {
  const lo = sHomeLo(s), hi = lo + <u64>sHomeSize(s);
  const end = a + n;
  if (end < a || a < lo - PAGE_SIZE || end > hi + PAGE_SIZE) return FZS_REACH;
  if (isVmallocAddr(lo)) return FZS_DONE;
  for (let pg = a & ~<u64>(PAGE_SIZE - 1); pg < end; pg += PAGE_SIZE) {
    if (!workloadPage(pg)) return FZS_UNSAFE;
  }
  return FZS_DONE;
}

// A kmalloc slab or large-kmalloc page (slub.ts keeps GUEST_FRAMES marked for
// them) or the KFENCE pool: one byte load for the common case.
// @ts-ignore: decorator
@inline function heapPage(a: u64): bool {
  const off = a - PAGE_OFFSET;
  if (off < (<u64>nrFrames << PAGE_SHIFT) && load<u8>(GUEST_FRAMES + <usize>(off >> PAGE_SHIFT)) == GUEST_FRAME_HEAP) return true;
  return isKfenceAddress(a);
}

// Status of an access of n bytes at offset off through slot s. In bounds of a
// live object the pages are checked, not trusted: a kernel whose freelist a
// reported write corrupted can hand one object to two slots, and one of them
// may outlive its slab.
// @ts-ignore: decorator
@inline function accessStatus(s: usize, off: i32, n: u32): u32 {
  const st = sState(s);
  if (st == SLOT_EMPTY) return FZS_EMPTY;
  const a = untag(sPtr(s)) + <u64><i64>off;
  if (st == SLOT_LIVE && off >= 0 && <u64>off + <u64>n <= <u64>sSize(s)) {
    if (sKind(s) == KIND_VMALLOC) return FZS_DONE;
    if (n <= <u32>PAGE_SIZE && heapPage(a) && heapPage(a + n - 1)) return FZS_DONE;
  }
  return reach(s, a, n);
}

// A free that may have hit another slot's live object (stale or offset
// pointer): the object the engine freed is the one whose pointer it was
// (kfree frees slab and large-kmalloc objects, vfree vmalloc areas).
function aliasFreed(va: u64, vm: bool): void {
  for (let i: u32 = 0; i < nSlots(); i++) {
    const s = slotAt(i);
    if (sState(s) == SLOT_LIVE && sPtr(s) == va && (sKind(s) == KIND_VMALLOC) == vm) setState(s, SLOT_FREED);
  }
}

// Without KASAN, SLUB itself would corrupt its freelist on a pointer that is
// no live object's start; those frees are refused with the WARN the engine
// gives guests (KFENCE judges its own objects).
function freeable(va: u64): bool {
  if (kasanMode != KASAN_OFF || isKfenceAddress(va)) return true;
  if (isLiveObjectStart(untag(va))) return true;
  warnRecord(WARN_KFREE_NOT_HEAP, va, 0);
  return false;
}

// ── the interpreter ─────────────────────────────────────────────────────────
// Give the records op `op` raised the op's identity. A memcpy names two
// slots: a record whose address lies in the source range is the source's.
function stamp(h0: u32, op: u32, slot: u32, site: u32, src: u32, srcLo: u64, srcLen: u64): void {
  const h1 = ring_head();
  for (let i = h0; i != h1; i++) {
    if (h1 - i > <u32>RING_RECORDS) continue;
    const rec = RING_BASE + <usize>(i % <u32>RING_RECORDS) * <usize>REC_SIZE;
    let sl = slot;
    if (src != slot && untag(load<u64>(rec + R_ADDR)) - srcLo < srcLen) sl = src;
    store<u32>(rec + R_FUZZ_OP, op + 1);
    store<u32>(rec + R_FUZZ_SLOT, sl + 1);
    store<u32>(rec + R_FUZZ_SITE, site);
    store<u32>(rec + R_FUZZ_ALLOC_SITE, sl < nSlots() ? sAllocSite(slotAt(sl)) : 0);
  }
}

// @ts-ignore: decorator
@inline function storeValue(op: u32): u64 { return <u64>(op + 1) * 0x9e3779b97f4a7c15; }

function freeOp(s: usize, off: i32, site: u32): u32 {
  const st = sState(s);
  if (st == SLOT_EMPTY) return FZS_EMPTY;
  const ptr = sPtr(s);
  const target = ptr + <u64><i64>off;
  const own = st == SLOT_LIVE && off == 0 && sKind(s) != KIND_VMALLOC;
  if (!own) {
    const r = reach(s, untag(target), 1);
    if (r != FZS_DONE) return r;
    if (!freeable(target)) return FZS_REFUSED;
  }
  if (sKind(s) == KIND_CACHE) kmem_cache_free(load<u32>(CACHES + (<usize>sCache(s) << 2)), target);
  else kfree(target);
  if (own) setState(s, SLOT_FREED);
  else aliasFreed(target, false);
  return FZS_DONE;
}

function vfreeOp(s: usize): u32 {
  const st = sState(s);
  if (st == SLOT_EMPTY) return FZS_EMPTY;
  const ptr = sPtr(s);
  vfree(ptr);
  if (st == SLOT_LIVE && sKind(s) == KIND_VMALLOC) setState(s, SLOT_FREED);
  else aliasFreed(ptr, true);
  return FZS_DONE;
}

function kreallocOp(s: usize, size: u32, site: u32): u32 {
  const st = sState(s);
  if (st == SLOT_EMPTY) return FZS_EMPTY;
  if (st != SLOT_LIVE) return FZS_DANGLING;
  if (sKind(s) != KIND_KMALLOC) return FZS_KIND;
  const nv = krealloc(sPtr(s), size, GFP_KERNEL);
  if (nv == 0) { slotNull(s); return FZS_ALLOC_FAILED; }
  slotAlloc(s, nv, size, KIND_KMALLOC, 0, site);
  return FZS_DONE;
}

function memsetOp(s: usize, off: i32, len: u32, byte: u32): u32 {
  if (len == 0) return sState(s) == SLOT_EMPTY ? FZS_EMPTY : FZS_DONE;
  const r = accessStatus(s, off, len);
  if (r != FZS_DONE) return r;
  mem_memset(sPtr(s) + <u64><i64>off, byte, len);
  return FZS_DONE;
}

function memcpyOp(d: usize, dOff: i32, sr: usize, sOff: i32, len: u32): u32 {
  if (len == 0) return sState(d) == SLOT_EMPTY || sState(sr) == SLOT_EMPTY ? FZS_EMPTY : FZS_DONE;
  let r = accessStatus(d, dOff, len);
  if (r != FZS_DONE) return r;
  r = accessStatus(sr, sOff, len);
  if (r != FZS_DONE) return r;
  mem_memcpy(sPtr(d) + <u64><i64>dOff, sPtr(sr) + <u64><i64>sOff, len);
  return FZS_DONE;
}

function load16Op(s: usize, off: i32, loaded: usize): u32 {
  const r = accessStatus(s, off, 16);
  if (r != FZS_DONE) return r;
  mem_load16(sPtr(s) + <u64><i64>off);
  store<u64>(loaded, load<u64>(SCRATCH) ^ load<u64>(SCRATCH, 8));
  return FZS_DONE;
}
function store16Op(s: usize, off: i32, op: u32): u32 {
  const r = accessStatus(s, off, 16);
  if (r != FZS_DONE) return r;
  store<u64>(SCRATCH + SCRATCH_STORE16, storeValue(op));
  store<u64>(SCRATCH + SCRATCH_STORE16 + 8, ~storeValue(op));
  mem_store16(sPtr(s) + <u64><i64>off);
  return FZS_DONE;
}

// The value a load op read goes to `loaded`, after the CPU's counters (memory,
// not a global: see statics.ts); the loop adds it to the checksum.
// @ts-ignore: decorator
@inline function loadOp<T, M>(s: usize, off: i32, loaded: usize): u32 {
  const r = accessStatus(s, off, sizeof<T>());
  if (r != FZS_DONE) return r;
  store<u64>(loaded, <u64>checkedLoadM<T, M>(sPtr(s) + <u64><i64>off));
  return FZS_DONE;
}
// @ts-ignore: decorator
@inline function storeOp<T, M>(s: usize, off: i32, op: u32): u32 {
  const r = accessStatus(s, off, sizeof<T>());
  if (r != FZS_DONE) return r;
  checkedStoreM<T, M>(sPtr(s) + <u64><i64>off, <T>storeValue(op));
  return FZS_DONE;
}

// A load or store of 1 to 16 bytes.
// @ts-ignore: decorator
@inline function sizedAccess(code: u32): bool { return code >= <u32>FZ_LOAD1 && code <= <u32>FZ_STORE16; }

// The lockless path of an access to n bytes at offset off through slot s
// (`range`: a memset or a memcpy's side, up to a page): its linear address
// when it is inside the slot's live slab object (kmalloc or a tape cache)
// and mm/access.ts's directMapLin takes it; else 0, and the slow path checks
// it (and reports what it finds) under the lock.
// @ts-ignore: decorator
@inline function lockless<M>(s: usize, off: i32, n: u32, range: bool = false): usize {
  const kind = sKind(s);
  if (sState(s) != SLOT_LIVE || kind == KIND_VMALLOC || n == 0) return 0;
  if (off < 0 || <u64>off + <u64>n > <u64>sSize(s)) return 0;
  const a = untag(sPtr(s)) + <u64><i64>off;
  // a tape cache's slab is no kmalloc page: its pages are checked as the slow path checks them
  const cache = kind == KIND_CACHE;
  if (cache && (!workloadPage(a) || !workloadPage(a + n - 1))) return 0;
  return range ? directMapRangeLin<M>(a, n, !cache) : directMapLin<M>(a, n, !cache);
}

// The per-op log entry of the op at index i of the logged range (check mode).
function logOp(i: u32, status: u32, addr: u64, s: usize, seq: u32): void {
  if (i >= <u32>FZ_LOG_OPS) return;
  const e = FUZZ_LOG + <usize>i * <usize>FZ_LOG_SIZE;
  store<u32>(e + FZL_STATUS, status);
  store<u64>(e + FZL_ADDR, addr);
  store<u64>(e + FZL_HOME_LO, s != 0 ? sHomeLo(s) : 0);
  store<u64>(e + FZL_HOME_HI, s != 0 ? sHomeLo(s) + <u64>sHomeSize(s) : 0);
  store<u32>(e + FZL_SEQ, seq);
}

// With CPU threads, a quarantine reduction inside a locked op takes its batch
// off the ring and leaves it to be freed here, after the op has left the
// kernel lock: the kernel frees a reduction's batch holding no lock. Runs of
// one slab whose free changes no list go back on the lockless path; the rest
// (list changes, anything a check stops) in one take of the kernel lock.
function freeDeferredBatch(): void {
  if (fastBegin()) {
    quarantineFreeDeferredLockless();
    fastEnd();
  }
  if (!quarantineDeferred()) return;
  const depth = kernelEnterRarely();
  quarantineFreeDeferredLocked();
  kernelLeave(depth);
}

// Run ops from byte `start` to `len` of FUZZ_BUF; `op` is the index of the first.
// The kernel's mode is a type parameter, as in mm/access.ts.
// With CPU threads running (fuzz --cpus), each op is one kernel entry: CPUs
// running tapes at once interleave op by op, and everything an op does (its
// reports, its stamps, its log entry and sequence number) happens under the
// kernel lock, so the records an op finds new in the ring are its own; only
// the kmalloc and kfree ops that finish on the lockless path take no lock.
// S is u16 with CPU threads running, u8 without: the one-CPU loop is compiled without the SMP code.
// With a list (fuzz --cpus, rounds.ts), it runs only this CPU's ops of the segment at `base`
// (`bytes` long): list entries start..len-1 name them (u16 i: op logBase + i, at byte offs[i]).
function runM<M, S>(start: u32, len: u32, op: u32, logBase: u32, log: bool, list: usize = 0, offs: usize = 0, base: usize = 0, bytes: u32 = 0): i32 {
  const listed = sizeof<S>() == 2 && list != 0;
  let j = start;
  let p = listed ? base : FUZZ_BUF + <usize>start;
  const end = listed ? base + <usize>bytes : FUZZ_BUF + <usize>len;
  const nCpus = <u32>cfg(CFG_NR_CPUS);
  const slots = nSlots();
  const smp = sizeof<S>() == 2;
  const STATS = smp ? statsOf(thisCpu) : statsOf(0);
  const LOADED = STATS + (<usize>FZC_COUNT << 3);
  let sum = load<u64>(STATS + (<usize>FZC_CHECKSUM << 3));
  let ops: u64 = 0, lockfree: u64 = 0;
  let rc = FZR_DONE;
  // on the lockless path from one lockless op to the next (smp.ts fastStay)
  let marked = false;
  // a quarantine reduction in a locked op leaves its batch for after the lock (freeDeferredBatch)
  if (smp) quarantineDeferReductions(true);
  // reports are noticed through the counter in memory (one load), not the ring's globals
  let reports = statGet(STAT_REPORTS);
  let head = ring_head();
  // (with CPU threads, these globals are current only under the kernel lock: checked per op below)
  if (!smp && ringPending() >= <u32>RING_RECORDS - 16) rc = FZR_PAUSED;
  else if (!smp && FS.enginePanicked) rc = FZR_PANIC;
  while (rc == FZR_DONE && (listed ? j < len : p < end)) {
    if (listed) {
      const i = <u32>load<u16>(list + (<usize>j << 1));
      p = base + <usize>load<u32>(offs + (<usize>i << 2));
      op = logBase + i;
    }
    const code = <u32>load<u8>(p) & 0x7f;
    const n = <usize>load<u8>(OP_LEN + <usize>(code & 31));
    if (n == 0 || p + n > end) { rc = FZR_BAD_OP; break; }
    // kmalloc, kmem_cache_alloc, kfree of the slot's own object, and loads,
    // stores (1 to 16 bytes), memsets and memcpys (up to a page) inside live
    // slab objects first try the CPU's lockless path (mm/slub.ts for the
    // first three; a direct-map access with a clean shadow for the rest).
    // Nothing there reports, so such an op needs neither the kernel lock nor
    // the ring checks. Its sequence number is taken as it starts: whatever
    // another CPU does to the same memory is either ordered after it (that CPU
    // stops this one first) or seen by it, and an op that sees something goes
    // to the slow path, where it takes a new number.
    if (smp && (code == FZ_KMALLOC || code == FZ_KZALLOC || code == FZ_CACHE_ALLOC || code == FZ_KFREE || sizedAccess(code) ||
                code == FZ_MEMSET || code == FZ_MEMCPY) && (marked = marked ? fastStay() : fastBegin())) {
      const fslot = <u32>load<u16>(p, 3);
      let done = false;
      if (fslot < slots) {
        const seq = log ? atomic.add<u32>(OP_SEQ, 1) : 0;
        const fsite = <u32>load<u16>(p, 1);
        const fs = slotAt(fslot);
        set_current_stack(load<u32>(FUZZ_SITES + (<usize>fsite << 2)));
        if (code == FZ_KFREE) {
          if (sState(fs) == SLOT_LIVE) {
            const kind = sKind(fs);
            if (kind == KIND_KMALLOC) done = kfreeFast(sPtr(fs));
            else if (kind == KIND_CACHE) done = kmemCacheFreeFast(load<u32>(CACHES + (<usize>sCache(fs) << 2)), sPtr(fs));
          }
          if (done) setState(fs, SLOT_FREED);
        } else if (code == FZ_CACHE_ALLOC) {
          const c = <u32>load<u8>(p, 5);
          const id = c < <u32>FZ_MAX_CACHES ? load<u32>(CACHES + (<usize>c << 2)) : 0;
          const va = id == 0 ? 0 : kmemCacheAllocFast(id, GFP_KERNEL);
          done = va != 0;
          if (done) {
            slotAlloc(fs, va, 0, KIND_CACHE, <u8>c, fsite);
            store<u32>(fs, load<u32>(CACHES + 64 + (<usize>c << 2)), 8);
          }
        } else if (code == FZ_KMALLOC || code == FZ_KZALLOC) {
          const size = load<u32>(p, 5);
          const va = size == 0 || size > <u32>FZ_MAX_SIZE ? 0 : kmallocFast(size, code == FZ_KZALLOC ? GFP_KERNEL | GFP_ZERO : GFP_KERNEL);
          done = va != 0;
          if (done) slotAlloc(fs, va, size, KIND_KMALLOC, 0, fsite);
        } else if (code == FZ_MEMSET) {
          const len = load<u32>(p, 9);
          const lin = lockless<M>(fs, load<i32>(p, 5), len, true);
          done = lin != 0;
          if (done) memory.fill(lin, load<u8>(p, 13), len);
        } else if (code == FZ_MEMCPY) {
          // (the generator keeps both slots on one CPU)
          const len = load<u32>(p, 15), from = <u32>load<u16>(p, 9);
          const src = from < slots ? lockless<M>(slotAt(from), load<i32>(p, 11), len, true) : 0;
          const dst = src != 0 ? lockless<M>(fs, load<i32>(p, 5), len, true) : 0;
          done = dst != 0;
          if (done) memory.copy(dst, src, len);
        } else {
          const lin = lockless<M>(fs, load<i32>(p, 5), 1 << ((code - FZ_LOAD1) % 5));
          done = lin != 0;
          if (done) {
            switch (code) {
              case FZ_LOAD1: sum += <u64>load<u8>(lin); break;
              case FZ_LOAD2: sum += <u64>load<u16>(lin); break;
              case FZ_LOAD4: sum += <u64>load<u32>(lin); break;
              case FZ_LOAD8: sum += load<u64>(lin); break;
              case FZ_STORE1: store<u8>(lin, <u8>storeValue(op)); break;
              case FZ_STORE2: store<u16>(lin, <u16>storeValue(op)); break;
              case FZ_STORE4: store<u32>(lin, <u32>storeValue(op)); break;
              case FZ_STORE8: store<u64>(lin, storeValue(op)); break;
              // as load16Op and store16Op do
              case FZ_LOAD16: sum += load<u64>(lin) ^ load<u64>(lin, 8); break;
              default: store<u64>(lin, storeValue(op)); store<u64>(lin, ~storeValue(op), 8);
            }
          }
        }
        if (done && log) logOp(op - logBase, FZS_DONE, sPtr(fs), fs, seq);
      }
      if (done) { p += n; op++; j++; ops++; lockfree++; continue; }
    }
    let depth: i32 = 0;
    if (smp) {
      if (marked) { fastEnd(); marked = false; }
      depth = kernelEnterRarely();
      // another CPU's ops may have filled the ring or panicked the machine since
      if (ringPending() >= <u32>RING_RECORDS - 16 || FS.enginePanicked) {
        rc = FS.enginePanicked ? FZR_PANIC : FZR_PAUSED;
        kernelLeave(depth);
        break;
      }
      reports = statGet(STAT_REPORTS);
      head = ring_head();
    }
    let site: u32 = 0, slot: u32 = 0xffffffff;
    let s: usize = 0;
    let src: u32 = 0xffffffff, srcLo: u64 = 0, srcLen: u64 = 0;
    if (code != FZ_TICK && code != FZ_TASK) {
      site = <u32>load<u16>(p, 1);
      slot = <u32>load<u16>(p, 3);
      if (slot >= slots) { rc = FZR_BAD_FIELD; break; }
      s = slotAt(slot);
      set_current_stack(load<u32>(FUZZ_SITES + (<usize>site << 2)));
    }
    let status: u32 = FZS_DONE;
    let addr: u64 = 0;
    store<u64>(LOADED, 0);
    switch (code) {
      case FZ_KMALLOC:
      case FZ_KZALLOC:
      case FZ_VMALLOC: {
        const size = load<u32>(p, 5);
        if (size == 0 || size > <u32>FZ_MAX_SIZE) { rc = FZR_BAD_FIELD; break; }
        let va: u64;
        if (code == FZ_VMALLOC) va = vmalloc(size);
        else va = kmalloc(size, code == FZ_KZALLOC ? GFP_KERNEL | GFP_ZERO : GFP_KERNEL);
        addr = va;
        if (va == 0) { slotNull(s); status = FZS_ALLOC_FAILED; break; }
        slotAlloc(s, va, size, code == FZ_VMALLOC ? KIND_VMALLOC : KIND_KMALLOC, 0, site);
        break;
      }
      case FZ_CACHE_ALLOC: {
        const c = <u32>load<u8>(p, 5);
        if (c >= <u32>FZ_MAX_CACHES || load<u32>(CACHES + (<usize>c << 2)) == 0) { rc = FZR_BAD_FIELD; break; }
        const va = kmem_cache_alloc(load<u32>(CACHES + (<usize>c << 2)), GFP_KERNEL);
        addr = va;
        if (va == 0) { slotNull(s); status = FZS_ALLOC_FAILED; break; }
        slotAlloc(s, va, 0, KIND_CACHE, <u8>c, site);
        // the object is the cache's whole object_size: the host wrote it next to the id
        store<u32>(s, load<u32>(CACHES + 64 + (<usize>c << 2)), 8);
        break;
      }
      case FZ_KFREE: addr = sPtr(s); status = freeOp(s, 0, site); break;
      case FZ_KFREE_AT: {
        const off = load<i32>(p, 5);
        addr = sPtr(s) + <u64><i64>off;
        status = freeOp(s, off, site);
        break;
      }
      case FZ_KREALLOC: {
        const size = load<u32>(p, 5);
        if (size == 0 || size > <u32>FZ_MAX_SIZE) { rc = FZR_BAD_FIELD; break; }
        status = kreallocOp(s, size, site);
        addr = sPtr(s);
        break;
      }
      case FZ_VFREE: addr = sPtr(s); status = vfreeOp(s); break;
      case FZ_LOAD1: status = loadOp<u8, M>(s, load<i32>(p, 5), LOADED); break;
      case FZ_LOAD2: status = loadOp<u16, M>(s, load<i32>(p, 5), LOADED); break;
      case FZ_LOAD4: status = loadOp<u32, M>(s, load<i32>(p, 5), LOADED); break;
      case FZ_LOAD8: status = loadOp<u64, M>(s, load<i32>(p, 5), LOADED); break;
      case FZ_LOAD16: status = load16Op(s, load<i32>(p, 5), LOADED); break;
      case FZ_STORE1: status = storeOp<u8, M>(s, load<i32>(p, 5), op); break;
      case FZ_STORE2: status = storeOp<u16, M>(s, load<i32>(p, 5), op); break;
      case FZ_STORE4: status = storeOp<u32, M>(s, load<i32>(p, 5), op); break;
      case FZ_STORE8: status = storeOp<u64, M>(s, load<i32>(p, 5), op); break;
      case FZ_STORE16: status = store16Op(s, load<i32>(p, 5), op); break;
      case FZ_MEMSET: {
        const len = load<u32>(p, 9);
        if (len > <u32>FZ_MAX_SIZE) { rc = FZR_BAD_FIELD; break; }
        status = memsetOp(s, load<i32>(p, 5), len, <u32>load<u8>(p, 13));
        break;
      }
      case FZ_MEMCPY: {
        const len = load<u32>(p, 15);
        src = <u32>load<u16>(p, 9);
        if (src >= slots || len > <u32>FZ_MAX_SIZE) { rc = FZR_BAD_FIELD; break; }
        srcLo = untag(sPtr(slotAt(src))) + <u64><i64>load<i32>(p, 11);
        srcLen = len;
        status = memcpyOp(s, load<i32>(p, 5), slotAt(src), load<i32>(p, 11), len);
        break;
      }
      case FZ_TICK: clock_advance(<u64>load<u32>(p, 1) * 1000); break;
      case FZ_TASK: {
        const t = <u32>load<u8>(p, 1);
        if (t >= <u32>FZ_MAX_TASKS) { rc = FZR_BAD_FIELD; break; }
        let pid = load<u32>(TASKS + (<usize>t << 2));
        if (pid == 0) pid = 1;
        // with CPU threads each CPU runs its own ops: a task op changes the task, not the CPU
        set_current(pid, smp ? thisCpu : <u32>load<u8>(p, 2) % (nCpus == 0 ? 1 : nCpus));
        break;
      }
      default: rc = FZR_BAD_OP;
    }
    if (rc != FZR_DONE) { if (smp) kernelLeave(depth); break; }
    sum += load<u64>(LOADED);
    if (statGet(STAT_REPORTS) != reports) {
      reports = statGet(STAT_REPORTS);
      stamp(head, op, slot, site, src == 0xffffffff ? slot : src, srcLo, srcLen);
      head = ring_head();
      // stop before the ring can fill (an op raises a few records at most), or on a panic
      if (ringPending() >= <u32>RING_RECORDS - 16) rc = FZR_PAUSED;
      if (FS.enginePanicked) rc = FZR_PANIC;
    }
    if (status != FZS_DONE) {
      const c = STATS + (<usize>(FZC_STATUS + status) << 3);
      store<u64>(c, load<u64>(c) + 1);
    }
    if (log) logOp(op - logBase, status, addr == 0 && s != 0 ? sPtr(s) : addr, s, atomic.add<u32>(OP_SEQ, 1));
    if (smp) {
      kernelLeave(depth);
      if (quarantineDeferred()) freeDeferredBatch();
    }
    p += n;
    op++;
    j++;
    ops++;
  }
  if (marked) fastEnd();
  if (smp) {
    // (a panicked machine runs no more kernel code: the batch stays where it is)
    if (quarantineDeferred() && !FS.enginePanicked) freeDeferredBatch();
    quarantineDeferReductions(false);
  }
  set_current_stack(0);
  resumePos = listed ? j : <u32>(p - FUZZ_BUF);
  resumeOp = op;
  store<u64>(STATS + (<usize>FZC_RESUME_POS << 3), resumePos);
  store<u64>(STATS + (<usize>FZC_RESUME_OP << 3), resumeOp);
  store<u64>(STATS + (<usize>FZC_OPS << 3), load<u64>(STATS + (<usize>FZC_OPS << 3)) + ops);
  if (smp) store<u64>(STATS + (<usize>FZC_LOCKLESS << 3), load<u64>(STATS + (<usize>FZC_LOCKLESS << 3)) + lockfree);
  store<u64>(STATS + (<usize>FZC_CHECKSUM << 3), sum);
  return rc;
}

/**
 * fuzz --cpus: run this CPU's ops of a segment (rounds.ts): entries from..to-1
 * of its list (u16 i: op first + i, at byte offs[i] of the segment at base,
 * `bytes` long); log entry i is op first + i.
 */
export function fuzzRunList(list: usize, from: u32, to: u32, offs: usize, base: usize, bytes: u32, first: u32, log: bool): i32 {
  return runMode<u16>(from, to, first, first, log, list, offs, base, bytes);
}
// runM for the kernel's KASAN mode
// @ts-ignore: decorator
@inline function runMode<S>(start: u32, len: u32, op: u32, logBase: u32, log: bool, list: usize = 0, offs: usize = 0, base: usize = 0, bytes: u32 = 0): i32 {
  if (kasanMode == KASAN_OFF) return runM<ModeOff, S>(start, len, op, logBase, log, list, offs, base, bytes);
  if (kasanMode == KASAN_GENERIC) return runM<ModeGeneric, S>(start, len, op, logBase, log, list, offs, base, bytes);
  return runM<ModeTags, S>(start, len, op, logBase, log, list, offs, base, bytes);
}

// ── exports ─────────────────────────────────────────────────────────────────
// Start a tape: nslots slots, all empty; site stacks, caches and tasks cleared
// (the host fills them next). 0, or -1 when nslots is too large.
export function fuzz_begin(slots: u32): i32 {
  if (slots > <u32>FZ_MAX_SLOTS || FUZZ_END > <usize>PHYS_BASE) return -1;
  memory.fill(FUZZ_SLOTS, 0, <usize>FZ_MAX_SLOTS << 5);
  memory.fill(FUZZ_SITES, 0, 65536 << 2);
  memory.fill(FUZZ_MISC, 0, 0x1000);
  store<u32>(NSLOTS, slots);
  resumePos = 0;
  resumeOp = 0;
  return 0;
}
// Tape cache c is engine cache `id` with objects of objectSize bytes.
export function fuzz_set_cache(c: u32, id: u32, objectSize: u32): void {
  if (c >= <u32>FZ_MAX_CACHES) return;
  store<u32>(CACHES + (<usize>c << 2), id);
  store<u32>(CACHES + 64 + (<usize>c << 2), objectSize);
}
export function fuzz_set_task(t: u32, pid: u32): void {
  if (t < <u32>FZ_MAX_TASKS) store<u32>(TASKS + (<usize>t << 2), pid);
}
// Run the ops in FUZZ_BUF[start, len) (whole ops), the first being op `op`.
// flags bit 0: write the per-op log (entry i = op logBase + i). Returns FZR_*;
// fuzz_pos()/fuzz_next_op() say where to resume.
export function fuzz_run(start: u32, len: u32, op: u32, logBase: u32, flags: u32): i32 {
  if (len > <u32>FZ_BUF_SIZE || start > len) return FZR_BAD_OP;
  const log = (flags & 1) != 0;
  return smpActive ? runMode<u16>(start, len, op, logBase, log) : runMode<u8>(start, len, op, logBase, log);
}
export function fuzz_pos(): u32 { return resumePos; }
export function fuzz_next_op(): u32 { return resumeOp; }
export function fuzz_buf(): usize { return FUZZ_BUF; }
export function fuzz_log(): usize { return FUZZ_LOG; }
export function fuzz_sites(): usize { return FUZZ_SITES; }
/** This CPU's counters (CPU n's: CPU 0's + n * FZ_STATS_STRIDE). */
export function fuzz_stats(): usize { return statsOf(thisCpu); }
// The tape is over: back to the boot task with no stack.
export function fuzz_end(): void {
  set_current_stack(0);
  set_current(1, 0);
}
