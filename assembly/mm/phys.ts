// Physical memory: memblock (boot-time carving, top-down) and mem_map, the
// struct page array that describes every frame.
//
// ╒══════════════════════ struct page (64 bytes) ══════════════════════╕
// │ +0  flags u32   PG_* bits           +4  order u8   +5 use u8 (USE_*) │
// │ +8  refcount i32                    +12 mapcount i32                  │
// │ +16 next u32    +20 prev u32        list links (pfn or index)         │
// │ +24 cache u32   slab cache id / head pfn of a compound tail           │
// │ +28 inuse u16   +30 objects u16     slab counters                     │
// │ +32 freelist u64  first free object (virtual), 0 = none               │
// │ +40 private u64   vmalloc area / large kmalloc size / kfence index     │
// │ +48 owner u32     pid that allocated the page                         │
// │ +52 frozen u32    slab is the cache's current (cpu) slab              │
// │ +56 kasan tag u8 (sw_tags: the page's tag; 0xff untagged)           │
// └──────────────────────────────────────────────────────────────────────┘
import { PAGE_SHIFT, PAGE_SIZE, PG_RESERVED, PG_TAIL, MAX_PAGE_ORDER, USE_FREE, USE_MEMMAP, USE_RESERVED,
         STAT_FRAMES_TOTAL, STAT_USE_BASE } from "../../abi/abi";
import { STRUCT_PAGE_SIZE as ABI_STRUCT_PAGE_SIZE } from "../../abi/abi";
import { physToLin } from "./layout";
import { statSet, statAdd } from "../stats";

// @ts-ignore: decorator
@inline export const STRUCT_PAGE_SIZE: u32 = ABI_STRUCT_PAGE_SIZE;
// @ts-ignore: decorator
@inline export const NO_PFN: u32 = 0xffffffff;

export let nrFrames: u32 = 0;
export let memMapLin: usize = 0;        // linear address of mem_map[0]
export let memMapPfn: u32 = 0;
export let memblockTop: u32 = 0;              // frames [memblockTop, nrFrames) are carved out
export let memblockDone: bool = false;

// @ts-ignore: decorator
@inline export function pageLin(pfn: u32): usize { return memMapLin + (<usize>pfn << 6); }
// @ts-ignore: decorator
@inline export function pgFlags(pfn: u32): u32 { return load<u32>(pageLin(pfn)); }
// @ts-ignore: decorator
@inline export function pgSetFlags(pfn: u32, f: u32): void { store<u32>(pageLin(pfn), f); }
// @ts-ignore: decorator
@inline export function pgOrder(pfn: u32): u32 { return load<u8>(pageLin(pfn), 4); }
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
@inline export function pgSetOrder(pfn: u32, o: u32): void { store<u8>(pageLin(pfn), <u8>o, 4); }
// @ts-ignore: decorator
@inline export function pgUse(pfn: u32): i32 { return load<u8>(pageLin(pfn), 5); }
// @ts-ignore: decorator
@inline export function pgRef(pfn: u32): i32 { return load<i32>(pageLin(pfn), 8); }
// @ts-ignore: decorator
@inline export function pgSetRef(pfn: u32, r: i32): void { store<i32>(pageLin(pfn), r, 8); }
// @ts-ignore: decorator
@inline export function pgMapcount(pfn: u32): i32 { return load<i32>(pageLin(pfn), 12); }
// @ts-ignore: decorator
@inline export function pgSetMapcount(pfn: u32, m: i32): void { store<i32>(pageLin(pfn), m, 12); }
// @ts-ignore: decorator
@inline export function pgNext(pfn: u32): u32 { return load<u32>(pageLin(pfn), 16); }
// @ts-ignore: decorator
@inline export function pgSetNext(pfn: u32, v: u32): void { store<u32>(pageLin(pfn), v, 16); }
// @ts-ignore: decorator
@inline export function pgPrev(pfn: u32): u32 { return load<u32>(pageLin(pfn), 20); }
// @ts-ignore: decorator
@inline export function pgSetPrev(pfn: u32, v: u32): void { store<u32>(pageLin(pfn), v, 20); }
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
@inline export function pgCache(pfn: u32): u32 { return load<u32>(pageLin(pfn), 24); }
// @ts-ignore: decorator
@inline export function pgSetCache(pfn: u32, v: u32): void { store<u32>(pageLin(pfn), v, 24); }
// @ts-ignore: decorator
@inline export function pgPrivate(pfn: u32): u64 { return load<u64>(pageLin(pfn), 40); }
// @ts-ignore: decorator
@inline export function pgSetPrivate(pfn: u32, v: u64): void { store<u64>(pageLin(pfn), v, 40); }
// @ts-ignore: decorator
@inline export function pgOwner(pfn: u32): u32 { return load<u32>(pageLin(pfn), 48); }
// @ts-ignore: decorator
@inline export function pgSetOwner(pfn: u32, v: u32): void { store<u32>(pageLin(pfn), v, 48); }

// @ts-ignore: decorator
@inline export function pgTag(pfn: u32): u8 { return load<u8>(pageLin(pfn), 56); }
// @ts-ignore: decorator
@inline export function pgSetTag(pfn: u32, t: u8): void { store<u8>(pageLin(pfn), t, 56); }

// Frame accounting: every frame has exactly one use; stats count frames per use.
export function pgSetUse(pfn: u32, use: i32): void {
  const p = pageLin(pfn);
  const old = <i32>load<u8>(p, 5);
  if (old == use) return;
  statAdd(STAT_USE_BASE + old, -1);
  statAdd(STAT_USE_BASE + use, 1);
  store<u8>(p, <u8>use, 5);
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
