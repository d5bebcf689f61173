// KFENCE (mm/kfence/core.c, Linux 6.12): a pool of (num_objects + 1) * 2 pages
// in the direct map, 4 KiB-mapped. Page 0 and 1 are guard pages; object i
// lives on page 2i + 2 with its right guard on page 2i + 3. Guard pages are
// non-present PTEs; an object page is present while its object is allocated
// and protected again when it is freed. The rest of an object's page holds the
// canary pattern, checked on free.
//
// The sampling gate: a slab allocation asks KFENCE only while the hot gate
// word is non-zero (one load and a branch on the slab fast path). The word is
// set when the sampling timer fires (the engine clock passing the next sample
// point) and cleared when the sample is taken; it is also held open when the
// clock must move per allocation (kfence.alloc_tick_ns, kfence.clock=wall) or
// a deferrable timer waits for activity.
import { PAGE_SHIFT, PAGE_SIZE, PTE_PRESENT, PG_SLAB, PG_KFENCE, PG_RESERVED, USE_KFENCE, USE_METADATA,
         CFG_KFENCE_SAMPLE_INTERVAL, CFG_KFENCE_NUM_OBJECTS, CFG_KFENCE_SKIP_COVERED_THRESH,
         CFG_KFENCE_DEFERRABLE, CFG_KFENCE_BURST, CFG_KFENCE_CLOCK, CFG_KFENCE_ALLOC_TICK_NS,
         CFG_KFENCE_CHECK_ON_PANIC, CFG_KASAN_SEED, CFG_INIT_ON_ALLOC, CFG_INIT_ON_FREE, CFG_PANIC_ON_WARN,
         GFP_ZERO, SLAB_CACHE_DMA, SLAB_SKIP_KFENCE, SLAB_TYPESAFE_BY_RCU, SLAB_KMALLOC, SLAB_POISON,
         REP_KFENCE, R_ADDR, R_FLAGS, R_ERRCODE, R_STACK, R_CACHE, R_KF_INDEX, R_KF_START, R_KF_SIZE,
         R_KF_STATE, R_KF_CACHE_NULL, R_KF_CORRUPT, R_KF_CORRUPT_LEN, R_KF_CORRUPT_MASK,
         R_ALLOC_PID, R_ALLOC_CPU, R_ALLOC_STACK, R_ALLOC_TIME, R_FREE_PID, R_FREE_CPU, R_FREE_STACK,
         R_FREE_TIME, RF_WRITE, RF_OBJECT, STAT_KFENCE_ALLOCATED, STAT_KFENCE_ALLOCS, STAT_KFENCE_FREES,
         STAT_KFENCE_ZOMBIES, STAT_KFENCE_BUGS, STAT_KFENCE_SKIP_INCOMPAT, STAT_KFENCE_SKIP_CAPACITY,
         STAT_KFENCE_SKIP_COVERED, KFENCE_ERROR_OOB, KFENCE_ERROR_UAF, KFENCE_ERROR_CORRUPTION,
         KFENCE_ERROR_INVALID, KFENCE_ERROR_INVALID_FREE, KFENCE_OBJECT_UNUSED, KFENCE_OBJECT_ALLOCATED,
         KFENCE_OBJECT_RCU_FREEING, KFENCE_OBJECT_FREED, KF_META_SIZE, KF_M_ADDR, KF_M_SIZE, KF_M_STATE,
         KF_M_CACHE_NULL, KF_M_ON_LIST, KF_M_CACHE, KF_M_HASH, KF_M_UNPROTECTED, KF_M_ALLOC_TRACK,
         KF_M_FREE_TRACK, KF_M_NEXT, KF_T_PID, KF_T_CPU, KF_T_STACK, KF_T_TS, PANIC_ON_WARN,
         PANIC_ORIGIN_KFENCE, WARN_KFENCE, MAX_PAGE_ORDER,
         FR___KFENCE_ALLOC, FR___KMALLOC_NOPROF, FR___KMALLOC_NODE_TRACK_CALLER, FR_KFENCE_GUARDED_FREE,
         FR___KFENCE_FREE, FR_RCU_GUARDED_FREE, FR_KFENCE_SHUTDOWN_CACHE, FR_KMEM_CACHE_DESTROY,
         FR_KMEM_CACHE_ALLOC, FR_KMEM_CACHE_ALLOC_BULK, FR_KREALLOC, FR_KFREE, FR_KMEM_CACHE_FREE,
         FR_KMEM_CACHE_FREE_BULK, FR_KFREE_SENSITIVE, FR_RCU_DO_BATCH, FR_RCU_CORE, FR_RCU_CORE_SI,
         FR_HANDLE_SOFTIRQS, FR_KFENCE_CHECK_CANARY_CALLBACK, FR_NOTIFIER_CALL_CHAIN, FR_ATOMIC_NOTIFIER_CALL_CHAIN,
         FR_PANIC
        } from "../../abi/abi";
import { ENOMEM, EINVAL, KFENCE_SET_UNCHANGED, KFENCE_SET_REENABLED, KFENCE_SET_INITIALISED,
         KFENCE_SET_DISABLED, KFENCE_INIT_OK, KFENCE_INIT_NO_POOL, KFENCE_INIT_NO_METADATA, KFENCE_INIT_FAILED } from "../../abi/abi";
import { HOT_KFENCE_GATE, HOT_KFENCE_START, HOT_KFENCE_SIZE, MACHINE_STATE } from "../statics";
import { cfg } from "../config";
import { PAGE_OFFSET, physToLin, dmLin } from "../mm/layout";
import { memblockAlloc, NO_PFN, pgFlags, pgSetFlags, pgSetCache, pfnToPage } from "../mm/phys";
import { allocPagesPfn, freePagesPfn } from "../mm/page_alloc";
import { ptSplit, ptSetProt, ptePtr, PTE_LOOKUP, PAGE_KERNEL, PMD_SIZE } from "../mm/pgtable";
import { flush_tlb_one, flush_tlb_kernel_range } from "../mm/tlb";
import { cacheLin, kmemCache, cache_count } from "../mm/slub";
import { statInc, statAdd, statGet } from "../stats";
import { reportBegin } from "../report";
import { currentPid, currentCpu, TS, clockNow, clockAddRaw, clockWall, clockSyncWall, addTaint,
         TAINT_BAD_PAGE } from "../task";
import { currentStack, set_current_stack, depot_save, depot_fetch, DEPOT_MAX_FRAMES } from "../stackdepot";
import { checkedLoad } from "../mm/access";
import { randomBelow } from "../random";
import { callCtor } from "../host";
import { rcuDeferSlabFree } from "../rcu";
import { CALL_ALLOC_KREALLOC, CALL_ALLOC_BULK, CALL_KMEM_CACHE_FREE, CALL_KMEM_CACHE_FREE_BULK,
         CALL_KREALLOC_FREE, CALL_KFREE_SENSITIVE, CALL_KFREE, CALL_RCU_FREE } from "../call_path";
import { kasanUnpoison } from "../kasan/shadow";
import { enginePanic, warnRecord } from "../mm/fault";

// ── hot entry points ────────────────────────────────────────────────────────
// The sampling gate as the slab fast path sees it.
// @ts-ignore: decorator
@inline export function kfenceGateOpen(): bool { return load<i32>(HOT_KFENCE_GATE) != 0; }

// is_kfence_address(): one subtraction and one unsigned compare.
// @ts-ignore: decorator
@inline export function isKfenceAddress(va: u64): bool {
  return va - load<u64>(HOT_KFENCE_START) < load<u64>(HOT_KFENCE_SIZE);
}

// ── state ───────────────────────────────────────────────────────────────────
// @ts-ignore: decorator
@inline const GFP_ZONEMASK: u32 = 0x0f;          // __GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_MOVABLE
// @ts-ignore: decorator
@inline const SLAB_CACHE_DMA32: u32 = 0x8000;
// @ts-ignore: decorator
@inline const CANARY_U64: u64 = 0xaaaaaaaaaaaaaaaa ^ 0x0706050403020100;   // KFENCE_CANARY_PATTERN_U64
// @ts-ignore: decorator
@inline const UNIQUE_ALLOC_STACK_DEPTH: u32 = 8;
// @ts-ignore: decorator
@inline const WALL_POLL_EVERY: i32 = 64;          // allocations between wall-clock reads

// The machine's KFENCE state, not this CPU's: linear memory (docs/smp.md, "The
// audit"). Zeroed at boot; kfenceInit sets gate and nextSampleNs first thing.
// @ts-ignore: decorator
@unmanaged class KfenceState {
  poolStart: u64;
  poolSize: u64;
  intervalNs: u64;
  nextSampleNs: u64;
  allocTickNs: u64;
  metaLin: usize;
  coveredLin: usize;
  coveredOrder: u32;
  freeHead: u32;             // the freelist: index + 1, 0 = empty
  freeTail: u32;
  gate: i32;                 // kfence_allocation_gate: > 0 closed
  burst: i32;
  wallPollCountdown: i32;
  enabled: bool;
  disabledByWarn: bool;
  timerDeferred: bool;       // a deferrable timer expired while idle: runs at the next allocation
}
export const KF = changetype<KfenceState>(MACHINE_STATE + 0x800);
if (offsetof<KfenceState>() > 0x100) ERROR("KfenceState outgrew its MACHINE_STATE slot");

export let nObjects: u32 = 0;
export let hashSeed: u32 = 0;
export let initFailed: i32 = KFENCE_INIT_OK;          // KFENCE_INIT_*: the boot message for the host

export let deferrable: bool = false;
export let skipThresh: u64 = 0;
export let checkOnPanic: bool = false;

// @ts-ignore: decorator
@inline function meta(i: u32): usize { return KF.metaLin + <usize>i * KF_META_SIZE; }
// @ts-ignore: decorator
@inline function pageAddr(i: u32): u64 { return KF.poolStart + ((<u64>i + 1) << (PAGE_SHIFT + 1)); }
// @ts-ignore: decorator
@inline function mState(m: usize): i32 { return <i32>load<u8>(m, KF_M_STATE); }
// @ts-ignore: decorator
@inline function objAllocated(m: usize): bool {
  const s = mState(m);
  return s == KFENCE_OBJECT_ALLOCATED || s == KFENCE_OBJECT_RCU_FREEING;
}

// The metadata lives in direct-mapped frames a wild write can reach: check
// what is followed before following it (the kernel's KFENCE_WARN_ON()s in
// metadata_to_pageaddr(), here for every field that leads somewhere).
function metaSane(i: u32): bool {
  const m = meta(i);
  const page = pageAddr(i);
  const off = load<u64>(m, KF_M_ADDR) - page;
  const size = <u64>load<u32>(m, KF_M_SIZE);
  if (off >= <u64>PAGE_SIZE || off + size > <u64>PAGE_SIZE || mState(m) > KFENCE_OBJECT_FREED) return false;
  if (mState(m) != KFENCE_OBJECT_UNUSED && load<u32>(m, KF_M_CACHE) >= cache_count()) return false;
  const up = load<u64>(m, KF_M_UNPROTECTED);
  if (up != 0 && (!isKfenceAddress(up) || (((up - KF.poolStart) >> PAGE_SHIFT) & 1) == 0)) return false;
  return true;
}
function sane(i: u32): bool {
  if (metaSane(i)) return true;
  kfenceWarn(pageAddr(i));
  return false;
}

// addr_to_metadata(): the object index of a pool address, -1 for none.
function addrToMeta(va: u64): i32 {
  if (!isKfenceAddress(va)) return -1;
  const idx = <i64>((va - KF.poolStart) >> (PAGE_SHIFT + 1)) - 1;
  if (idx < 0 || idx >= <i64>nObjects) return -1;
  return <i32>idx;
}

function updateGate(): void {
  const forced = KF.allocTickNs != 0 || clockWall || KF.timerDeferred;
  store<i32>(HOT_KFENCE_GATE, KF.enabled && (KF.gate <= 0 || forced) ? 1 : 0);
}

// KFENCE_WARN_ON(): an internal inconsistency disables KFENCE for good.
function kfenceWarn(va: u64): void {
  warnRecord(WARN_KFENCE, va, 0);
  KF.enabled = false;
  KF.disabledByWarn = true;
  KF.nextSampleNs = u64.MAX_VALUE;
  updateGate();
}

// ── boot ────────────────────────────────────────────────────────────────────
function ilog2(x: u32): u32 { return 31 - clz(x); }

// kfence_alloc_pool_and_metadata() + kfence_init_pool_early(): the pool and
// its metadata from memblock (before memblock_free_all), the pool set up. The
// timer is armed at the end of boot (kfenceInitEnable) with its first sample
// point one interval later: a kernel's immediate first run is consumed by
// boot-time allocations this machine does not have.
export function kfenceInit(): void {
  // their values before any pool: the gate closed, no sample point
  KF.gate = 1;
  KF.nextSampleNs = u64.MAX_VALUE;
  nObjects = <u32>cfg(CFG_KFENCE_NUM_OBJECTS);
  hashSeed = <u32>((<u64>cfg(CFG_KASAN_SEED) * 0x9e3779b97f4a7c15) >> 32) ^ 0x6b666e63;
  KF.burst = <i32>cfg(CFG_KFENCE_BURST);
  deferrable = cfg(CFG_KFENCE_DEFERRABLE) != 0;
  KF.allocTickNs = <u64>cfg(CFG_KFENCE_ALLOC_TICK_NS);
  checkOnPanic = cfg(CFG_KFENCE_CHECK_ON_PANIC) != 0;
  skipThresh = <u64>nObjects * <u64>cfg(CFG_KFENCE_SKIP_COVERED_THRESH) / 100;
  const ms = cfg(CFG_KFENCE_SAMPLE_INTERVAL);
  if (ms <= 0 || nObjects == 0) return;
  KF.intervalNs = <u64>ms * 1000000;
  const pages = (nObjects + 1) * 2;
  const pfn = memblockAlloc(pages, 1, USE_KFENCE);
  if (pfn == NO_PFN) { initFailed = KFENCE_INIT_NO_POOL; return; }
  const mpfn = memblockAlloc(metaFrames(), 1, USE_METADATA);
  if (mpfn == NO_PFN) {
    // memblock_free(): the frames go to the buddy with the rest
    for (let i: u32 = 0; i < pages; i++) pgSetFlags(pfn + i, 0);
    initFailed = KFENCE_INIT_NO_METADATA;
    return;
  }
  if (!poolSetup(pfn, mpfn)) { initFailed = KFENCE_INIT_FAILED; return; }
}

// kfence_init_enable() at the end of boot: arm the sampling timer. Boot's own
// allocations (the slab caches' descriptors) are never sampled.
export function kfenceInitEnable(): void {
  if (KF.poolSize == 0) return;
  KF.enabled = true;
  KF.nextSampleNs = TS.clockNs + KF.intervalNs;
  updateGate();
}

function coveredOrderFor(n: u32): u32 { return ilog2(n) + 2; }   // ALLOC_COVERED_ORDER
function metaFrames(): u32 {
  const bytes = <u64>nObjects * KF_META_SIZE + (<u64>4 << coveredOrderFor(nObjects));
  return <u32>((bytes + PAGE_SIZE - 1) >> PAGE_SHIFT);
}

// arch_kfence_init_pool() + kfence_init_pool(): 4 KiB mappings, slab pages,
// guard pages protected, every object unused and on the freelist in index order.
function poolSetup(pfn: u32, mpfn: u32): bool {
  const pages = (nObjects + 1) * 2;
  const start = PAGE_OFFSET + (<u64>pfn << PAGE_SHIFT);
  const size = <u64>pages << PAGE_SHIFT;
  for (let va = start & ~(PMD_SIZE - 1); va < start + size; va += PMD_SIZE) ptSplit(va);
  for (let i: u32 = 0; i < pages; i++) {
    if (ptePtr(start + (<u64>i << PAGE_SHIFT), PTE_LOOKUP) == 0) return false;
  }
  flush_tlb_kernel_range(start, start + size);
  for (let i: u32 = 0; i < pages; i++) {
    const p = pfn + i;
    const slab = i >= 2 && (i & 1) == 0;
    pgSetFlags(p, (pgFlags(p) & PG_RESERVED) | PG_KFENCE | (slab ? PG_SLAB : 0));
    pgSetCache(p, 0);
    pfnToPage(p).objects = 1;
  }
  KF.metaLin = physToLin(<u64>mpfn << PAGE_SHIFT);
  KF.coveredOrder = coveredOrderFor(nObjects);
  KF.coveredLin = KF.metaLin + <usize>nObjects * KF_META_SIZE;
  memory.fill(KF.metaLin, 0, <usize>metaFrames() << PAGE_SHIFT);
  KF.poolStart = start;
  KF.poolSize = size;
  store<u64>(HOT_KFENCE_START, start);
  store<u64>(HOT_KFENCE_SIZE, size);
  // guard pages: the first two, then each object's right neighbour
  if (!protect(start) || !protect(start + PAGE_SIZE)) return false;
  KF.freeHead = 0; KF.freeTail = 0;
  for (let i: u32 = 0; i < nObjects; i++) {
    const m = meta(i);
    store<u64>(m, pageAddr(i), KF_M_ADDR);
    store<u8>(m, KFENCE_OBJECT_UNUSED, KF_M_STATE);
    if (!protect(pageAddr(i) + PAGE_SIZE)) return false;
    freelistAddTail(i);
  }
  KF.gate = 1;
  return true;
}

// ── page protection (arch/x86/include/asm/kfence.h kfence_protect_page) ─────
function setProtected(va: u64, prot: bool): bool {
  const page = va & ~<u64>(PAGE_SIZE - 1);
  const ok = ptSetProt(page, prot ? (PAGE_KERNEL & ~<u64>PTE_PRESENT) : PAGE_KERNEL);
  flush_tlb_one(page);
  return ok;
}
function protect(va: u64): bool {
  if (setProtected(va, true)) return true;
  kfenceWarn(va);
  return false;
}
function unprotect(va: u64): bool {
  if (setProtected(va, false)) return true;
  kfenceWarn(va);
  return false;
}

// ── freelist (FIFO: freed objects go to the tail, least recently freed first) ─
function freelistPop(): i32 {
  if (KF.freeHead == 0) return -1;
  const i = KF.freeHead - 1;
  const m = meta(i);
  KF.freeHead = load<u32>(m, KF_M_NEXT);
  if (KF.freeHead > nObjects) { KF.freeHead = 0; KF.freeTail = 0; kfenceWarn(pageAddr(i)); return -1; }
  if (KF.freeHead == 0) KF.freeTail = 0;
  store<u32>(m, 0, KF_M_NEXT);
  store<u8>(m, 0, KF_M_ON_LIST);
  return <i32>i;
}
function freelistAddTail(i: u32): void {
  const m = meta(i);
  if (load<u8>(m, KF_M_ON_LIST) != 0) { kfenceWarn(load<u64>(m, KF_M_ADDR)); return; }
  store<u32>(m, 0, KF_M_NEXT);
  store<u8>(m, 1, KF_M_ON_LIST);
  if (KF.freeTail != 0) store<u32>(meta(KF.freeTail - 1), i + 1, KF_M_NEXT);
  else KF.freeHead = i + 1;
  KF.freeTail = i + 1;
}

// ── stacks ──────────────────────────────────────────────────────────────────
// A KFENCE track keeps the whole stack, KFENCE's and the allocator's frames on
// top as stack_trace_save() sees them; printing skips them (get_stack_skipnr).
const FRAME_BUF: usize = memory.data(4 * (DEPOT_MAX_FRAMES + 8), 8);
let frameN: u32 = 0;
function push(fr: u32): void { store<u32>(FRAME_BUF + (<usize>frameN << 2), fr); frameN++; }
function withCurrent(): u32 {
  const cur = currentStack;
  if (cur != 0) frameN += depot_fetch(cur, FRAME_BUF + (<usize>frameN << 2));
  if (frameN > DEPOT_MAX_FRAMES) frameN = DEPOT_MAX_FRAMES;
  return depot_save(FRAME_BUF, frameN);
}

// @ts-ignore: decorator
@inline const STACK_FREE: u32 = 0;          // kfree / kmem_cache_free of the current task
// @ts-ignore: decorator
@inline const STACK_RCU: u32 = 1;           // rcu_guarded_free from the RCU softirq
// @ts-ignore: decorator
@inline const STACK_SHUTDOWN: u32 = 2;      // kfence_shutdown_cache from kmem_cache_destroy
// @ts-ignore: decorator
@inline const STACK_RCU_QUEUE: u32 = 3;     // __kfence_free queueing an RCU free
// @ts-ignore: decorator
@inline const STACK_PANIC: u32 = 4;         // the panic notifier

// The frames of the free API `call` (CALL_*) came through.
function freeApiFrames(call: u32): void {
  if (call == CALL_KMEM_CACHE_FREE_BULK) { push(FR_KMEM_CACHE_FREE_BULK); return; }
  push(call == CALL_KMEM_CACHE_FREE ? FR_KMEM_CACHE_FREE : FR_KFREE);
  if (call == CALL_KREALLOC_FREE) push(FR_KREALLOC);
  else if (call == CALL_KFREE_SENSITIVE) push(FR_KFREE_SENSITIVE);
}

// call: the free API for STACK_FREE and STACK_RCU_QUEUE
function saveStack(kind: u32, call: u32): u32 {
  frameN = 0;
  if (kind == STACK_RCU_QUEUE) {
    push(FR___KFENCE_FREE);
    freeApiFrames(call);
    return withCurrent();
  }
  if (kind == STACK_PANIC) {
    push(FR_KFENCE_CHECK_CANARY_CALLBACK); push(FR_NOTIFIER_CALL_CHAIN); push(FR_ATOMIC_NOTIFIER_CALL_CHAIN); push(FR_PANIC);
    return withCurrent();
  }
  push(FR_KFENCE_GUARDED_FREE);
  if (kind == STACK_RCU) {
    // an RCU callback runs on its own stack
    push(FR_RCU_GUARDED_FREE); push(FR_RCU_DO_BATCH); push(FR_RCU_CORE); push(FR_RCU_CORE_SI); push(FR_HANDLE_SOFTIRQS);
    return depot_save(FRAME_BUF, frameN);
  }
  if (kind == STACK_SHUTDOWN) { push(FR_KFENCE_SHUTDOWN_CACHE); push(FR_KMEM_CACHE_DESTROY); return withCurrent(); }
  push(FR___KFENCE_FREE);
  freeApiFrames(call);
  return withCurrent();
}

function allocStack(c: usize, call: u32): u32 {
  frameN = 0;
  push(FR___KFENCE_ALLOC);
  if (call == CALL_ALLOC_KREALLOC) { push(FR___KMALLOC_NODE_TRACK_CALLER); push(FR_KREALLOC); }
  else if (call == CALL_ALLOC_BULK) push(FR_KMEM_CACHE_ALLOC_BULK);
  else push((kmemCache(c).flags & SLAB_KMALLOC) != 0 ? FR___KMALLOC_NOPROF : FR_KMEM_CACHE_ALLOC);
  return withCurrent();
}

// get_alloc_stack_hash(): the first frames of the allocation stack, seeded.
function allocStackHash(): u32 {
  const n = frameN < UNIQUE_ALLOC_STACK_DEPTH ? frameN : UNIQUE_ALLOC_STACK_DEPTH;
  let h: u32 = hashSeed ^ (n * 0x85ebca6b);
  for (let i: u32 = 0; i < n; i++) {
    h ^= load<u32>(FRAME_BUF + (<usize>i << 2));
    h = rotl<u32>(h, 13) * 5 + 0xe6546b64;
  }
  h ^= h >> 16; h *= 0x85ebca6b; h ^= h >> 13; h *= 0xc2b2ae35; h ^= h >> 16;
  return h;
}

// ── the allocation-coverage filter (a counting Bloom filter, 2 hashes) ──────
// @ts-ignore: decorator
@inline function hashNext(h: u32): u32 { return (h * 0x61c88647) >> (32 - KF.coveredOrder); }   // hash_32()
function coveredAdd(h: u32, v: i32): void {
  const mask = (<u32>1 << KF.coveredOrder) - 1;
  for (let i = 0; i < 2; i++) {
    const p = KF.coveredLin + (<usize>(h & mask) << 2);
    store<i32>(p, load<i32>(p) + v);
    h = hashNext(h);
  }
}
function coveredContains(h: u32): bool {
  const mask = (<u32>1 << KF.coveredOrder) - 1;
  for (let i = 0; i < 2; i++) {
    if (load<i32>(KF.coveredLin + (<usize>(h & mask) << 2)) == 0) return false;
    h = hashNext(h);
  }
  return true;
}
function shouldSkipCovered(): bool { return statGet(STAT_KFENCE_ALLOCATED) > skipThresh; }

// ── the sampling timer ──────────────────────────────────────────────────────
// toggle_allocation_gate(): open the gate for 1 + burst allocations and re-arm.
function timerFire(at: u64): void {
  KF.timerDeferred = false;
  if (!KF.enabled) { KF.nextSampleNs = u64.MAX_VALUE; updateGate(); return; }
  KF.gate = -KF.burst;
  KF.nextSampleNs = at + KF.intervalNs;
  updateGate();
}

// The timer expired at nextSampleNs (and at every interval after it that the
// clock passed): it last ran at the latest expiry not after now.
function timerCatchUp(now: u64): void {
  const missed = (now - KF.nextSampleNs) / KF.intervalNs;
  timerFire(KF.nextSampleNs + missed * KF.intervalNs);
}

// The engine clock moved (tick, clock_set): an idle machine, so a deferrable
// timer waits for the next allocation.
export function kfenceClockMoved(): void {
  if (TS.clockNs < KF.nextSampleNs) return;
  if (deferrable) { if (!KF.timerDeferred) { KF.timerDeferred = true; updateGate(); } return; }
  timerCatchUp(TS.clockNs);
}

// Clock work on an allocation while the gate word is held open.
function clockStep(): void {
  if (KF.allocTickNs != 0) clockAddRaw(KF.allocTickNs);
  else if (clockWall && --KF.wallPollCountdown <= 0) { clockSyncWall(); KF.wallPollCountdown = WALL_POLL_EVERY; }
  if (KF.timerDeferred) timerFire(TS.clockNs);
  else if (TS.clockNs >= KF.nextSampleNs) timerCatchUp(TS.clockNs);
}

// kfence.clock=wall: the host polls before each kernel call.
export function kfence_wall_poll(): void {
  if (!clockWall) return;
  clockSyncWall();
  if (TS.clockNs >= KF.nextSampleNs) {
    if (deferrable) { KF.timerDeferred = true; updateGate(); } else timerCatchUp(TS.clockNs);
  }
}

// ── allocation ──────────────────────────────────────────────────────────────
// slab_want_init_on_alloc() / slab_want_init_on_free()
function wantInitOnAlloc(gfp: u32, c: usize): bool {
  if (cfg(CFG_INIT_ON_ALLOC) != 0) {
    if (kmemCache(c).ctor != 0) return false;
    if ((kmemCache(c).flags & (SLAB_TYPESAFE_BY_RCU | SLAB_POISON)) != 0) return (gfp & GFP_ZERO) != 0;
    return true;
  }
  return (gfp & GFP_ZERO) != 0;
}
function wantInitOnFree(c: usize): bool {
  if (cfg(CFG_INIT_ON_FREE) == 0) return false;
  return kmemCache(c).ctor == 0 && (kmemCache(c).flags & (SLAB_TYPESAFE_BY_RCU | SLAB_POISON)) == 0;
}

// kfence_alloc() past the hot gate word + __kfence_alloc(): 0 = use the slab.
// call: the allocation API (CALL_ALLOC*), for the allocation stack.
export function kfenceAlloc(cacheId: u32, size: u32, gfp: u32, call: u32): u64 {
  if (KF.allocTickNs != 0 || clockWall || KF.timerDeferred) {
    clockStep();
    if (KF.gate > 0) return 0;
  }
  const c = cacheLin(cacheId);
  const flags = kmemCache(c).flags;
  // size and zone checks come before the gate, so they do not use up a sample
  if (size > <u32>PAGE_SIZE || (gfp & GFP_ZONEMASK) != 0 ||
      (flags & (SLAB_CACHE_DMA | SLAB_CACHE_DMA32)) != 0) {
    statInc(STAT_KFENCE_SKIP_INCOMPAT);
    return 0;
  }
  // __GFP_THISNODE is incompatible only with more than one NUMA node; this machine has one
  if ((flags & SLAB_SKIP_KFENCE) != 0) return 0;
  KF.gate++;
  if (KF.gate == 1) updateGate();
  if (KF.gate > 1 || !KF.enabled) return 0;
  const stack = allocStack(c, call);
  // the coverage check after the gate: a covered allocation uses up the sample
  const hash = allocStackHash();
  if (shouldSkipCovered() && coveredContains(hash)) {
    statInc(STAT_KFENCE_SKIP_COVERED);
    return 0;
  }
  return guardedAlloc(cacheId, c, size, gfp, stack, hash);
}

function trackSave(m: usize, off: u32, stack: u32): void {
  store<u32>(m + off, currentPid, KF_T_PID);
  store<u32>(m + off, currentCpu, KF_T_CPU);
  store<u32>(m + off, stack, KF_T_STACK);
  store<u64>(m + off, clockNow(), KF_T_TS);
}

// metadata_update_state(): the track of the transition, unless an RCU free
// already saved it.
function updateState(m: usize, next: i32, stack: u32): void {
  if (mState(m) != KFENCE_OBJECT_RCU_FREEING) {
    trackSave(m, next == KFENCE_OBJECT_ALLOCATED ? KF_M_ALLOC_TRACK : KF_M_FREE_TRACK, stack);
  }
  store<u8>(m, <u8>next, KF_M_STATE);
}

// set_canary(): the 8-byte pattern over the page around the object (the word
// holding the object's end included; the object is initialised by its user).
function setCanary(m: usize): void {
  const addr = load<u64>(m, KF_M_ADDR);
  const page = addr & ~<u64>(PAGE_SIZE - 1);
  for (let a = page; a < addr; a += 8) store<u64>(dmLin(a), CANARY_U64);
  for (let a = (addr + load<u32>(m, KF_M_SIZE)) & ~<u64>7; a - page < <u64>PAGE_SIZE; a += 8) store<u64>(dmLin(a), CANARY_U64);
}

function guardedAlloc(cacheId: u32, c: usize, size: u32, gfp: u32, stack: u32, hash: u32): u64 {
  const right = randomBelow(2) != 0;
  const i = freelistPop();
  if (i < 0) {
    statInc(STAT_KFENCE_SKIP_CAPACITY);
    return 0;
  }
  const m = meta(<u32>i);
  let addr = pageAddr(<u32>i);
  if (mState(m) == KFENCE_OBJECT_FREED) unprotect(addr);
  if (right) {
    addr += <u64>PAGE_SIZE - size;
    addr &= ~(<u64>kmemCache(c).align - 1);
  }
  store<u64>(m, addr, KF_M_ADDR);
  updateState(m, KFENCE_OBJECT_ALLOCATED, stack);
  store<u32>(m, cacheId, KF_M_CACHE);
  store<u8>(m, 0, KF_M_CACHE_NULL);
  store<u32>(m, size, KF_M_SIZE);
  store<u32>(m, hash, KF_M_HASH);
  coveredAdd(hash, 1);
  pgSetCache(<u32>((addr - PAGE_OFFSET) >> PAGE_SHIFT), cacheId);   // slab->slab_cache
  setCanary(m);
  if (wantInitOnAlloc(gfp, c)) memory.fill(dmLin(addr), 0, size);
  const ctor = kmemCache(c).ctor;
  if (ctor != 0) callCtor(ctor, addr);
  statInc(STAT_KFENCE_ALLOCATED);
  statInc(STAT_KFENCE_ALLOCS);
  kmemCache(c).kfenceLive++;
  return addr;
}

// ksize() of a KFENCE object: the size it was allocated with.
export function kfenceKsize(va: u64): u64 {
  const i = addrToMeta(va);
  return i < 0 ? 0 : <u64>load<u32>(meta(<u32>i), KF_M_SIZE);
}

// ── reports ─────────────────────────────────────────────────────────────────
// kfence_report_error(): the record, then panic_on_warn and the taint.
function reportError(addr: u64, write: bool, i: i32, type: u32, stack: u32): void {
  const rec = reportBegin(REP_KFENCE);
  store<u64>(rec + R_ADDR, addr);
  store<u32>(rec + R_ERRCODE, type);
  store<u32>(rec + R_STACK, stack);
  let flags: u32 = write ? RF_WRITE : 0;
  if (i >= 0) {
    flags |= RF_OBJECT;
    const m = meta(<u32>i);
    const start = load<u64>(m, KF_M_ADDR);
    store<u32>(rec + R_KF_INDEX, <u32>i);
    store<u64>(rec + R_KF_START, start);
    store<u32>(rec + R_KF_SIZE, load<u32>(m, KF_M_SIZE));
    store<u8>(rec + R_KF_STATE, mState(m));
    store<u32>(rec + R_CACHE, load<u32>(m, KF_M_CACHE));
    store<u8>(rec + R_KF_CACHE_NULL, load<u8>(m, KF_M_CACHE_NULL));
    const at = m + KF_M_ALLOC_TRACK, ft = m + KF_M_FREE_TRACK;
    store<u32>(rec + R_ALLOC_PID, load<u32>(at, KF_T_PID));
    store<u32>(rec + R_ALLOC_CPU, load<u32>(at, KF_T_CPU));
    store<u32>(rec + R_ALLOC_STACK, load<u32>(at, KF_T_STACK));
    store<u64>(rec + R_ALLOC_TIME, load<u64>(at, KF_T_TS));
    store<u32>(rec + R_FREE_PID, load<u32>(ft, KF_T_PID));
    store<u32>(rec + R_FREE_CPU, load<u32>(ft, KF_T_CPU));
    store<u32>(rec + R_FREE_STACK, load<u32>(ft, KF_T_STACK));
    store<u64>(rec + R_FREE_TIME, load<u64>(ft, KF_T_TS));
    if (type == KFENCE_ERROR_CORRUPTION) {
      // print_diff_canary(): never into the object, never past the page
      const limit = addr < start ? start : (addr + PAGE_SIZE - 1) & ~<u64>(PAGE_SIZE - 1);
      const end = addr + 16 < limit ? addr + 16 : limit;
      let mask: u32 = 0;
      const n = <u32>(end - addr);
      for (let k: u32 = 0; k < n; k++) {
        const a = addr + k;
        const b = load<u8>(dmLin(a));
        store<u8>(rec + R_KF_CORRUPT + k, b);
        if (b != <u8>(0xaa ^ (a & 7))) mask |= 1 << k;
      }
      store<u32>(rec + R_KF_CORRUPT_LEN, n);
      store<u16>(rec + R_KF_CORRUPT_MASK, <u16>mask);
    }
  }
  store<u8>(rec + R_FLAGS, <u8>flags);
  if (cfg(CFG_PANIC_ON_WARN) != 0) enginePanic(PANIC_ON_WARN, PANIC_ORIGIN_KFENCE);
  addTaint(TAINT_BAD_PAGE);
}

// check_canary(): the first bad byte on each side of the object, left first.
function checkCanaryByte(a: u64, i: u32, stack: u32): bool {
  if (load<u8>(dmLin(a)) == <u8>(0xaa ^ (a & 7))) return true;
  statInc(STAT_KFENCE_BUGS);
  reportError(a, false, <i32>i, KFENCE_ERROR_CORRUPTION, stack);
  return false;
}
function checkCanary(i: u32, stack: u32): void {
  const m = meta(i);
  const addr = load<u64>(m, KF_M_ADDR);
  const page = addr & ~<u64>(PAGE_SIZE - 1);
  let a = page;
  for (; addr - a >= 8; a += 8) if (load<u64>(dmLin(a)) != CANARY_U64) break;
  for (; a < addr; a++) if (!checkCanaryByte(a, i, stack)) break;
  for (a = addr + load<u32>(m, KF_M_SIZE); (a & 7) != 0; a++) if (!checkCanaryByte(a, i, stack)) return;
  for (; a - page < <u64>PAGE_SIZE; a += 8) {
    if (load<u64>(dmLin(a)) != CANARY_U64) {
      for (; a - page < <u64>PAGE_SIZE; a++) if (!checkCanaryByte(a, i, stack)) return;
    }
  }
}

// ── free ────────────────────────────────────────────────────────────────────
// kfree()/kmem_cache_free() of a pool address. Only object pages are slab
// pages: anything else (guard pages, the first two pages) is not KFENCE's to
// free and takes the allocator's non-slab path (false).
export function kfenceFree(va: u64, call: u32): bool {
  const page = (va - KF.poolStart) >> PAGE_SHIFT;
  if (page < 2 || (page & 1) != 0) return false;
  kfenceFreeObject(va, <u32>(page >> 1) - 1, call);
  return true;
}

// __kfence_free(); call: the free API (CALL_*) for the free stack
function kfenceFreeObject(va: u64, i: u32, call: u32): void {
  const m = meta(i);
  if (!sane(i)) return;
  if (load<u8>(m, KF_M_CACHE_NULL) == 0 && (kmemCache(cacheLin(load<u32>(m, KF_M_CACHE))).flags & SLAB_TYPESAFE_BY_RCU) != 0) {
    const s = mState(m);
    if (s == KFENCE_OBJECT_ALLOCATED && load<u64>(m, KF_M_ADDR) == va) {
      updateState(m, KFENCE_OBJECT_RCU_FREEING, saveStack(STACK_RCU_QUEUE, call));
      rcuDeferSlabFree(va);
      return;
    }
    if (s == KFENCE_OBJECT_RCU_FREEING) {
      // freed twice within a grace period
      statInc(STAT_KFENCE_BUGS);
      reportError(va, false, <i32>i, KFENCE_ERROR_INVALID_FREE, saveStack(STACK_FREE, call));
      return;
    }
  }
  guardedFree(va, i, false, STACK_FREE, call);
}

// rcu_guarded_free(): the grace period of a SLAB_TYPESAFE_BY_RCU free ended.
export function kfenceRcuFree(va: u64): void {
  const i = addrToMeta(va);
  if (i < 0) return;
  guardedFree(load<u64>(meta(<u32>i), KF_M_ADDR), <u32>i, false, STACK_RCU, CALL_RCU_FREE);
}

function guardedFree(va: u64, i: u32, zombie: bool, kind: u32, call: u32): void {
  const m = meta(i);
  if (!sane(i)) return;
  const stack = saveStack(kind, call);
  if (!objAllocated(m) || load<u64>(m, KF_M_ADDR) != va) {
    // invalid or double free
    statInc(STAT_KFENCE_BUGS);
    reportError(va, false, <i32>i, KFENCE_ERROR_INVALID_FREE, stack);
    return;
  }
  // an out-of-bounds access left a guard page open: zero and close it
  const up = load<u64>(m, KF_M_UNPROTECTED);
  if (up != 0) {
    memory.fill(dmLin(up & ~<u64>(PAGE_SIZE - 1)), 0, PAGE_SIZE);
    protect(up);
    store<u64>(m, 0, KF_M_UNPROTECTED);
  }
  updateState(m, KFENCE_OBJECT_FREED, stack);
  const c = cacheLin(load<u32>(m, KF_M_CACHE));
  const init = wantInitOnFree(c);
  coveredAdd(load<u32>(m, KF_M_HASH), -1);
  checkCanary(i, stack);
  if (!zombie && init) memory.fill(dmLin(va), 0, load<u32>(m, KF_M_SIZE));
  protect(va);
  kmemCache(c).kfenceLive--;
  if (!zombie) {
    freelistAddTail(i);
    statAdd(STAT_KFENCE_ALLOCATED, -1);
    statInc(STAT_KFENCE_FREES);
  } else {
    statInc(STAT_KFENCE_ZOMBIES);
  }
}

// kfence_shutdown_cache(): live objects of a destroyed cache become zombies
// (freed, never reused); freed ones forget the cache (cache=<destroyed>).
export function kfenceCacheDestroy(cacheId: u32): void {
  if (KF.metaLin == 0) return;
  for (let i: u32 = 0; i < nObjects; i++) {
    const m = meta(i);
    if (load<u8>(m, KF_M_CACHE_NULL) != 0 || load<u32>(m, KF_M_CACHE) != cacheId || !objAllocated(m)) continue;
    guardedFree(load<u64>(m, KF_M_ADDR), i, true, STACK_SHUTDOWN, CALL_KMEM_CACHE_FREE);
  }
  for (let i: u32 = 0; i < nObjects; i++) {
    const m = meta(i);
    if (load<u32>(m, KF_M_CACHE) == cacheId && mState(m) == KFENCE_OBJECT_FREED) store<u8>(m, 1, KF_M_CACHE_NULL);
  }
}

// ── faults ──────────────────────────────────────────────────────────────────
// kfence_handle_page_fault(): a fault in the pool. A guard page blames the
// nearer allocated neighbour (out-of-bounds), an object page its object
// (use-after-free), anything else is an invalid access. The page is then
// unprotected so the access proceeds (true), as the kernel does.
export function kfenceHandlePageFault(va: u64, write: bool): bool {
  if (!isKfenceAddress(va)) return false;
  if (!KF.enabled) return unprotect(va);
  statInc(STAT_KFENCE_BUGS);
  const pageIndex = (va - KF.poolStart) >> PAGE_SHIFT;
  let report: i32 = -1;
  let type = KFENCE_ERROR_INVALID;
  if ((pageIndex & 1) != 0) {
    let distance: u64 = 0;
    const left = addrToMeta(va - PAGE_SIZE);
    if (left >= 0 && objAllocated(meta(<u32>left))) {
      const m = meta(<u32>left);
      report = left;
      distance = va - (load<u64>(m, KF_M_ADDR) + load<u32>(m, KF_M_SIZE));
    }
    const right = addrToMeta(va + PAGE_SIZE);
    if (right >= 0 && objAllocated(meta(<u32>right))) {
      if (report < 0 || distance > load<u64>(meta(<u32>right), KF_M_ADDR) - va) report = right;
    }
    if (report >= 0) {
      type = KFENCE_ERROR_OOB;
      store<u64>(meta(<u32>report), va, KF_M_UNPROTECTED);
    }
  } else {
    report = addrToMeta(va);
    if (report >= 0) {
      type = KFENCE_ERROR_UAF;
      store<u64>(meta(<u32>report), 0, KF_M_UNPROTECTED);
    }
  }
  reportError(va, write, report, type, currentStack);
  return unprotect(va);
}

// A read of freed memory made by an allocator API (a destroyed cache's
// descriptor): when the memory is a KFENCE object, the read faults on its
// protected page inside that API, as the kernel's does.
export function kfenceTouchFreed(va: u64, apiFrame: u32): void {
  if (!isKfenceAddress(va)) return;
  const saved = currentStack;
  frameN = 0;
  push(apiFrame);
  set_current_stack(withCurrent());
  checkedLoad<u32>(va);
  set_current_stack(saved);
}

// ── panic notifier (kfence.check_on_panic) ──────────────────────────────────
export function kfenceCheckOnPanic(): void {
  if (!checkOnPanic || !KF.enabled || KF.metaLin == 0) return;
  let stack: u32 = 0;
  for (let i: u32 = 0; i < nObjects; i++) {
    if (!objAllocated(meta(i)) || !metaSane(i)) continue;
    if (stack == 0) stack = saveStack(STACK_PANIC, CALL_KFREE);
    checkCanary(i, stack);
  }
}

// ── runtime control and introspection (the host's engine.kfence) ────────────
// Writing kfence.sample_interval: 0 disables; non-zero re-enables (or sets the
// pool up late from the page allocator). Returns what the kernel would print:
// 0 nothing, 1 "re-enabled", 2 "initialized - ..." (late), 3 "disabled";
// -EINVAL refused (disabled by a warning, or too large for the buddy allocator),
// -ENOMEM out of memory.
export function kfence_set_sample_interval(ms: u32): i32 {
  if (ms == 0) {
    KF.intervalNs = 0;
    if (!KF.enabled) return KFENCE_SET_UNCHANGED;
    KF.enabled = false;
    KF.nextSampleNs = u64.MAX_VALUE;
    KF.timerDeferred = false;
    updateGate();
    return KFENCE_SET_DISABLED;
  }
  KF.intervalNs = <u64>ms * 1000000;
  if (KF.enabled) return KFENCE_SET_UNCHANGED;
  if (KF.disabledByWarn) return -EINVAL;
  if (KF.poolSize == 0) {
    const rc = kfenceInitLate();
    if (rc != 0) return rc;
    KF.enabled = true;
    timerFire(TS.clockNs);
    return KFENCE_SET_INITIALISED;
  }
  KF.enabled = true;
  timerFire(TS.clockNs);
  return KFENCE_SET_REENABLED;
}

// kfence_init_late(), the !CONFIG_CONTIG_ALLOC flavour: alloc_pages_exact()
// of the pool and the metadata from the buddy allocator.
function allocExact(pages: u32, use: i32): u32 {
  let order: u32 = 0;
  while ((<u32>1 << order) < pages) order++;
  if (order > <u32>MAX_PAGE_ORDER) return NO_PFN;
  const pfn = allocPagesPfn(order, use);
  if (pfn == NO_PFN) return NO_PFN;
  for (let i: u32 = 0; i < (<u32>1 << order); i++) { pgSetFlags(pfn + i, 0); pgSetCache(pfn + i, 0); }
  for (let i = pages; i < (<u32>1 << order); i++) freePagesPfn(pfn + i, 0);
  return pfn;
}
function kfenceInitLate(): i32 {
  const pages = (nObjects + 1) * 2;
  if (pages > (<u32>1 << MAX_PAGE_ORDER) || metaFrames() > (<u32>1 << MAX_PAGE_ORDER)) return -EINVAL;
  const pfn = allocExact(pages, USE_KFENCE);
  if (pfn == NO_PFN) return -ENOMEM;
  const mpfn = allocExact(metaFrames(), USE_METADATA);
  if (mpfn == NO_PFN) {
    for (let i: u32 = 0; i < pages; i++) freePagesPfn(pfn + i, 0);
    return -ENOMEM;
  }
  // the pool's shadow stays clean (generic KASAN unpoisons pages it hands out)
  kasanUnpoison(PAGE_OFFSET + (<u64>pfn << PAGE_SHIFT), <u64>pages << PAGE_SHIFT, 0);
  if (!poolSetup(pfn, mpfn)) return -ENOMEM;
  return 0;
}

export function kfence_pool_start(): u64 { return KF.poolStart; }
export function kfence_pool_size(): u64 { return KF.poolSize; }
export function kfence_num_objects(): u32 { return nObjects; }
export function kfence_meta_base(): usize { return KF.metaLin; }
export function kfence_enabled(): i32 { return KF.enabled ? 1 : 0; }
export function kfence_init_failed(): i32 { return initFailed; }
export function kfence_sample_interval(): u32 { return KF.enabled ? <u32>(KF.intervalNs / 1000000) : 0; }
export function kfence_next_sample(): u64 { return KF.nextSampleNs; }
