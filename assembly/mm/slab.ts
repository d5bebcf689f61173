// SLAB, the allocator of Linux 6.1's mm/slab.c, chosen at boot with
// shadowfence.slab=slab (the kernel's Kconfig SLAB/SLUB choice).
//
// It shares slub.ts's caches: ids, descriptors (KmemCache, with its copy in
// RAM as struct kmem_cache), the kmalloc table, kmem_cache_create's
// flags and alignment, the KASAN and KFENCE hooks. What SLAB adds lives here:
//   - per-CPU array_caches (avail, limit, batchcount, touched, entry[]) and the
//     node's shared array, in engine memory (SLAB_AC_POOL) that no simulated
//     access reaches; entries are linear addresses of free objects;
//   - the node's lists: slabs_partial (KC_PARTIAL), slabs_full (KC_FULL),
//     slabs_free (SLAB_EXT) with free_objects, free_slabs, free_limit;
//   - slab colouring and the freelist of byte indexes (freelist_idx_t is a
//     char: PAGE_SIZE >> 8 <= SLAB_OBJ_MIN_SIZE), on the slab's end, off the
//     slab in a kmalloc object (OFF_SLAB), or in a free object (OBJFREELIST);
//   - cache_reap() every 2 s of engine time.
// struct page of a SLAB slab: SlabPage below, 6.1's struct slab over the
// head's struct page.
import { PAGE_SHIFT, PAGE_SIZE, MAX_PAGE_ORDER, PG_SLAB, PG_HEAD, PG_TAIL, STAT_SLAB_ALLOCS, STAT_SLAB_FREES,
         GFP_ZERO, GFP_COMP, SLAB_TYPESAFE_BY_RCU, SLAB_KMALLOC, SLAB_KASAN, SLAB_NO_MERGE, CFG_NR_CPUS,
         CFG_INIT_ON_ALLOC, CFG_INIT_ON_FREE, CFG_RAM_MB, CFG_SLAB_MAX_ORDER, CFG_SLAB_ALLOCATOR,
         SLAB_ALLOCATOR_SLAB, PHYS_BASE, ALLOC_SITE_SLAB, R_CACHE, R_SLAB_LIST_NEXT, R_SLAB_LIST_PREV, R_SLAB_S_MEM,
         LIST_DEL_NEXT, SLAB_ERR_NOT_SLAB, SLAB_ERR_FREEPOINTER, SLAB_FIX_NONE, SLAB_FIX_FREELIST_CLEARED,
         KC_PARTIAL, KC_FULL, KC_FIELDS_END, SL_LIMIT, SL_BATCHCOUNT, SL_SHARED, SL_FREE_OBJECTS, SL_FREE_LIMIT,
         SL_COLOUR, SL_COLOUR_OFF, SL_COLOUR_NEXT, SL_FREE_SLABS, SL_MGMT, SL_FREELIST_CACHE, SL_FREELIST_SIZE,
         SL_TOTAL_SLABS, SL_ACTIVE_OBJS, SL_SHARED_AVAIL, SL_CPU_AVAIL, NR_KMALLOC_CACHES, SLAB_MGMT_ON_SLAB,
         SLAB_MGMT_OFF_SLAB, SLAB_MGMT_OBJFREELIST, MAX_CACHES } from "../../abi/abi";
import { NO_PFN, Page, pageLin, pgFlags, pgSetFlags, pgCache, pgSetCache, pgNext, pgPrev, pgSetNext, pgSetPrev, nrFrames } from "./phys";
import { freePagesPfn } from "./page_alloc";
import { PAGE_OFFSET, physToLin, dmLin, untag } from "./layout";
import { statInc } from "../stats";
import { cfg } from "../config";
import { kasanMode, KASAN_OFF, KASAN_GENERIC } from "../kasan/kasan";
import { kasanPoisonSlab, kasanInitObject, kasanPoisonNewObject, kasanUnpoisonNewObject } from "../kasan/common";
import { isKfenceAddress } from "../kfence/core";
import { callCtor } from "../host";
import { slabErr, listDelCorruption, lruVa } from "./fault";
import { guestFramesMark, SLAB_EXT, SLAB_AC_POOL, SLAB_END, HOT_SLAB_ALLOCATOR, CACHE_PRIV, MACHINE_STATE } from "../statics";
import { currentCpu, TS } from "../task";
import { optimalRedzone, allocSlabPages, cacheLin, kmemCache, kmemCacheRam, cacheVerify, cacheState, cache_count, cacheVa, kmalloc_cache_id,
         slabAlloc, CACHE_ACTIVE, KASAN_NO_FREE_META } from "./slub";
import { kmem_cache_free } from "./slab_common";
import { CALL_ALLOC } from "../call_path";

// @ts-ignore: decorator
@inline export function slabIsSlab(): bool { return load<i32>(HOT_SLAB_ALLOCATOR) != 0; }
// slub.ts reaches SLAB's array caches and nearest_obj() through these, set at
// boot: an indirect call the optimizer does not inline keeps SLUB's fast paths
// (and the KASAN hooks inlined into them) as they were.
export let slabCacheAllocFn: (c: usize, id: u32, gfp: u32) => usize = slabCacheAllocNone;
export let slabCacheFreeFn: (c: usize, slabPfn: u32, lin: usize) => void = slabCacheFreeNone;
export let slabNearestObjFn: (c: usize, slabPfn: u32, va: u64) => u64 = slabNearestObjNone;
function slabCacheAllocNone(c: usize, id: u32, gfp: u32): usize { return 0; }
function slabCacheFreeNone(c: usize, slabPfn: u32, lin: usize): void {}
function slabNearestObjNone(c: usize, slabPfn: u32, va: u64): u64 { return va; }

// ── constants of mm/slab.c (x86_64, 4 KiB pages) ────────────────────────────
// @ts-ignore: decorator
@inline const BYTES_PER_WORD: u32 = 8;
// @ts-ignore: decorator
@inline const CACHE_LINE_SIZE: u32 = 64;            // cache_line_size(): colour_off
// @ts-ignore: decorator
@inline const SLAB_OBJ_MIN_SIZE: u32 = 16;          // min(KMALLOC_MIN_SIZE = 32, 16)
// @ts-ignore: decorator
@inline const SLAB_OBJ_MAX_NUM: u32 = 255;          // (1 << 8) - 1: byte-sized freelist index
// @ts-ignore: decorator
@inline const KMALLOC_MAX_ORDER: u32 = 10;          // KMALLOC_SHIFT_MAX - PAGE_SHIFT
// @ts-ignore: decorator
@inline const KMALLOC_MAX_SIZE: u32 = 1 << 22;
// @ts-ignore: decorator
@inline const KMALLOC_MAX_CACHE_SIZE: u32 = 8192;
// @ts-ignore: decorator
@inline const BATCHREFILL_LIMIT: u32 = 16;
// @ts-ignore: decorator
@inline const REAPTIMEOUT_AC_NS: u64 = 2000000000;  // 2 * HZ
// @ts-ignore: decorator
@inline const REAPTIMEOUT_NODE_MS: u64 = 4000;      // 4 * HZ, HZ = 1000
// @ts-ignore: decorator
@inline const REAP_PASSES_MAX: u32 = 64;            // a long tick runs at most this many cache_reap rounds

// list state at struct page +52 (values of their own: SLUB's states differ)
// @ts-ignore: decorator
@inline const SL_LIST_NONE: u32 = 0;
// @ts-ignore: decorator
@inline const SL_LIST_PARTIAL: u32 = 2;
// @ts-ignore: decorator
@inline const SL_LIST_FULL: u32 = 3;
// @ts-ignore: decorator
@inline const SL_LIST_FREE: u32 = 4;

// SLAB_EXT per cache (128 bytes): SL_* of abi.ts, then these
// @ts-ignore: decorator
@inline const EX_FREE_HEAD: u32 = 44;
// @ts-ignore: decorator
@inline const EX_TAIL: u32 = 48;          // + state * 4: tails of the partial, full and free lists (48+8, +12, +16)
// @ts-ignore: decorator
@inline const EX_AC_BLOCK: u32 = 68;      // linear address of the cache's array caches
// @ts-ignore: decorator
@inline const EX_AC_CLASS: u32 = 72;      // pool size class of that block
// @ts-ignore: decorator
@inline const EX_FREE_TOUCHED: u32 = 76;
// @ts-ignore: decorator
@inline const EX_NEXT_REAP: u32 = 88;     // u64 ns: the node part of cache_reap
// @ts-ignore: decorator
@inline const EX_AC_STRIDE: u32 = 96;

// array_cache: avail, limit, batchcount, touched, entry[limit] (u32 linear addresses)
// @ts-ignore: decorator
@inline const AC_AVAIL: u32 = 0;
// @ts-ignore: decorator
@inline const AC_LIMIT: u32 = 4;
// @ts-ignore: decorator
@inline const AC_BATCH: u32 = 8;
// @ts-ignore: decorator
@inline const AC_TOUCHED: u32 = 12;
// @ts-ignore: decorator
@inline const AC_ENTRY: u32 = 16;

// pool: blocks of the exact size a cache needs (a handful of sizes per boot:
// they depend on limit and shared only), a free list per size in POOL_SIZES
// (u32 size, u32 head)
// @ts-ignore: decorator
@inline const POOL_SIZES_MAX: u32 = 16;
const POOL_SIZES: usize = memory.data(POOL_SIZES_MAX * 8, 8);
// @ts-ignore: decorator
@unmanaged class SlabState {
  nextReapNs: u64;
  poolTop: usize;
  slabCorruptions: u32;
  slabPoolFull: bool;     // kmem_cache_create's -ENOMEM: the last cache found the pool full
}
// the machine's, not this CPU's: linear memory (docs/smp.md, "The audit")
export const SBS = changetype<SlabState>(MACHINE_STATE + 0x1400);
if (offsetof<SlabState>() > 0x100) ERROR("SlabState overflows its 0x100 bytes of MACHINE_STATE");
export let nrCpus: u32 = 1;
export let slabMaxOrder: u32 = 1;

// @ts-ignore: decorator
@inline function ext(id: u32): usize { return SLAB_EXT + (<usize>id << 7); }
// @ts-ignore: decorator
@inline function exGet(id: u32, f: u32): u32 { return load<u32>(ext(id) + f); }
// @ts-ignore: decorator
@inline function exSet(id: u32, f: u32, v: u32): void { store<u32>(ext(id) + f, v); }
// @ts-ignore: decorator
@inline function idOf(c: usize): u32 { return <u32>((c - CACHE_PRIV) >> 7); }
// @ts-ignore: decorator
@inline function slabLin(pfn: u32): usize { return physToLin(<u64>pfn << PAGE_SHIFT); }
// @ts-ignore: decorator
@inline function linToVa(lin: usize): u64 { return PAGE_OFFSET + <u64>(lin - <usize>PHYS_BASE); }
// 6.1's struct slab for SLAB, a view of the head's struct page (as the
// kernel's struct slab overlays struct page): the fields SLUB keeps in Page
// (cache, freelist, list links and state) at the same offsets, and SLAB's own
// members active and s_mem (kept as the colour offset from the slab's start)
// where Page has inuse and the low half of priv.
// @ts-ignore: decorator
@unmanaged class SlabPage {
  flags: u32;
  _order: u32;
  _refcount: i32;
  _mapcount: i32;
  next: u32;          // slab_list links (pfns)
  prev: u32;
  slabCache: u32;     // cache id
  active: u16;        // objects handed out
  num: u16;           // objects in this slab
  freelist: u32;      // linear address of the index array, 0 = NULL
  _unused36: u32;
  sMem: u32;          // s_mem - the slab's start: its colour offset
  _privHigh: u32;
  _owner: u32;
  listState: u32;     // SL_LIST_*
}
if (offsetof<SlabPage>("next") != offsetof<Page>("next") || offsetof<SlabPage>("slabCache") != offsetof<Page>("cache") ||
    offsetof<SlabPage>("active") != offsetof<Page>("inuse") || offsetof<SlabPage>("num") != offsetof<Page>("objects") ||
    offsetof<SlabPage>("freelist") != offsetof<Page>("freelist") || offsetof<SlabPage>("sMem") != offsetof<Page>("priv") ||
    offsetof<SlabPage>("listState") != offsetof<Page>("slabList")) ERROR("SlabPage does not overlay struct page");
// @ts-ignore: decorator
@inline function slabPage(pfn: u32): SlabPage { return changetype<SlabPage>(pageLin(pfn)); }
// @ts-ignore: decorator
@inline function active(pfn: u32): u32 { return slabPage(pfn).active; }
// @ts-ignore: decorator
@inline function setActive(pfn: u32, v: u32): void { slabPage(pfn).active = <u16>v; }
// @ts-ignore: decorator
@inline function freelistOf(pfn: u32): usize { return slabPage(pfn).freelist; }
// @ts-ignore: decorator
@inline function setFreelist(pfn: u32, lin: usize): void { slabPage(pfn).freelist = <u32>lin; }
// @ts-ignore: decorator
@inline function colourOffOf(pfn: u32): u32 { return slabPage(pfn).sMem; }
// @ts-ignore: decorator
@inline function listState(pfn: u32): u32 { return slabPage(pfn).listState; }
// @ts-ignore: decorator
@inline function setListState(pfn: u32, v: u32): void { slabPage(pfn).listState = v; }
// @ts-ignore: decorator
@inline function slabOfCache(pfn: u32, id: u32): bool { return pfn < nrFrames && (pgFlags(pfn) & (PG_SLAB | PG_TAIL)) == PG_SLAB && pgCache(pfn) == id; }

export function slab_corruptions_slab(): u32 { return SBS.slabCorruptions; }

// ── boot ─────────────────────────────────────────────────────────────────────
// kmem_cache_init(): SLAB's state, before any cache is made. slab_max_order is
// 1 (SLAB_MAX_ORDER_HI) above 32 MiB of RAM unless slab_max_order= says otherwise.
export function slabBootInit(): void {
  const isSlab = cfg(CFG_SLAB_ALLOCATOR) == SLAB_ALLOCATOR_SLAB;
  store<i32>(HOT_SLAB_ALLOCATOR, isSlab ? 1 : 0);
  slabCacheAllocFn = isSlab ? slabCacheAlloc : slabCacheAllocNone;
  slabCacheFreeFn = isSlab ? cacheFreeSlab : slabCacheFreeNone;
  slabNearestObjFn = isSlab ? slabNearestObj : slabNearestObjNone;
  if (!isSlab) return;
  memory.fill(SLAB_EXT, 0, SLAB_AC_POOL - SLAB_EXT);
  memory.fill(POOL_SIZES, 0, POOL_SIZES_MAX * 8);
  SBS.slabPoolFull = false;
  SBS.poolTop = SLAB_AC_POOL;
  nrCpus = <u32>cfg(CFG_NR_CPUS);
  if (nrCpus < 1) nrCpus = 1;
  const o = cfg(CFG_SLAB_MAX_ORDER);
  if (o >= 0) slabMaxOrder = o > <i64>(MAX_PAGE_ORDER) ? <u32>MAX_PAGE_ORDER : <u32>o;
  else slabMaxOrder = cfg(CFG_RAM_MB) > 32 ? 1 : 0;
  // start_cpu_timer(): the first reap about a second after boot
  SBS.nextReapNs = TS.clockNs + 1000000000;
  SBS.slabCorruptions = 0;
}
// kmalloc's smallest cache under SLAB is kmalloc-32 (KMALLOC_SHIFT_LOW = 5)
export function kmallocMinSize(): u32 { return slabIsSlab() ? 32 : 8; }

// ── the array-cache pool ─────────────────────────────────────────────────────
function poolAlloc(bytes: u32): usize {
  bytes = (bytes + 63) & ~63;
  for (let i: u32 = 0; i < POOL_SIZES_MAX; i++) {
    const e = POOL_SIZES + (<usize>i << 3);
    if (load<u32>(e) != bytes || load<u32>(e, 4) == 0) continue;
    const b = <usize>load<u32>(e, 4);
    store<u32>(e, load<u32>(b), 4);
    return b;
  }
  if (SBS.poolTop + bytes > SLAB_END) { SBS.slabPoolFull = true; return 0; }
  const b = SBS.poolTop;
  SBS.poolTop += bytes;
  return b;
}
function poolFree(b: usize, bytes: u32): void {
  bytes = (bytes + 63) & ~63;
  for (let i: u32 = 0; i < POOL_SIZES_MAX; i++) {
    const e = POOL_SIZES + (<usize>i << 3);
    if (load<u32>(e) != bytes && load<u32>(e) != 0) continue;
    store<u32>(e, bytes);
    store<u32>(b, load<u32>(e, 4));
    store<u32>(e, <u32>b, 4);
    return;
  }
}
export function slabCreateNoMem(): bool { const f = SBS.slabPoolFull; SBS.slabPoolFull = false; return f; }

// ── geometry: __kmem_cache_create() of mm/slab.c ────────────────────────────
// cache_estimate(): objects in a 2^order slab and what is left over.
// @ts-ignore: decorator
@inline function estimateNum(order: u32, size: u32, withIndex: bool): u32 {
  return (<u32>PAGE_SIZE << order) / (withIndex ? size + 1 : size);
}
// @ts-ignore: decorator
@inline function estimateLeft(order: u32, size: u32, withIndex: bool): u32 {
  return (<u32>PAGE_SIZE << order) % (withIndex ? size + 1 : size);
}

// calculate_slab_order(): num and order into the descriptor; returns left_over.
// mgmt says where the freelist would go; origSize is cachep->size before
// __kmem_cache_create() settles it (the object size), which the OFF_SLAB
// benefit check compares against.
function calculateSlabOrder(c: usize, size: u32, flags: u32, mgmt: u32, origSize: u32): u32 {
  let leftOver: u32 = 0;
  const withIndex = mgmt == SLAB_MGMT_ON_SLAB;
  for (let order: u32 = 0; order <= KMALLOC_MAX_ORDER; order++) {
    const num = estimateNum(order, size, withIndex);
    const remainder = estimateLeft(order, size, withIndex);
    if (num == 0) continue;
    if (num > SLAB_OBJ_MAX_NUM) break;
    if (mgmt == SLAB_MGMT_OFF_SLAB) {
      const freelistSize = num;             // num * sizeof(freelist_idx_t)
      let fcSize: u32;
      if (freelistSize > KMALLOC_MAX_CACHE_SIZE) {
        let o: u32 = 0;
        while ((<u32>PAGE_SIZE << o) < freelistSize) o++;
        fcSize = <u32>PAGE_SIZE << o;
      } else {
        const fc = freelistCacheFor(freelistSize);
        if (fc == 0) continue;                             // that kmalloc cache does not exist yet
        fcSize = kmemCache(cacheLin(fc)).size;
        if (exGet(fc, SL_MGMT) == SLAB_MGMT_OFF_SLAB) continue;   // no looping in cache_grow_begin()
      }
      if (fcSize > origSize / 2) continue;                 // not worth it
    }
    kmemCache(c).objects = num;
    kmemCache(c).order = order;
    leftOver = remainder;
    // (SLAB_RECLAIM_ACCOUNT caches stop here; kmem_cache_create does not take that flag)
    if (order >= slabMaxOrder) break;
    if (leftOver * 8 <= (<u32>PAGE_SIZE << order)) break;  // acceptable internal fragmentation
  }
  return leftOver;
}

// kmalloc_slab(size): the kmalloc cache for an OFF_SLAB freelist (0: none yet)
function freelistCacheFor(size: u32): u32 {
  for (let i: i32 = 0; i < NR_KMALLOC_CACHES; i++) {
    const id = kmalloc_cache_id(i);
    if (id != 0 && kmemCache(cacheLin(id)).objectSize >= size) return id;
  }
  return 0;
}

// kasan_cache_create() as 6.1 had it: alloc meta past the object, free meta
// in the object unless RCU, a constructor or a small object keeps it out.
function kasanCacheCreate61(c: usize, size: u32, flags: u32, hasCtor: bool): u32 {
  const objectSize = kmemCache(c).objectSize;
  let okSize = size;
  kmemCache(c).allocMeta = size;
  size += 16;                                        // sizeof(struct kasan_alloc_meta)
  if (size > KMALLOC_MAX_SIZE) { kmemCache(c).allocMeta = 0; size = okSize; }
  kmemCache(c).freeMeta = 0;
  if ((flags & SLAB_TYPESAFE_BY_RCU) != 0 || hasCtor || objectSize < 16) {
    okSize = size;
    kmemCache(c).freeMeta = size;
    size += 16;                                      // sizeof(struct kasan_free_meta)
    if (size > KMALLOC_MAX_SIZE) { kmemCache(c).freeMeta = KASAN_NO_FREE_META; size = okSize; }
  }
  let optimal = objectSize + optimalRedzone(objectSize);
  if (optimal > KMALLOC_MAX_SIZE) optimal = KMALLOC_MAX_SIZE;
  if (size < optimal) size = optimal;
  return size;
}

// __kmem_cache_create() + setup_cpu_cache()/enable_cpucache(): the engine copy
// of the descriptor (registerCache writes it to RAM) and SLAB's own fields.
// align is calculate_alignment()'s. False when no slab order fits or the
// array-cache pool is exhausted.
export function slabCalculateSizes(c: usize, objectSize: u32, align: u32, flags: u32, ctor: u32): bool {
  const id = idOf(c);
  memory.fill(ext(id), 0, 128);
  kmemCache(c).objectSize = objectSize;
  kmemCache(c).inuse = objectSize;
  kmemCache(c).offset = 0;
  let size = (objectSize + BYTES_PER_WORD - 1) & ~(BYTES_PER_WORD - 1);
  let ralign: u32 = BYTES_PER_WORD;
  if (ralign < align) ralign = align;
  align = ralign;
  let colourOff = CACHE_LINE_SIZE;
  if (colourOff < align) colourOff = align;
  kmemCache(c).allocMeta = 0;
  kmemCache(c).freeMeta = KASAN_NO_FREE_META;
  if (kasanMode != KASAN_OFF) {
    flags |= SLAB_KASAN | SLAB_NO_MERGE;
    if (kasanMode == KASAN_GENERIC) size = kasanCacheCreate61(c, size, flags, ctor != 0);
  }
  size = (size + align - 1) & ~(align - 1);
  if (size < SLAB_OBJ_MIN_SIZE) size = (SLAB_OBJ_MIN_SIZE + align - 1) & ~(align - 1);

  // set_objfreelist_slab_cache(), set_off_slab_cache(), set_on_slab_cache()
  const wantInitOnFree = cfg(CFG_INIT_ON_FREE) != 0 && ctor == 0 && (flags & SLAB_TYPESAFE_BY_RCU) == 0;
  let mgmt: u32 = SLAB_MGMT_ON_SLAB;
  let colour: u32 = 0;
  let found = false;
  kmemCache(c).objects = 0;
  if (!wantInitOnFree && ctor == 0 && (flags & SLAB_TYPESAFE_BY_RCU) == 0) {
    const left = calculateSlabOrder(c, size, flags, SLAB_MGMT_OBJFREELIST, objectSize);
    const num = kmemCache(c).objects;
    if (num != 0 && num <= objectSize) { mgmt = SLAB_MGMT_OBJFREELIST; colour = left / colourOff; found = true; }
  }
  if (!found) {
    // (SLAB_NOLEAKTRACE caches stay on-slab; the engine has none)
    kmemCache(c).objects = 0;
    const left = calculateSlabOrder(c, size, flags, SLAB_MGMT_OFF_SLAB, objectSize);
    const num = kmemCache(c).objects;
    if (num != 0 && left < num) { mgmt = SLAB_MGMT_OFF_SLAB; colour = left / colourOff; found = true; }
  }
  if (!found) {
    kmemCache(c).objects = 0;
    const left = calculateSlabOrder(c, size, flags, SLAB_MGMT_ON_SLAB, objectSize);
    if (kmemCache(c).objects == 0) return false;        // -E2BIG
    mgmt = SLAB_MGMT_ON_SLAB;
    colour = left / colourOff;
  }
  const num = kmemCache(c).objects;
  kmemCache(c).size = size;
  kmemCache(c).align = align;
  kmemCache(c).flags = flags;
  kmemCache(c).ctor = ctor;
  kmemCache(c).cpuPartialSlabs = 0;
  kmemCache(c).partial = NO_PFN;
  kmemCache(c).full = NO_PFN;
  kmemCache(c).nrPartial = 0;
  kmemCache(c).live = 0;
  kmemCache(c).kfenceLive = 0;
  kmemCache(c).nrSlabs = 0;
  kmemCache(c).refcount = 1;
  kmemCache(c).minPartial = 0;
  kmemCache(c).recip = <u32>((<u64>0x100000000 + size - 1) / size);
  exSet(id, SL_COLOUR, colour);
  exSet(id, SL_COLOUR_OFF, colourOff);
  exSet(id, SL_COLOUR_NEXT, 0);
  exSet(id, SL_MGMT, mgmt);
  exSet(id, SL_FREELIST_SIZE, num);
  exSet(id, SL_FREELIST_CACHE, mgmt == SLAB_MGMT_OFF_SLAB ? freelistCacheFor(num) : 0);
  exSet(id, EX_FREE_HEAD, NO_PFN);
  for (let s = SL_LIST_PARTIAL; s <= SL_LIST_FREE; s++) exSet(id, EX_TAIL + s * 4, NO_PFN);

  // enable_cpucache()
  let limit: u32;
  if (size > 131072) limit = 1;
  else if (size > <u32>PAGE_SIZE) limit = 8;
  else if (size > 1024) limit = 24;
  else if (size > 256) limit = 54;
  else limit = 120;
  const shared: u32 = size <= <u32>PAGE_SIZE && nrCpus > 1 ? 8 : 0;
  const batch = (limit + 1) / 2;
  exSet(id, SL_LIMIT, limit);
  exSet(id, SL_BATCHCOUNT, batch);
  exSet(id, SL_SHARED, shared);
  exSet(id, SL_FREE_LIMIT, (1 + nrCpus) * batch + num);
  const stride = AC_ENTRY + limit * 4;
  const bytes = nrCpus * stride + (shared != 0 ? AC_ENTRY + shared * batch * 4 : 0);
  const block = poolAlloc(bytes);
  if (block == 0) return false;
  memory.fill(block, 0, bytes);
  for (let cpu: u32 = 0; cpu < nrCpus; cpu++) {
    const ac = block + <usize>cpu * stride;
    store<u32>(ac + AC_LIMIT, limit);
    store<u32>(ac + AC_BATCH, batch);
  }
  if (shared != 0) {
    const sh = block + <usize>nrCpus * stride;
    store<u32>(sh + AC_LIMIT, shared * batch);
    store<u32>(sh + AC_BATCH, 0xbaadf00d);
  }
  exSet(id, EX_AC_BLOCK, <u32>block);
  exSet(id, EX_AC_CLASS, bytes);
  exSet(id, EX_AC_STRIDE, stride);
  // the node's first reap: jiffies + REAPTIMEOUT_NODE + (cachep % REAPTIMEOUT_NODE)
  const first = TS.clockNs + (REAPTIMEOUT_NODE_MS + cacheVa(id) % REAPTIMEOUT_NODE_MS) * 1000000;
  store<u64>(ext(id) + EX_NEXT_REAP, first);
  return true;
}

// __kmem_cache_release(): the array caches go back to the pool.
export function slabReleaseCache(id: u32): void {
  const b = exGet(id, EX_AC_BLOCK);
  if (b == 0) return;
  poolFree(b, exGet(id, EX_AC_CLASS));
  exSet(id, EX_AC_BLOCK, 0);
}

// @ts-ignore: decorator
@inline function cpuAc(id: u32): usize {
  const cpu = currentCpu < nrCpus ? currentCpu : 0;
  return <usize>exGet(id, EX_AC_BLOCK) + <usize>cpu * exGet(id, EX_AC_STRIDE);
}
// @ts-ignore: decorator
@inline function sharedAc(id: u32): usize {
  return exGet(id, SL_SHARED) == 0 ? 0 : <usize>exGet(id, EX_AC_BLOCK) + <usize>nrCpus * exGet(id, EX_AC_STRIDE);
}

// ── node lists (doubly linked through struct page, checked like DEBUG_LIST) ─
// @ts-ignore: decorator
@inline function headAddr(c: usize, id: u32, state: u32): usize {
  return state == SL_LIST_PARTIAL ? c + KC_PARTIAL : state == SL_LIST_FULL ? c + KC_FULL : ext(id) + EX_FREE_HEAD;
}
function setHead(c: usize, id: u32, state: u32, pfn: u32): void {
  if (state == SL_LIST_FREE) exSet(id, EX_FREE_HEAD, pfn);
  else if (state == SL_LIST_PARTIAL) kmemCacheRam(c).partial = kmemCache(c).partial = pfn;
  else kmemCacheRam(c).full = kmemCache(c).full = pfn;
}
// The kernel prints list heads as addresses in kmem_cache_node; here the
// node's heads live in the descriptor (partial, full) and just past its
// fields (free).
// The list heads as 6.1 prints them: struct kmem_cache_node (list_lock, then the
// slabs_partial, slabs_full and slabs_free list_heads at +8, +24, +40), placed
// just past the descriptor's fields, so every head is 8-byte aligned as in the kernel.
function headVa(id: u32, state: u32): u64 {
  const node = cacheVa(id) + <u64>((KC_FIELDS_END + 7) & ~7);
  return node + <u64>(state == SL_LIST_PARTIAL ? 8 : state == SL_LIST_FULL ? 24 : 40);
}
function listAdd(c: usize, id: u32, pfn: u32, state: u32, tail: bool): void {
  const first = load<u32>(headAddr(c, id, state));
  const last = exGet(id, EX_TAIL + state * 4);
  setListState(pfn, state);
  if (first == NO_PFN) {
    pgSetNext(pfn, NO_PFN); pgSetPrev(pfn, NO_PFN);
    setHead(c, id, state, pfn);
    exSet(id, EX_TAIL + state * 4, pfn);
  } else if (tail) {
    pgSetPrev(pfn, last); pgSetNext(pfn, NO_PFN);
    pgSetNext(last, pfn);
    exSet(id, EX_TAIL + state * 4, pfn);
  } else {
    pgSetNext(pfn, first); pgSetPrev(pfn, NO_PFN);
    pgSetPrev(first, pfn);
    setHead(c, id, state, pfn);
  }
}
// list_del(&slab->slab_list) with CONFIG_DEBUG_LIST's checks (the links live
// in struct page, which a buggy write can reach). A bad link is reported as
// list_del corruption and the list is cut off: its slabs leak.
function listDel(c: usize, id: u32, pfn: u32): bool {
  const state = listState(pfn);
  if (state < SL_LIST_PARTIAL || state > SL_LIST_FREE) { setListState(pfn, SL_LIST_NONE); return true; }
  const next = pgNext(pfn), prev = pgPrev(pfn);
  const ok = (prev == NO_PFN ? load<u32>(headAddr(c, id, state)) == pfn : prev < nrFrames && pgNext(prev) == pfn) &&
             (next == NO_PFN ? exGet(id, EX_TAIL + state * 4) == pfn : next < nrFrames && pgPrev(next) == pfn);
  if (!ok) {
    listDelCorruption(LIST_DEL_NEXT, lruVa(pfn), next == NO_PFN || next >= nrFrames ? 0 : lruVa(next),
                      prev == NO_PFN ? headVa(id, state) : prev < nrFrames ? lruVa(prev) : 0);
    listCut(c, id, state);
    setListState(pfn, SL_LIST_NONE);
    return false;
  }
  if (prev == NO_PFN) setHead(c, id, state, next); else pgSetNext(prev, next);
  if (next == NO_PFN) exSet(id, EX_TAIL + state * 4, prev); else pgSetPrev(next, prev);
  setListState(pfn, SL_LIST_NONE);
  return true;
}
// Drop a list whose links cannot be trusted: the slabs still reachable leave
// it for good, and the node's counters forget their free objects.
function listCut(c: usize, id: u32, state: u32): void {
  let p = load<u32>(headAddr(c, id, state));
  const num = kmemCache(c).objects;
  for (let n: u32 = 0; n <= nrFrames && slabOfCache(p, id) && listState(p) == state; n++) {
    setListState(p, SL_LIST_NONE);
    const a = active(p);
    const free = a < num ? num - a : 0;
    const fo = exGet(id, SL_FREE_OBJECTS);
    exSet(id, SL_FREE_OBJECTS, fo > free ? fo - free : 0);
    if (state == SL_LIST_FREE && exGet(id, SL_FREE_SLABS) > 0) exSet(id, SL_FREE_SLABS, exGet(id, SL_FREE_SLABS) - 1);
    p = pgNext(p);
  }
  setHead(c, id, state, NO_PFN);
  exSet(id, EX_TAIL + state * 4, NO_PFN);
  SBS.slabCorruptions++;
}

// ── objects, indexes, the freelist ───────────────────────────────────────────
// @ts-ignore: decorator
@inline function sMem(pfn: u32): usize { return slabLin(pfn) + colourOffOf(pfn); }
// @ts-ignore: decorator
@inline function indexToObj(c: usize, pfn: u32, idx: u32): usize { return sMem(pfn) + <usize>idx * kmemCache(c).size; }

// The slab's index array, or 0 when struct page's freelist is unusable (a
// buggy write reached it): on-slab it is the slab's last num bytes, off-slab
// an object in RAM, OBJFREELIST a free object of the slab itself.
function freelistArray(c: usize, id: u32, pfn: u32): usize {
  const fl = freelistOf(pfn);
  const num = kmemCache(c).objects;
  const mgmt = exGet(id, SL_MGMT);
  if (mgmt == SLAB_MGMT_ON_SLAB) {
    const want = slabLin(pfn) + (<usize>PAGE_SIZE << kmemCache(c).order) - num;
    return fl == want ? fl : 0;
  }
  const ramEnd = <usize>PHYS_BASE + (<usize>nrFrames << PAGE_SHIFT);
  if (fl < <usize>PHYS_BASE || fl + num > ramEnd) return 0;
  if (mgmt == SLAB_MGMT_OBJFREELIST) {
    const s = sMem(pfn);
    if (fl < s || (fl - s) % kmemCache(c).size != 0 || (fl - s) / kmemCache(c).size >= num) return 0;
  } else {
    // OFF_SLAB: an object of the freelist's kmalloc cache (or KFENCE's, which sampled it)
    const va = linToVa(fl);
    if (!isKfenceAddress(va)) {
      const head = <u32>((fl - <usize>PHYS_BASE) >> PAGE_SHIFT);
      if (!slabOfCache(head, exGet(id, SL_FREELIST_CACHE))) return 0;
    }
  }
  return fl;
}
// A slab whose metadata (s_mem, freelist, an index) cannot be trusted: the
// engine reports it with slab_err's text and takes the slab out of use.
function slabIsolate(c: usize, id: u32, pfn: u32): void {
  slabErr(pfn, id, SLAB_ERR_FREEPOINTER, 0, 0, SLAB_FIX_FREELIST_CLEARED);
  const num = kmemCache(c).objects;
  const a = active(pfn);
  const fo = exGet(id, SL_FREE_OBJECTS), free = a < num ? num - a : 0;
  // (a slab taken by get_first_slab() has left free_slabs already)
  exSet(id, SL_FREE_OBJECTS, fo > free ? fo - free : 0);
  if (listState(pfn) != SL_LIST_NONE) listDel(c, id, pfn);
  setActive(pfn, num);
  setFreelist(pfn, 0);
  SBS.slabCorruptions++;
}
function colourValid(c: usize, id: u32, pfn: u32): bool {
  // colour_off is a power of two (the cache line or a larger alignment)
  const off = colourOffOf(pfn), co = exGet(id, SL_COLOUR_OFF), colour = exGet(id, SL_COLOUR);
  return co != 0 && (off & (co - 1)) == 0 && (off == 0 || <u64>off < <u64>colour * co);
}

// slab_get_obj(): the object at the freelist's next index (0: the slab's metadata is corrupt, isolated).
// The slab's index array, checked once per use (0: the slab was isolated).
function slabFreelistChecked(c: usize, id: u32, pfn: u32): usize {
  const fl = freelistArray(c, id, pfn);
  if (fl == 0 || active(pfn) >= kmemCache(c).objects || !colourValid(c, id, pfn)) { slabIsolate(c, id, pfn); return 0; }
  return fl;
}
// slab_put_obj(): the object's index goes back at slab->active - 1. False
// when the slab's state cannot take it (nothing active: a double free the
// array caches let through with KASAN off; or corrupt metadata).
function slabPutObj(c: usize, id: u32, pfn: u32, lin: usize): bool {
  const a = active(pfn);
  const size = kmemCache(c).size, num = kmemCache(c).objects;
  if (a == 0 || a > num || !colourValid(c, id, pfn)) return false;
  const s = sMem(pfn);
  if (lin < s || lin - s >= (<usize>PAGE_SIZE << kmemCache(c).order)) return false;
  // obj_to_index(): reciprocal_divide() (KC_RECIP rounds up: one step back when it overshoots)
  const off = <u32>(lin - s);
  let idx = <u32>((<u64>off * kmemCache(c).recip) >> 32);
  if (idx * size > off) idx--;
  if (idx >= num) return false;
  const mgmt = exGet(id, SL_MGMT);
  if (mgmt == SLAB_MGMT_OBJFREELIST && freelistOf(pfn) == 0) setFreelist(pfn, s + <usize>idx * size);
  const fl = freelistArray(c, id, pfn);
  if (fl == 0) return false;
  setActive(pfn, a - 1);
  store<u8>(fl + a - 1, <u8>idx);
  return true;
}

// fixup_slab_list(): a slab that gave objects moves to full or partial.
function fixupSlabList(c: usize, id: u32, pfn: u32): void {
  if (listState(pfn) != SL_LIST_NONE && !listDel(c, id, pfn)) return;
  if (active(pfn) == kmemCache(c).objects) {
    listAdd(c, id, pfn, SL_LIST_FULL, false);
    if (exGet(id, SL_MGMT) == SLAB_MGMT_OBJFREELIST) setFreelist(pfn, 0);
  } else listAdd(c, id, pfn, SL_LIST_PARTIAL, false);
}

// ── growing and destroying slabs ─────────────────────────────────────────────
// cache_grow_begin(): pages, colour, management, objects. NO_PFN on failure.
function cacheGrowBegin(c: usize, id: u32, gfp: u32): u32 {
  const order = kmemCache(c).order;
  const pfn = allocSlabPages(c, id);
  if (pfn == NO_PFN) return NO_PFN;
  const num = kmemCache(c).objects;
  // the colour of this slab, and the next one's
  const colour = exGet(id, SL_COLOUR);
  let next = exGet(id, SL_COLOUR_NEXT) + 1;
  if (next >= colour) next = 0;
  exSet(id, SL_COLOUR_NEXT, next);
  const offset = (next >= colour ? 0 : next) * exGet(id, SL_COLOUR_OFF);
  const base = slabLin(pfn);
  kasanPoisonSlab(linToVa(base), <u64>PAGE_SIZE << order);
  // alloc_slabmgmt()
  slabPage(pfn).sMem = offset;
  setActive(pfn, 0);
  slabPage(pfn).num = <u16>num;
  setListState(pfn, SL_LIST_NONE);
  const mgmt = exGet(id, SL_MGMT);
  let freelist: usize = 0;
  if (mgmt == SLAB_MGMT_OFF_SLAB) {
    const fc = exGet(id, SL_FREELIST_CACHE);
    const va = fc == 0 ? 0 : slabAlloc(fc, gfp, 0, CALL_ALLOC);
    if (va == 0) {
      guestFramesMark(pfn, 1 << order, 0);
      pgSetFlags(pfn, order > 0 ? PG_HEAD : 0);
      pgSetCache(pfn, 0);
      freePagesPfn(pfn, order);
      return NO_PFN;
    }
    freelist = dmLin(untag(va));
  } else if (mgmt == SLAB_MGMT_ON_SLAB) {
    freelist = base + (<usize>PAGE_SIZE << order) - num;
  }
  setFreelist(pfn, freelist);
  kmemCacheRam(c).nrSlabs = kmemCache(c).nrSlabs = kmemCache(c).nrSlabs + 1;
  // cache_init_objs()
  if (mgmt == SLAB_MGMT_OBJFREELIST) setFreelist(pfn, indexToObj(c, pfn, num - 1));
  const fl = freelistOf(pfn);
  const ctor = kmemCache(c).ctor;
  for (let i: u32 = 0; i < num; i++) {
    const obj = indexToObj(c, pfn, i);
    kasanInitObject(c, obj);
    if (ctor != 0) {
      kasanUnpoisonNewObject(c, linToVa(obj));
      callCtor(ctor, linToVa(obj));
      kasanPoisonNewObject(c, linToVa(obj));
    }
    store<u8>(fl + i, <u8>i);
  }
  return pfn;
}
// cache_grow_end(): the new slab joins the node.
function cacheGrowEnd(c: usize, id: u32, pfn: u32): void {
  if (active(pfn) == 0) {
    listAdd(c, id, pfn, SL_LIST_FREE, true);
    exSet(id, SL_FREE_SLABS, exGet(id, SL_FREE_SLABS) + 1);
  } else fixupSlabList(c, id, pfn);
  exSet(id, SL_FREE_OBJECTS, exGet(id, SL_FREE_OBJECTS) + kmemCache(c).objects - active(pfn));
}
// slab_destroy(): pages back to the buddy allocator, an OFF_SLAB freelist to its cache.
function slabDestroy(c: usize, id: u32, pfn: u32): void {
  const order = kmemCache(c).order;
  const freelist = freelistOf(pfn);
  pgSetFlags(pfn, order > 0 ? PG_HEAD : 0);
  pgSetCache(pfn, 0);
  slabPage(pfn).sMem = 0;
  kmemCacheRam(c).nrSlabs = kmemCache(c).nrSlabs = kmemCache(c).nrSlabs - 1;
  guestFramesMark(pfn, 1 << order, 0);
  freePagesPfn(pfn, order);
  if (exGet(id, SL_MGMT) == SLAB_MGMT_OFF_SLAB && freelist != 0) kmem_cache_free(exGet(id, SL_FREELIST_CACHE), linToVa(freelist));
}
// A slab taken off the node for destruction (free_block's surplus, drain_freelist).
function takeFreeSlab(c: usize, id: u32): u32 {
  // list_last_entry(&n->slabs_free)
  const pfn = exGet(id, EX_TAIL + SL_LIST_FREE * 4);
  if (pfn == NO_PFN) return NO_PFN;
  if (!slabOfCache(pfn, id) || listState(pfn) != SL_LIST_FREE) { listCut(c, id, SL_LIST_FREE); return NO_PFN; }
  if (!listDel(c, id, pfn)) return NO_PFN;
  const num = kmemCache(c).objects;
  const fo = exGet(id, SL_FREE_OBJECTS);
  exSet(id, SL_FREE_OBJECTS, fo > num ? fo - num : 0);
  if (exGet(id, SL_FREE_SLABS) > 0) exSet(id, SL_FREE_SLABS, exGet(id, SL_FREE_SLABS) - 1);
  return pfn;
}

// free_block(): objects back to their slabs; slabs past free_limit are destroyed.
function freeBlock(c: usize, id: u32, entries: usize, n: u32): void {
  exSet(id, SL_FREE_OBJECTS, exGet(id, SL_FREE_OBJECTS) + n);
  for (let i: u32 = 0; i < n; i++) {
    const lin = <usize>load<u32>(entries + (<usize>i << 2));
    const pfn = <u32>((lin - <usize>PHYS_BASE) >> PAGE_SHIFT);
    let head = pfn;
    if (head < nrFrames && (pgFlags(head) & 8) != 0) head = pgCache(head);
    if (!slabOfCache(head, id)) {
      // the page stopped being this cache's slab under the object (corrupted struct page)
      slabErr(head < nrFrames ? head : 0, id, SLAB_ERR_NOT_SLAB, 0, 0, SLAB_FIX_NONE);
      SBS.slabCorruptions++;
      exSet(id, SL_FREE_OBJECTS, exGet(id, SL_FREE_OBJECTS) - 1);
      continue;
    }
    if (listState(head) != SL_LIST_NONE && !listDel(c, id, head)) { exSet(id, SL_FREE_OBJECTS, exGet(id, SL_FREE_OBJECTS) - 1); continue; }
    if (!slabPutObj(c, id, head, lin)) {
      SBS.slabCorruptions++;
      exSet(id, SL_FREE_OBJECTS, exGet(id, SL_FREE_OBJECTS) - 1);
    }
    if (active(head) == 0) {
      listAdd(c, id, head, SL_LIST_FREE, false);
      exSet(id, SL_FREE_SLABS, exGet(id, SL_FREE_SLABS) + 1);
    } else {
      listAdd(c, id, head, active(head) >= kmemCache(c).objects ? SL_LIST_FULL : SL_LIST_PARTIAL, true);
    }
  }
  while (exGet(id, SL_FREE_OBJECTS) > exGet(id, SL_FREE_LIMIT)) {
    const pfn = takeFreeSlab(c, id);
    if (pfn == NO_PFN) break;
    slabDestroy(c, id, pfn);
  }
}

// ── allocation ───────────────────────────────────────────────────────────────
// transfer_objects(): up to max entries from the top of `from` to `to`.
function transferObjects(to: usize, from: usize, max: u32): u32 {
  let nr = load<u32>(from + AC_AVAIL);
  if (nr > max) nr = max;
  const room = load<u32>(to + AC_LIMIT) - load<u32>(to + AC_AVAIL);
  if (nr > room) nr = room;
  if (nr == 0) return 0;
  const fromAvail = load<u32>(from + AC_AVAIL) - nr;
  const toAvail = load<u32>(to + AC_AVAIL);
  memory.copy(to + AC_ENTRY + (<usize>toAvail << 2), from + AC_ENTRY + (<usize>fromAvail << 2), <usize>nr << 2);
  store<u32>(from + AC_AVAIL, fromAvail);
  store<u32>(to + AC_AVAIL, toAvail + nr);
  return nr;
}
// alloc_block(): up to batchcount objects of one slab into ac.
function allocBlock(c: usize, id: u32, ac: usize, pfn: u32, batch: i32): i32 {
  const num = kmemCache(c).objects;
  const fl = slabFreelistChecked(c, id, pfn);
  if (fl == 0) return batch;
  const s = sMem(pfn), size = kmemCache(c).size;
  let a = active(pfn);
  let avail = load<u32>(ac + AC_AVAIL);
  // slab_get_obj() each: the object at the next index
  while (a < num && batch-- > 0) {
    const idx = <u32>load<u8>(fl + a);
    if (idx >= num) {
      setActive(pfn, a);
      store<u32>(ac + AC_AVAIL, avail);
      slabIsolate(c, id, pfn);
      return batch;
    }
    store<u32>(ac + AC_ENTRY + (avail << 2), <u32>(s + <usize>idx * size));
    avail++;
    a++;
  }
  setActive(pfn, a);
  store<u32>(ac + AC_AVAIL, avail);
  return batch;
}
// get_first_slab(): partial first, else a free slab.
function firstSlab(c: usize, id: u32): u32 {
  for (let tries: u32 = 0; tries < 2; tries++) {
    let pfn = kmemCache(c).partial;
    let state = SL_LIST_PARTIAL;
    if (pfn == NO_PFN) {
      store<u32>(ext(id) + EX_FREE_TOUCHED, 1);
      pfn = exGet(id, EX_FREE_HEAD);
      state = SL_LIST_FREE;
      if (pfn == NO_PFN) return NO_PFN;
    }
    if (!slabOfCache(pfn, id) || listState(pfn) != state) {
      if (pfn < nrFrames) slabErr(pfn, id, SLAB_ERR_NOT_SLAB, 0, 0, SLAB_FIX_NONE);
      listCut(c, id, state);
      continue;
    }
    if (state == SL_LIST_FREE && exGet(id, SL_FREE_SLABS) > 0) exSet(id, SL_FREE_SLABS, exGet(id, SL_FREE_SLABS) - 1);
    return pfn;
  }
  return NO_PFN;
}

// cache_alloc_refill(): the array cache is empty; refill it from the shared
// array, the node's slabs, or a new slab. Returns an object (linear) or 0.
function cacheAllocRefill(c: usize, id: u32, ac: usize, gfp: u32): usize {
  if (!cacheVerify(id)) return 0;
  let batch = <i32>load<u32>(ac + AC_BATCH);
  if (load<u32>(ac + AC_TOUCHED) == 0 && batch > <i32>BATCHREFILL_LIMIT) batch = BATCHREFILL_LIMIT;
  const shared = sharedAc(id);
  if (exGet(id, SL_FREE_OBJECTS) != 0 || (shared != 0 && load<u32>(shared + AC_AVAIL) != 0)) {
    if (shared != 0 && transferObjects(ac, shared, <u32>batch) != 0) {
      store<u32>(shared + AC_TOUCHED, 1);
    } else {
      while (batch > 0) {
        const pfn = firstSlab(c, id);
        if (pfn == NO_PFN) break;
        batch = allocBlock(c, id, ac, pfn, batch);
        if (listState(pfn) != SL_LIST_NONE || slabOfCache(pfn, id)) fixupSlabList(c, id, pfn);
      }
      const fo = exGet(id, SL_FREE_OBJECTS), got = load<u32>(ac + AC_AVAIL);
      exSet(id, SL_FREE_OBJECTS, fo > got ? fo - got : 0);
    }
  }
  if (load<u32>(ac + AC_AVAIL) == 0) {
    const pfn = cacheGrowBegin(c, id, gfp);
    if (pfn != NO_PFN) {
      if (load<u32>(ac + AC_AVAIL) == 0) allocBlock(c, id, ac, pfn, batch > 0 ? batch : 1);
      cacheGrowEnd(c, id, pfn);
    }
    if (load<u32>(ac + AC_AVAIL) == 0) return 0;
  }
  store<u32>(ac + AC_TOUCHED, 1);
  const avail = load<u32>(ac + AC_AVAIL) - 1;
  store<u32>(ac + AC_AVAIL, avail);
  return <usize>load<u32>(ac + AC_ENTRY + (avail << 2));
}

// ____cache_alloc(): the per-CPU array first.
// @ts-ignore: decorator
@inline function cacheAlloc(c: usize, id: u32, gfp: u32): usize {
  const ac = cpuAc(id);
  const avail = load<u32>(ac + AC_AVAIL);
  if (avail != 0) {
    store<u32>(ac + AC_TOUCHED, 1);
    store<u32>(ac + AC_AVAIL, avail - 1);
    return <usize>load<u32>(ac + AC_ENTRY + ((avail - 1) << 2));
  }
  return cacheAllocRefill(c, id, ac, gfp);
}

// The array-cache half of slab_alloc_node() and of __cache_free(): slub.ts's
// slabAlloc/slabFree keep KFENCE's and KASAN's hooks (one call site each, so
// the optimizer inlines them as before) and reach SLAB through these pointers.
function slabCacheAlloc(c: usize, id: u32, gfp: u32): usize { return cacheAlloc(c, id, gfp); }

// ___cache_free(): into the per-CPU array, flushing a batch when it is full
// (also where the quarantine returns objects).
export function cacheFreeSlab(c: usize, slabPfn: u32, lin: usize): void {
  const id = idOf(c);
  const ac = cpuAc(id);
  if (load<u32>(ac + AC_AVAIL) >= load<u32>(ac + AC_LIMIT)) cacheFlusharray(c, id, ac);
  const avail = load<u32>(ac + AC_AVAIL);
  store<u32>(ac + AC_ENTRY + (avail << 2), <u32>lin);
  store<u32>(ac + AC_AVAIL, avail + 1);
}

// cache_flusharray(): batchcount objects to the shared array if it has room, else to the slabs.
function cacheFlusharray(c: usize, id: u32, ac: usize): void {
  let batch = load<u32>(ac + AC_BATCH);
  const shared = sharedAc(id);
  let done = false;
  if (shared != 0) {
    const max = load<u32>(shared + AC_LIMIT) - load<u32>(shared + AC_AVAIL);
    if (max != 0) {
      if (batch > max) batch = max;
      const sa = load<u32>(shared + AC_AVAIL);
      memory.copy(shared + AC_ENTRY + (<usize>sa << 2), ac + AC_ENTRY, <usize>batch << 2);
      store<u32>(shared + AC_AVAIL, sa + batch);
      done = true;
    }
  }
  if (!done) freeBlock(c, id, ac + AC_ENTRY, batch);
  const left = load<u32>(ac + AC_AVAIL) - batch;
  store<u32>(ac + AC_AVAIL, left);
  memory.copy(ac + AC_ENTRY, ac + AC_ENTRY + (<usize>batch << 2), <usize>left << 2);
}

// drain_array_locked(): all (freeAll) or a fifth of the limit back to the slabs.
function drainArrayLocked(c: usize, id: u32, ac: usize, freeAll: bool): void {
  const avail = load<u32>(ac + AC_AVAIL);
  if (avail == 0) return;
  let tofree = freeAll ? avail : (load<u32>(ac + AC_LIMIT) + 4) / 5;
  if (tofree > avail) tofree = (avail + 1) / 2;
  freeBlock(c, id, ac + AC_ENTRY, tofree);
  store<u32>(ac + AC_AVAIL, avail - tofree);
  memory.copy(ac + AC_ENTRY, ac + AC_ENTRY + (<usize>tofree << 2), <usize>(avail - tofree) << 2);
}
// drain_array(): a touched array is left alone once (its touched bit cleared).
function drainArray(c: usize, id: u32, ac: usize): void {
  if (ac == 0 || load<u32>(ac + AC_AVAIL) == 0) return;
  if (load<u32>(ac + AC_TOUCHED) != 0) { store<u32>(ac + AC_TOUCHED, 0); return; }
  drainArrayLocked(c, id, ac, false);
}
// drain_freelist(): up to tofree free slabs back to the page allocator.
function drainFreelist(c: usize, id: u32, tofree: u32): u32 {
  let n: u32 = 0;
  while (n < tofree) {
    const pfn = takeFreeSlab(c, id);
    if (pfn == NO_PFN) break;
    slabDestroy(c, id, pfn);
    n++;
  }
  return n;
}

// drain_cpu_caches(): every CPU's array and the shared one back to the slabs.
function drainCpuCaches(c: usize, id: u32): void {
  const block = <usize>exGet(id, EX_AC_BLOCK);
  if (block == 0) return;
  for (let cpu: u32 = 0; cpu < nrCpus; cpu++) {
    const ac = block + <usize>cpu * exGet(id, EX_AC_STRIDE);
    freeBlock(c, id, ac + AC_ENTRY, load<u32>(ac + AC_AVAIL));
    store<u32>(ac + AC_AVAIL, 0);
  }
  const sh = sharedAc(id);
  if (sh != 0) drainArrayLocked(c, id, sh, true);
}

// __kmem_cache_shrink() (and __kmem_cache_shutdown()): drain the arrays, free
// every free slab. True when no slab is left in use.
export function slabShrinkSlab(c: usize): bool {
  const id = idOf(c);
  drainCpuCaches(c, id);
  drainFreelist(c, id, 0xffffffff);
  return kmemCache(c).partial == NO_PFN && kmemCache(c).full == NO_PFN;
}

// cache_reap(): every REAPTIMEOUT_AC of engine time, each CPU drains a fifth
// of its untouched arrays; every REAPTIMEOUT_NODE a cache also drains its
// shared array and, unless a free slab was recently used, some free slabs.
// (The kernel runs one delayed work per CPU; here the CPUs reap together.)
export function slabClockMoved(): void {
  if (!slabIsSlab() || TS.clockNs < SBS.nextReapNs) return;
  let passes: u32 = 0;
  while (TS.clockNs >= SBS.nextReapNs && passes < REAP_PASSES_MAX) {
    cacheReap(SBS.nextReapNs);
    SBS.nextReapNs += REAPTIMEOUT_AC_NS;
    passes++;
  }
  if (TS.clockNs >= SBS.nextReapNs) SBS.nextReapNs = TS.clockNs + REAPTIMEOUT_AC_NS;
}
function cacheReap(now: u64): void {
  const n = cache_count();
  for (let id: u32 = 0; id < n; id++) {
    if (cacheState(id) != CACHE_ACTIVE) continue;
    const c = cacheLin(id);
    const block = <usize>exGet(id, EX_AC_BLOCK);
    if (block == 0) continue;
    for (let cpu: u32 = 0; cpu < nrCpus; cpu++) drainArray(c, id, block + <usize>cpu * exGet(id, EX_AC_STRIDE));
    if (load<u64>(ext(id) + EX_NEXT_REAP) > now) continue;
    store<u64>(ext(id) + EX_NEXT_REAP, now + REAPTIMEOUT_NODE_MS * 1000000);
    drainArray(c, id, sharedAc(id));
    if (exGet(id, EX_FREE_TOUCHED) != 0) exSet(id, EX_FREE_TOUCHED, 0);
    else {
      const num = kmemCache(c).objects;
      drainFreelist(c, id, (exGet(id, SL_FREE_LIMIT) + 5 * num - 1) / (5 * num));
    }
  }
}
export function slab_reap_next(): u64 { return SBS.nextReapNs; }

// ── objects as others see them ───────────────────────────────────────────────
// nearest_obj(): from s_mem in steps of size, clamped to the last object
// (u64 arithmetic as the kernel's unsigned long, also below s_mem).
export function slabNearestObj(c: usize, slabPfn: u32, va: u64): u64 {
  const slabBytes = <u32>PAGE_SIZE << kmemCache(c).order;
  const sm = PAGE_OFFSET + (<u64>slabPfn << PAGE_SHIFT) + <u64>(colourOffOf(slabPfn) & (slabBytes - 1));
  const size = kmemCache(c).size;
  const d = va - sm;
  let obj: u64;
  if (d < <u64>slabBytes) {
    // in the slab: reciprocal_divide(), as obj_to_index() does
    let q = <u32>((d * kmemCache(c).recip) >> 32);
    if (<u64>q * size > d) q--;
    obj = sm + <u64>q * size;
  } else {
    obj = va - d % <u64>size;          // below s_mem: the unsigned wrap 6.1 computes
  }
  const last = sm + <u64>(kmemCache(c).objects - 1) * size;
  return obj > last ? last : obj;
}
export function slabStartLinSlab(pfn: u32): usize {
  // kmemleak walks num objects from here: a colour offset a buggy write changed is not followed
  const id = pgCache(pfn);
  return slabLin(pfn) + (id < cache_count() && colourValid(cacheLin(id), id, pfn) ? <usize>colourOffOf(pfn) : 0);
}

// Mark the slots of a slab that are free to the allocator: not handed out by
// the slab (freelist entries past active) or sitting in an array cache.
export function slabFreeSlotMapSlab(c: usize, pfn: u32, map: usize): void {
  const num = kmemCache(c).objects;
  const id = idOf(c);
  memory.fill(map, 0, <usize>((num + 7) >> 3));
  const a = active(pfn);
  const fl = a < num ? freelistArray(c, id, pfn) : 0;
  if (fl != 0) {
    for (let i = a; i < num; i++) {
      const idx = <u32>load<u8>(fl + i);
      if (idx < num) store<u8>(map + (idx >> 3), <u8>(<u32>load<u8>(map + (idx >> 3)) | (<u32>1 << (idx & 7))));
    }
  }
  const s = sMem(pfn), size = kmemCache(c).size;
  const block = <usize>exGet(id, EX_AC_BLOCK);
  if (block == 0) return;
  const arrays = nrCpus + (sharedAc(id) != 0 ? 1 : 0);
  for (let k: u32 = 0; k < arrays; k++) {
    const ac = block + <usize>k * exGet(id, EX_AC_STRIDE);
    const avail = load<u32>(ac + AC_AVAIL);
    for (let i: u32 = 0; i < avail; i++) {
      const lin = <usize>load<u32>(ac + AC_ENTRY + (i << 2));
      if (lin < s || lin >= s + <usize>num * size) continue;
      const idx = <u32>((lin - s) / size);
      store<u8>(map + (idx >> 3), <u8>(<u32>load<u8>(map + (idx >> 3)) | (<u32>1 << (idx & 7))));
    }
  }
}

// Is va (untagged, in slab slabPfn) the start of an object that is allocated?
// (Frees KASAN is not there to judge: guests and fuzz tapes with kasan=off.)
export function slabObjectIsLive(c: usize, slabPfn: u32, va: u64): bool {
  if (slabNearestObj(c, slabPfn, va) != va) return false;
  const num = kmemCache(c).objects;
  const map = SLAB_LIVE_MAP;
  slabFreeSlotMapSlab(c, slabPfn, map);
  const idx = <u32>((dmLin(va) - sMem(slabPfn)) / kmemCache(c).size);
  return idx < num && (load<u8>(map + (idx >> 3)) & (1 << (idx & 7))) == 0;
}
const SLAB_LIVE_MAP: usize = memory.data(32, 8);     // 255 bits

// The page dump's struct slab words (mm/slab.h of 6.1 under CONFIG_SLAB).
export function slabPageInfo(rec: usize, head: u32): void {
  const id = pgCache(head);
  const state = listState(head);
  const next = pgNext(head), prev = pgPrev(head);
  const onList = state >= SL_LIST_PARTIAL && state <= SL_LIST_FREE && id < <u32>MAX_CACHES;
  store<u64>(rec + R_SLAB_LIST_NEXT, !onList ? lruVa(head) : next == NO_PFN || next >= nrFrames ? headVa(id, state) : lruVa(next));
  store<u64>(rec + R_SLAB_LIST_PREV, !onList ? lruVa(head) : prev == NO_PFN || prev >= nrFrames ? headVa(id, state) : lruVa(prev));
  store<u64>(rec + R_SLAB_S_MEM, PAGE_OFFSET + (<u64>head << PAGE_SHIFT) + colourOffOf(head));
}

// ── introspection and self-check ─────────────────────────────────────────────
export function slab_info(id: u32, field: u32): u32 {
  if (!slabIsSlab() || id >= cache_count()) return 0;
  const c = cacheLin(id);
  if (field == SL_TOTAL_SLABS) return kmemCache(c).nrSlabs;
  if (field == SL_ACTIVE_OBJS) return kmemCache(c).nrSlabs * kmemCache(c).objects - exGet(id, SL_FREE_OBJECTS);
  if (field == SL_SHARED_AVAIL) { const sh = sharedAc(id); return sh == 0 || exGet(id, EX_AC_BLOCK) == 0 ? 0 : load<u32>(sh + AC_AVAIL); }
  if (field >= <u32>SL_CPU_AVAIL) {
    const cpu = field - <u32>SL_CPU_AVAIL;
    if (cpu >= nrCpus || exGet(id, EX_AC_BLOCK) == 0) return 0;
    return load<u32>(<usize>exGet(id, EX_AC_BLOCK) + <usize>cpu * exGet(id, EX_AC_STRIDE) + AC_AVAIL);
  }
  if (field > 124 || (field & 3) != 0) return 0;
  return exGet(id, field);
}

// Every active cache's lists hold its own slabs in the right state, and the
// node's counters add up.
function listCheck(c: usize, id: u32, state: u32, countOut: usize): bool {
  let pfn = load<u32>(headAddr(c, id, state));
  let prev = NO_PFN;
  let n: u32 = 0, free: u32 = 0;
  const num = kmemCache(c).objects;
  while (pfn != NO_PFN) {
    if (!slabOfCache(pfn, id) || listState(pfn) != state || pgPrev(pfn) != prev || n > nrFrames) return false;
    const a = active(pfn);
    if (a > num) return false;
    if (state == SL_LIST_FULL && a != num) return false;
    if (state == SL_LIST_FREE && a != 0) return false;
    if (state == SL_LIST_PARTIAL && (a == 0 || a == num)) return false;
    free += num - a;
    prev = pfn;
    pfn = pgNext(pfn);
    n++;
  }
  if (exGet(id, EX_TAIL + state * 4) != prev) return false;
  store<u32>(countOut, load<u32>(countOut) + free);
  if (state == SL_LIST_FREE) store<u32>(countOut + 4, n);
  return true;
}
const CHECK_TMP: usize = memory.data(8, 4);
export function slabCheckSlab(): bool {
  const n = cache_count();
  for (let id: u32 = 0; id < n; id++) {
    if (cacheState(id) != CACHE_ACTIVE) continue;
    const c = cacheLin(id);
    store<u64>(CHECK_TMP, 0);
    if (!listCheck(c, id, SL_LIST_PARTIAL, CHECK_TMP) || !listCheck(c, id, SL_LIST_FULL, CHECK_TMP) ||
        !listCheck(c, id, SL_LIST_FREE, CHECK_TMP)) return false;
    if (SBS.slabCorruptions == 0 && (load<u32>(CHECK_TMP) != exGet(id, SL_FREE_OBJECTS) || load<u32>(CHECK_TMP + 4) != exGet(id, SL_FREE_SLABS))) return false;
  }
  return true;
}
