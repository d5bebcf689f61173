// A SLUB-style slab allocator (mm/slub.c, mm/slab_common.c).
//
// A cache hands out fixed-size slots carved from slabs (2^order pages from the
// buddy allocator, mapped in the direct map). Each CPU has its own cpu slab
// with a lockless freelist and a partial list (struct kmem_cache_cpu, below);
// the node has a list of partial slabs. Full slabs are on no list, as in the
// kernel without slub_debug (walks find them in mem_map). Free slots are
// chained through a pointer stored in the free object at s->offset, as SLUB
// does; every pointer taken off a chain is validated, so a use-after-free
// write that scribbles on it is isolated instead of corrupting the allocator.
//
// struct kmem_cache lives in simulated kernel memory: descriptors are objects
// of the "kmem_cache" cache (id 0, whose own descriptor is static), so a
// destroyed cache's descriptor is freed memory that KASAN watches. The engine
// works on its own copy of each descriptor (CACHE_PRIV, outside simulated RAM)
// and writes every change through to the one in RAM; the slow paths compare
// the two, so a descriptor a buggy write corrupted is caught when the
// allocator would follow it (cacheVerify) instead of being followed.
//
// Slot layout with generic KASAN (kasan_cache_create):
//   [object (object_size) | free ptr if RCU/ctor | alloc meta | free meta? | redzone]
// struct page of a slab head (Page in phys.ts): flags PG_SLAB, cache, inuse,
// objects, freelist (linear address, 0 = empty), slabList (SLAB_LIST_*) and
// the list links next/prev.
import { PAGE_SHIFT, PAGE_SIZE, MAX_PAGE_ORDER, PG_SLAB, PG_HEAD, USE_SLAB, USE_LARGE_KMALLOC,
         PG_LARGE_KMALLOC, STAT_SLAB_ALLOCS, STAT_SLAB_FREES, GFP_ZERO, SLAB_TYPESAFE_BY_RCU,
         SLAB_HWCACHE_ALIGN, SLAB_KMALLOC, SLAB_KASAN, SLAB_NO_MERGE, KMALLOC_MAX_CACHE_SIZE,
         ZERO_SIZE_PTR, MAX_CACHES, KMEM_CACHE_OBJ_SIZE, NR_KMALLOC_CACHES, CFG_NR_CPUS,
         CFG_INIT_ON_ALLOC, CFG_INIT_ON_FREE, GFP_DIRECT_RECLAIM, PHYS_BASE, GFP_KERNEL, GFP_COMP, GFP_NOWARN, R_FLAGS, RF_OBJECT,
         R_CACHE, R_ARG2, R_FIRST_BAD, WARN_ALLOC_FAILED, ALLOC_SITE_SLAB, ALLOC_SITE_LARGE_KMALLOC,
         SLAB_ERR_NOT_SLAB, SLAB_ERR_OBJECTS, SLAB_ERR_INUSE, SLAB_ERR_FREEPOINTER, SLAB_FIX_NONE, SLAB_FIX_MARK_USED,
         SLAB_FIX_FREELIST_CLEARED, LIST_DEL_NEXT, ENOMEM, EINVAL } from "../../abi/abi";
import { NO_PFN, pfnToPage, pgFlags, pgSetFlags, pgCache, pgSetCache, pgNext, pgPrev, pgSetNext, pgSetPrev, pfnListAdd, pfnListDel,
         pgOrder, pgOrderSafe, pgHead, pgSetPrivate, nrFrames } from "./phys";
import { allocPagesPfn, freePagesPfn, warnAlloc, warnAllocOrder, ratelimit, RL_SLUB_OOM } from "./page_alloc";
import { warnRecord } from "./fault";
import { PAGE_OFFSET, physToLin, dmLin, untag } from "./layout";
import { statInc } from "../stats";
import { cfg } from "../config";
import { kasanMode, KASAN_OFF, KASAN_GENERIC, KASAN_SW_TAGS } from "../kasan/kasan";
import { kasanSlabAlloc, kasanKmalloc, kasanSlabPreFree, kasanSlabFree, kasanPoisonSlab,
         kasanInitObject, kasanKmallocLarge, kasanKfreeLargeCheck, kasanPoisonNewObject,
         kasanUnpoisonNewObject, kasanByteAccessible, kasanSlabFreePoison, kasanStackCached, freeMetaLin,
         TRACK_KMALLOC, TRACK_CACHE_ALLOC, freeTrack } from "../kasan/common";
import { kfenceGateOpen, kfenceAlloc, isKfenceAddress, kfenceFree, kfenceCacheDestroy } from "../kfence/core";
import { callCtor } from "../host";
import { slubBug, slubFreechainCorrupt, wildDeref, wildPageDeref, slabErr, listDelCorruption, pfnListDelValid, lruVa } from "./fault";
import { rcuDeferSlabFree } from "../rcu";
import { CACHE_TABLE, CACHE_PRIV, SLUB_CPU_TABLE, FAST_LIVE, SLAB_LOCKS, guestFramesMark, GUEST_FRAME_HEAP, MACHINE_STATE } from "../statics";
import { currentCpu } from "../task";
import { thisCpu, smpActive, smpMayWait, stopOthers, fastCount, FAST_ALLOCS, FAST_FREES, SMP_MAX_CPUS } from "../smp";
import { sleepingLockAt, sleepingUnlockAt } from "../locks";
import { quarantineTakesLocal, quarantineWithinBudget, quarantinePutLocal } from "../kasan/quarantine";
import { kimage_global_alloc, kimageLin } from "./kimage";
import { CALL_ALLOC, CALL_KFREE, CALL_KMEM_CACHE_FREE } from "../call_path";
import { slabIsSlab, slabBootInit, kmallocMinSize, slabCalculateSizes, slabCacheAllocFn, slabCacheFreeFn, slabNearestObjFn,
         slabShrinkSlab, slabReleaseCache, slabObjectIsLive, slabCheckSlab, slabFreeSlotMapSlab, slabStartLinSlab,
         slab_corruptions_slab, slabCreateNoMem } from "./slab";

// ── struct kmem_cache fields: abi/abi.ts (the host reads them through cache_info) ──
import { KCC_FREELIST, KCC_SLAB, KCC_PARTIAL, KCC_PARTIAL_SLABS, KCC_SIZE } from "../../abi/abi";
import { KC_OBJECT_SIZE, KC_SIZE, KC_ALIGN, KC_FLAGS, KC_ORDER, KC_OBJECTS, KC_OFFSET, KC_CTOR, KC_CPU_PARTIAL_SLABS, KC_PARTIAL, KC_NR_PARTIAL, KC_FULL, KC_ALLOC_META, KC_FREE_META, KC_LIVE, KC_REFCOUNT, KC_ID, KC_NR_SLABS, KC_MIN_PARTIAL, KC_INUSE, KC_RECIP, KC_KFENCE_LIVE, KC_FIELDS_END, STRUCT_PAGE_SHIFT } from "../../abi/abi";
export { KC_OBJECT_SIZE, KC_SIZE, KC_ALIGN, KC_FLAGS, KC_ORDER, KC_OBJECTS, KC_OFFSET, KC_CTOR, KC_CPU_PARTIAL_SLABS, KC_PARTIAL, KC_NR_PARTIAL, KC_FULL, KC_ALLOC_META, KC_FREE_META, KC_LIVE, KC_REFCOUNT, KC_ID, KC_NR_SLABS, KC_MIN_PARTIAL, KC_INUSE, KC_RECIP, KC_KFENCE_LIVE } from "../../abi/abi";

// The descriptor's layout by name. The host reads its fields by the KC_*
// offsets of abi.ts, which stay the one source of truth: the class must match
// them (checked when the core compiles).
// @ts-ignore: decorator
@unmanaged export class KmemCache {
  objectSize: u32;
  size: u32;          // slot size
  align: u32;
  flags: u32;
  order: u32;
  objects: u32;       // objects per slab
  offset: u32;        // free pointer offset
  ctor: u32;          // host constructor id, 0 = none
  cpuPartialSlabs: u32; // s->cpu_partial_slabs: the per-CPU partial list's limit
  partial: u32;       // first slab of the partial list (pfn)
  nrPartial: u32;
  full: u32;          // first slab of the full list (pfn)
  allocMeta: u32;     // KASAN alloc meta offset, 0 = none
  freeMeta: u32;      // KASAN free meta offset, KASAN_NO_FREE_META = none, 0 = in the object
  live: u32;          // engine counter: allocated objects (KFENCE ones excluded)
  refcount: i32;      // engine counter
  id: u32;
  nrSlabs: u32;
  minPartial: u32;
  inuse: u32;         // s->inuse: object_size rounded to a word
  recip: u32;         // ceil(2^32 / size), for slot checks
  kfenceLive: u32;    // engine counter: KFENCE objects of this cache still allocated
}
if (offsetof<KmemCache>("objectSize") != KC_OBJECT_SIZE || offsetof<KmemCache>("size") != KC_SIZE ||
    offsetof<KmemCache>("align") != KC_ALIGN || offsetof<KmemCache>("flags") != KC_FLAGS ||
    offsetof<KmemCache>("order") != KC_ORDER || offsetof<KmemCache>("objects") != KC_OBJECTS ||
    offsetof<KmemCache>("offset") != KC_OFFSET || offsetof<KmemCache>("ctor") != KC_CTOR ||
    offsetof<KmemCache>("cpuPartialSlabs") != KC_CPU_PARTIAL_SLABS || offsetof<KmemCache>("partial") != KC_PARTIAL ||
    offsetof<KmemCache>("nrPartial") != KC_NR_PARTIAL || offsetof<KmemCache>("full") != KC_FULL ||
    offsetof<KmemCache>("allocMeta") != KC_ALLOC_META || offsetof<KmemCache>("freeMeta") != KC_FREE_META ||
    offsetof<KmemCache>("live") != KC_LIVE || offsetof<KmemCache>("refcount") != KC_REFCOUNT ||
    offsetof<KmemCache>("id") != KC_ID || offsetof<KmemCache>("nrSlabs") != KC_NR_SLABS ||
    offsetof<KmemCache>("minPartial") != KC_MIN_PARTIAL || offsetof<KmemCache>("inuse") != KC_INUSE ||
    offsetof<KmemCache>("recip") != KC_RECIP || offsetof<KmemCache>("kfenceLive") != KC_KFENCE_LIVE ||
    offsetof<KmemCache>() != KC_FIELDS_END) ERROR("KmemCache does not match abi.ts's KC_* offsets");

// struct kmem_cache_cpu: what a CPU owns of a cache (s->cpu_slab, per CPU).
// The lockless freelist lives here, not in the slab: while a slab is a CPU's
// cpu slab ("frozen") its struct page freelist holds only the objects other
// CPUs freed into it. Engine memory (SLUB_CPU_TABLE), outside simulated RAM.
// @ts-ignore: decorator
@unmanaged export class KmemCacheCpu {
  freelist: u32;      // c->freelist: linear address of the next object, 0 = empty
  slab: u32;          // c->slab: pfn of the cpu slab, NO_PFN = none
  partial: u32;       // c->partial: first slab of the per-CPU partial list (pfn), linked through next
  partialSlabs: u32;  // slabs on it (the kernel keeps the count in the first slab's slab->slabs)
}
if (offsetof<KmemCacheCpu>("freelist") != KCC_FREELIST || offsetof<KmemCacheCpu>("slab") != KCC_SLAB ||
    offsetof<KmemCacheCpu>("partial") != KCC_PARTIAL || offsetof<KmemCacheCpu>("partialSlabs") != KCC_PARTIAL_SLABS ||
    offsetof<KmemCacheCpu>() != KCC_SIZE) ERROR("KmemCacheCpu does not match abi.ts's KCC_* offsets");
// The table holds 64 CPUs (nr_cpus= accepts 1..64).
// @ts-ignore: decorator
@inline const SLUB_MAX_CPUS: u32 = 64;
// @ts-ignore: decorator
@inline function kccLin(c: usize, cpu: u32): usize {
  return SLUB_CPU_TABLE + ((<usize>cpu * <usize>MAX_CACHES + ((c - CACHE_PRIV) >> 7)) << 4);
}
// @ts-ignore: decorator
@inline function kcc(k: usize): KmemCacheCpu { return changetype<KmemCacheCpu>(k); }
// CPUs whose kmem_cache_cpu can hold anything (set_current keeps currentCpu below it)
function slubNrCpus(): u32 {
  const n = <u32>cfg(CFG_NR_CPUS);
  return n < 1 ? 1 : n > SLUB_MAX_CPUS ? SLUB_MAX_CPUS : n;
}

// @ts-ignore: decorator
@inline export const KASAN_NO_FREE_META: u32 = 0xffffffff;
// @ts-ignore: decorator
@inline const SLAB_LIST_NONE: u32 = 0;
// @ts-ignore: decorator
@inline const SLAB_LIST_CPU: u32 = 1;
// @ts-ignore: decorator
@inline const SLAB_LIST_PARTIAL: u32 = 2;
// @ts-ignore: decorator
@inline const SLAB_LIST_FULL: u32 = 3;      // full and on no list (no cpu slab, no partial list)
// on a CPU's partial list (not frozen, as in 6.8+); CPU and CPU_PARTIAL carry
// the CPU in bits 8..15 of the state
// @ts-ignore: decorator
@inline const SLAB_LIST_CPU_PARTIAL: u32 = 4;
// @ts-ignore: decorator
@inline function slabOnCpu(state: u32, cpu: u32): u32 { return state | (cpu << 8); }
// @ts-ignore: decorator
@inline const KMALLOC_MAX_SIZE: u32 = 1 << (10 + 12);   // 1 << (MAX_PAGE_ORDER + PAGE_SHIFT)
// @ts-ignore: decorator
@inline const MAX_OBJS_PER_PAGE: u32 = 32767;
// @ts-ignore: decorator
@inline const SLUB_MAX_ORDER: u32 = 3;   // PAGE_ALLOC_COSTLY_ORDER

// cache id -> linear address of its descriptor; state per id
// @ts-ignore: decorator
@inline const CACHE_LIN: usize = CACHE_TABLE;
// @ts-ignore: decorator
@inline const CACHE_STATE: usize = CACHE_TABLE + <usize>MAX_CACHES * 4;
// the KASAN tag of each descriptor's pointer (sw_tags: kmem_cache_create's
// zalloc tags it like any object; 0xff otherwise)
// @ts-ignore: decorator
@inline const CACHE_TAG: usize = CACHE_TABLE + <usize>MAX_CACHES * 5;
// @ts-ignore: decorator
@inline export const CACHE_UNUSED: u8 = 0;
// @ts-ignore: decorator
@inline export const CACHE_ACTIVE: u8 = 1;
// @ts-ignore: decorator
@inline export const CACHE_DESTROYED: u8 = 2;
// the descriptor in RAM was found corrupted: the allocation oopsed, and the
// cache hands out nothing more (its frees still work on the engine's copy)
// @ts-ignore: decorator
@inline export const CACHE_BROKEN: u8 = 3;
// the kmem_cache cache's own descriptor (kmem_cache_boot) lives in the image's .data
export let kmemCacheBootVa: u64 = 0;
// @ts-ignore: decorator
@unmanaged class SlubState { nextCacheId: u32; slabCorruptions: u32; }
// the machine's, not this CPU's: linear memory (docs/smp.md, "The audit")
export const SUS = changetype<SlubState>(MACHINE_STATE + 0x1300);
if (offsetof<SlubState>() > 0x100) ERROR("SlubState overflows its 0x100 bytes of MACHINE_STATE");
// kmalloc_caches[index] -> cache id; index 0 = kmalloc-8 ... 12 = kmalloc-8k
const KMALLOC_IDS: usize = memory.data(NR_KMALLOC_CACHES * 4, 4);

// The engine's copy of cache id's descriptor.
// @ts-ignore: decorator
@inline export function cacheLin(id: u32): usize { return CACHE_PRIV + (<usize>id << 7); }
// The descriptor in simulated RAM (a kmem_cache object).
// @ts-ignore: decorator
@inline function cacheRamLin(id: u32): usize { return load<u32>(CACHE_LIN + (<usize>id << 2)); }
// @ts-ignore: decorator
@inline function ramOf(c: usize): usize { return cacheRamLin(<u32>((c - CACHE_PRIV) >> 7)); }
// The engine's copy at c by name: read it, and write the counters only the
// engine keeps (live, refcount, kfenceLive: not compared).
// @ts-ignore: decorator
@inline export function kmemCache(c: usize): KmemCache { return changetype<KmemCache>(c); }
// The copy in RAM of the descriptor whose engine copy is at c. Every other
// field change is written through to it:
//   kmemCacheRam(c).size = kmemCache(c).size = v;
// @ts-ignore: decorator
@inline export function kmemCacheRam(c: usize): KmemCache { return changetype<KmemCache>(ramOf(c)); }
// A field chosen at run time by its KC_* offset: the host's cache_info, and
// the slab list head (KC_PARTIAL; SLAB's KC_FULL too) that the list code
// addresses as &s->partial (a change to one is written through).
// @ts-ignore: decorator
@inline function kcAt(c: usize, field: u32): u32 { return load<u32>(c + field); }
// @ts-ignore: decorator
@inline function kcSetAt(c: usize, field: u32, v: u32): void { store<u32>(c + field, v); store<u32>(ramOf(c) + field, v); }
export function cacheState(id: u32): u8 { return id < SUS.nextCacheId ? load<u8>(CACHE_STATE + id) : CACHE_UNUSED; }
export function cache_count(): u32 { return SUS.nextCacheId; }
export function cache_va(id: u32): u64 { return id < SUS.nextCacheId ? cacheVa(id) : 0; }
export function cacheVa(id: u32): u64 {
  if (id == 0) return kmemCacheBootVa;
  const va = PAGE_OFFSET + <u64>(cacheRamLin(id) - <usize>PHYS_BASE);
  return (va & 0x00ffffffffffffff) | (<u64>load<u8>(CACHE_TAG + id) << 56);
}

// @ts-ignore: decorator
@inline function linToVa(lin: usize): u64 { return PAGE_OFFSET + <u64>(lin - <usize>PHYS_BASE); }
// @ts-ignore: decorator
@inline function slabLin(pfn: u32): usize { return physToLin(<u64>pfn << PAGE_SHIFT); }

function fls(x: u32): u32 { return x == 0 ? 0 : 32 - clz(x); }
function getOrder(size: u64): u32 {
  let order: u32 = 0;
  while ((<u64>PAGE_SIZE << order) < size) order++;
  return order;
}
// @ts-ignore: decorator
@inline function orderObjects(order: u32, size: u32): u32 { return (<u32>PAGE_SIZE << order) / size; }

function calcSlabOrder(size: u32, minOrder: u32, maxOrder: u32, fract: u32): u32 {
  let order = minOrder;
  for (; order <= maxOrder; order++) {
    const slabSize = <u32>PAGE_SIZE << order;
    if (slabSize % size <= slabSize / fract) break;
  }
  return order;
}

// calculate_order() of mm/slub.c
function calculateOrder(size: u32): i32 {
  let nrCpus = <u32>cfg(CFG_NR_CPUS);
  if (nrCpus < 1) nrCpus = 1;
  let minObjects: u32 = 4 * (fls(nrCpus) + 1);
  let maxObjects = orderObjects(SLUB_MAX_ORDER, size);
  if (maxObjects < 1) maxObjects = 1;
  if (<u32>minObjects > maxObjects) minObjects = maxObjects;
  const minOrder = getOrder(<u64>minObjects * size);
  if (orderObjects(minOrder, size) > MAX_OBJS_PER_PAGE) return <i32>getOrder(<u64>size * MAX_OBJS_PER_PAGE) - 1;
  for (let fraction: u32 = 16; fraction > 1; fraction >>= 1) {
    const order = calcSlabOrder(size, minOrder, SLUB_MAX_ORDER, fraction);
    if (order <= SLUB_MAX_ORDER) return <i32>order;
  }
  const order = getOrder(size);
  return order <= <u32>MAX_PAGE_ORDER ? <i32>order : -1;
}

// ASan's adaptive redzone (optimal_redzone in mm/kasan/generic.c)
export function optimalRedzone(objectSize: u32): u32 {
  return objectSize <= 64 - 16 ? 16 :
         objectSize <= 128 - 32 ? 32 :
         objectSize <= 512 - 64 ? 64 :
         objectSize <= 4096 - 128 ? 128 :
         objectSize <= (1 << 14) - 256 ? 256 :
         objectSize <= (1 << 15) - 512 ? 512 :
         objectSize <= (1 << 16) - 1024 ? 1024 : 2048;
}

// @ts-ignore: decorator
@inline const KASAN_ALLOC_META_SIZE: u32 = 16;  // alloc track (pid, stack) + aux_stack[2]
// @ts-ignore: decorator
@inline const KASAN_FREE_META_SIZE: u32 = 16;   // quarantine link + free track

// kasan_cache_create(): place KASAN's metadata and grow the slot to the optimal redzone.
function kasanCacheCreate(c: usize, size: u32, flags: u32, hasCtor: bool): u32 {
  let okSize = size;
  kmemCacheRam(c).allocMeta = kmemCache(c).allocMeta = size;
  size += KASAN_ALLOC_META_SIZE;
  if (size > KMALLOC_MAX_SIZE) { kmemCacheRam(c).allocMeta = kmemCache(c).allocMeta = 0; size = okSize; }
  okSize = size;
  const origAllocMeta = kmemCache(c).allocMeta;
  const objectSize = kmemCache(c).objectSize;
  kmemCacheRam(c).freeMeta = kmemCache(c).freeMeta = 0;
  if ((flags & SLAB_TYPESAFE_BY_RCU) != 0 || hasCtor) {
    kmemCacheRam(c).freeMeta = kmemCache(c).freeMeta = size;
    size += KASAN_FREE_META_SIZE;
  } else if (objectSize < KASAN_FREE_META_SIZE) {
    // free meta starts in the object and spills into the redzone; alloc meta moves up
    const rem = KASAN_FREE_META_SIZE - objectSize;
    size += rem;
    if (kmemCache(c).allocMeta != 0) kmemCacheRam(c).allocMeta = kmemCache(c).allocMeta = kmemCache(c).allocMeta + rem;
  }
  if (size > KMALLOC_MAX_SIZE) {
    kmemCacheRam(c).freeMeta = kmemCache(c).freeMeta = KASAN_NO_FREE_META;
    kmemCacheRam(c).allocMeta = kmemCache(c).allocMeta = origAllocMeta;
    size = okSize;
  }
  let optimal = objectSize + optimalRedzone(objectSize);
  if (optimal > KMALLOC_MAX_SIZE) optimal = KMALLOC_MAX_SIZE;
  if (size < optimal) size = optimal;
  return size;
}

// calculate_alignment() of mm/slab_common.c
function calculateAlignment(flags: u32, align: u32, size: u32): u32 {
  if (flags & SLAB_HWCACHE_ALIGN) {
    let ralign: u32 = 64;     // cache_line_size()
    while (size <= ralign / 2) ralign >>= 1;
    if (ralign > align) align = ralign;
  }
  const minAlign: u32 = kasanMode == KASAN_SW_TAGS ? 16 : 8;   // ARCH_SLAB_MINALIGN (16 with sw_tags)
  if (align < minAlign) align = minAlign;
  return (align + 7) & ~7;
}

// Fill a descriptor: calculate_sizes() of mm/slub.c. Returns false if no order fits.
function calculateSizes(c: usize, objectSize: u32, align: u32, flags: u32, ctor: u32): bool {
  if (slabIsSlab()) return slabCalculateSizes(c, objectSize, align, flags, ctor);
  kmemCacheRam(c).objectSize = kmemCache(c).objectSize = objectSize;
  let size = (objectSize + 7) & ~7;
  kmemCacheRam(c).inuse = kmemCache(c).inuse = size;
  if ((flags & SLAB_TYPESAFE_BY_RCU) != 0 || ctor != 0) {
    kmemCacheRam(c).offset = kmemCache(c).offset = size;
    size += 8;
  } else {
    kmemCacheRam(c).offset = kmemCache(c).offset = (objectSize / 2) & ~7;
  }
  kmemCacheRam(c).allocMeta = kmemCache(c).allocMeta = 0;
  kmemCacheRam(c).freeMeta = kmemCache(c).freeMeta = KASAN_NO_FREE_META;
  if (kasanMode == KASAN_GENERIC) {
    size = kasanCacheCreate(c, size, flags, ctor != 0);
    flags |= SLAB_KASAN | SLAB_NO_MERGE;
  }
  size = (size + align - 1) & ~(align - 1);
  const order = calculateOrder(size);
  if (order < 0) return false;
  kmemCacheRam(c).size = kmemCache(c).size = size;
  kmemCacheRam(c).align = kmemCache(c).align = align;
  kmemCacheRam(c).flags = kmemCache(c).flags = flags;
  kmemCacheRam(c).order = kmemCache(c).order = <u32>order;
  kmemCacheRam(c).objects = kmemCache(c).objects = orderObjects(<u32>order, size);
  kmemCacheRam(c).ctor = kmemCache(c).ctor = ctor;
  kmemCacheRam(c).cpuPartialSlabs = kmemCache(c).cpuPartialSlabs = cpuPartialSlabs(size, orderObjects(<u32>order, size));
  for (let cpu: u32 = 0; cpu < SLUB_MAX_CPUS; cpu++) {
    const k = kccLin(c, cpu);
    kcc(k).freelist = 0;
    kcc(k).slab = NO_PFN;
    kcc(k).partial = NO_PFN;
    kcc(k).partialSlabs = 0;
  }
  kmemCacheRam(c).partial = kmemCache(c).partial = NO_PFN;
  kmemCacheRam(c).full = kmemCache(c).full = NO_PFN;
  kmemCacheRam(c).nrPartial = kmemCache(c).nrPartial = 0;
  kmemCacheRam(c).live = kmemCache(c).live = 0;
  kmemCacheRam(c).kfenceLive = kmemCache(c).kfenceLive = 0;
  kmemCacheRam(c).nrSlabs = kmemCache(c).nrSlabs = 0;
  kmemCacheRam(c).refcount = kmemCache(c).refcount = 1;
  // set_min_partial(): ilog2(size) / 2, clamped to [5, 10]
  let minPartial = (31 - clz(size)) / 2;
  if (minPartial < 5) minPartial = 5;
  if (minPartial > 10) minPartial = 10;
  kmemCacheRam(c).minPartial = kmemCache(c).minPartial = minPartial;
  kmemCacheRam(c).recip = kmemCache(c).recip = <u32>((<u64>0x100000000 + size - 1) / size);
  return true;
}

// set_cpu_partial(): the objects a CPU's partial list may hold by slot size,
// as slabs assumed half full (slub_set_cpu_partial)
function cpuPartialSlabs(size: u32, objects: u32): u32 {
  const nrObjects: u32 = size >= <u32>PAGE_SIZE ? 6 : size >= 1024 ? 24 : size >= 256 ? 52 : 120;
  return (nrObjects * 2 + objects - 1) / objects;
}

// ── slab lists ───────────────────────────────────────────────────────────────
// @ts-ignore: decorator
@inline function slabInuse(pfn: u32): u32 { return pfnToPage(pfn).inuse; }
// @ts-ignore: decorator
@inline function slabSetInuse(pfn: u32, v: u32): void { pfnToPage(pfn).inuse = <u16>v; }
// @ts-ignore: decorator
@inline function slabObjects(pfn: u32): u32 { return pfnToPage(pfn).objects; }
// @ts-ignore: decorator
@inline function slabFreelist(pfn: u32): usize { return pfnToPage(pfn).freelist; }
// @ts-ignore: decorator
@inline function slabSetFreelist(pfn: u32, lin: usize): void { pfnToPage(pfn).freelist = <u32>lin; }
// @ts-ignore: decorator
@inline function slabList(pfn: u32): u32 { return pfnToPage(pfn).slabList; }
// @ts-ignore: decorator
@inline function slabSetList(pfn: u32, v: u32): void { pfnToPage(pfn).slabList = v; }

// slab_lock(): with CPU threads, a CPU frees into a slab that is another
// CPU's cpu slab or on a CPU's partial list without the kernel lock
// (slabFreeFast), as __slab_free does with one cmpxchg on the slab's freelist
// and counters. Ours are separate words, so that free and every write to a
// slab's freelist, inuse or list state while the slab is in one of those two
// states (or enters or leaves them) take the slab's lock: the kernel's
// fallback where cmpxchg_double is missing. The kernel's lock is a bit in
// struct page; ours are a hashed table outside RAM, where no buggy write can
// leave one taken. A holder never waits for anything else (in particular never
// for a lockless path: stopOthers is not called under it), and nothing is
// locked with one CPU.
// @ts-ignore: decorator
@inline function slabLockAddr(pfn: u32): usize { return SLAB_LOCKS + (<usize>(pfn & 63) << 6); }
// @ts-ignore: decorator
@inline function slabLock(pfn: u32): void { if (smpActive) sleepingLockAt(slabLockAddr(pfn), smpMayWait()); }
// @ts-ignore: decorator
@inline function slabUnlock(pfn: u32): void { if (smpActive) sleepingUnlockAt(slabLockAddr(pfn)); }
// a free into a slab in this state needs no list change (a cpu slab's and a
// CPU partial slab's frees only update the slab's freelist and inuse)
// @ts-ignore: decorator
@inline function slabFreeKeepsLists(state: u32): bool {
  const s = state & 0xff;
  return s == SLAB_LIST_CPU || s == SLAB_LIST_CPU_PARTIAL;
}

function listAdd(c: usize, field: u32, pfn: u32, state: u32): void {
  pfnListAdd(c + field, pfn);
  kcSetAt(c, field, kcAt(c, field));     // the head, written through
  slabSetList(pfn, state);
  if (state == SLAB_LIST_PARTIAL) kmemCacheRam(c).nrPartial = kmemCache(c).nrPartial = kmemCache(c).nrPartial + 1;
  if (isDefined(SF_CHECKS)) checkCacheLists(c);
}
function listDel(c: usize, pfn: u32): void {
  const state = slabList(pfn);
  if (state != SLAB_LIST_PARTIAL) { slabSetList(pfn, SLAB_LIST_NONE); return; }
  listDelFrom(c, KC_PARTIAL, pfn);
}
// The list head as the kernel prints it: 6.12's struct kmem_cache_node
// (list_lock, nr_partial, then partial at +16; nr_slabs, total_objects, then
// full at +48), placed just past the descriptor's fields, 8-byte aligned.
function nodeListVa(c: usize, field: u32): u64 {
  return linToVa(ramOf(c)) + <u64>((KC_FIELDS_END + 7) & ~7) + <u64>(field == KC_PARTIAL ? 16 : 48);
}
// list_del(&slab->slab_list) from the list at field, with CONFIG_DEBUG_LIST's
// checks: the links live in struct page, which a buggy write can reach. A link
// out of mem_map is a wild pointer (the fault on it); a link that does not
// point back is "list_del corruption". Either way the list is cut off at its
// head (its slabs leak) so it is never followed again.
function listDelFrom(c: usize, field: u32, pfn: u32): bool {
  const head = c + field;
  const ok = pfnListDelValid(head, pfn, nodeListVa(c, field));
  if (ok) {
    pfnListDel(head, pfn);
    kcSetAt(c, field, kcAt(c, field));
    if (field == KC_PARTIAL) kmemCacheRam(c).nrPartial = kmemCache(c).nrPartial = kmemCache(c).nrPartial - 1;
  } else {
    listCut(c, field);
  }
  slabSetList(pfn, SLAB_LIST_NONE);
  if (isDefined(SF_CHECKS)) checkCacheLists(c);
  return ok;
}
function listCut(c: usize, field: u32): void {
  // the slabs still reachable leave the list for good (state NONE), so freeing
  // into them later does not take them for members of the list and report again
  const id = kmemCache(c).id;
  let p = kcAt(c, field);
  for (let n: u32 = 0; p < nrFrames && n <= nrFrames && slabOfCache(p, id) && slabList(p) == SLAB_LIST_PARTIAL; n++) {
    slabSetList(p, SLAB_LIST_NONE);
    p = pgNext(p);
  }
  kcSetAt(c, field, NO_PFN);
  if (field == KC_PARTIAL) kmemCacheRam(c).nrPartial = kmemCache(c).nrPartial = 0;
  SUS.slabCorruptions++;
}
// Walk a list with the same checks before anything iterates it (destroy,
// shrink, the quarantine's cache removal); a bad list is cut. At most
// nrFrames slabs can exist, so a longer walk is a cycle.
function listVerify(c: usize, field: u32, state: u32): void {
  const id = kmemCache(c).id;
  let prev = NO_PFN;
  let pfn = kcAt(c, field);
  for (let n: u32 = 0; pfn != NO_PFN; n++) {
    if (pfn >= nrFrames) { wildPageDeref(pfn); listCut(c, field); return; }
    if (n > nrFrames || pgPrev(pfn) != prev) {
      listDelCorruption(LIST_DEL_NEXT, lruVa(pfn), pgPrev(pfn) >= nrFrames ? 0 : lruVa(pgPrev(pfn)),
                        prev == NO_PFN ? linToVa(ramOf(c)) + field : lruVa(prev));
      listCut(c, field);
      return;
    }
    if (!slabOfCache(pfn, id) || slabList(pfn) != state) {
      slabErr(pfn, id, SLAB_ERR_NOT_SLAB, 0, 0, SLAB_FIX_NONE);
      listCut(c, field);
      return;
    }
    prev = pfn;
    pfn = pgNext(pfn);
  }
}

// ── object <-> slab ──────────────────────────────────────────────────────────
// Head pfn of the slab that holds direct-map va, or NO_PFN.
export function virtToSlab(va: u64): u32 {
  const off = va - PAGE_OFFSET;
  if (off >= (<u64>nrFrames << PAGE_SHIFT)) return NO_PFN;
  let pfn = <u32>(off >> PAGE_SHIFT);
  const f = pgFlags(pfn);
  if (f & 8) {                              // PG_TAIL: cache field holds the head pfn
    pfn = pgCache(pfn);
    if (pfn >= nrFrames) return NO_PFN;     // struct page corrupted: not followed
  }
  if ((pgFlags(pfn) & PG_SLAB) == 0 || pgCache(pfn) >= SUS.nextCacheId) return NO_PFN;
  return pfn;
}
export function slabCacheId(slabPfn: u32): u32 { return pgCache(slabPfn); }

// nearest_obj(): the slot start at or below va, clamped to the last object.
// @ts-ignore: decorator
@inline export function nearestObj(c: usize, slabPfn: u32, va: u64): u64 {
  if (slabIsSlab()) return slabNearestObjFn(c, slabPfn, va);
  const start = PAGE_OFFSET + (<u64>slabPfn << PAGE_SHIFT);
  const size = <u64>kmemCache(c).size;
  const off = va - start;
  // obj_to_index()'s reciprocal where it is exact (offset x size < 2^32), a
  // division (tens of cycles, on every queued object's check) elsewhere
  let obj = off < 0x10000 && size <= 0x10000 ? start + ((off * <u64>kmemCache(c).recip) >> 32) * size : va - off % size;
  const last = start + <u64>(kmemCache(c).objects - 1) * size;
  return obj > last ? last : obj;
}

// Is lin the start of a slot of this slab? (freelist / quarantine link validation)
function validSlot(c: usize, slabPfn: u32, lin: usize): bool {
  const start = slabLin(slabPfn);
  if (lin < start) return false;
  const off = <u32>(lin - start);
  const size = kmemCache(c).size;
  const q = <u32>((<u64>off * kmemCache(c).recip) >> 32);
  return q < kmemCache(c).objects && q * size == off;
}

// Debug build: a freelist head the allocator sets is the end of the chain or
// a slot start of that slab (inside it, aligned to the object size).
function checkFreelistHead(c: usize, pfn: u32, lin: usize): void {
  assert(lin == 0 || validSlot(c, pfn, lin), "SLUB: freelist head is not a slot of its slab");
}
// Debug build: a cache's list heads are NO_PFN or frames of RAM.
function checkCacheLists(c: usize): void {
  const partial = kmemCache(c).partial, full = kmemCache(c).full;
  assert((partial == NO_PFN || partial < nrFrames) && (full == NO_PFN || full < nrFrames), "SLUB: slab list head outside mem_map");
}

// The free pointer of a free object, validated; 0 = end of chain, 1 = corrupt.
function getFreePointer(c: usize, slabPfn: u32, objLin: usize): usize {
  const v = load<u64>(objLin + kmemCache(c).offset);
  if (v == 0) return 0;
  const lin = physToLin(v - PAGE_OFFSET);
  if (v - PAGE_OFFSET >= (<u64>nrFrames << PAGE_SHIFT) || !validSlot(c, slabPfn, lin)) return 1;
  return lin;
}
// @ts-ignore: decorator
@inline export function setFreePointer(c: usize, objLin: usize, nextLin: usize): void {
  store<u64>(objLin + kmemCache(c).offset, nextLin == 0 ? 0 : linToVa(nextLin));
}

// ── slab creation and teardown ───────────────────────────────────────────────
// The pages of a new slab of cache id, marked as its slab (SLUB's allocate_slab
// and SLAB's cache_grow_begin both start here). NO_PFN when out of memory.
export function allocSlabPages(c: usize, id: u32): u32 {
  const order = kmemCache(c).order;
  const pfn = allocPagesPfn(order, USE_SLAB);
  if (pfn == NO_PFN) return NO_PFN;
  // guests may touch kmalloc objects only (never the kmem_cache descriptors)
  if (kmemCache(c).flags & SLAB_KMALLOC) guestFramesMark(pfn, 1 << order, GUEST_FRAME_HEAP);
  pgSetFlags(pfn, PG_SLAB | (order > 0 ? PG_HEAD : 0));
  pgSetCache(pfn, id);
  return pfn;
}
function newSlab(c: usize, id: u32): u32 {
  const order = kmemCache(c).order;
  const pfn = allocSlabPages(c, id);
  if (pfn == NO_PFN) return NO_PFN;
  const objects = kmemCache(c).objects;
  slabSetInuse(pfn, 0);
  pfnToPage(pfn).objects = <u16>objects;
  slabSetList(pfn, SLAB_LIST_NONE);
  kmemCacheRam(c).nrSlabs = kmemCache(c).nrSlabs = kmemCache(c).nrSlabs + 1;
  const base = slabLin(pfn);
  const size = kmemCache(c).size;
  kasanPoisonSlab(linToVa(base), <u64>PAGE_SIZE << order);
  const ctor = kmemCache(c).ctor;
  for (let i: u32 = 0; i < objects; i++) {
    const obj = base + <usize>i * size;
    kasanInitObject(c, obj);
    if (ctor != 0) {
      kasanUnpoisonNewObject(c, linToVa(obj));
      callCtor(ctor, linToVa(obj));
      kasanPoisonNewObject(c, linToVa(obj));
    }
    setFreePointer(c, obj, i + 1 < objects ? obj + size : 0);
    if (isDefined(SF_CHECKS)) checkFreelistHead(c, pfn, i + 1 < objects ? obj + size : 0);
  }
  slabSetFreelist(pfn, base);
  return pfn;
}

function discardSlab(c: usize, pfn: u32): void {
  const order = kmemCache(c).order;
  pgSetFlags(pfn, order > 0 ? PG_HEAD : 0);
  pgSetCache(pfn, 0);
  kmemCacheRam(c).nrSlabs = kmemCache(c).nrSlabs = kmemCache(c).nrSlabs - 1;
  guestFramesMark(pfn, 1 << order, 0);
  freePagesPfn(pfn, order);
}

// The free pointer of objLin (on pfn's freelist) is corrupt: report it and
// isolate the freelist (the remaining free objects leak), as SLUB's debug
// checks do ("Freechain corrupt", "Isolate corrupted freechain").
function reportFreechain(c: usize, pfn: u32, objLin: usize): void {
  // print_trailer's "Padding" starts past the free pointer and KASAN's metadata
  let infoEnd = kmemCache(c).inuse + (kmemCache(c).offset >= kmemCache(c).inuse ? 8 : 0);
  if (kmemCache(c).allocMeta != 0) infoEnd += 16;
  const fm = kmemCache(c).freeMeta;
  if (fm != 0 && fm != KASAN_NO_FREE_META) infoEnd += 16;
  slubFreechainCorrupt(linToVa(objLin), load<u64>(objLin + kmemCache(c).offset), kmemCache(c).id, kmemCache(c).objectSize, pfn,
                       infoEnd, kmemCache(c).size);
}
// The same on a CPU's lockless freelist (the cpu slab is pfn): the CPU's
// remaining free objects leak.
function isolateCpuFreelist(c: usize, pfn: u32, objLin: usize, k: usize): void {
  reportFreechain(c, pfn, objLin);
  kcc(k).freelist = 0;
  SUS.slabCorruptions++;
}
export function slab_corruptions(): u32 { return SUS.slabCorruptions + slab_corruptions_slab(); }

// ── metadata the allocator follows, checked where it follows it ─────────────
// The first descriptor field whose copy in RAM differs from the engine's, or -1
// (the counters only the engine keeps are not compared).
// The ranges below follow abi.ts's layout: a change there must change them (it broke boot once, silently).
if (KC_LIVE != 56 || KC_REFCOUNT != 60 || KC_RECIP != 80 || KC_KFENCE_LIVE != 84 || KC_FIELDS_END != 88) {
  ERROR("cacheCorruptField's ranges do not match abi.ts's KC_* offsets");
}
function cacheCorruptField(id: u32): i32 {
  const c = cacheLin(id), ram = cacheRamLin(id);
  // 8 bytes at a time: [0, 56) and [64, 80), then RECIP; LIVE, REFCOUNT and
  // KFENCE_LIVE (56, 60, 84) are the engine's counters
  for (let f: u32 = 0; f < 80; f += 8) {
    if (f == KC_LIVE) continue;
    if (load<u64>(c + f) != load<u64>(ram + f)) return <i32>(load<u32>(c + f) != load<u32>(ram + f) ? f : f + 4);
  }
  return kmemCache(c).recip != kmemCache(ram).recip ? <i32>KC_RECIP : -1;
}
// May the allocator take objects from cache id? A descriptor corrupted in RAM
// is followed no further: the kernel would load the corrupted word as a
// pointer or size and crash on it, so the engine reports the fault that
// dereference takes, and the cache hands out nothing more (CACHE_BROKEN).
export function cacheVerify(id: u32): bool {
  if (load<u8>(CACHE_STATE + id) != CACHE_ACTIVE) return false;
  const f = cacheCorruptField(id);
  if (f < 0) return true;
  store<u8>(CACHE_STATE + id, CACHE_BROKEN);
  SUS.slabCorruptions++;
  wildDeref(load<u64>(cacheRamLin(id) + (<u32>f & ~7)));
  return false;
}
// check_slab() and on_freelist()'s head check for a slab the allocator is about
// to use. A failing slab of this cache is marked all-used (its free objects
// leak) and stays off every list. False: do not use it.
// @ts-ignore: decorator
@inline function slabOfCache(pfn: u32, id: u32): bool { return (pgFlags(pfn) & (PG_SLAB | 8)) == PG_SLAB && pgCache(pfn) == id; }   // 8: PG_TAIL
function checkSlab(c: usize, id: u32, pfn: u32): bool {
  if (!slabOfCache(pfn, id)) {
    slabErr(pfn, id, SLAB_ERR_NOT_SLAB, 0, 0, SLAB_FIX_NONE);
    SUS.slabCorruptions++;
    return false;
  }
  const objects = slabObjects(pfn), max = kmemCache(c).objects, inuse = slabInuse(pfn);
  if (objects > max || inuse > objects) {
    if (objects > max) slabErr(pfn, id, SLAB_ERR_OBJECTS, objects, max, SLAB_FIX_MARK_USED);
    else slabErr(pfn, id, SLAB_ERR_INUSE, inuse, objects, SLAB_FIX_MARK_USED);
    slabSetInuse(pfn, objects);
    slabSetFreelist(pfn, 0);
    SUS.slabCorruptions++;
    return false;
  }
  const head = slabFreelist(pfn);
  if (head != 0 && !validSlot(c, pfn, head)) { freelistCleared(c, id, pfn); return false; }
  return true;
}
// The slab's own freelist pointer leads outside its objects: on_freelist()'s
// "Freepointer corrupt", then "Freelist cleared" (the free objects leak).
function freelistCleared(c: usize, id: u32, pfn: u32): void {
  slabErr(pfn, id, SLAB_ERR_FREEPOINTER, 0, 0, SLAB_FIX_FREELIST_CLEARED);
  slabSetFreelist(pfn, 0);
  slabSetInuse(pfn, kmemCache(c).objects);
  SUS.slabCorruptions++;
}

// ── allocation ───────────────────────────────────────────────────────────────
// Take a free slot (linear address) or 0 when out of memory: the current
// CPU's lockless freelist (slab_alloc_node's fast path), else ___slab_alloc.
// The freelist head is engine memory; the free pointer it leads to is in RAM,
// where a buggy write can reach it, so it is checked before it is followed.
// @ts-ignore: decorator
@inline function slabGetObject(c: usize, id: u32): usize {
  const k = kccLin(c, currentCpu);
  const obj = <usize>kcc(k).freelist;
  const slab = kcc(k).slab;
  // a cpu slab whose struct page no longer says it is this cache's slab takes
  // the slow path, which drops it (the kernel would go on handing out objects
  // that kfree cannot give back)
  if (obj != 0 && slabOfCache(slab, id)) {
    const next = getFreePointer(c, slab, obj);
    if (next != 1) {
      kcc(k).freelist = <u32>next;
      return obj;
    }
  }
  return slabGetObjectSlow(c, id, currentCpu, k);
}

// ___slab_alloc(): refill the CPU's freelist from its cpu slab's remote frees
// (get_freelist), else make another slab the cpu slab: the CPU's partial list
// first, then the node's partial list (get_partial_node, which also moves up
// to cpu_partial_slabs / 2 + 1 more slabs to the CPU's list), then a new slab.
function slabGetObjectSlow(c: usize, id: u32, cpu: u32, k: usize): usize {
  if (!cacheVerify(id)) return 0;
  for (;;) {
    const slab = kcc(k).slab;
    if (slab != NO_PFN) {
      if (!slabOfCache(slab, id)) {
        // check_slab() on the cpu slab: dropped with the CPU's free objects (they leak), never put on a list
        slabErr(slab, id, SLAB_ERR_NOT_SLAB, 0, 0, SLAB_FIX_NONE);
        SUS.slabCorruptions++;
        kcc(k).slab = NO_PFN;
        kcc(k).freelist = 0;
        continue;
      }
      const obj = <usize>kcc(k).freelist;
      if (obj != 0) {
        // load_freelist
        const next = getFreePointer(c, slab, obj);
        if (next != 1) {
          if (isDefined(SF_CHECKS)) checkFreelistHead(c, slab, next);
          kcc(k).freelist = <u32>next;
          return obj;
        }
        isolateCpuFreelist(c, slab, obj, k);
        continue;
      }
      // get_freelist(): take what other CPUs freed; none left unfreezes it
      // (full), in one step with the take, as the kernel's cmpxchg does
      slabLock(slab);
      const remote = slabFreelist(slab);
      const cleared = remote != 0 && !validSlot(c, slab, remote);
      slabSetFreelist(slab, 0);
      slabSetInuse(slab, kmemCache(c).objects);
      if (remote != 0 && !cleared) {
        slabUnlock(slab);
        kcc(k).freelist = <u32>remote;
        continue;
      }
      kcc(k).slab = NO_PFN;
      // full (on no list); a slab the fix marked all used stays off for good
      slabSetList(slab, cleared ? SLAB_LIST_NONE : SLAB_LIST_FULL);
      slabUnlock(slab);
      if (cleared) freelistCleared(c, id, slab);
    }
    // new_slab: the CPU's partial list
    let pfn = cpuPartialPop(c, id, cpu, k);
    if (pfn != NO_PFN) {
      if (checkSlab(c, id, pfn)) freezeSlab(c, pfn, cpu, k);
      continue;
    }
    // get_partial(): the node's partial list
    pfn = kmemCache(c).partial;
    if (pfn != NO_PFN) {
      listDelFrom(c, KC_PARTIAL, pfn);
      if (!checkSlab(c, id, pfn)) continue;
      fillCpuPartial(c, cpu);
      freezeSlab(c, pfn, cpu, k);
      continue;
    }
    pfn = newSlab(c, id);
    if (pfn == NO_PFN) return 0;
    freezeSlab(c, pfn, cpu, k);
  }
  return 0;   // (not reached: the loop returns)
}

// get_partial_node() past the slab it takes: up to cpu_partial_slabs / 2 + 1
// more from the node's partial list to the CPU's (put_cpu_partial, no drain).
function fillCpuPartial(c: usize, cpu: u32): void {
  const limit = kmemCache(c).cpuPartialSlabs;
  if (limit == 0) return;
  for (let n: u32 = 0; n <= limit / 2; n++) {
    const more = kmemCache(c).partial;
    if (more == NO_PFN || !listDelFrom(c, KC_PARTIAL, more)) return;
    putCpuPartial(c, more, cpu, false);
  }
}

// freeze_slab(): the slab becomes the CPU's cpu slab; its freelist moves to
// the CPU and its objects count as in use until the CPU gives them back.
function freezeSlab(c: usize, pfn: u32, cpu: u32, k: usize): void {
  slabLock(pfn);
  freezeLocked(c, pfn, cpu, k);
  slabUnlock(pfn);
}
// The same with the slab's lock held.
function freezeLocked(c: usize, pfn: u32, cpu: u32, k: usize): void {
  kcc(k).freelist = <u32>slabFreelist(pfn);
  slabSetFreelist(pfn, 0);
  slabSetInuse(pfn, kmemCache(c).objects);
  slabSetList(pfn, slabOnCpu(SLAB_LIST_CPU, cpu));
  kcc(k).slab = pfn;
}

// The CPU's partial list is linked through struct page's next (slab->next),
// which a buggy write can reach: a link that does not lead to a slab of this
// cache on this CPU's list cuts the list there (its slabs leak), reported as
// check_slab() does.
function cpuPartialValid(c: usize, id: u32, pfn: u32, cpu: u32): bool {
  if (pfn < nrFrames && slabOfCache(pfn, id) && slabList(pfn) == slabOnCpu(SLAB_LIST_CPU_PARTIAL, cpu)) return true;
  if (pfn >= nrFrames) wildPageDeref(pfn);
  else slabErr(pfn, id, SLAB_ERR_NOT_SLAB, 0, 0, SLAB_FIX_NONE);
  SUS.slabCorruptions++;
  return false;
}
function cpuPartialPop(c: usize, id: u32, cpu: u32, k: usize): u32 {
  const pfn = kcc(k).partial;
  if (pfn == NO_PFN) return NO_PFN;
  if (!cpuPartialValid(c, id, pfn, cpu)) { kcc(k).partial = NO_PFN; kcc(k).partialSlabs = 0; return NO_PFN; }
  kcc(k).partial = pgNext(pfn);
  kcc(k).partialSlabs = kcc(k).partialSlabs - 1;
  slabLock(pfn);
  slabSetList(pfn, SLAB_LIST_NONE);
  slabUnlock(pfn);
  return pfn;
}
// put_cpu_partial(): push a slab on the current CPU's partial list; with
// drain, a list already at s->cpu_partial_slabs first goes to the node.
function putCpuPartial(c: usize, pfn: u32, cpu: u32, drain: bool): void {
  const k = kccLin(c, cpu);
  if (drain && !cpuPartialTakes(c, k)) putPartials(c, cpu, k);
  slabLock(pfn);
  pushCpuPartial(c, pfn, cpu, k);
  slabUnlock(pfn);
}
// May the CPU's partial list (k) take one more slab without a drain to the node?
// @ts-ignore: decorator
@inline function cpuPartialTakes(c: usize, k: usize): bool {
  return kcc(k).partial == NO_PFN || kcc(k).partialSlabs < kmemCache(c).cpuPartialSlabs;
}
// The push itself, under the slab's lock (its state changes).
function pushCpuPartial(c: usize, pfn: u32, cpu: u32, k: usize): void {
  const slabs = kcc(k).partial == NO_PFN ? 0 : kcc(k).partialSlabs;
  pgSetNext(pfn, kcc(k).partial);
  pgSetPrev(pfn, NO_PFN);
  kcc(k).partial = pfn;
  kcc(k).partialSlabs = slabs + 1;
  slabSetList(pfn, slabOnCpu(SLAB_LIST_CPU_PARTIAL, cpu));
}
// Objects head..tail (linked; tail's link set here) onto the CPU's (k) lockless freelist.
// @ts-ignore: decorator
@inline function cpuFreelistPush(c: usize, k: usize, head: usize, tail: usize): void {
  setFreePointer(c, tail, kcc(k).freelist);
  kcc(k).freelist = <u32>head;
}
// With the slab's lock held: may a free of cnt objects into this slab (not
// the CPU's (k) cpu slab) run without the kernel lock? Only where no node list
// changes: a cpu slab, a slab on a CPU's partial list, a full slab this CPU's
// partial list takes without a drain to the node (full as __slab_free tells
// it, by the empty freelist), or a slab on the node's partial list that the
// free leaves in use (__slab_free takes n->list_lock only to unlink it empty).
// @ts-ignore: decorator
@inline function lockedFreeKeepsNodeLists(c: usize, slab: u32, k: usize, cnt: u32): bool {
  const state = slabList(slab);
  return slabFreeKeepsLists(state) || (state == SLAB_LIST_FULL && slabFreelist(slab) == 0 && cpuPartialTakes(c, k)) ||
    (state == SLAB_LIST_PARTIAL && slabInuse(slab) > cnt);
}
// That free, with the slab's lock held: cnt objects head..tail onto the slab's
// freelist; a full slab goes to this CPU's partial list.
// @ts-ignore: decorator
@inline function lockedFreeLink(c: usize, slab: u32, head: usize, tail: usize, cnt: u32, k: usize): void {
  setFreePointer(c, tail, slabFreelist(slab));
  slabSetFreelist(slab, head);
  slabSetInuse(slab, slabInuse(slab) - cnt);
  if (slabList(slab) == SLAB_LIST_FULL) pushCpuPartial(c, slab, currentCpu, k);
}
// __put_partials(): the CPU's partial list to the node's partial list, empty
// slabs beyond s->min_partial to the page allocator.
function putPartials(c: usize, cpu: u32, k: usize): void {
  const id = kmemCache(c).id;
  let pfn = kcc(k).partial;
  kcc(k).partial = NO_PFN;
  kcc(k).partialSlabs = 0;
  for (let n: u32 = 0; pfn != NO_PFN && n <= nrFrames; n++) {
    if (!cpuPartialValid(c, id, pfn, cpu)) return;
    const next = pgNext(pfn);
    slabLock(pfn);
    const discard = slabInuse(pfn) == 0 && kmemCache(c).nrPartial >= kmemCache(c).minPartial;
    if (discard) slabSetList(pfn, SLAB_LIST_NONE);
    else listAdd(c, KC_PARTIAL, pfn, SLAB_LIST_PARTIAL);
    slabUnlock(pfn);
    if (discard) discardSlab(c, pfn);
    pfn = next;
  }
}

// deactivate_slab(): give a cpu slab back. The CPU's freelist is counted and
// spliced in front of the slab's own (the remote frees), then the slab goes
// where its state says: the page allocator (empty, and the node has
// s->min_partial partial slabs), the node's partial list, or no list (full).
function deactivateSlab(c: usize, id: u32, pfn: u32, freelist: usize): void {
  if (!checkSlab(c, id, pfn)) {
    // metadata a buggy write reached (reported): it leaks, with the CPU's objects
    if (slabOfCache(pfn, id)) slabSetList(pfn, SLAB_LIST_NONE);
    return;
  }
  const objects = kmemCache(c).objects;
  let tail: usize = 0;
  let delta: u32 = 0;
  let p = freelist;
  while (p != 0) {
    const next = getFreePointer(c, pfn, p);
    // a bad link, or more links than objects (a cycle): the rest is isolated
    if (next == 1 || delta >= objects) { reportFreechain(c, pfn, p); SUS.slabCorruptions++; break; }
    tail = p;
    delta++;
    p = next;
  }
  let inuse = slabInuse(pfn);
  if (tail != 0) {
    setFreePointer(c, tail, slabFreelist(pfn));
    slabSetFreelist(pfn, freelist);
    inuse = inuse > delta ? inuse - delta : 0;
    slabSetInuse(pfn, inuse);
  }
  slabSetList(pfn, SLAB_LIST_NONE);
  if (inuse == 0 && kmemCache(c).nrPartial >= kmemCache(c).minPartial) discardSlab(c, pfn);
  else if (slabFreelist(pfn) != 0) listAdd(c, KC_PARTIAL, pfn, SLAB_LIST_PARTIAL);
  else slabSetList(pfn, SLAB_LIST_FULL);
}

// __flush_cpu_slab(): a CPU's cpu slab and partial list back to the node.
function flushCpuSlab(c: usize, cpu: u32): void {
  const k = kccLin(c, cpu);
  const slab = kcc(k).slab, freelist = <usize>kcc(k).freelist;
  kcc(k).slab = NO_PFN;
  kcc(k).freelist = 0;
  if (slab != NO_PFN) deactivateSlab(c, kmemCache(c).id, slab, freelist);
  putPartials(c, cpu, k);
}
// flush_all(): every CPU's (kmem_cache_shrink, kmem_cache_destroy). The kernel
// runs each CPU's flush on that CPU through a workqueue; here the caller does
// all of them.
export function flushAll(c: usize): void {
  if (slabIsSlab()) return;
  stopOthers();
  const n = slubNrCpus();
  for (let cpu: u32 = 0; cpu < n; cpu++) flushCpuSlab(c, cpu);
}

// ── the lockless per-CPU paths (SMP) ────────────────────────────────────────
// With CPU threads running, kmalloc and kfree first try the current CPU's own
// kmem_cache_cpu without the kernel lock (smp.ts's fastBegin brackets them):
// the object at the head of the CPU's lockless freelist, and a free into the
// CPU's cpu slab or (generic KASAN) onto its quarantine queue. Anything else,
// anything that would report, and anything needing shared state (a new slab,
// the depot, a quarantine move or reduction, KFENCE's gate, SLAB, tag modes)
// returns "not done" before changing anything, and the caller takes the slow
// path under the kernel lock. Their changes to a cache's live count are kept
// per CPU (FAST_LIVE) and summed by cacheLive.
// @ts-ignore: decorator
@inline function liveDelta(id: u32): usize { return FAST_LIVE + ((<usize>thisCpu << 12) + <usize>id << 2); }
/** The cache's live objects: its count plus every CPU's lockless changes (wrapping, as either may run ahead). */
export function cacheLive(c: usize): u32 {
  let n = kmemCache(c).live;
  const id = <u32>((c - CACHE_PRIV) >> 7);
  for (let cpu: u32 = 0; cpu < SMP_MAX_CPUS; cpu++) n += load<u32>(FAST_LIVE + ((<usize>cpu << 12) + <usize>id << 2));
  return n;
}

/** kmalloc(size, gfp) on the lockless path: the object, or 0 when the slow path must run (nothing changed). */
export function kmallocFast(size: u64, gfp: u32): u64 {
  if (size == 0 || size > <u64>KMALLOC_MAX_CACHE_SIZE) return 0;
  return slabAllocFast(load<u32>(KMALLOC_IDS + (<usize>kmallocIndex(<u32>size) << 2)), gfp, <u32>size);
}
/** kmem_cache_alloc(id, gfp) on the lockless path (0: take the slow path). */
export function kmemCacheAllocFast(id: u32, gfp: u32): u64 {
  return id < SUS.nextCacheId ? slabAllocFast(id, gfp, 0) : 0;
}
// slabAlloc's work from the CPU's lockless freelist; orig as in slabAlloc
function slabAllocFast(id: u32, gfp: u32, orig: u32): u64 {
  if (currentCpu != thisCpu || kfenceGateOpen() || slabIsSlab() || kasanMode == KASAN_SW_TAGS) return 0;
  if (load<u8>(CACHE_STATE + id) != CACHE_ACTIVE) return 0;
  const c = cacheLin(id);
  if (kasanMode == KASAN_GENERIC) {
    if ((gfp & GFP_DIRECT_RECLAIM) != 0 && !quarantineWithinBudget()) return 0;
    // the alloc track's stack must be one this CPU saved before (saving a new one takes the depot's lock)
    const track = (kmemCache(c).flags & SLAB_KMALLOC) == 0 ? TRACK_CACHE_ALLOC : orig != 0 ? TRACK_KMALLOC : 0;
    if (track != 0 && !kasanStackCached(track)) return 0;
  }
  const k = kccLin(c, currentCpu);
  let obj = <usize>kcc(k).freelist;
  let slab = kcc(k).slab;
  if (obj == 0) {
    if (!refillFast(c, id, k)) return 0;
    obj = <usize>kcc(k).freelist;
    slab = kcc(k).slab;
  }
  if (obj == 0 || !slabOfCache(slab, id)) return 0;
  const next = getFreePointer(c, slab, obj);
  if (next == 1) return 0;          // a corrupt free pointer: the slow path reports it
  kcc(k).freelist = <u32>next;
  fastCount(FAST_ALLOCS);
  const d = liveDelta(id);
  store<u32>(d, load<u32>(d) + 1);
  let va = linToVa(obj);
  if ((gfp & GFP_ZERO) != 0 || cfg(CFG_INIT_ON_ALLOC) != 0) memory.fill(obj, 0, kmemCache(c).objectSize);
  va = kasanSlabAlloc(c, id, va, gfp, false);
  if (orig != 0) va = kasanKmalloc(c, va, orig);
  return va;
}

// ___slab_alloc's refills that touch no node list, without the kernel lock:
// the cpu slab's remote frees (get_freelist; none left: the slab is full and
// leaves the CPU, on no list), then the head of the CPU's own partial list,
// frozen as the cpu slab. False leaves the rest to slabGetObjectSlow (the
// node's list, a new slab) and anything it would report to the slow path,
// before changing what it reports on.
function refillFast(c: usize, id: u32, k: usize): bool {
  if (cacheCorruptField(id) >= 0) return false;
  const cpu = currentCpu;
  const slab = kcc(k).slab;
  if (slab != NO_PFN) {
    if (!slabOfCache(slab, id)) return false;
    slabLock(slab);
    const remote = slabFreelist(slab);
    if (remote != 0 && !validSlot(c, slab, remote)) { slabUnlock(slab); return false; }
    slabSetFreelist(slab, 0);
    slabSetInuse(slab, kmemCache(c).objects);
    if (remote != 0) {
      slabUnlock(slab);
      kcc(k).freelist = <u32>remote;
      return true;
    }
    slabSetList(slab, SLAB_LIST_FULL);
    slabUnlock(slab);
    kcc(k).slab = NO_PFN;
  }
  const pfn = kcc(k).partial;
  if (pfn == NO_PFN || pfn >= nrFrames || !slabOfCache(pfn, id) || slabList(pfn) != slabOnCpu(SLAB_LIST_CPU_PARTIAL, cpu)) return false;
  // check_slab()'s checks, under the lock that remote frees into it take
  slabLock(pfn);
  const objects = slabObjects(pfn), inuse = slabInuse(pfn), head = slabFreelist(pfn);
  if (objects > kmemCache(c).objects || inuse > objects || (head != 0 && !validSlot(c, pfn, head))) { slabUnlock(pfn); return false; }
  kcc(k).partial = pgNext(pfn);
  kcc(k).partialSlabs = kcc(k).partialSlabs - 1;
  freezeLocked(c, pfn, cpu, k);
  slabUnlock(pfn);
  return true;
}

/** kfree(va) on the lockless path: true when done, false when the slow path must run (nothing changed). */
export function kfreeFast(va: u64): bool {
  return va <= <u64>ZERO_SIZE_PTR || slabFreeFast(va, 0xffffffff, CALL_KFREE);
}
/** kmem_cache_free(id, va) on the lockless path (false: take the slow path). */
export function kmemCacheFreeFast(id: u32, va: u64): bool {
  return va != 0 && slabFreeFast(va, id, CALL_KMEM_CACHE_FREE);
}
// slabFree's work into the CPU's cpu slab or quarantine queue; `expect`: the
// cache the caller names (0xffffffff: any), call as in slabFree
function slabFreeFast(va: u64, expect: u32, call: u32): bool {
  if (currentCpu != thisCpu || slabIsSlab() || kasanMode == KASAN_SW_TAGS || isKfenceAddress(va)) return false;
  const obj = untag(va);
  const slab = virtToSlab(obj);
  if (slab == NO_PFN) return false;
  const id = pgCache(slab);
  if ((expect != 0xffffffff && id != expect) || id >= SUS.nextCacheId || load<u8>(CACHE_STATE + id) != CACHE_ACTIVE) return false;
  const c = cacheLin(id);
  if ((kmemCache(c).flags & SLAB_TYPESAFE_BY_RCU) != 0) return false;
  const lin = dmLin(obj);
  // what kasanSlabPreFree and naiveDoubleFree would report
  if (kasanMode != KASAN_OFF && (nearestObj(c, slab, obj) != obj || !kasanByteAccessible(va))) return false;
  const k = kccLin(c, currentCpu);
  const own = kcc(k).slab == slab;
  if ((own ? <usize>kcc(k).freelist : slabFreelist(slab)) == lin || slabInuse(slab) == 0) return false;
  const queue = kasanMode == KASAN_GENERIC && freeMetaLin(c, lin) != 0;
  if (queue) {
    if (!quarantineTakesLocal(currentCpu, kmemCache(c).size) || !kasanStackCached(freeTrack(call))) return false;
  } else if (!own) {
    // __slab_free into another slab: without the kernel lock only where no
    // node list changes (the slab's lock is held from here to the link below)
    slabLock(slab);
    if (!lockedFreeKeepsNodeLists(c, slab, k, 1) || !slabOfCache(slab, id) || slabFreelist(slab) == lin || slabInuse(slab) == 0) {
      slabUnlock(slab);
      return false;
    }
  }
  fastCount(FAST_FREES);
  const d = liveDelta(id);
  store<u32>(d, load<u32>(d) - 1);
  if (cfg(CFG_INIT_ON_FREE) != 0) memory.fill(lin, 0, kmemCache(c).objectSize);
  if (queue) {
    kasanSlabFreePoison(c, va, call);
    quarantinePutLocal(c, currentCpu, obj);
  } else {
    if (kasanMode != KASAN_OFF) kasanSlabFree(c, va, call);   // (poisons; no free meta, so no quarantine)
    if (own) {
      cpuFreelistPush(c, k, lin, lin);
    } else {
      lockedFreeLink(c, slab, lin, lin, 1, k);
      slabUnlock(slab);
    }
  }
  return true;
}

// slab_alloc_node + slab_post_alloc_hook. orig is the kmalloc size (0 for
// kmem_cache_alloc), call the API it came through (CALL_ALLOC*). Returns the
// (possibly tagged) object address, 0 on failure.
export function slabAlloc(id: u32, gfp: u32, orig: u32, call: u32): u64 {
  const c = cacheLin(id);
  if (kfenceGateOpen()) {
    const k = kfenceAlloc(id, orig != 0 ? orig : kmemCache(c).objectSize, gfp, call);
    if (k != 0) return k;
  }
  const lin = slabIsSlab() ? slabCacheAllocFn(c, id, gfp) : slabGetObject(c, id);
  if (lin == 0) {
    // a cache isolated for a corrupted descriptor already oopsed: no allocation failure to warn about
    if (load<u8>(CACHE_STATE + id) == CACHE_ACTIVE) slabOutOfMemory(c, id, gfp);
    return 0;
  }
  statInc(STAT_SLAB_ALLOCS);
  kmemCache(c).live++;
  let va = linToVa(lin);
  if ((gfp & GFP_ZERO) != 0 || cfg(CFG_INIT_ON_ALLOC) != 0) memory.fill(lin, 0, kmemCache(c).objectSize);
  va = kasanSlabAlloc(c, id, va, gfp, true);
  if (orig != 0) va = kasanKmalloc(c, va, orig);
  return va;
}

// allocate_slab() failed: warn_alloc() for the slab's pages, then
// slab_out_of_memory()'s "SLUB: Unable to allocate memory" lines (the host
// reads the cache's counts from the record's cache id).
function slabOutOfMemory(c: usize, id: u32, gfp: u32): void {
  const order = kmemCache(c).order;
  const page = warnAlloc(order, gfp | (order > 0 ? GFP_COMP : 0), ALLOC_SITE_SLAB);
  if (page != 0) store<u32>(page + R_CACHE, id);
  if ((gfp & GFP_NOWARN) != 0 || slabIsSlab()) return;     // (SLAB's slab_out_of_memory is not printed)
  const missed = ratelimit(RL_SLUB_OOM);
  if (missed < 0) return;
  const rec = warnRecord(WARN_ALLOC_FAILED, ALLOC_SITE_SLAB, order);
  store<u8>(rec + R_FLAGS, RF_OBJECT);
  store<u32>(rec + R_CACHE, id);
  store<u64>(rec + R_ARG2, gfp);
  store<u64>(rec + R_FIRST_BAD, <u64>missed);
}

// Return a slot (do_slab_free): the last step of a free. The fast path is
// the current CPU's own cpu slab (its lockless freelist); any other slab,
// another CPU's cpu slab included, takes __slab_free.
export function slabFreeToSlab(c: usize, slabPfn: u32, lin: usize): void {
  if (slabIsSlab()) { slabCacheFreeFn(c, slabPfn, lin); return; }
  const k = kccLin(c, currentCpu);
  if (kcc(k).slab == slabPfn) {
    cpuFreelistPush(c, k, lin, lin);
    return;
  }
  slabFreeSlow(c, slabPfn, lin, lin, 1);
}
// do_slab_free with a detached freelist (SLUB): cnt objects of one slab,
// linked from head to tail (whose link is set here), as kmem_cache_free_bulk
// frees them: the quarantine frees a run of one slab's objects this way.
export function slabFreeDetached(c: usize, slabPfn: u32, head: usize, tail: usize, cnt: u32): void {
  const k = kccLin(c, currentCpu);
  if (kcc(k).slab == slabPfn) {
    cpuFreelistPush(c, k, head, tail);
    return;
  }
  slabFreeSlow(c, slabPfn, head, tail, cnt);
}

// A quarantine run (cnt queued objects of one slab) back to its slab without
// the kernel lock (kasan/quarantine.ts, fuzz --cpus), where that changes no
// node list, as the lockless kfree into another slab does (slabFreeFast).
// slabFreeRunBegin decides, before
// the caller links the run (its links overwrite the quarantine's):
// FREE_RUN_NO (nothing taken: the kernel lock's pass frees it), FREE_RUN_OWN,
// or FREE_RUN_LOCKED (the slab's lock is now held); slabFreeRunEnd links the
// run in and lets the lock go. The caller is on a lockless path (fastBegin).
// @ts-ignore: decorator
@inline export const FREE_RUN_NO: i32 = 0;
// @ts-ignore: decorator
@inline export const FREE_RUN_OWN: i32 = 1;
// @ts-ignore: decorator
@inline export const FREE_RUN_LOCKED: i32 = 2;
export function slabFreeRunBegin(c: usize, slab: u32, cnt: u32): i32 {
  if (slabIsSlab() || !slabOfCache(slab, kmemCache(c).id)) return FREE_RUN_NO;
  const k = kccLin(c, currentCpu);
  if (kcc(k).slab == slab) return FREE_RUN_OWN;
  slabLock(slab);
  if (lockedFreeKeepsNodeLists(c, slab, k, cnt) && slabInuse(slab) >= cnt) return FREE_RUN_LOCKED;
  slabUnlock(slab);
  return FREE_RUN_NO;
}
export function slabFreeRunEnd(c: usize, slab: u32, head: usize, tail: usize, cnt: u32, how: i32): void {
  const k = kccLin(c, currentCpu);
  if (how == FREE_RUN_OWN) {
    cpuFreelistPush(c, k, head, tail);
    return;
  }
  lockedFreeLink(c, slab, head, tail, cnt, k);
  slabUnlock(slab);
}

// __slab_free(): onto the slab's own freelist. A frozen slab (another CPU's
// cpu slab) needs nothing more; a full slab goes to this CPU's partial list
// (put_cpu_partial, draining it when full); an empty slab on the node's
// partial list goes to the page allocator once the node keeps
// s->min_partial; an empty slab on a CPU's partial list stays there.
function slabFreeSlow(c: usize, slabPfn: u32, head: usize, tail: usize, cnt: u32): void {
  // A full slab goes to this CPU's partial list in the same step as the free
  // (a lockless free into it would move it too): a list at its limit drains
  // first, as no slab lock is taken under another. (A node-partial slab's
  // list changes need no slab lock: a lockless free leaves it to the kernel lock.)
  const k = kccLin(c, currentCpu);
  if (slabList(slabPfn) == SLAB_LIST_FULL && !cpuPartialTakes(c, k)) putPartials(c, currentCpu, k);
  slabLock(slabPfn);
  const prior = slabFreelist(slabPfn);
  setFreePointer(c, tail, prior);
  slabSetFreelist(slabPfn, head);
  const inuse = slabInuse(slabPfn) - cnt;
  slabSetInuse(slabPfn, inuse);
  // full as __slab_free tells it, by the empty freelist (a state a buggy
  // write set on a slab with free objects moves no list)
  const state = slabList(slabPfn);
  if (state == SLAB_LIST_FULL && prior == 0) pushCpuPartial(c, slabPfn, currentCpu, k);
  slabUnlock(slabPfn);
  if (inuse == 0 && state == SLAB_LIST_PARTIAL && kmemCache(c).nrPartial >= kmemCache(c).minPartial) {
    listDel(c, slabPfn);
    discardSlab(c, slabPfn);
  }
}

// slab_free after KFENCE: KASAN's invalid/double-free checks, then (for
// SLAB_TYPESAFE_BY_RCU caches under KASAN, CONFIG_SLUB_RCU_DEBUG) a delay until
// the next RCU grace period, then poisoning and the quarantine. va may be
// tagged, call the API the free came through (CALL_*). Returns false when the
// free was refused (and reported).
export function slabFree(id: u32, slabPfn: u32, va: u64, call: u32): bool {
  const c = cacheLin(id);
  if (kasanSlabPreFree(c, slabPfn, va, call)) return false;
  // SLAB: no naive double-free check, and no SLUB_RCU_DEBUG (an RCU object is not poisoned)
  if (!slabIsSlab() && naiveDoubleFree(c, slabPfn, untag(va))) return false;
  // (the count may be short here while a CPU's lockless allocations are not added in: see cacheLive)
  if (kmemCache(c).live != 0 || smpActive) kmemCache(c).live--;
  statInc(STAT_SLAB_FREES);
  if ((kmemCache(c).flags & SLAB_TYPESAFE_BY_RCU) != 0 && kasanMode != KASAN_OFF) {
    if (slabIsSlab()) slabFreeToSlab(c, slabPfn, dmLin(untag(va)));
    else rcuDeferSlabFree(va);
    return true;
  }
  slabFreeFinish(c, slabPfn, va, call);
  return true;
}

// The rest of slab_free_hook and do_slab_free (also the RCU callback's work).
export function slabFreeFinish(c: usize, slabPfn: u32, va: u64, call: u32): void {
  const lin = dmLin(untag(va));
  if (cfg(CFG_INIT_ON_FREE) != 0) memory.fill(lin, 0, kmemCache(c).objectSize);
  if (!kasanSlabFree(c, va, call)) slabFreeToSlab(c, slabPfn, lin);
}

// CONFIG_SLAB_FREELIST_HARDENED's "naive detection of double free": freeing the
// object that already heads its slab's freelist, or into a slab with nothing
// in use. The kernel BUG()s; we refuse the free and report it.
function naiveDoubleFree(c: usize, slabPfn: u32, va: u64): bool {
  const lin = dmLin(va);
  // the freelist the object would join: the CPU's own for its cpu slab
  const k = kccLin(c, currentCpu);
  const head = kcc(k).slab == slabPfn ? <usize>kcc(k).freelist : slabFreelist(slabPfn);
  if (head != lin && slabInuse(slabPfn) != 0) return false;
  slubBug(va, kmemCache(c).id);
  return true;
}

// ── kmalloc ──────────────────────────────────────────────────────────────────
// kmalloc_index(): 8, 16, 32, 64, 96, 128, 192, 256, 512, 1k, 2k, 4k, 8k -> 0..12.
// As kmalloc_slab() finds it: a table by 8-byte steps up to 192 (the kernel's
// size_index[]), the power of two above; no chain of compares, whose branches
// random sizes mispredict.
const KMALLOC_SIZE_INDEX: usize = memory.data<u8>([0, 0, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6]);
// @ts-ignore: decorator
@inline export function kmallocIndex(size: u32): i32 {
  if (size <= 192) return <i32>load<u8>(KMALLOC_SIZE_INDEX + ((size + 7) >> 3));
  return size <= 8192 ? 31 - <i32>clz(size - 1) : -1;
}
const KMALLOC_SIZES: usize = memory.data<u32>([8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192]);
export function kmalloc_cache_id(index: i32): u32 { return load<u32>(KMALLOC_IDS + (<usize>index << 2)); }

// kmalloc(size, gfp): ZERO_SIZE_PTR for 0, slab caches up to 8 KiB, pages above.
export function kmalloc(size: u64, gfp: u32): u64 { return kmallocFrom(size, gfp, CALL_ALLOC); }
export function kmallocFrom(size: u64, gfp: u32, call: u32): u64 {
  if (size == 0) return ZERO_SIZE_PTR;
  if (size > <u64>KMALLOC_MAX_CACHE_SIZE) return kmallocLarge(size, gfp);
  const id = load<u32>(KMALLOC_IDS + (<usize>kmallocIndex(<u32>size) << 2));
  return slabAlloc(id, gfp, <u32>size, call);
}

// ___kmalloc_large_node: a compound page allocation, poisoned past size.
export function kmallocLarge(size: u64, gfp: u32): u64 {
  if (size > <u64>KMALLOC_MAX_SIZE) {
    // get_order(size) > MAX_PAGE_ORDER: __alloc_pages refuses it with a WARN
    warnAllocOrder(<u32>(64 - clz<u64>((size - 1) >> PAGE_SHIFT)), gfp | GFP_COMP, ALLOC_SITE_LARGE_KMALLOC);
    return 0;
  }
  const order = getOrder(size);
  const pfn = allocPagesPfn(order, USE_LARGE_KMALLOC);
  if (pfn == NO_PFN) { warnAlloc(order, gfp | GFP_COMP, ALLOC_SITE_LARGE_KMALLOC); return 0; }
  pgSetFlags(pfn, pgFlags(pfn) | PG_LARGE_KMALLOC | (order > 0 ? PG_HEAD : 0));
  pgSetPrivate(pfn, size);
  guestFramesMark(pfn, 1 << order, GUEST_FRAME_HEAP);
  const lin = slabLin(pfn);
  if ((gfp & GFP_ZERO) != 0 || cfg(CFG_INIT_ON_ALLOC) != 0) memory.fill(lin, 0, <usize>(<u64>PAGE_SIZE << order));
  return kasanKmallocLarge(linToVa(lin), size, order);
}

// Free a large kmalloc block (free_large_kmalloc) after its checks.
export function kfreeLarge(pfn: u32): void {
  const order = pgOrderSafe(pfn);
  guestFramesMark(pfn, 1 << order, 0);
  freePagesPfn(pfn, order);
}

// kfree(). Returns a KFREE_* code so the host can explain refused frees when
// KASAN is off (with KASAN on, KASAN has reported them).
// @ts-ignore: decorator
@inline export const KFREE_OK: i32 = 0;
// @ts-ignore: decorator
@inline export const KFREE_REFUSED: i32 = 1;     // KASAN reported (invalid/double free)
// @ts-ignore: decorator
@inline export const KFREE_NOT_HEAP: i32 = 2;    // not a slab object nor a large kmalloc
// @ts-ignore: decorator
@inline export const KFREE_BAD_PAGE: i32 = 3;    // large kmalloc pointer that is not its start / already free
export function kfree(va: u64): i32 { return kfreeFrom(va, CALL_KFREE); }
// kfree() reached through call (CALL_KFREE, or an API that ends in kfree)
export function kfreeFrom(va: u64, call: u32): i32 {
  if (va <= <u64>ZERO_SIZE_PTR) return KFREE_OK;
  if (isKfenceAddress(va) && kfenceFree(va, call)) return KFREE_OK;
  const untagged = untag(va);
  const slab = virtToSlab(untagged);
  if (slab != NO_PFN) {
    const id = pgCache(slab);
    return slabFree(id, slab, va, call) ? KFREE_OK : KFREE_REFUSED;
  }
  return kfreeNonSlab(va, untagged);
}

function kfreeNonSlab(va: u64, untagged: u64): i32 {
  const off = untagged - PAGE_OFFSET;
  if (off >= (<u64>nrFrames << PAGE_SHIFT)) {
    return kasanKfreeLargeCheck(va, NO_PFN) ? KFREE_REFUSED : KFREE_NOT_HEAP;
  }
  let pfn = <u32>(off >> PAGE_SHIFT);
  pfn = pgHead(pfn);
  if (kasanKfreeLargeCheck(va, pfn)) return KFREE_REFUSED;
  const f = pgFlags(pfn);
  if ((f & PG_LARGE_KMALLOC) == 0 || (off & ((<u64>PAGE_SIZE << pgOrderSafe(pfn)) - 1)) != 0 ||
      (off >> PAGE_SHIFT) != <u64>pfn) return KFREE_BAD_PAGE;
  kfreeLarge(pfn);
  return KFREE_OK;
}

// ── caches ───────────────────────────────────────────────────────────────────
// The next cache id for the descriptor at ram (linear); its engine copy starts zeroed.
function reserveCache(ram: usize): i32 {
  if (SUS.nextCacheId >= <u32>MAX_CACHES) return -1;
  const id = SUS.nextCacheId;
  store<u32>(CACHE_LIN + (<usize>id << 2), <u32>ram);
  memory.fill(cacheLin(id), 0, 128);
  return <i32>id;
}
function registerCache(id: u32): void {
  SUS.nextCacheId = id + 1;
  store<u8>(CACHE_STATE + id, CACHE_ACTIVE);
  const c = cacheLin(id);
  kmemCacheRam(c).id = kmemCache(c).id = id;
  memory.copy(cacheRamLin(id), c, KC_FIELDS_END);
}

// kmem_cache_create(). Returns the cache id, or -EINVAL / -ENOMEM.
export function kmem_cache_create(objectSize: u32, align: u32, flags: u32, ctor: u32): i32 {
  if (objectSize == 0 || objectSize > KMALLOC_MAX_SIZE || (align & (align - 1)) != 0 || align > KMALLOC_MAX_SIZE) return -EINVAL;
  const va = slabAlloc(0, GFP_KERNEL | GFP_ZERO, 0, CALL_ALLOC);
  if (va == 0) return -ENOMEM;
  const id = reserveCache(dmLin(va));
  if (id < 0) { kfree(va); return -ENOMEM; }
  const a = calculateAlignment(flags, align, objectSize);
  if (!calculateSizes(cacheLin(id), objectSize, a, flags, ctor)) {
    kfree(va);
    return slabIsSlab() && slabCreateNoMem() ? -ENOMEM : -EINVAL;
  }
  registerCache(<u32>id);
  store<u8>(CACHE_TAG + id, <u8>(va >> 56));
  return id;
}

// Boot: the kmem_cache cache, then kmalloc-8 ... kmalloc-8k.
export function slabInit(): bool {
  SUS.nextCacheId = 0;
  slabBootInit();
  kmemCacheBootVa = kimage_global_alloc(KMEM_CACHE_OBJ_SIZE, 0);
  if (kmemCacheBootVa == 0) return false;
  const ram0 = kimageLin(kmemCacheBootVa);
  memory.fill(ram0, 0, KMEM_CACHE_OBJ_SIZE);
  if (reserveCache(ram0) != 0) return false;
  if (!calculateSizes(cacheLin(0), KMEM_CACHE_OBJ_SIZE, calculateAlignment(SLAB_HWCACHE_ALIGN, 0, KMEM_CACHE_OBJ_SIZE),
                      SLAB_HWCACHE_ALIGN, 0)) return false;
  registerCache(0);
  for (let i: i32 = 0; i < NR_KMALLOC_CACHES; i++) {
    const size = load<u32>(KMALLOC_SIZES + (<usize>i << 2));
    if (size < kmallocMinSize()) continue;     // SLAB: kmalloc-32 serves them (size_index), filled below
    // kmalloc caches are naturally aligned to the largest power of two dividing the size
    const align = 1 << ctz(size);
    const id = kmem_cache_create(size, align, SLAB_KMALLOC, 0);
    if (id < 0) return false;
    store<u32>(KMALLOC_IDS + (<usize>i << 2), <u32>id);
  }
  let first = 0;
  while (load<u32>(KMALLOC_SIZES + (<usize>first << 2)) < kmallocMinSize()) first++;
  for (let i = 0; i < first; i++) store<u32>(KMALLOC_IDS + (<usize>i << 2), load<u32>(KMALLOC_IDS + (<usize>first << 2)));
  return true;
}

// ksize(): usable size; the kernel's __ksize after KASAN's byte check.
export function ksizeOf(va: u64): u64 {
  const untagged = untag(va);
  const slab = virtToSlab(untagged);
  if (slab != NO_PFN) {
    const c = cacheLin(pgCache(slab));
    const f = kmemCache(c).flags;
    if ((f & SLAB_KASAN) != 0 || slabIsSlab()) return kmemCache(c).objectSize;
    if (f & SLAB_TYPESAFE_BY_RCU) return kmemCache(c).inuse;
    return kmemCache(c).size;
  }
  const off = untagged - PAGE_OFFSET;
  if (off >= (<u64>nrFrames << PAGE_SHIFT)) return 0;
  let pfn = <u32>(off >> PAGE_SHIFT);
  pfn = pgHead(pfn);
  if ((pgFlags(pfn) & PG_LARGE_KMALLOC) == 0) return 0;
  return <u64>PAGE_SIZE << pgOrderSafe(pfn);
}

// __kmem_cache_shutdown: flush every CPU, free every empty slab; false if objects remain.
export function cacheShutdown(c: usize): bool {
  if (slabIsSlab()) return slabShrinkSlab(c);
  flushAll(c);
  if (cacheLive(c) != 0) return false;
  listVerify(c, KC_PARTIAL, SLAB_LIST_PARTIAL);
  let p = kmemCache(c).partial;
  while (p != NO_PFN) {
    const n = pgNext(p);
    if (slabInuse(p) == 0) { listDel(c, p); discardSlab(c, p); }
    p = n;
  }
  return kmemCache(c).partial == NO_PFN && fullSlabFrom(kmemCache(c).id, 0) == NO_PFN;
}

// The first full slab of cache id at or after frame pfn, or NO_PFN. Full slabs
// are on no list (the kernel lists them only with slub_debug), so the rare
// walks that need them (destroy, kmemleak) look in mem_map.
function fullSlabFrom(id: u32, pfn: u32): u32 {
  for (let p = pfn; p < nrFrames; p++) if (slabOfCache(p, id) && slabList(p) == SLAB_LIST_FULL) return p;
  return NO_PFN;
}

// __kmem_cache_shrink: flush every CPU, then every empty slab on the node's
// partial list goes back to the buddy.
export function cacheShrink(c: usize): void {
  if (slabIsSlab()) { slabShrinkSlab(c); return; }
  flushAll(c);
  listVerify(c, KC_PARTIAL, SLAB_LIST_PARTIAL);
  let p = kmemCache(c).partial;
  while (p != NO_PFN) {
    const n = pgNext(p);
    if (slabInuse(p) == 0) { listDel(c, p); discardSlab(c, p); }
    p = n;
  }
}

export function markCacheDestroyed(id: u32): void {
  store<u8>(CACHE_STATE + id, CACHE_DESTROYED);
  if (slabIsSlab()) slabReleaseCache(id);
  kfenceCacheDestroy(id);
}

// Test/introspection: object count and slab geometry of a cache.
// virt_to_cache(): the cache id of the slab holding va (tag ignored), -1 when
// va is not in a slab (a page, a large kmalloc, not the direct map)
export function kmem_cache_of(va: u64): i32 {
  const slab = virtToSlab(untag(va));
  return slab == NO_PFN ? -1 : <i32>slabCacheId(slab);
}
// 0 unused, 1 active, 2 destroyed (the host's slabinfo skips the rest)
export function cache_state(id: u32): u32 { return cacheState(id); }
export function cache_info(id: u32, field: u32): u32 {
  if (id >= SUS.nextCacheId) return 0;
  if (field == KC_LIVE) return cacheLive(cacheLin(id));
  return kcAt(cacheLin(id), field);
}
// A CPU's kmem_cache_cpu field (KCC_*) of cache id (SLUB; 0 otherwise).
export function slub_cpu_info(id: u32, cpu: u32, field: u32): u32 {
  if (id >= SUS.nextCacheId || cpu >= SLUB_MAX_CPUS || field > <u32>KCC_PARTIAL_SLABS || (field & 3) != 0 || slabIsSlab()) return 0;
  return load<u32>(kccLin(cacheLin(id), cpu) + field);
}
export function slabsFreeListHead(c: usize): u32 { return kmemCache(c).partial; }
export function slabInuseOf(pfn: u32): u32 { return slabInuse(pfn); }
export function slabObjectsOf(pfn: u32): u32 { return slabObjects(pfn); }

// ── frees KASAN is not there to judge (guests, fuzz tapes with kasan=off) ───
// Is (untagged) va the start of a live slab object or large kmalloc? SLUB
// without KASAN would corrupt its freelist freeing anything else.
export function isLiveObjectStart(va: u64): bool {
  const slab = virtToSlab(va);
  if (slab == NO_PFN) return largeKmallocHead(va);
  const c = cacheLin(slabCacheId(slab));
  if (slabIsSlab()) return slabObjectIsLive(c, slab, va);
  return nearestObj(c, slab, va) == va && !slabObjectIsFree(c, slab, va);
}
// Is the object at va on its slab's freelist? The walk stops at a corrupt link.
// A cpu slab's free objects are also on its CPU's freelist.
function slabObjectIsFree(c: usize, slabPfn: u32, va: u64): bool {
  const lin = dmLin(va);
  if (onFreelist(c, slabPfn, slabFreelist(slabPfn), lin)) return true;
  const cpu = frozenOn(slabPfn);
  return cpu >= 0 && onFreelist(c, slabPfn, kcc(kccLin(c, <u32>cpu)).freelist, lin);
}
function onFreelist(c: usize, slabPfn: u32, head: usize, lin: usize): bool {
  let p = head;
  if (p != 0 && !validSlot(c, slabPfn, p)) return false;
  for (let n: u32 = 0; p > 1 && n <= kmemCache(c).objects; n++) {
    if (p == lin) return true;
    p = getFreePointer(c, slabPfn, p);
  }
  return false;
}
// The CPU whose cpu slab pfn is (SLUB), or -1.
function frozenOn(pfn: u32): i32 {
  const state = slabList(pfn);
  if ((state & 0xff) != SLAB_LIST_CPU || (state >> 8) >= slubNrCpus()) return -1;
  const k = kccLin(cacheLin(pgCache(pfn)), state >> 8);
  return kcc(k).slab == pfn ? <i32>(state >> 8) : -1;
}
// Is pfn a CPU's cpu slab (struct slab's frozen bit)? For the page dump.
export function slabFrozen(pfn: u32): bool { return !slabIsSlab() && pgCache(pfn) < SUS.nextCacheId && frozenOn(pfn) >= 0; }
// Is va the start of a live large kmalloc?
function largeKmallocHead(va: u64): bool {
  const off = va - PAGE_OFFSET;
  if (off >= (<u64>nrFrames << PAGE_SHIFT) || (off & (PAGE_SIZE - 1)) != 0) return false;
  return (pgFlags(<u32>(off >> PAGE_SHIFT)) & (PG_LARGE_KMALLOC | 8)) == PG_LARGE_KMALLOC;
}

// Self-check (assembly/selfcheck.ts): every active cache's descriptor is sane
// and its slabs are its own, on the list their state says, with in-use counts
// that fit and match their freelists (no free lost or doubled, e.g. by two
// CPUs' frees racing). Freelists are not followed past a bad link: the
// allocator isolates those itself when it meets them.
// count: the list's expected length (a CPU's partial list), or -1. A CPU's
// partial list is singly linked (slab->next): its prev links are not kept.
function slabListCheck(c: usize, id: u32, head: u32, state: u32, count: i32 = -1): bool {
  let pfn = head;
  let prev = NO_PFN;
  let n: u32 = 0;
  const linked = (state & 0xff) != SLAB_LIST_CPU_PARTIAL;
  while (pfn != NO_PFN) {
    if (pfn >= nrFrames || n > nrFrames) return false;
    if ((pgFlags(pfn) & PG_SLAB) == 0 || pgCache(pfn) != id || slabList(pfn) != state) return false;
    if ((linked && pgPrev(pfn) != prev) || slabInuse(pfn) > slabObjects(pfn) || slabObjects(pfn) != kmemCache(c).objects) return false;
    if (!slabFreeCountFits(c, pfn)) return false;
    prev = pfn;
    pfn = pgNext(pfn);
    n++;
  }
  return count < 0 || <u32>count == n;
}
// A slab's own freelist holds objects - inuse objects (a frozen slab's: what
// other CPUs freed into it; the CPU's lockless freelist counts as in use). A
// chain with a bad link or a cycle is the allocator's to isolate, not counted.
function slabFreeCountFits(c: usize, pfn: u32): bool {
  const objects = slabObjects(pfn);
  let p = slabFreelist(pfn);
  if (p != 0 && !validSlot(c, pfn, p)) return true;
  let n: u32 = 0;
  while (p != 0) {
    if (p == 1 || n >= objects) return true;
    n++;
    p = getFreePointer(c, pfn, p);
  }
  return n == objects - slabInuse(pfn);
}
export function slabCheck(): bool {
  if (slabIsSlab()) return slabCheckSlab();
  for (let id: u32 = 0; id < SUS.nextCacheId; id++) {
    if (load<u8>(CACHE_STATE + id) != CACHE_ACTIVE) continue;
    const c = cacheLin(id);
    // a descriptor corrupted in RAM and not yet met by the allocator (a broken
    // cache, already reported and isolated, is skipped above)
    if (cacheCorruptField(id) >= 0) return false;
    const size = kmemCache(c).size, order = kmemCache(c).order;
    if (kmemCache(c).id != id || size == 0 || kmemCache(c).objectSize > size || order > <u32>MAX_PAGE_ORDER) return false;
    if (kmemCache(c).objects == 0 || <u64>kmemCache(c).objects * size > (<u64>PAGE_SIZE << order)) return false;
    if (!slabListCheck(c, id, kmemCache(c).partial, SLAB_LIST_PARTIAL) || !cpuSlabsCheck(c, id)) return false;
  }
  return fullSlabsCheck();
}
// Every full slab (on no list): its cache is active, every object in use.
function fullSlabsCheck(): bool {
  for (let pfn: u32 = 0; pfn < nrFrames; pfn++) {
    if ((pgFlags(pfn) & (PG_SLAB | 8)) != PG_SLAB || slabList(pfn) != SLAB_LIST_FULL) continue;
    const id = pgCache(pfn);
    if (id >= SUS.nextCacheId) return false;
    const state = load<u8>(CACHE_STATE + id);
    if (state == CACHE_BROKEN) continue;
    if (state != CACHE_ACTIVE || slabObjects(pfn) != kmemCache(cacheLin(id)).objects ||
        slabFreelist(pfn) != 0 || slabInuse(pfn) != slabObjects(pfn)) return false;
  }
  return true;
}
// Every CPU's kmem_cache_cpu: a cpu slab of this cache frozen on that CPU
// (with a freelist of its own slots), a partial list of this cache's slabs
// on that CPU whose length is the count kept, nothing on a CPU past nr_cpus.
function cpuSlabsCheck(c: usize, id: u32): bool {
  const n = slubNrCpus();
  for (let cpu: u32 = 0; cpu < SLUB_MAX_CPUS; cpu++) {
    const k = kccLin(c, cpu);
    const slab = kcc(k).slab, freelist = <usize>kcc(k).freelist;
    if (cpu >= n) {
      if (slab != NO_PFN || freelist != 0 || kcc(k).partial != NO_PFN) return false;
      continue;
    }
    if (slab == NO_PFN) {
      if (freelist != 0) return false;
    } else {
      if (slab >= nrFrames || !slabOfCache(slab, id) || slabList(slab) != slabOnCpu(SLAB_LIST_CPU, cpu) ||
          slabInuse(slab) > slabObjects(slab) || !slabFreeCountFits(c, slab)) return false;
      if (freelist != 0 && !validSlot(c, slab, freelist)) return false;
    }
    if (!slabListCheck(c, id, kcc(k).partial, slabOnCpu(SLAB_LIST_CPU_PARTIAL, cpu), kcc(k).partialSlabs)) return false;
  }
  return true;
}

// ── kmemleak's object walk ───────────────────────────────────────────────────
// Mark the free slots of a slab (its freelist) in map, one bit per slot.
export function slabFreeSlotMap(c: usize, pfn: u32, map: usize): void {
  if (slabIsSlab()) { slabFreeSlotMapSlab(c, pfn, map); return; }
  memory.fill(map, 0, <usize>((slabObjects(pfn) + 7) >> 3));
  markFreelist(c, pfn, slabFreelist(pfn), map);
  const cpu = frozenOn(pfn);
  if (cpu >= 0) markFreelist(c, pfn, kcc(kccLin(c, <u32>cpu)).freelist, map);
}
function markFreelist(c: usize, pfn: u32, head: usize, map: usize): void {
  const n = slabObjects(pfn);
  const start = slabLin(pfn);
  const size = kmemCache(c).size;
  let p = head;
  if (p != 0 && !validSlot(c, pfn, p)) return;
  for (let k: u32 = 0; p > 1 && k <= n; k++) {
    const i = <u32>(p - start) / size;
    store<u8>(map + (i >> 3), <u8>(<u32>load<u8>(map + (i >> 3)) | (<u32>1 << (i & 7))));
    p = getFreePointer(c, pfn, p);
  }
}

// The lists a walk over a cache's slabs visits (kmemleak): the node's partial
// and full lists (SLUB's full slabs: mem_map), then each CPU's cpu slab and
// partial list (SLUB only).
export function slabWalkLists(): u32 { return slabIsSlab() ? 2 : 2 + (slubNrCpus() << 1); }
export function slabWalkFirst(c: usize, list: u32): u32 {
  if (list == 0) return kmemCache(c).partial;
  if (list == 1) return slabIsSlab() ? kmemCache(c).full : fullSlabFrom(kmemCache(c).id, 0);
  const k = kccLin(c, (list - 2) >> 1);
  return (list & 1) == 0 ? kcc(k).slab : kcc(k).partial;
}
// The slab after pfn on list, NO_PFN at the end or at a link that does not
// lead to a slab of the cache (a corrupted one is not followed).
export function slabWalkNext(c: usize, list: u32, pfn: u32): u32 {
  if (list >= 2 && (list & 1) == 0) return NO_PFN;     // a cpu slab is a list of one
  if (list == 1 && !slabIsSlab()) return fullSlabFrom(kmemCache(c).id, pfn + 1);
  const next = pgNext(pfn);
  return next < nrFrames && slabOfCache(next, kmemCache(c).id) ? next : NO_PFN;
}
export function slabObjectCount(pfn: u32): u32 { return slabObjects(pfn); }
export function slabStartLin(pfn: u32): usize { return slabIsSlab() ? slabStartLinSlab(pfn) : slabLin(pfn); }
