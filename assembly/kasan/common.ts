// KASAN's allocator hooks (mm/kasan/common.c): what happens to the shadow and
// the per-object metadata when slabs, objects and pages are allocated and freed.
//
// Per-object metadata (generic mode), inside the slot: KasanAllocMeta at the
// cache's alloc_meta_offset, KasanFreeMeta at its free_meta_offset (0 = inside
// the freed object). The first shadow byte of a freed object is KASAN_SLAB_FREE_META while the
// free meta is valid.
import { PAGE_SHIFT, PAGE_SIZE, GFP_DIRECT_RECLAIM, SLAB_KMALLOC,
         FR_KASAN_SAVE_STACK, FR_KASAN_SAVE_TRACK, FR___KASAN_KMALLOC, FR___KASAN_SLAB_ALLOC,
         FR_KMEM_CACHE_ALLOC, FR_KASAN_SAVE_FREE_INFO, FR___KASAN_SLAB_FREE, FR_KFREE,
         FR_KMEM_CACHE_FREE, FR_KASAN_RECORD_AUX_STACK, FR___KASAN_KREALLOC, FR_KREALLOC,
         FR_SLAB_FREE_AFTER_RCU_DEBUG, FR_RCU_DO_BATCH, FR_RCU_CORE, FR_RCU_CORE_SI,
         FR_HANDLE_SOFTIRQS, PATH_KFREE, PATH_KMEM_CACHE_FREE, PATH_MEMPOOL, BUG_INVALID_FREE,
         BUG_DOUBLE_FREE, PATH_KFREE_LARGE, PG_TAIL, FR___KASAN_MEMPOOL_POISON, FR_MEMPOOL_FREE,
         FR_SAVE_STACK_INFO, FR_KASAN_SAVE_ALLOC_INFO, STAT_KASAN_STACK_CACHE_MISSES } from "../../abi/abi";
import { kasanMode, KASAN_OFF, KASAN_GENERIC, KASAN_SW_TAGS, KASAN_SLAB_REDZONE, KASAN_SLAB_FREE,
         KASAN_SLAB_FREE_META, KASAN_PAGE_FREE, KASAN_PAGE_REDZONE, KASAN_TAG_INVALID,
         KASAN_TAG_KERNEL } from "./kasan";
import { kasanPoison, kasanUnpoison, shadowByte, shadowByteInline, shadowSetByte, granuleUp } from "./shadow";
import { kmemCache, KASAN_NO_FREE_META, nearestObj, cacheLin, virtToSlab, slabCacheId } from "../mm/slub";
import { dmLin, untag, KASAN_MEM_START, PAGE_OFFSET } from "../mm/layout";
import { currentPid } from "../task";
import { currentStack, depot_save, depot_fetch, DEPOT_MAX_FRAMES } from "../stackdepot";
import { quarantinePut, quarantineReduce } from "./quarantine";
import { kasanReportInvalidFree } from "./report";
import { assignTag, setTag, getTag, stackRingRecord } from "./sw_tags";
import { isKfenceAddress } from "../kfence/core";
import { NO_PFN, pgFlags, pgCache, pgOrderSafe, pgHead, pgTag } from "../mm/phys";
import { CALL_KMEM_CACHE_FREE, CALL_KMEM_CACHE_FREE_BULK, CALL_RCU_FREE, CALL_MEMPOOL_FREE } from "../call_path";
import { thisCpu, SMP_MAX_CPUS } from "../smp";
import { FAST_SAVE_CACHE, SLAB_LOCKS } from "../statics";
import { statInc } from "../stats";

// ── stacks ───────────────────────────────────────────────────────────────────
// A track's stack is the current stack with the kernel's own frames on top.
// A small cache keyed by (path, current stack) avoids re-hashing in loops.
const FRAME_BUF: usize = memory.data(4 * (DEPOT_MAX_FRAMES + 8), 8);
// Each CPU has its own (FAST_SAVE_CACHE): a lockless path reads it while
// another CPU fills its own under the kernel lock, and a key it misses sends
// the op to the kernel lock. 512 sets of two [key u32, handle u32] ways (the
// newest key first; handle 0: empty): with 256 single slots, a fuzz unit's
// few dozen (path, stack) keys collided often enough that 30% of
// `fuzz --cpus 2`'s locked ops under KASAN were such misses.
// @ts-ignore: decorator
@inline const SAVE_CACHE_SET_BITS: u32 = 9;
// @ts-ignore: decorator
@inline const SAVE_CACHE_BYTES: usize = 16 << SAVE_CACHE_SET_BITS;
if (<usize>SMP_MAX_CPUS * SAVE_CACHE_BYTES > SLAB_LOCKS - FAST_SAVE_CACHE) ERROR("the saved-stack caches overflow FAST_SAVE_CACHE (statics.ts)");
// @ts-ignore: decorator
@inline function saveCacheSet(key: u32): usize {
  return FAST_SAVE_CACHE + <usize>thisCpu * SAVE_CACHE_BYTES + (<usize>((key * 0x9e3779b1) >> (32 - SAVE_CACHE_SET_BITS)) << 4);
}
// The cached handle of key in its set, or 0.
// @ts-ignore: decorator
@inline function saveCacheFind(set: usize, key: u32): u32 {
  if (load<u32>(set) == key) return load<u32>(set, 4);
  return load<u32>(set, 8) == key ? load<u32>(set, 12) : 0;
}

// @ts-ignore: decorator
@inline export const TRACK_KMALLOC: u32 = 1;
// @ts-ignore: decorator
@inline export const TRACK_CACHE_ALLOC: u32 = 2;
// @ts-ignore: decorator
@inline export const TRACK_KFREE: u32 = 3;
// @ts-ignore: decorator
@inline export const TRACK_CACHE_FREE: u32 = 4;
// @ts-ignore: decorator
@inline export const TRACK_AUX: u32 = 5;
// @ts-ignore: decorator
@inline export const TRACK_RCU_FREE: u32 = 6;
// @ts-ignore: decorator
@inline export const TRACK_KREALLOC: u32 = 7;
// @ts-ignore: decorator
@inline export const TRACK_MEMPOOL: u32 = 8;

// The track of a free reached through `call` (CALL_*): which API frames its stack shows.
export function freeTrack(call: u32): u32 {
  if (call == CALL_KMEM_CACHE_FREE || call == CALL_KMEM_CACHE_FREE_BULK) return TRACK_CACHE_FREE;
  if (call == CALL_RCU_FREE) return TRACK_RCU_FREE;
  if (call == CALL_MEMPOOL_FREE) return TRACK_MEMPOOL;
  return TRACK_KFREE;
}

function pushFrames(p: usize, path: u32): usize {
  store<u32>(p, FR_KASAN_SAVE_STACK); p += 4;
  if (path == TRACK_AUX) { store<u32>(p, FR_KASAN_RECORD_AUX_STACK); return p + 4; }
  if (kasanMode == KASAN_SW_TAGS) {
    // tags.c: kasan_save_{alloc,free}_info -> save_stack_info -> kasan_save_stack
    store<u32>(p, FR_SAVE_STACK_INFO); p += 4;
    if (path <= TRACK_CACHE_ALLOC || path == TRACK_KREALLOC) { store<u32>(p, FR_KASAN_SAVE_ALLOC_INFO); p += 4; }
  } else {
    store<u32>(p, FR_KASAN_SAVE_TRACK); p += 4;
  }
  if (path == TRACK_KMALLOC) { store<u32>(p, FR___KASAN_KMALLOC); return p + 4; }
  if (path == TRACK_KREALLOC) { store<u32>(p, FR___KASAN_KREALLOC); store<u32>(p, FR_KREALLOC, 4); return p + 8; }
  if (path == TRACK_CACHE_ALLOC) { store<u32>(p, FR___KASAN_SLAB_ALLOC); store<u32>(p, FR_KMEM_CACHE_ALLOC, 4); return p + 8; }
  store<u32>(p, FR_KASAN_SAVE_FREE_INFO);
  store<u32>(p, FR___KASAN_SLAB_FREE, 4);
  if (path == TRACK_KFREE) { store<u32>(p, FR_KFREE, 8); return p + 12; }
  if (path == TRACK_CACHE_FREE) { store<u32>(p, FR_KMEM_CACHE_FREE, 8); return p + 12; }
  if (path == TRACK_MEMPOOL) { store<u32>(p, FR___KASAN_MEMPOOL_POISON, 4); store<u32>(p, FR_MEMPOOL_FREE, 8); return p + 12; }
  // RCU-delayed free: the callback runs from softirq context
  store<u32>(p, FR_SLAB_FREE_AFTER_RCU_DEBUG, 8);
  store<u32>(p, FR_RCU_DO_BATCH, 12);
  store<u32>(p, FR_RCU_CORE, 16);
  store<u32>(p, FR_RCU_CORE_SI, 20);
  store<u32>(p, FR_HANDLE_SOFTIRQS, 24);
  return p + 28;
}

// kasan_save_stack(): the depot handle for the current stack seen from `path`.
export function kasanSaveStack(path: u32): u32 {
  const cur = currentStack;
  const key = (path << 24) ^ cur;
  const set = saveCacheSet(key);
  const cached = saveCacheFind(set, key);
  if (cached != 0) return cached;
  statInc(STAT_KASAN_STACK_CACHE_MISSES);
  let p = pushFrames(FRAME_BUF, path);
  // an RCU callback runs on its own stack: the freeing task's stack is not part of it
  if (path != TRACK_RCU_FREE && cur != 0) {
    p += <usize>depot_fetch(cur, p) << 2;
  }
  const n = <u32>((p - FRAME_BUF) >> 2);
  const h = depot_save(FRAME_BUF, n);
  // the older way gives way to the newer
  store<u64>(set, load<u64>(set), 8);
  store<u32>(set, key);
  store<u32>(set, h, 4);
  return h;
}
export function kasanStackCacheFlush(): void { memory.fill(FAST_SAVE_CACHE, 0, <usize>SMP_MAX_CPUS * SAVE_CACHE_BYTES); }
/** Is the stack kasanSaveStack(path) would save in this CPU's cache (so saving it takes no depot lock)? */
export function kasanStackCached(path: u32): bool {
  const key = (path << 24) ^ currentStack;
  return saveCacheFind(saveCacheSet(key), key) != 0;
}

// ── metadata ────────────────────────────────────────────────────────────────
// struct kasan_alloc_meta
// @ts-ignore: decorator
@unmanaged export class KasanAllocMeta {
  pid: u32;
  stack: u32;       // depot handle of the alloc track
  auxStack0: u32;   // the last two kasan_record_aux_stack() stacks, newest first
  auxStack1: u32;
}
// struct kasan_free_meta
// @ts-ignore: decorator
@unmanaged export class KasanFreeMeta {
  qlink: u64;       // the quarantine's link: VA of the next queued object, 0 = end
  pid: u32;
  stack: u32;       // depot handle of the free track
}
// slub.ts reserves KASAN_ALLOC_META_SIZE / KASAN_FREE_META_SIZE (16) for each
if (offsetof<KasanAllocMeta>() != 16 || offsetof<KasanFreeMeta>() != 16) ERROR("KASAN's per-object metadata is 16 bytes each");

// Linear address of an object's metadata, 0 when its cache has none.
// @ts-ignore: decorator
@inline export function allocMetaLin(c: usize, objLin: usize): usize {
  const off = kmemCache(c).allocMeta;
  return off == 0 ? 0 : objLin + off;
}
// @ts-ignore: decorator
@inline export function freeMetaLin(c: usize, objLin: usize): usize {
  const off = kmemCache(c).freeMeta;
  return off == KASAN_NO_FREE_META ? 0 : objLin + off;
}

// kasan_init_object_meta: a new slab's objects start with no alloc track.
export function kasanInitObject(c: usize, objLin: usize): void {
  if (kasanMode != KASAN_GENERIC) return;
  const m = allocMetaLin(c, objLin);
  if (m != 0) memory.fill(m, 0, offsetof<KasanAllocMeta>());
}

function saveAllocInfo(c: usize, va: u64, path: u32): void {
  const lin = allocMetaLin(c, dmLin(untag(va)));
  if (lin == 0) return;
  const m = changetype<KasanAllocMeta>(lin);
  m.pid = currentPid;
  m.stack = kasanSaveStack(path);
  m.auxStack0 = 0;              // aux stacks belong to the previous life
  m.auxStack1 = 0;
}

// kasan_save_free_info: keep the free track, then mark free meta valid.
function saveFreeInfo(c: usize, va: u64, path: u32): void {
  const obj = untag(va);
  const lin = freeMetaLin(c, dmLin(obj));
  if (lin == 0) return;
  const m = changetype<KasanFreeMeta>(lin);
  m.pid = currentPid;
  m.stack = kasanSaveStack(path);
  shadowSetByte(obj, KASAN_SLAB_FREE_META);
}

// kasan_record_aux_stack (call_rcu, queue_work): remember the last two.
export function kasan_record_aux_stack(va: u64): void {
  if (kasanMode != KASAN_GENERIC || isKfenceAddress(va)) return;
  const obj = objectOf(untag(va));
  if (obj == 0) return;
  const c = cacheOfObject(obj);
  const lin = allocMetaLin(c, dmLin(obj));
  if (lin == 0) return;
  const m = changetype<KasanAllocMeta>(lin);
  m.auxStack1 = m.auxStack0;
  m.auxStack0 = kasanSaveStack(TRACK_AUX);
}

// ── slabs and objects ───────────────────────────────────────────────────────
export function kasanPoisonSlab(va: u64, size: u64): void {
  if (kasanMode == KASAN_OFF) return;
  kasanPoison(va, size, kasanMode == KASAN_GENERIC ? KASAN_SLAB_REDZONE : KASAN_TAG_INVALID);
}
export function kasanUnpoisonNewObject(c: usize, va: u64): void {
  kasanUnpoison(va, kmemCache(c).objectSize, KASAN_TAG_KERNEL);
}
export function kasanPoisonNewObject(c: usize, va: u64): void {
  if (kasanMode == KASAN_OFF) return;
  kasanPoison(va, granuleUp(kmemCache(c).objectSize), kasanMode == KASAN_GENERIC ? KASAN_SLAB_REDZONE : KASAN_TAG_INVALID);
}

// __kasan_slab_alloc: reduce the quarantine (blocking allocations only),
// tag the object (tag modes), unpoison it, and save the alloc track of
// non-kmalloc allocations.
// (A lockless path passes reduce=false: it runs only while the quarantine is
// within budget, and the reduction itself takes the kernel lock. Inlined: with
// two callers binaryen would keep it a call, 7% of a kmalloc+kfree pair.)
// @ts-ignore: decorator
@inline export function kasanSlabAlloc(c: usize, id: u32, va: u64, gfp: u32, reduce: bool): u64 {
  if (kasanMode == KASAN_OFF) return va;
  if (reduce && (gfp & GFP_DIRECT_RECLAIM) != 0) quarantineReduce();
  let tagged = va;
  if (kasanMode == KASAN_SW_TAGS) tagged = setTag(va, assignTag(c, va));
  kasanUnpoison(tagged, kmemCache(c).objectSize, getTag(tagged));
  if ((kmemCache(c).flags & SLAB_KMALLOC) == 0) {
    if (kasanMode == KASAN_GENERIC) saveAllocInfo(c, tagged, TRACK_CACHE_ALLOC);
    else stackRingRecord(tagged, kmemCache(c).id, false, TRACK_CACHE_ALLOC);
  }
  return tagged;
}

// __kasan_kmalloc / poison_kmalloc_redzone: precise redzone after `size`.
export function kasanKmalloc(c: usize, va: u64, size: u32): u64 {
  return kasanKmallocPath(c, va, size, TRACK_KMALLOC);
}
export function kasanKmallocPath(c: usize, va: u64, size: u32, path: u32): u64 {
  if (kasanMode == KASAN_OFF || isKfenceAddress(va)) return va;
  const obj = untag(va);
  const objectSize = kmemCache(c).objectSize;
  if (kasanMode == KASAN_GENERIC) {
    if (size & 7) shadowSetByte(obj + (<u64>size & ~7), <u8>(size & 7));
    const rzStart = granuleUp(obj + size);
    const rzEnd = granuleUp(obj + objectSize);
    if (rzEnd > rzStart) kasanPoison(rzStart, rzEnd - rzStart, KASAN_SLAB_REDZONE);
    if (kmemCache(c).flags & SLAB_KMALLOC) saveAllocInfo(c, va, path);
  } else {
    // tag modes: granules past the requested size get the invalid tag
    const rzStart = granuleUp(obj + size);
    const rzEnd = granuleUp(obj + objectSize);
    if (rzEnd > rzStart) kasanPoison(rzStart, rzEnd - rzStart, KASAN_TAG_INVALID);
    if (kmemCache(c).flags & SLAB_KMALLOC) stackRingRecord(va, kmemCache(c).id, false, path);
  }
  return va;
}

// kasan_krealloc for a shrinking/growing-in-place object: unpoison the new
// size, then redzone and a fresh alloc track like kmalloc.
export function kasanKrealloc(c: usize, va: u64, newSize: u32): u64 {
  if (kasanMode == KASAN_OFF) return va;
  kasanUnpoison(va, newSize, getTag(va));
  return kasanKmallocPath(c, va, newSize, TRACK_KREALLOC);
}
// __kasan_krealloc for a large (page-backed) kmalloc: poison_kmalloc_large_redzone
export function kasanKreallocLarge(va: u64, newSize: u64): void {
  if (kasanMode == KASAN_OFF) return;
  kasanUnpoison(va, newSize, getTag(va));
  const obj = untag(va);
  const pfn = headOf(<u32>((obj - PAGE_OFFSET) >> PAGE_SHIFT));
  const end = PAGE_OFFSET + (<u64>pfn << PAGE_SHIFT) + (<u64>PAGE_SIZE << pgOrderSafe(pfn));
  const rz = granuleUp(obj + newSize);
  if (end > rz) kasanPoison(rz, end - rz, kasanMode == KASAN_GENERIC ? KASAN_PAGE_REDZONE : KASAN_TAG_INVALID);
}

// check_slab_allocation(): report an invalid or double free; true = refuse it.
export function kasanSlabPreFree(c: usize, slabPfn: u32, va: u64, call: u32): bool {
  if (kasanMode == KASAN_OFF) return false;
  const obj = untag(va);
  const track = freeTrack(call);
  const path = track == TRACK_CACHE_FREE ? PATH_KMEM_CACHE_FREE : track == TRACK_MEMPOOL ? PATH_MEMPOOL : PATH_KFREE;
  if (nearestObj(c, slabPfn, obj) != obj) {
    kasanReportInvalidFree(va, BUG_INVALID_FREE, path);
    return true;
  }
  if (!kasanByteAccessible(va)) {
    kasanReportInvalidFree(va, BUG_DOUBLE_FREE, path);
    return true;
  }
  return false;
}

// __kasan_slab_free: poison, keep the free track, quarantine. True when the
// object went into the quarantine (the slab must not reuse it yet).
// @ts-ignore: decorator
@inline export function kasanSlabFree(c: usize, va: u64, call: u32): bool {
  if (kasanMode == KASAN_OFF) return false;
  const obj = untag(va);
  if (kasanMode == KASAN_GENERIC) {
    kasanSlabFreePoison(c, va, call);
    return quarantinePut(c, obj);
  }
  kasanPoison(obj, granuleUp(kmemCache(c).objectSize), KASAN_TAG_INVALID);
  stackRingRecord(va, kmemCache(c).id, true, freeTrack(call));
  return false;
}

// Generic mode's poisoning and free track of a freed object (before the quarantine).
// @ts-ignore: decorator
@inline export function kasanSlabFreePoison(c: usize, va: u64, call: u32): void {
  kasanPoison(untag(va), granuleUp(kmemCache(c).objectSize), KASAN_SLAB_FREE);
  saveFreeInfo(c, va, freeTrack(call));
}

// kasan_byte_accessible()
export function kasanByteAccessible(va: u64): bool {
  if (kasanMode == KASAN_OFF) return true;
  const a = untag(va);
  if (a < KASAN_MEM_START) return false;
  const s = shadowByteInline(a);
  if (s < 0) return false;
  if (kasanMode == KASAN_GENERIC) return s < 8;
  const tag = getTag(va);
  return tag == KASAN_TAG_KERNEL || <i32>tag == s;
}

// ── pages ───────────────────────────────────────────────────────────────────
// Returns the tag the page's address should carry (0xff when untagged).
export function kasanAllocPages(pfn: u32, order: u32): u8 {
  if (kasanMode == KASAN_OFF) return KASAN_TAG_KERNEL;
  const va = pageVa(pfn);
  const size = <u64>PAGE_SIZE << order;
  if (kasanMode == KASAN_GENERIC) { kasanUnpoison(va, size, 0); return KASAN_TAG_KERNEL; }
  const tag = assignTag(0, va);
  kasanPoison(va, size, tag);
  return tag;
}
export function kasanFreePages(pfn: u32, order: u32): void {
  if (kasanMode == KASAN_OFF) return;
  if (kasanMode == KASAN_SW_TAGS && pgTag(pfn) == KASAN_TAG_KERNEL) return;   // never tagged
  kasanPoison(pageVa(pfn), <u64>PAGE_SIZE << order, kasanMode == KASAN_GENERIC ? KASAN_PAGE_FREE : KASAN_TAG_INVALID);
}

// __kasan_kmalloc_large: the pages were unpoisoned; poison past size.
export function kasanKmallocLarge(va: u64, size: u64, order: u32): u64 {
  if (kasanMode == KASAN_OFF) return va;
  const pageBytes = <u64>PAGE_SIZE << order;
  let tagged = va;
  // tag modes: the pointer carries the tag kasanAllocPages gave the pages
  if (kasanMode == KASAN_SW_TAGS) tagged = setTag(va, <u8>(shadowByte(untag(va)) & 0xff));
  const obj = untag(tagged);
  if (kasanMode == KASAN_GENERIC && (size & 7) != 0) shadowSetByte(obj + (size & ~7), <u8>(size & 7));
  const rz = granuleUp(obj + size);
  const end = obj + pageBytes;
  if (end > rz) kasanPoison(rz, end - rz, kasanMode == KASAN_GENERIC ? KASAN_PAGE_REDZONE : KASAN_TAG_INVALID);
  return tagged;
}

// check_page_allocation() for kfree of a non-slab pointer; true = reported.
export function kasanKfreeLargeCheck(va: u64, headPfn: u32): bool {
  if (kasanMode == KASAN_OFF) return false;
  const a = untag(va);
  if (headPfn == NO_PFN || a != pageVa(headPfn)) {
    kasanReportInvalidFree(va, BUG_INVALID_FREE, PATH_KFREE_LARGE);
    return true;
  }
  if (!kasanByteAccessible(va)) {
    kasanReportInvalidFree(va, BUG_DOUBLE_FREE, PATH_KFREE_LARGE);
    return true;
  }
  return false;
}

// ── helpers shared with the report code ─────────────────────────────────────
// @ts-ignore: decorator
@inline function pageVa(pfn: u32): u64 { return PAGE_OFFSET + (<u64>pfn << PAGE_SHIFT); }

// The slab object containing (untagged) va, 0 if va is not in a slab.
export function objectOf(va: u64): u64 {
  const slab = virtToSlab(va);
  if (slab == NO_PFN) return 0;
  return nearestObj(cacheLin(slabCacheId(slab)), slab, va);
}
export function cacheOfObject(obj: u64): usize {
  return cacheLin(slabCacheId(virtToSlab(obj)));
}

// ── mempool (mm/kasan/common.c: __kasan_mempool_*) ──────────────────────────
// An element parked in a mempool is poisoned as if freed (with a free track),
// so a use of it is a use-after-free; taking it out unpoisons it again.
// Returns false when the element was reported as an invalid or double free.
export function kasan_mempool_poison_object(va: u64): bool {
  if (kasanMode == KASAN_OFF) return true;
  const obj = untag(va);
  const slab = virtToSlab(obj);
  if (slab == NO_PFN) {
    const off = obj - PAGE_OFFSET;
    const pfn = <u32>(off >> PAGE_SHIFT);
    if (kasanKfreeLargeCheck(va, headOf(pfn))) return false;
    kasanPoison(obj, <u64>PAGE_SIZE << pgOrderSafe(headOf(pfn)), kasanMode == KASAN_GENERIC ? KASAN_PAGE_FREE : KASAN_TAG_INVALID);
    return true;
  }
  if (isKfenceAddress(obj)) return true;
  const c = cacheLin(slabCacheId(slab));
  const bad = kasanSlabPreFree(c, slab, va, CALL_MEMPOOL_FREE);
  if (!bad) {
    if (kasanMode == KASAN_GENERIC) {
      kasanPoison(obj, granuleUp(kmemCache(c).objectSize), KASAN_SLAB_FREE);
      saveFreeInfo(c, va, TRACK_MEMPOOL);
    } else {
      kasanPoison(obj, granuleUp(kmemCache(c).objectSize), KASAN_TAG_INVALID);
      stackRingRecord(va, kmemCache(c).id, true, TRACK_MEMPOOL);
    }
  }
  return !bad;
}

export function kasan_mempool_unpoison_object(va: u64, size: u64): void {
  if (kasanMode == KASAN_OFF) return;
  const obj = untag(va);
  const slab = virtToSlab(obj);
  if (slab == NO_PFN) {
    kasanUnpoison(va, size, getTag(va));
    const pfn = headOf(<u32>((obj - PAGE_OFFSET) >> PAGE_SHIFT));
    const end = PAGE_OFFSET + (<u64>pfn << PAGE_SHIFT) + (<u64>PAGE_SIZE << pgOrderSafe(pfn));
    const rz = granuleUp(obj + size);
    if (kasanMode == KASAN_GENERIC && (size & 7) != 0) shadowSetByte(obj + (size & ~7), <u8>(size & 7));
    if (end > rz) kasanPoison(rz, end - rz, kasanMode == KASAN_GENERIC ? KASAN_PAGE_REDZONE : KASAN_TAG_INVALID);
    return;
  }
  if (isKfenceAddress(obj)) return;
  const c = cacheLin(slabCacheId(slab));
  kasanUnpoison(va, kmemCache(c).objectSize, getTag(va));
  if ((kmemCache(c).flags & SLAB_KMALLOC) == 0) {
    if (kasanMode == KASAN_GENERIC) saveAllocInfo(c, va, TRACK_CACHE_ALLOC);
    else stackRingRecord(va, kmemCache(c).id, false, TRACK_CACHE_ALLOC);
  } else {
    kasanKmallocPath(c, va, <u32>size, TRACK_KMALLOC);
  }
}

// Pages parked in a page mempool.
export function kasan_mempool_poison_pages(va: u64, order: u32): bool {
  if (kasanMode == KASAN_OFF) return true;
  const obj = untag(va);
  const pfn = <u32>((obj - PAGE_OFFSET) >> PAGE_SHIFT);
  if (kasanKfreeLargeCheck(va, pfn)) return false;
  kasanPoison(obj, <u64>PAGE_SIZE << order, kasanMode == KASAN_GENERIC ? KASAN_PAGE_FREE : KASAN_TAG_INVALID);
  return true;
}
export function kasan_mempool_unpoison_pages(va: u64, order: u32): void {
  if (kasanMode == KASAN_OFF) return;
  kasanUnpoison(va, <u64>PAGE_SIZE << order, getTag(va));
}

// @ts-ignore: decorator
@inline function headOf(pfn: u32): u32 { return pgHead(pfn); }
