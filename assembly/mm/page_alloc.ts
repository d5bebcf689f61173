// The buddy page allocator (mm/page_alloc.c): orders 0..MAX_PAGE_ORDER, one
// doubly linked free list per order threaded through struct page, blocks split
// on allocation and merged with their buddy (pfn ^ (1 << order)) on free.
import { MAX_PAGE_ORDER, PAGE_SHIFT, PG_BUDDY, PG_HEAD, PG_TAIL, PG_RESERVED, USE_FREE,
         STAT_FRAMES_FREE, STAT_PAGE_ALLOCS, STAT_PAGE_FREES, STAT_PAGE_ALLOC_FAILS,
         CFG_FAIL_INTERVAL, CFG_FAIL_PROBABILITY, CFG_FAIL_SPACE, CFG_FAIL_TIMES, ARCH_ARM64 } from "../../abi/abi";
import { nrFrames, NO_PFN, pgFlags, pgSetFlags, pgOrder, pgSetOrder, pgNext, pgPrev,
         pgSetRef, pgSetUse, pgSetCache, pgSetMapcount, pgSetOwner, pgSetPrivate,
         memblockLowEnd, memblockFinish, pgSetTag, pgTag, pfnListAdd, pfnListDel } from "./phys";
import { statAdd, statInc, statGet } from "../stats";
import { cfg, config_set } from "../config";
import { randomBelow } from "../random";
import { currentPid } from "../task";
import { arch } from "./layout";
import { pfnListDelValid } from "./fault";

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
}

// memblock_free_all: hand every frame memblock did not reserve to the buddy, in
// the largest naturally aligned blocks.
export function memblockFreeAll(): void {
  memblockFinish();
  let pfn: u32 = 1;
  while (pfn < nrFrames) {
    if (pgFlags(pfn) & PG_RESERVED) { pfn++; continue; }
    let order: u32 = <u32>MAX_PAGE_ORDER;
    while (order > 0 && ((pfn & ((1 << order) - 1)) != 0 || pfn + (1 << order) > nrFrames || !rangeFree(pfn, 1 << order))) order--;
    freeOneBlock(pfn, order);
    pfn += 1 << order;
  }
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
export let failCount: u64 = 0;
export let failSpace: i64 = 0;
export let failTimes: i64 = 0;
export function failInit(): void {
  failCount = 0;
  failSpace = cfg(CFG_FAIL_SPACE);
  failTimes = cfg(CFG_FAIL_TIMES);
}
function shouldFail(order: u32): bool {
  const probability = cfg(CFG_FAIL_PROBABILITY);
  if (probability <= 0 || failTimes == 0) return false;
  const size = <i64>(1 << (order + PAGE_SHIFT));
  if (failSpace > size) { failSpace -= size; return false; }
  const interval = cfg(CFG_FAIL_INTERVAL);
  if (interval > 1) { failCount++; if (failCount % <u64>interval != 0) return false; }
  if (probability <= <i64>randomBelow(100)) return false;
  if (failTimes > 0) failTimes--;
  return true;
}

// The debugfs knobs (/sys/kernel/debug/fail_page_alloc/{interval,probability,
// space,times}): re-arm fault injection at run time.
export function fail_page_alloc_set(interval: i32, probability: i32, space: i64, times: i32): void {
  config_set(CFG_FAIL_INTERVAL, interval);
  config_set(CFG_FAIL_PROBABILITY, probability);
  config_set(CFG_FAIL_SPACE, space);
  config_set(CFG_FAIL_TIMES, times);
  failCount = 0;
  failSpace = space;
  failTimes = times;
}

// Allocate 2^order frames; NO_PFN when out of memory (never traps).
export function allocPagesPfn(order: u32, use: i32): u32 {
  if (order > <u32>MAX_PAGE_ORDER || shouldFail(order)) { statInc(STAT_PAGE_ALLOC_FAILS); return NO_PFN; }
  for (let z: i32 = <i32>NR_ZONES - 1; z >= 0; z--) for (let o = order; o <= <u32>MAX_PAGE_ORDER; o++) {
    const pfn = freeHead(<u32>z, o);
    if (pfn == NO_PFN) continue;
    if (!listDel(pfn, o)) continue;
    while (o > order) {             // expand: the upper halves go back on lower lists
      o--;
      listAdd(pfn + (1 << o), o);
    }
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
  statInc(STAT_PAGE_ALLOC_FAILS);
  return NO_PFN;
}

// Free a block the caller owns; the caller has validated it (see pageFreeProblem).
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
  mergeAndAdd(pfn, order);
}

// free_page_is_bad(): why freeing this block would corrupt the allocator, or 0.
// 1 "nonzero mapcount" (already free: buddy pages carry a page type),
// 3 "PAGE_FLAGS_CHECK_AT_FREE flag(s) set" (reserved or tail page),
// 4 the order does not match the allocation.
export function pageFreeProblem(pfn: u32, order: u32): i32 {
  const f = pgFlags(pfn);
  if (f & PG_BUDDY) return 1;
  if (f & (PG_RESERVED | PG_TAIL)) return 3;
  if (order > 0 && ((f & PG_HEAD) == 0 || pgOrder(pfn) != order)) return 4;
  if (order == 0 && (f & PG_HEAD) != 0) return 4;
  return 0;
}

// ── the public page API: alloc_pages / __free_pages ──────────────────────────
import { USE_PAGES, GFP_ZERO, GFP_NOWARN, WARN_BAD_PAGE_FREE, WARN_ALLOC_FAILED, WARN_ALLOC_ORDER, R_ARG2,
         R_FIRST_BAD, PAGE_SIZE, ALLOC_SITE_PAGES, EINVAL } from "../../abi/abi";
import { clockNs } from "../task";
import { PAGE_OFFSET, physToLin, untag } from "./layout";
import { pgUse, pgMapcount } from "./phys";
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
  if (load<u32>(rs, 8) == 0 && missed == 0 && load<u64>(rs) == 0) store<u64>(rs, clockNs);
  if (clockNs - load<u64>(rs) >= 5000000000) {
    reported = <i32>missed;
    missed = 0;
    store<u64>(rs, clockNs);
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
export let orderWarned = false;
export function warnAllocOrder(order: u32, gfp: u32, site: u32): void {
  if (orderWarned || (gfp & GFP_NOWARN) != 0) return;
  orderWarned = true;
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
  return frames == statGet(STAT_FRAMES_FREE);
}
