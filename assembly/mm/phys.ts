// Physical memory: memblock (boot-time carving, top-down) and mem_map, the
// struct page array that describes every frame (Page below, STRUCT_PAGE_SIZE
// bytes each).
import { PAGE_SHIFT, PAGE_SIZE, PG_RESERVED, PG_TAIL, MAX_PAGE_ORDER, USE_FREE, USE_MEMMAP, USE_RESERVED,
         STAT_FRAMES_TOTAL, STAT_USE_BASE } from "../../abi/abi";
import { STRUCT_PAGE_SIZE as ABI_STRUCT_PAGE_SIZE, STRUCT_PAGE_SHIFT as ABI_STRUCT_PAGE_SHIFT } from "../../abi/abi";
import { physToLin } from "./layout";
import { statSet, statAdd } from "../stats";

// @ts-ignore: decorator
@inline export const STRUCT_PAGE_SIZE: u32 = ABI_STRUCT_PAGE_SIZE;

// struct page: an unmanaged layout over mem_map (field reads are plain loads).
// @ts-ignore: decorator
@unmanaged export class Page {
  flags: u32;       // PG_* bits
  order: u8;        // buddy / compound order
  use: u8;          // USE_* (frame accounting)
  refcount: i32;
  mapcount: i32;
  next: u32;        // list links: pfns (buddy free lists, a cache's slab lists)
  prev: u32;
  cache: u32;       // slab: cache id; compound tail: head pfn
  inuse: u16;       // slab: objects in use (SLAB's active)
  objects: u16;     // slab: objects per slab (SLAB's num)
  freelist: u32;    // slab: linear address of the first free object, 0 = none
  _unused36: u32;
  priv: u64;        // page->private: a large kmalloc's size, a KASAN_VMALLOC shadow page's mark;
                    // a SLAB slab's s_mem (SlabPage in slab.ts) in its low half
  owner: u32;       // pid that allocated the page
  slabList: u32;    // slab: which of its cache's lists holds it (SLAB_LIST_*)
  tag: u8;          // sw_tags: the page's KASAN tag (0xff untagged)
}
if (offsetof<Page>() > STRUCT_PAGE_SIZE || 1 << ABI_STRUCT_PAGE_SHIFT != STRUCT_PAGE_SIZE) ERROR("struct page must fit STRUCT_PAGE_SIZE");
if (offsetof<Page>("order") != 4 || offsetof<Page>("refcount") != 8 || offsetof<Page>("next") != 16 ||
    offsetof<Page>("cache") != 24 || offsetof<Page>("inuse") != 28 || offsetof<Page>("freelist") != 32 ||
    offsetof<Page>("priv") != 40 || offsetof<Page>("slabList") != 52) ERROR("struct page fields moved");
// @ts-ignore: decorator
@inline export const NO_PFN: u32 = 0xffffffff;

export let nrFrames: u32 = 0;
export let memMapLin: usize = 0;        // linear address of mem_map[0]
export let memMapPfn: u32 = 0;
export let memblockTop: u32 = 0;              // frames [memblockTop, nrFrames) are carved out
export let memblockDone: bool = false;

// @ts-ignore: decorator
@inline export function pageLin(pfn: u32): usize { return memMapLin + (<usize>pfn << ABI_STRUCT_PAGE_SHIFT); }
// @ts-ignore: decorator
@inline export function pfnToPage(pfn: u32): Page { return changetype<Page>(pageLin(pfn)); }
// @ts-ignore: decorator
@inline export function pgFlags(pfn: u32): u32 { return pfnToPage(pfn).flags; }
// @ts-ignore: decorator
@inline export function pgSetFlags(pfn: u32, f: u32): void { pfnToPage(pfn).flags = f; }
// @ts-ignore: decorator
@inline export function pgOrder(pfn: u32): u32 { return pfnToPage(pfn).order; }
// Head and order of a compound page as struct page says, never outside RAM nor
// past MAX_PAGE_ORDER: those fields are metadata a buggy write can reach.
export function pgHead(pfn: u32): u32 {
  if (pfn >= nrFrames || (pgFlags(pfn) & PG_TAIL) == 0) return pfn;
  const head = pgCache(pfn);
  return head < nrFrames ? head : pfn;
}
export function pgOrderSafe(pfn: u32): u32 {
  if (pfn >= nrFrames) return 0;
  let o = <u32>pgOrder(pfn);
  if (o > <u32>MAX_PAGE_ORDER) o = 0;
  while (o > 0 && pfn + (<u32>1 << o) > nrFrames) o--;
  return o;
}
// @ts-ignore: decorator
@inline export function pgSetOrder(pfn: u32, o: u32): void { pfnToPage(pfn).order = <u8>o; }
// @ts-ignore: decorator
@inline export function pgUse(pfn: u32): i32 { return pfnToPage(pfn).use; }
// @ts-ignore: decorator
@inline export function pgRef(pfn: u32): i32 { return pfnToPage(pfn).refcount; }
// @ts-ignore: decorator
@inline export function pgSetRef(pfn: u32, r: i32): void { pfnToPage(pfn).refcount = r; }
// @ts-ignore: decorator
@inline export function pgMapcount(pfn: u32): i32 { return pfnToPage(pfn).mapcount; }
// @ts-ignore: decorator
@inline export function pgSetMapcount(pfn: u32, m: i32): void { pfnToPage(pfn).mapcount = m; }
// @ts-ignore: decorator
@inline export function pgNext(pfn: u32): u32 { return pfnToPage(pfn).next; }
// @ts-ignore: decorator
@inline export function pgSetNext(pfn: u32, v: u32): void { pfnToPage(pfn).next = v; }
// @ts-ignore: decorator
@inline export function pgPrev(pfn: u32): u32 { return pfnToPage(pfn).prev; }
// @ts-ignore: decorator
@inline export function pgSetPrev(pfn: u32, v: u32): void { pfnToPage(pfn).prev = v; }
// Lists of pages threaded through next/prev (the kernel's page->lru with
// list_add/list_del): head is the linear address of the u32 first pfn.
// @ts-ignore: decorator
@inline export function pfnListAdd(head: usize, pfn: u32): void {
  const first = load<u32>(head);
  pgSetNext(pfn, first);
  pgSetPrev(pfn, NO_PFN);
  if (first != NO_PFN) pgSetPrev(first, pfn);
  store<u32>(head, pfn);
}
// @ts-ignore: decorator
@inline export function pfnListDel(head: usize, pfn: u32): void {
  const next = pgNext(pfn), prev = pgPrev(pfn);
  if (prev != NO_PFN) pgSetNext(prev, next); else store<u32>(head, next);
  if (next != NO_PFN) pgSetPrev(next, prev);
}
// @ts-ignore: decorator
@inline export function pgCache(pfn: u32): u32 { return pfnToPage(pfn).cache; }
// @ts-ignore: decorator
@inline export function pgSetCache(pfn: u32, v: u32): void { pfnToPage(pfn).cache = v; }
// @ts-ignore: decorator
@inline export function pgPrivate(pfn: u32): u64 { return pfnToPage(pfn).priv; }
// @ts-ignore: decorator
@inline export function pgSetPrivate(pfn: u32, v: u64): void { pfnToPage(pfn).priv = v; }
// @ts-ignore: decorator
@inline export function pgOwner(pfn: u32): u32 { return pfnToPage(pfn).owner; }
// @ts-ignore: decorator
@inline export function pgSetOwner(pfn: u32, v: u32): void { pfnToPage(pfn).owner = v; }

// @ts-ignore: decorator
@inline export function pgTag(pfn: u32): u8 { return pfnToPage(pfn).tag; }
// @ts-ignore: decorator
@inline export function pgSetTag(pfn: u32, t: u8): void { pfnToPage(pfn).tag = t; }

// Frame accounting: every frame has exactly one use; stats count frames per use.
export function pgSetUse(pfn: u32, use: i32): void {
  const p = pfnToPage(pfn);
  const old = <i32>p.use;
  if (old == use) return;
  statAdd(STAT_USE_BASE + old, -1);
  statAdd(STAT_USE_BASE + use, 1);
  p.use = <u8>use;
}
export function setUseRange(pfn: u32, n: u32, use: i32): void {
  for (let i: u32 = 0; i < n; i++) pgSetUse(pfn + i, use);
}

// Boot: size mem_map and carve it from the top of RAM. Returns false when RAM
// cannot even hold its own struct pages.
export function physInit(ramMb: u32): bool {
  nrFrames = ramMb << (20 - PAGE_SHIFT);
  memblockTop = nrFrames;
  memblockDone = false;
  statSet(STAT_FRAMES_TOTAL, nrFrames);
  const memMapFrames = (nrFrames * STRUCT_PAGE_SIZE + PAGE_SIZE - 1) >> PAGE_SHIFT;
  if (memMapFrames + 16 > nrFrames) return false;
  memblockTop -= memMapFrames;
  memMapPfn = memblockTop;
  memMapLin = physToLin(<u64>memMapPfn << PAGE_SHIFT);
  memory.fill(memMapLin, 0, memMapFrames << PAGE_SHIFT);
  // every frame starts "free" in the counters, then memblock claims its share
  statSet(STAT_USE_BASE + USE_FREE, nrFrames);
  setUseRange(memMapPfn, memMapFrames, USE_MEMMAP);
  for (let i: u32 = memMapPfn; i < nrFrames; i++) pgSetFlags(i, PG_RESERVED);
  // frame 0 stays reserved, as on x86 (the BIOS page), so pfn 0 never reaches the buddy
  pgSetFlags(0, PG_RESERVED);
  pgSetUse(0, USE_RESERVED);
  return true;
}

// memblock_alloc: n zeroed frames, aligned to `align` frames, taken top-down.
// Returns the first pfn or NO_PFN when RAM is exhausted.
export function memblockAlloc(n: u32, align: u32, use: i32): u32 {
  if (memblockDone) return NO_PFN;
  let top = memblockTop;
  if (n + 1 > top) return NO_PFN;
  let pfn = (top - n) & ~(align - 1);
  if (pfn < 1) return NO_PFN;
  // frames between pfn+n and the old top (alignment gap) stay free for the buddy
  for (let i = pfn + n; i < top; i++) { pgSetFlags(i, 0); }
  memory.fill(physToLin(<u64>pfn << PAGE_SHIFT), 0, n << PAGE_SHIFT);
  for (let i: u32 = 0; i < n; i++) { pgSetFlags(pfn + i, PG_RESERVED); pgSetUse(pfn + i, use); pgSetRef(pfn + i, 1); }
  memblockTop = pfn;
  return pfn;
}

// Frames never handed out by memblock: [1, memblockTop) plus alignment gaps above it.
export function memblockLowEnd(): u32 { return memblockTop; }
export function memblockFinish(): void { memblockDone = true; }
