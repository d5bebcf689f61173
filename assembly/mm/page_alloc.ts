// The buddy page allocator (mm/page_alloc.c): orders 0..MAX_PAGE_ORDER, one
// doubly linked free list per order threaded through struct page, blocks split
// on allocation and merged with their buddy (pfn ^ (1 << order)) on free.
import { MAX_PAGE_ORDER, PAGE_SHIFT, PG_BUDDY, PG_HEAD, PG_TAIL, PG_RESERVED, USE_FREE,
         STAT_FRAMES_FREE, STAT_PAGE_ALLOCS, STAT_PAGE_FREES, STAT_PAGE_ALLOC_FAILS,
         CFG_FAIL_INTERVAL, CFG_FAIL_PROBABILITY, CFG_FAIL_SPACE, CFG_FAIL_TIMES, ARCH_ARM64,
         CFG_NR_CPUS, LIST_DEL_NEXT } from "../../abi/abi";
import { nrFrames, NO_PFN, pgFlags, pgSetFlags, pgOrder, pgSetOrder, pgNext, pgPrev,
         pgSetRef, pgSetUse, pgSetCache, pgSetMapcount, pgSetOwner, pgSetPrivate,
         memblockLowEnd, memblockFinish, pgSetTag, pgTag, pfnListAdd, pfnListDel, pgSetNext, pgSetPrev, pgUse } from "./phys";
import { statAdd, statInc, statGet } from "../stats";
import { cfg, config_set } from "../config";
import { randomBelow } from "../random";
import { currentPid, currentCpu } from "../task";
import { arch } from "./layout";
import { pfnListDelValid, listDelCorruption, lruVa } from "./fault";
import { MACHINE_STATE } from "../statics";

// Zones: on x86_64, ZONE_DMA is the first 16 MiB and everything else (RAM here
// stays below 4 GiB) is ZONE_DMA32; arm64 has one zone here. Allocations prefer
// the higher zone and fall back to DMA only when it is exhausted, as the
// kernel's zonelists and lowmem_reserve keep ZONE_DMA for last.
// @ts-ignore: decorator
@inline const NR_ZONES: u32 = 2;
// @ts-ignore: decorator
@inline const DMA_PFNS: u32 = 4096;
// per zone, per order: head pfn (u32), nr_free (u32)
const FREE_AREA: usize = memory.data(<i32>(NR_ZONES * (MAX_PAGE_ORDER + 1) * 8), 8);

// @ts-ignore: decorator
@inline function zoneOf(pfn: u32): u32 { return arch != ARCH_ARM64 && pfn < DMA_PFNS ? 0 : 1; }
// @ts-ignore: decorator
@inline function areaOf(zone: u32, order: u32): usize { return FREE_AREA + ((zone * (MAX_PAGE_ORDER + 1) + order) << 3); }
// @ts-ignore: decorator
@inline function freeHead(zone: u32, order: u32): u32 { return load<u32>(areaOf(zone, order)); }
// @ts-ignore: decorator
@inline function setFreeHead(zone: u32, order: u32, pfn: u32): void { store<u32>(areaOf(zone, order), pfn); }
// @ts-ignore: decorator
@inline function nrFreeAdd(zone: u32, order: u32, d: i32): void {
  const p = areaOf(zone, order) + 4;
  store<i32>(p, load<i32>(p) + d);
  if (isDefined(SF_CHECKS)) assert(load<i32>(p) >= 0, "buddy: negative nr_free");
}
export function nr_free(order: u32): u32 {
  if (order > <u32>MAX_PAGE_ORDER) return 0;
  return load<u32>(areaOf(0, order) + 4) + load<u32>(areaOf(1, order) + 4);
}

function listAdd(pfn: u32, order: u32): void {
  // debug build: a free block is whole, naturally aligned, inside RAM, one zone
  if (isDefined(SF_CHECKS)) {
    assert(order <= <u32>MAX_PAGE_ORDER && (pfn & ((<u32>1 << order) - 1)) == 0 && pfn != 0 &&
           pfn + (<u32>1 << order) <= nrFrames, "buddy: free block misaligned or outside RAM");
    assert(zoneOf(pfn) == zoneOf(pfn + (<u32>1 << order) - 1), "buddy: free block spans two zones");
  }
  const zone = zoneOf(pfn);
  pfnListAdd(areaOf(zone, order), pfn);
  pgSetFlags(pfn, PG_BUDDY);
  pgSetOrder(pfn, order);
  nrFreeAdd(zone, order, 1);
}

// list_del from a free list, with CONFIG_DEBUG_LIST's checks (the links live in
// struct page, which a buggy write can reach). A bad link is reported (the
// fault on a link outside mem_map, else "list_del corruption") and the whole
// free list is cut off so it is never followed again: its blocks leak.
function listDel(pfn: u32, order: u32): bool {
  const zone = zoneOf(pfn);
  const head = areaOf(zone, order);
  const ok = pfnListDelValid(head, pfn, 0);
  if (!ok) {
    // the blocks still reachable stop being buddies, so no merge takes one
    // for a member of its list later
    let p = load<u32>(head);
    for (let n: u32 = 0; p < nrFrames && n <= nrFrames && (pgFlags(p) & PG_BUDDY) != 0 && pgOrder(p) == order; n++) {
      pgSetFlags(p, pgFlags(p) & ~PG_BUDDY);
      p = pgNext(p);
    }
    pgSetFlags(pfn, pgFlags(pfn) & ~PG_BUDDY);
    statAdd(STAT_FRAMES_FREE, -(<i64>load<u32>(head + 4) << order));
    setFreeHead(zone, order, NO_PFN);
    store<u32>(head + 4, 0);
    return false;
  }
  pfnListDel(head, pfn);
  pgSetFlags(pfn, 0);
  nrFreeAdd(zone, order, -1);
  if (isDefined(SF_CHECKS)) {
    const h = load<u32>(head);
    assert(h == NO_PFN || h < nrFrames, "buddy: free list head outside mem_map");
  }
  return true;
}

export function buddyInit(): void {
  for (let z: u32 = 0; z < NR_ZONES; z++) {
    for (let o: u32 = 0; o <= <u32>MAX_PAGE_ORDER; o++) { setFreeHead(z, o, NO_PFN); store<u32>(areaOf(z, o) + 4, 0); }
  }
  pcpReset();
}

// memblock_free_all: hand every frame memblock did not reserve to the buddy, in
// the largest naturally aligned blocks.
export function memblockFreeAll(): void {
  memblockFinish();
  let pfn: u32 = 1;
  let managed0: u32 = 0, managed1: u32 = 0;
  while (pfn < nrFrames) {
    if (pgFlags(pfn) & PG_RESERVED) { pfn++; continue; }
    let order: u32 = <u32>MAX_PAGE_ORDER;
    while (order > 0 && ((pfn & ((1 << order) - 1)) != 0 || pfn + (1 << order) > nrFrames || !rangeFree(pfn, 1 << order))) order--;
    freeOneBlock(pfn, order);
    if (zoneOf(pfn) == 0) managed0 += 1 << order; else managed1 += 1 << order;
    pfn += 1 << order;
  }
  pcpInit(managed0, managed1);
}

function rangeFree(pfn: u32, n: u32): bool {
  for (let i: u32 = 0; i < n; i++) if (pgFlags(pfn + i) & PG_RESERVED) return false;
  return true;
}

function freeOneBlock(pfn: u32, order: u32): void {
  for (let i: u32 = 0; i < (1 << order); i++) {
    pgSetUse(pfn + i, USE_FREE);
    pgSetRef(pfn + i, 0);
    pgSetFlags(pfn + i, 0);
    pgSetTag(pfn + i, 0xff);
  }
  // __free_pages_core poisons boot memory too (generic KASAN): a never-used
  // free page reads as a freed page
  kasanFreePages(pfn, order);
  statAdd(STAT_FRAMES_FREE, 1 << order);
  mergeAndAdd(pfn, order);
}

function mergeAndAdd(pfn: u32, order: u32): void {
  while (order < <u32>MAX_PAGE_ORDER) {
    const buddy = pfn ^ (1 << order);
    if (buddy >= nrFrames) break;
    if ((pgFlags(buddy) & PG_BUDDY) == 0 || pgOrder(buddy) != order) break;
    if (!listDel(buddy, order)) break;     // a corrupted free list: no merge with it
    pfn &= buddy;
    order++;
  }
  listAdd(pfn, order);
}

// ── fault injection: the kernel's fail_page_alloc (lib/fault-inject.c) ──────
// @ts-ignore: decorator
@unmanaged class PageAllocState {
  failCount: u64;
  failSpace: i64;
  failTimes: i64;
  orderWarned: bool;      // warnAllocOrder's WARN_ON_ONCE
}
// the machine's, not this CPU's: linear memory (docs/smp.md, "The audit")
export const PAS = changetype<PageAllocState>(MACHINE_STATE + 0x1100);
if (offsetof<PageAllocState>() > 0x100) ERROR("PageAllocState overflows its 0x100 bytes of MACHINE_STATE");
export function failInit(): void {
  PAS.failCount = 0;
  PAS.failSpace = cfg(CFG_FAIL_SPACE);
  PAS.failTimes = cfg(CFG_FAIL_TIMES);
}
function shouldFail(order: u32): bool {
  const probability = cfg(CFG_FAIL_PROBABILITY);
  if (probability <= 0 || PAS.failTimes == 0) return false;
  const size = <i64>(1 << (order + PAGE_SHIFT));
  if (PAS.failSpace > size) { PAS.failSpace -= size; return false; }
  const interval = cfg(CFG_FAIL_INTERVAL);
  if (interval > 1) { PAS.failCount++; if (PAS.failCount % <u64>interval != 0) return false; }
  if (probability <= <i64>randomBelow(100)) return false;
  if (PAS.failTimes > 0) PAS.failTimes--;
  return true;
}

// The debugfs knobs (/sys/kernel/debug/fail_page_alloc/{interval,probability,
// space,times}): re-arm fault injection at run time.
export function fail_page_alloc_set(interval: i32, probability: i32, space: i64, times: i32): void {
  config_set(CFG_FAIL_INTERVAL, interval);
  config_set(CFG_FAIL_PROBABILITY, probability);
  config_set(CFG_FAIL_SPACE, space);
  config_set(CFG_FAIL_TIMES, times);
  PAS.failCount = 0;
  PAS.failSpace = space;
  PAS.failTimes = times;
}

// Allocate 2^order frames; NO_PFN when out of memory (never traps).
// get_page_from_freelist over the zones (pcp lists for order <= 3), then, as
// __alloc_pages_direct_reclaim does before giving up, drain_all_pages() and
// one more try: free pages may sit on some CPU's lists.
export function allocPagesPfn(order: u32, use: i32): u32 {
  if (order > <u32>MAX_PAGE_ORDER || shouldFail(order)) { statInc(STAT_PAGE_ALLOC_FAILS); return NO_PFN; }
  let pfn = rmqueue(order);
  if (pfn == NO_PFN && drain_all_pages() != 0) pfn = rmqueue(order);
  if (pfn == NO_PFN) { statInc(STAT_PAGE_ALLOC_FAILS); return NO_PFN; }
  const n: u32 = 1 << order;
  for (let i: u32 = 0; i < n; i++) {
    const p = pfn + i;
    pgSetFlags(p, order > 0 ? (i == 0 ? PG_HEAD : PG_TAIL) : 0);
    pgSetOrder(p, order);
    pgSetRef(p, i == 0 ? 1 : 0);
    pgSetMapcount(p, 0);
    pgSetCache(p, i == 0 ? 0 : pfn);  // tails point at their head
    pgSetPrivate(p, 0);
    pgSetOwner(p, currentPid);
    pgSetUse(p, use);
  }
  statAdd(STAT_FRAMES_FREE, -(<i64>n));
  statInc(STAT_PAGE_ALLOCS);
  pgSetTag(pfn, kasanAllocPages(pfn, order));    // post_alloc_hook: unpoison (and tag)
  return pfn;
}

// rmqueue() over the zonelist: ZONE_DMA32 first, ZONE_DMA last.
function rmqueue(order: u32): u32 {
  for (let z: i32 = <i32>NR_ZONES - 1; z >= 0; z--) {
    const pfn = order <= PAGE_ALLOC_COSTLY_ORDER ? rmqueuePcplist(<u32>z, order) : rmqueueSmallest(<u32>z, order);
    if (pfn != NO_PFN) return pfn;
  }
  return NO_PFN;
}

// __rmqueue_smallest(): the smallest free block of at least this order,
// split down (expand()); the block leaves the buddy with clean flags.
function rmqueueSmallest(zone: u32, order: u32): u32 {
  for (let o = order; o <= <u32>MAX_PAGE_ORDER; o++) {
    const pfn = freeHead(zone, o);
    if (pfn == NO_PFN) continue;
    if (!listDel(pfn, o)) continue;
    while (o > order) {             // expand: the upper halves go back on lower lists
      o--;
      listAdd(pfn + (1 << o), o);
    }
    return pfn;
  }
  return NO_PFN;
}

// Free a block the caller owns; the caller has validated it (see pageFreeProblem).
// free_pages_prepare() (KASAN poison, struct page reset), then the CPU's pcp
// list for order <= PAGE_ALLOC_COSTLY_ORDER (free_unref_page), else the buddy.
export function freePagesPfn(pfn: u32, order: u32): void {
  kasanFreePages(pfn, order);                      // free_pages_prepare: poison
  const n: u32 = 1 << order;
  for (let i: u32 = 0; i < n; i++) {
    pgSetUse(pfn + i, USE_FREE);
    pgSetRef(pfn + i, 0);
    pgSetFlags(pfn + i, 0);
    pgSetCache(pfn + i, 0);
    pgSetPrivate(pfn + i, 0);
  }
  statAdd(STAT_FRAMES_FREE, n);
  statInc(STAT_PAGE_FREES);
  if (order <= PAGE_ALLOC_COSTLY_ORDER) freeUnrefPage(pfn, order);
  else mergeAndAdd(pfn, order);
}

// ── per-CPU page lists (struct per_cpu_pages, mm/page_alloc.c) ──────────────
// One per CPU and zone, in linear memory (one table for the whole machine,
// indexed by CPU). Pages on them are free (USE_FREE, counted in framesFree)
// but not PageBuddy, so the buddy neither merges with them nor hands them
// out; free_pcppages_bulk gives them back a batch at a time. One list per
// order up to PAGE_ALLOC_COSTLY_ORDER: the engine has one migratetype.
// @ts-ignore: decorator
@inline const PAGE_ALLOC_COSTLY_ORDER: u32 = 3;
// nr_cpus= accepts up to 64
// @ts-ignore: decorator
@inline const PCP_MAX_CPUS: u32 = 64;
// @ts-ignore: decorator
@inline function pcpCpus(): u32 { const n = <u32>cfg(CFG_NR_CPUS); return n == 0 ? 1 : n > PCP_MAX_CPUS ? PCP_MAX_CPUS : n; }
// CONFIG_PCP_BATCH_SCALE_MAX
// @ts-ignore: decorator
@inline const PCP_BATCH_SCALE_MAX: i32 = 5;
// MIN_PERCPU_PAGELIST_HIGH_FRACTION: high_max is managed pages / 8 split over the CPUs
// @ts-ignore: decorator
@inline const MIN_PERCPU_PAGELIST_HIGH_FRACTION: u32 = 8;
// pcp->flags
// @ts-ignore: decorator
@inline const PCPF_PREV_FREE_HIGH_ORDER: i32 = 1;
// struct per_cpu_pages, 128 bytes: i32 fields, then a list per order
// (head pfn, tail pfn, blocks: u32 each, 16 bytes)
// @ts-ignore: decorator
@inline const PCP_COUNT: usize = 0;          // pages on the lists
// @ts-ignore: decorator
@inline const PCP_HIGH: usize = 4;
// @ts-ignore: decorator
@inline const PCP_BATCH: usize = 8;
// @ts-ignore: decorator
@inline const PCP_HIGH_MIN: usize = 12;
// @ts-ignore: decorator
@inline const PCP_HIGH_MAX: usize = 16;
// @ts-ignore: decorator
@inline const PCP_FREE_COUNT: usize = 20;
// @ts-ignore: decorator
@inline const PCP_ALLOC_FACTOR: usize = 24;
// @ts-ignore: decorator
@inline const PCP_FLAGS: usize = 28;
// @ts-ignore: decorator
@inline const PCP_LISTS: usize = 32;
const PCP: usize = memory.data(<i32>(PCP_MAX_CPUS * NR_ZONES * 128), 8);

// @ts-ignore: decorator
@inline function pcpOf(cpu: u32, zone: u32): usize { return PCP + (<usize>(cpu * NR_ZONES + zone) << 7); }
// this_cpu_ptr(zone->per_cpu_pageset)
// @ts-ignore: decorator
@inline function thisPcp(zone: u32): usize { return pcpOf(currentCpu < PCP_MAX_CPUS ? currentCpu : 0, zone); }
// @ts-ignore: decorator
@inline function pcpList(pcp: usize, order: u32): usize { return pcp + PCP_LISTS + (<usize>order << 4); }
// @ts-ignore: decorator
@inline function pcpGet(pcp: usize, field: usize): i32 { return load<i32>(pcp + field); }
// @ts-ignore: decorator
@inline function pcpSet(pcp: usize, field: usize, v: i32): void { store<i32>(pcp + field, v); }

// list_add (free: hot pages first) and list_add_tail (rmqueue_bulk's refill)
function pcpListAdd(list: usize, pfn: u32, tail: bool): void {
  const head = load<u32>(list), last = load<u32>(list, 4);
  if (head == NO_PFN) {
    pgSetNext(pfn, NO_PFN); pgSetPrev(pfn, NO_PFN);
    store<u32>(list, pfn); store<u32>(list, pfn, 4);
  } else if (tail) {
    pgSetNext(pfn, NO_PFN); pgSetPrev(pfn, last); pgSetNext(last, pfn);
    store<u32>(list, pfn, 4);
  } else {
    pgSetNext(pfn, head); pgSetPrev(pfn, NO_PFN); pgSetPrev(head, pfn);
    store<u32>(list, pfn);
  }
  store<u32>(list, load<u32>(list, 8) + 1, 8);
}

// list_del with CONFIG_DEBUG_LIST's checks, as the buddy's listDel: the links
// live in struct page. A bad link is reported and the list cut off (its pages
// leak, as a corrupted buddy list's do); false then.
// @ts-ignore: decorator
@inline function pcpListDel(pcp: usize, list: usize, pfn: u32, order: u32): bool {
  const next = pgNext(pfn), prev = pgPrev(pfn);
  if ((next == NO_PFN ? load<u32>(list, 4) != pfn : next >= nrFrames || pgPrev(next) != pfn) ||
      (prev == NO_PFN ? load<u32>(list) != pfn : prev >= nrFrames || pgNext(prev) != pfn)) {
    pcpListCut(pcp, list, pfn, order);
    return false;
  }
  if (prev != NO_PFN) pgSetNext(prev, next); else store<u32>(list, next);
  if (next != NO_PFN) pgSetPrev(next, prev); else store<u32>(list, prev, 4);
  store<u32>(list, load<u32>(list, 8) - 1, 8);
  return true;
}
// The bad link reported (pfnListDelValid's texts; a last entry that is not
// the list's tail: head->prev is not pfn), the list is cut off.
function pcpListCut(pcp: usize, list: usize, pfn: u32, order: u32): void {
  if (pfnListDelValid(list, pfn, 0)) listDelCorruption(LIST_DEL_NEXT, lruVa(pfn), lruVa(load<u32>(list, 4)), 0);
  const pages = <i32>(load<u32>(list, 8) << order);
  pcpSet(pcp, PCP_COUNT, pcpGet(pcp, PCP_COUNT) - pages);
  statAdd(STAT_FRAMES_FREE, -(<i64>pages));
  store<u32>(list, NO_PFN); store<u32>(list, NO_PFN, 4); store<u32>(list, 0, 8);
}

// buddyInit: boot pagesets (BOOT_PAGESET_HIGH 0, BOOT_PAGESET_BATCH 1) until
// pcpInit sizes them: every free goes straight back to the buddy.
function pcpReset(): void {
  for (let cpu: u32 = 0; cpu < PCP_MAX_CPUS; cpu++) for (let z: u32 = 0; z < NR_ZONES; z++) {
    const pcp = pcpOf(cpu, z);
    memory.fill(pcp, 0, 128);
    pcpSet(pcp, PCP_BATCH, 1);
    for (let o: u32 = 0; o <= PAGE_ALLOC_COSTLY_ORDER; o++) { store<u32>(pcpList(pcp, o), NO_PFN); store<u32>(pcpList(pcp, o), NO_PFN, 4); }
  }
}

// zone_batchsize(): ~0.1% of the zone or 1 MiB, whichever is smaller, a
// quarter of it rounded to 2^n - 1; at least 1 (zone_set_pageset_high_and_batch).
function zoneBatchsize(managed: u32): i32 {
  let batch = <i32>min(managed >> 10, <u32>(1 << 20) >> PAGE_SHIFT) / 4;
  if (batch < 1) batch = 1;
  const b = batch + batch / 2;
  batch = (1 << (31 - clz(b))) - 1;
  return batch < 1 ? 1 : batch;
}
// zone_highsize(): total pages split over the node's CPUs, at least 4 batches.
function zoneHighsize(total: u32, batch: i32, cpus: u32): i32 {
  const high = <i32>(total / cpus);
  return high > (batch << 2) ? high : batch << 2;
}
// low_wmark_pages() as __setup_per_zone_wmarks() sets it: min_free_kbytes
// (sqrt(16 * lowmem KiB), 128 KiB .. 256 MiB) shared by managed pages, plus
// max(min / 4, managed * watermark_scale_factor (10) / 10000).
function lowWmark(managed: u32, totalManaged: u32): u32 {
  let minFreeKb = <u64>Math.floor(Math.sqrt(<f64>(<u64>totalManaged * 4 * 16)));
  if (minFreeKb < 128) minFreeKb = 128;
  if (minFreeKb > 262144) minFreeKb = 262144;
  const wmin = totalManaged == 0 ? 0 : <u32>((minFreeKb / 4) * <u64>managed / <u64>totalManaged);
  const step = max(wmin / 4, <u32>(<u64>managed * 10 / 10000));
  return wmin + step;
}

// setup_per_cpu_pageset() once every CPU is up: batch, high_min (the zone's
// low watermark split over the CPUs), high_max (managed / 8 split likewise);
// high starts at high_min. managed[z]: frames memblock_free_all gave zone z.
function pcpInit(managed0: u32, managed1: u32): void {
  const cpus = pcpCpus();
  const total = managed0 + managed1;
  for (let z: u32 = 0; z < NR_ZONES; z++) {
    const managed = z == 0 ? managed0 : managed1;
    const batch = zoneBatchsize(managed);
    const hmin = zoneHighsize(lowWmark(managed, total), batch, cpus);
    const hmax = zoneHighsize(managed / MIN_PERCPU_PAGELIST_HIGH_FRACTION, batch, cpus);
    for (let cpu: u32 = 0; cpu < cpus; cpu++) {
      const pcp = pcpOf(cpu, z);
      pcpSet(pcp, PCP_BATCH, batch);
      pcpSet(pcp, PCP_HIGH_MIN, hmin);
      pcpSet(pcp, PCP_HIGH_MAX, hmax < hmin ? hmin : hmax);
      pcpSet(pcp, PCP_HIGH, hmin);
    }
  }
}

// @ts-ignore: decorator
@inline function clampHigh(pcp: usize): i32 {
  let high = pcpGet(pcp, PCP_HIGH);
  const lo = pcpGet(pcp, PCP_HIGH_MIN), hi = pcpGet(pcp, PCP_HIGH_MAX);
  if (high < lo) high = lo;
  if (high > hi) high = hi;
  pcpSet(pcp, PCP_HIGH, high);
  return high;
}

// nr_pcp_high(): the count at which a free gives pages back. high grows
// toward high_max while frees keep overflowing it (no watermarks or reclaim
// here, so ZONE_BELOW_HIGH and ZONE_RECLAIM_ACTIVE never shrink it).
function nrPcpHigh(pcp: usize, batch: i32, freeHigh: bool): i32 {
  const high = clampHigh(pcp);
  if (high == 0) return 0;
  const lo = pcpGet(pcp, PCP_HIGH_MIN), hi = pcpGet(pcp, PCP_HIGH_MAX);
  if (freeHigh) {
    const h = high - (batch << PCP_BATCH_SCALE_MAX);
    pcpSet(pcp, PCP_HIGH, h > lo ? h : lo);
    return 0;
  }
  if (lo == hi) return high;
  if (pcpGet(pcp, PCP_COUNT) >= high) {
    const need = pcpGet(pcp, PCP_FREE_COUNT) + batch;
    if (high < need) pcpSet(pcp, PCP_HIGH, need < lo ? lo : need > hi ? hi : need);
  }
  return high;
}

// nr_pcp_free(): at least a batch, more while frees come without allocations.
function nrPcpFree(pcp: usize, batch: i32, high: i32, freeHigh: bool): i32 {
  if (freeHigh) { const c = pcpGet(pcp, PCP_COUNT), m = batch << PCP_BATCH_SCALE_MAX; return c < m ? c : m; }
  if (high < batch) return 1;        // boot pageset
  const fc = pcpGet(pcp, PCP_FREE_COUNT), maxNr = high - batch;
  let n = fc < batch ? batch : fc;
  if (n > maxNr) n = maxNr;
  return n < batch ? batch : n;      // clamp_t(int, free_count, batch, high - batch)
}

// free_unref_page_commit()
function freeUnrefPage(pfn: u32, order: u32): void {
  const pcp = thisPcp(zoneOf(pfn));
  pcpSet(pcp, PCP_ALLOC_FACTOR, pcpGet(pcp, PCP_ALLOC_FACTOR) >> 1);
  pgSetOrder(pfn, order);
  pcpListAdd(pcpList(pcp, order), pfn, false);
  const count = pcpGet(pcp, PCP_COUNT) + (1 << order);
  pcpSet(pcp, PCP_COUNT, count);
  const batch = pcpGet(pcp, PCP_BATCH);
  // high orders freed back to back without allocations: give them back at once
  let freeHigh = false;
  const flags = pcpGet(pcp, PCP_FLAGS);
  if (order != 0) {
    freeHigh = pcpGet(pcp, PCP_FREE_COUNT) >= batch && (flags & PCPF_PREV_FREE_HIGH_ORDER) != 0;
    pcpSet(pcp, PCP_FLAGS, flags | PCPF_PREV_FREE_HIGH_ORDER);
  } else if (flags & PCPF_PREV_FREE_HIGH_ORDER) {
    pcpSet(pcp, PCP_FLAGS, flags & ~PCPF_PREV_FREE_HIGH_ORDER);
  }
  const fc = pcpGet(pcp, PCP_FREE_COUNT);
  if (fc < (batch << PCP_BATCH_SCALE_MAX)) pcpSet(pcp, PCP_FREE_COUNT, fc + (1 << order));
  const high = nrPcpHigh(pcp, batch, freeHigh);
  if (count >= high) freePcppagesBulk(pcp, nrPcpFree(pcp, batch, high, freeHigh), order);
}

// free_pcppages_bulk(): the coldest pages (list tails) back to the buddy,
// round-robin over the lists starting with the one just freed to.
function freePcppagesBulk(pcp: usize, n: i32, order: u32): void {
  let count = pcpGet(pcp, PCP_COUNT);
  if (n < count) count = n;
  let o: i32 = <i32>order - 1;
  while (count > 0) {
    let list: usize = 0;
    for (let tries = 0; tries <= <i32>PAGE_ALLOC_COSTLY_ORDER; tries++) {
      if (++o > <i32>PAGE_ALLOC_COSTLY_ORDER) o = 0;
      list = pcpList(pcp, <u32>o);
      if (load<u32>(list) != NO_PFN) break;
      list = 0;
    }
    if (list == 0) break;            // the lists hold fewer pages than count says (cut off)
    const pages = 1 << o;
    do {
      const pfn = load<u32>(list, 4);
      if (!pcpListDel(pcp, list, pfn, <u32>o)) break;
      count -= pages;
      pcpSet(pcp, PCP_COUNT, pcpGet(pcp, PCP_COUNT) - pages);
      mergeAndAdd(pfn, <u32>o);
    } while (count > 0 && load<u32>(list) != NO_PFN);
  }
}

// nr_pcp_alloc(): how many blocks a refill takes from the buddy; order-0
// refills double while allocations come without frees.
function nrPcpAlloc(pcp: usize, order: u32): i32 {
  const base = pcpGet(pcp, PCP_BATCH);
  let high = clampHigh(pcp);
  if (high < base) return 1;         // boot pageset
  const factor = pcpGet(pcp, PCP_ALLOC_FACTOR);
  let batch = order != 0 ? base : base << factor;
  const lo = pcpGet(pcp, PCP_HIGH_MIN), hi = pcpGet(pcp, PCP_HIGH_MAX);
  if (lo != hi) { high = high + batch < hi ? high + batch : hi; pcpSet(pcp, PCP_HIGH, high); }
  if (order == 0) {
    const room = high - pcpGet(pcp, PCP_COUNT) - base;
    const maxNr = room > base ? room : base;
    if (batch <= maxNr && factor < PCP_BATCH_SCALE_MAX) pcpSet(pcp, PCP_ALLOC_FACTOR, factor + 1);
    if (batch > maxNr) batch = maxNr;
  }
  if (batch > 1) { batch >>= order; if (batch < 2) batch = 2; }
  return batch;
}

// rmqueue_pcplist(): the first (hottest) block of the CPU's list, refilled
// from the buddy (rmqueue_bulk) when empty.
function rmqueuePcplist(zone: u32, order: u32): u32 {
  const pcp = thisPcp(zone);
  pcpSet(pcp, PCP_FREE_COUNT, pcpGet(pcp, PCP_FREE_COUNT) >> 1);
  const list = pcpList(pcp, order);
  for (;;) {
    if (load<u32>(list) == NO_PFN) {
      const want = nrPcpAlloc(pcp, order);
      let got: i32 = 0;
      for (; got < want; got++) {
        const pfn = rmqueueSmallest(zone, order);
        if (pfn == NO_PFN) break;
        pgSetOrder(pfn, order);
        pcpListAdd(list, pfn, true);
      }
      pcpSet(pcp, PCP_COUNT, pcpGet(pcp, PCP_COUNT) + (got << order));
      if (got == 0) return NO_PFN;
    }
    const pfn = load<u32>(list);
    if (pcpListDel(pcp, list, pfn, order)) {
      pcpSet(pcp, PCP_COUNT, pcpGet(pcp, PCP_COUNT) - (1 << order));
      return pfn;
    }
  }
  return NO_PFN;
}

// drain_all_pages(NULL): every CPU's lists back to the buddy. Pages drained.
export function drain_all_pages(): i32 {
  let n: i32 = 0;
  const cpus = pcpCpus();
  for (let cpu: u32 = 0; cpu < cpus; cpu++) for (let z: u32 = 0; z < NR_ZONES; z++) {
    const pcp = pcpOf(cpu, z);
    const c = pcpGet(pcp, PCP_COUNT);
    if (c == 0) continue;
    freePcppagesBulk(pcp, c, 0);
    n += c - pcpGet(pcp, PCP_COUNT);
  }
  return n;
}

// /proc/zoneinfo's pagesets and show_mem's free_pcp: a CPU's pcp of a zone;
// field 0 count, 1 high, 2 batch, 3 high_min, 4 high_max, 5 + order: blocks
// on that order's list. cpu -1: count summed over the CPUs.
export function zone_pcp(cpu: i32, zone: u32, field: u32): i32 {
  if (zone >= NR_ZONES) return 0;
  if (cpu < 0) {
    let n: i32 = 0;
    const cpus = pcpCpus();
    for (let c: u32 = 0; c < cpus; c++) n += pcpGet(pcpOf(c, zone), PCP_COUNT);
    return field == 0 ? n : 0;
  }
  if (<u32>cpu >= pcpCpus()) return 0;
  const pcp = pcpOf(<u32>cpu, zone);
  switch (field) {
    case 0: return pcpGet(pcp, PCP_COUNT);
    case 1: return pcpGet(pcp, PCP_HIGH);
    case 2: return pcpGet(pcp, PCP_BATCH);
    case 3: return pcpGet(pcp, PCP_HIGH_MIN);
    case 4: return pcpGet(pcp, PCP_HIGH_MAX);
  }
  if (field >= 5 && field <= 5 + PAGE_ALLOC_COSTLY_ORDER) return <i32>load<u32>(pcpList(pcp, field - 5), 8);
  return 0;
}

// Self-check of the pcp lists: well linked, each block free, not a buddy,
// whole and aligned, in its zone, and the counts right. Frames on them, or -1.
function pcpCheck(): i64 {
  let frames: i64 = 0;
  const cpus = pcpCpus();
  for (let cpu: u32 = 0; cpu < cpus; cpu++) for (let z: u32 = 0; z < NR_ZONES; z++) {
    const pcp = pcpOf(cpu, z);
    let pages: i64 = 0;
    for (let o: u32 = 0; o <= PAGE_ALLOC_COSTLY_ORDER; o++) {
      const list = pcpList(pcp, o);
      let pfn = load<u32>(list), prev = NO_PFN;
      let n: u32 = 0;
      while (pfn != NO_PFN) {
        if (pfn >= nrFrames || n > nrFrames || zoneOf(pfn) != z || (pfn & ((1 << o) - 1)) != 0) return -1;
        if (pgFlags(pfn) != 0 || pgUse(pfn) != USE_FREE || pgOrder(pfn) != o || pgPrev(pfn) != prev) return -1;
        prev = pfn;
        pfn = pgNext(pfn);
        n++;
      }
      if (n != load<u32>(list, 8) || prev != load<u32>(list, 4)) return -1;
      pages += <i64>n << o;
    }
    if (pages != <i64>pcpGet(pcp, PCP_COUNT)) return -1;
    frames += pages;
  }
  return frames;
}

// free_page_is_bad(): why freeing this block would corrupt the allocator, or 0.
// 1 "nonzero mapcount" (already free: buddy pages carry a page type; a page
//   on a pcp list is refused the same way, where the kernel's DEBUG_VM BUGs),
// 3 "PAGE_FLAGS_CHECK_AT_FREE flag(s) set" (reserved or tail page),
// 4 the order does not match the allocation.
export function pageFreeProblem(pfn: u32, order: u32): i32 {
  const f = pgFlags(pfn);
  if ((f & PG_BUDDY) != 0 || pgUse(pfn) == USE_FREE) return 1;   // already free: in the buddy or on a pcp list
  if (f & (PG_RESERVED | PG_TAIL)) return 3;
  if (order > 0 && ((f & PG_HEAD) == 0 || pgOrder(pfn) != order)) return 4;
  if (order == 0 && (f & PG_HEAD) != 0) return 4;
  return 0;
}

// ── the public page API: alloc_pages / __free_pages ──────────────────────────
import { USE_PAGES, GFP_ZERO, GFP_NOWARN, WARN_BAD_PAGE_FREE, WARN_ALLOC_FAILED, WARN_ALLOC_ORDER, R_ARG2,
         R_FIRST_BAD, PAGE_SIZE, ALLOC_SITE_PAGES, EINVAL } from "../../abi/abi";
import { TS } from "../task";
import { PAGE_OFFSET, physToLin, untag } from "./layout";
import { pgMapcount } from "./phys";
import { kasanAllocPages, kasanFreePages } from "../kasan/common";
import { setTag } from "../kasan/sw_tags";
import { kasanMode, KASAN_SW_TAGS } from "../kasan/kasan";
import { warnRecord } from "./fault";
import { fillPageInfo } from "./page_info";

// alloc_pages(): the direct-map address of 2^order fresh frames (tagged under
// sw_tags), 0 when out of memory (with warn_alloc's message).
export function alloc_pages(order: u32, gfp: u32): u64 {
  if (order > <u32>MAX_PAGE_ORDER) { warnAllocOrder(order, gfp, ALLOC_SITE_PAGES); return 0; }
  const pfn = allocPagesPfn(order, USE_PAGES);
  if (pfn == NO_PFN) { warnAlloc(order, gfp, ALLOC_SITE_PAGES); return 0; }
  if (gfp & GFP_ZERO) memory.fill(physToLin(<u64>pfn << PAGE_SHIFT), 0, <usize>PAGE_SIZE << order);
  const va = PAGE_OFFSET + (<u64>pfn << PAGE_SHIFT);
  return kasanMode == KASAN_SW_TAGS ? setTag(va, pgTag(pfn)) : va;
}

// ___ratelimit() with DEFAULT_RATELIMIT_INTERVAL (5 s) and DEFAULT_RATELIMIT_BURST
// (10) on the engine clock. State per user: begin u64, printed u32, missed u32.
// Returns -1 when suppressed, else the messages suppressed since the last
// window (the kernel prints "<func>: N callbacks suppressed" for them).
export const RL_NOPAGE: u32 = 0;      // warn_alloc's nopage_rs
export const RL_SLUB_OOM: u32 = 1;    // slab_out_of_memory's slub_oom_rs
const RATELIMITS: usize = memory.data(32, 8);
export function ratelimit(which: u32): i32 {
  const rs = RATELIMITS + (<usize>which << 4);
  let missed = load<u32>(rs, 12);
  let reported: i32 = 0;
  if (load<u32>(rs, 8) == 0 && missed == 0 && load<u64>(rs) == 0) store<u64>(rs, TS.clockNs);
  if (TS.clockNs - load<u64>(rs) >= 5000000000) {
    reported = <i32>missed;
    missed = 0;
    store<u64>(rs, TS.clockNs);
    store<u32>(rs, 0, 8);
  }
  const printed = load<u32>(rs, 8);
  if (printed < 10) {
    store<u32>(rs, printed + 1, 8);
    store<u32>(rs, missed, 12);
    return reported;
  }
  store<u32>(rs, missed + 1, 12);
  return -1;
}

// warn_alloc(gfp, NULL, "page allocation failure: order:%u"): a record the host
// prints with dump_stack() and show_mem(); 0 when __GFP_NOWARN or rate-limited.
export function warnAlloc(order: u32, gfp: u32, site: u32): usize {
  if ((gfp & GFP_NOWARN) != 0) return 0;
  const missed = ratelimit(RL_NOPAGE);
  if (missed < 0) return 0;
  const rec = warnRecord(WARN_ALLOC_FAILED, site, order);
  store<u64>(rec + R_ARG2, gfp);
  store<u64>(rec + R_FIRST_BAD, <u64>missed);
  return rec;
}

// __alloc_pages(): WARN_ON_ONCE_GFP(order > MAX_PAGE_ORDER, gfp), then NULL.
export function warnAllocOrder(order: u32, gfp: u32, site: u32): void {
  if (PAS.orderWarned || (gfp & GFP_NOWARN) != 0) return;
  PAS.orderWarned = true;
  const rec = warnRecord(WARN_ALLOC_ORDER, site, order);
  store<u64>(rec + R_ARG2, gfp);
}

// Free pages per zone and order (show_mem's buddy lines).
export function zone_nr_free(zone: u32, order: u32): u32 {
  if (zone >= NR_ZONES || order > <u32>MAX_PAGE_ORDER) return 0;
  return load<u32>(areaOf(zone, order) + 4);
}
// Frames of a zone (present pages) and how many of them are reserved (not managed).
export function zone_present(zone: u32): u32 {
  if (zone >= NR_ZONES) return 0;
  if (arch == ARCH_ARM64) return zone == 1 ? nrFrames : 0;
  return zone == 0 ? min(nrFrames, DMA_PFNS) : (nrFrames > DMA_PFNS ? nrFrames - DMA_PFNS : 0);
}
export function zone_reserved(zone: u32): u32 {
  let n: u32 = 0;
  for (let pfn: u32 = 0; pfn < nrFrames; pfn++) if (zoneOf(pfn) == zone && (pgFlags(pfn) & PG_RESERVED) != 0) n++;
  return n;
}

// __free_pages(): 0 freed; -EINVAL not a page-aligned direct-map address (the
// host reports bad input); >0 the free_page_is_bad() reason, printed as "Bad page state".
export function __free_pages(va: u64, order: u32): i32 {
  const a = untag(va);
  const off = a - PAGE_OFFSET;
  if (order > <u32>MAX_PAGE_ORDER || off >= (<u64>nrFrames << PAGE_SHIFT) || (off & (PAGE_SIZE - 1)) != 0) return -EINVAL;
  const pfn = <u32>(off >> PAGE_SHIFT);
  let why = pageFreeProblem(pfn, order);
  if (why == 0 && pgUse(pfn) != USE_PAGES) why = 3;
  // still vmap'd: the engine refuses, so the mapping cannot reach a reused frame
  for (let i: u32 = 0; why == 0 && i < (<u32>1 << order); i++) if (pgMapcount(pfn + i) != 0) why = 1;
  if (why != 0) {
    const rec = warnRecord(WARN_BAD_PAGE_FREE, va, pfn);
    fillPageInfo(rec, pfn);
    store<u64>(rec + R_ARG2, why);
    return why;
  }
  freePagesPfn(pfn, order);
  return 0;
}

// ── guests: claim a fixed range of frames (a guest's linked image) ──────────
// The free block holding pfn (its head), or NO_PFN; *order in claimOrder.
let claimOrder: u32 = 0;
function freeBlockOf(pfn: u32): u32 {
  for (let o: u32 = 0; o <= <u32>MAX_PAGE_ORDER; o++) {
    const head = pfn & ~((1 << o) - 1);
    if (head < nrFrames && (pgFlags(head) & PG_BUDDY) != 0 && pgOrder(head) == o) { claimOrder = o; return head; }
  }
  return NO_PFN;
}

// Take frames [pfn, pfn + n) out of the buddy, splitting the blocks around
// them. Nothing changes unless every frame is free: returns NO_PFN on success,
// else the first frame that is in use.
export function claimPfnRange(pfn: u32, n: u32, use: i32): u32 {
  if (pfn == 0 || pfn >= nrFrames || n > nrFrames - pfn) return pfn;
  drain_all_pages();                 // alloc_contig_range: free pages on pcp lists count too
  for (let i: u32 = 0; i < n; i++) if (freeBlockOf(pfn + i) == NO_PFN) return pfn + i;
  for (let i: u32 = 0; i < n; i++) {
    const p = pfn + i;
    let head = freeBlockOf(p);
    let o = claimOrder;
    if (!listDel(head, o)) return p;
    while (o > 0) {                  // keep the half without p free
      o--;
      const half: u32 = 1 << o;
      if (p < head + half) listAdd(head + half, o);
      else { listAdd(head, o); head += half; }
    }
    pgSetFlags(p, 0);
    pgSetOrder(p, 0);
    pgSetRef(p, 1);
    pgSetMapcount(p, 0);
    pgSetCache(p, 0);
    pgSetPrivate(p, 0);
    pgSetOwner(p, currentPid);
    pgSetUse(p, use);
  }
  statAdd(STAT_FRAMES_FREE, -(<i64>n));
  statInc(STAT_PAGE_ALLOCS);
  return NO_PFN;
}

// Self-check (assembly/selfcheck.ts): every free list well linked, its blocks
// marked free with their order and naturally aligned, nr_free and the free
// frame count right.
export function buddyCheck(): bool {
  let frames: u64 = 0;
  for (let z: u32 = 0; z < NR_ZONES; z++) {
    for (let o: u32 = 0; o <= <u32>MAX_PAGE_ORDER; o++) {
      let pfn = freeHead(z, o);
      let prev = NO_PFN;
      let n: u32 = 0;
      while (pfn != NO_PFN) {
        if (pfn >= nrFrames || n > nrFrames || zoneOf(pfn) != z) return false;
        if ((pgFlags(pfn) & PG_BUDDY) == 0 || pgOrder(pfn) != o || (pfn & ((1 << o) - 1)) != 0) return false;
        if (pgPrev(pfn) != prev) return false;
        prev = pfn;
        pfn = pgNext(pfn);
        n++;
      }
      if (n != load<u32>(areaOf(z, o) + 4)) return false;
      frames += <u64>n << o;
    }
  }
  const onPcp = pcpCheck();
  return onPcp >= 0 && frames + <u64>onPcp == statGet(STAT_FRAMES_FREE);
}
