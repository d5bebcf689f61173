// kmemleak's object walk (mm/kmemleak.c keeps an rbtree of every allocation;
// here the allocators' own state is the list): every allocated slab object,
// large kmalloc and KFENCE object, one at a time, with its requested size and
// allocation track. The host builds the scan's table from it (host/kmemleak.ts).
import { PAGE_SIZE, PG_LARGE_KMALLOC, KF_META_SIZE, KF_M_ADDR, KF_M_SIZE, KF_M_STATE,
         KF_M_ALLOC_TRACK, KF_T_PID, KF_T_STACK, KFENCE_OBJECT_ALLOCATED } from "../abi/abi";
import { cacheLin, cacheState, CACHE_ACTIVE, cache_count, kmemCache, slabFreeSlotMap, slabObjectCount, slabStartLin,
         slabWalkLists, slabWalkFirst, slabWalkNext } from "./mm/slub";
import { NO_PFN, pgFlags, pgOrder, pgOwner, nrFrames } from "./mm/phys";
import { kasanMode, KASAN_GENERIC, KASAN_SLAB_FREE, KASAN_SLAB_FREE_META } from "./kasan/kasan";
import { allocMetaLin, KasanAllocMeta } from "./kasan/common";
import { shadowByte } from "./kasan/shadow";
import { dmLin, PAGE_OFFSET } from "./mm/layout";
import { PHYS_BASE } from "../abi/abi";
// @ts-ignore: decorator
@inline function linToVa(lin: usize): u64 { return PAGE_OFFSET + <u64>(lin - <usize>PHYS_BASE); }
import { kfence_num_objects, kfence_meta_base } from "./kfence/core";

const FREE_MAP: usize = memory.data(4096, 8);      // one bit per slot of the slab being walked
// iterator state: phase 0 slabs, 1 large kmallocs, 2 KFENCE, 3 done
let phase: u32 = 0;
let cacheId: u32 = 0;
let list: u32 = 0;          // slabWalkFirst's list: the node's partial and full lists, each CPU's cpu slab and partial list
let pfn: u32 = NO_PFN;
let slot: u32 = 0;
let listSteps: u32 = 0;     // slabs walked on this list: a list longer than mem_map is a cycle a buggy write made
let curLin: usize = 0;
let curSize: u32 = 0;
let curPid: u32 = 0;
let curStack: u32 = 0;

export function kmemleak_walk_start(): void {
  phase = 0; cacheId = 0; list = 0; pfn = NO_PFN; slot = 0; listSteps = 0;
}

function freedByKasan(lin: usize): bool {
  if (kasanMode != KASAN_GENERIC) return false;
  const s = shadowByte(linToVa(lin));
  return s == <i32>KASAN_SLAB_FREE || s == <i32>KASAN_SLAB_FREE_META;
}

// kasan_get_alloc_size() for generic KASAN; the object size otherwise
function requestedSize(lin: usize, objectSize: u32): u32 {
  if (kasanMode != KASAN_GENERIC) return objectSize;
  let size: u32 = 0;
  let va = linToVa(lin);
  while (size < objectSize) {
    const s = shadowByte(va);
    if (s == 0) size += 8;
    else if (s >= 1 && s <= 7) return size + <u32>s;
    else return size;
    va += 8;
  }
  return objectSize;
}

// the next slab of the walk, or false when no cache is left
function nextSlab(): bool {
  for (;;) {
    if (cacheId >= cache_count()) return false;
    const c = cacheLin(cacheId);
    // the kmem_cache descriptors (cache 0) hang off slab_caches, a root: never leaks
    if (cacheState(cacheId) != CACHE_ACTIVE || cacheId == 0) { cacheId++; list = 0; pfn = NO_PFN; continue; }
    const lists = slabWalkLists();
    if (pfn != NO_PFN) pfn = ++listSteps > nrFrames ? NO_PFN : slabWalkNext(c, list, pfn);
    else if (list == 0) { pfn = slabWalkFirst(c, 0); listSteps = 0; }
    while (pfn == NO_PFN && list + 1 < lists) { list++; pfn = slabWalkFirst(c, list); listSteps = 0; }
    if (pfn == NO_PFN) { cacheId++; list = 0; continue; }
    slabFreeSlotMap(c, pfn, FREE_MAP);
    slot = 0;
    return true;
  }
}

// The next allocated object: its linear address (0 when the walk is done);
// kmemleak_walk_size/pid/stack describe it.
export function kmemleak_walk_next(): usize {
  while (phase == 0) {
    if (pfn == NO_PFN && !nextSlab()) { phase = 1; pfn = 0; break; }
    const c = cacheLin(cacheId);
    const n = slabObjectCount(pfn);
    while (slot < n) {
      const i = slot++;
      if (load<u8>(FREE_MAP + (i >> 3)) & (1 << (i & 7))) continue;
      const lin = slabStartLin(pfn) + <usize>i * kmemCache(c).size;
      if (freedByKasan(lin)) continue;            // in the quarantine
      curLin = lin;
      curSize = requestedSize(lin, kmemCache(c).objectSize);
      const m = kasanMode == KASAN_GENERIC ? allocMetaLin(c, lin) : 0;
      curPid = m != 0 ? changetype<KasanAllocMeta>(m).pid : 0;
      curStack = m != 0 ? changetype<KasanAllocMeta>(m).stack : 0;
      return lin;
    }
    if (!nextSlab()) { phase = 1; pfn = 0; break; }
  }
  while (phase == 1) {
    if (pfn >= nrFrames) { phase = 2; slot = 0; break; }
    const f = pgFlags(pfn);
    const p = pfn;
    pfn += (f & 8) != 0 ? 1 : <u32>1 << pgOrder(p);
    if ((f & (PG_LARGE_KMALLOC | 8)) == PG_LARGE_KMALLOC) {
      curLin = slabStartLin(p);
      curSize = requestedSize(curLin, <u32>PAGE_SIZE << pgOrder(p));
      curPid = pgOwner(p);
      curStack = 0;
      return curLin;
    }
  }
  while (phase == 2) {
    const nObj = kfence_num_objects();
    if (kfence_meta_base() == 0 || slot >= nObj) { phase = 3; break; }
    const m = kfence_meta_base() + <usize>(slot++) * KF_META_SIZE;
    if (load<u8>(m + KF_M_STATE) != <u8>KFENCE_OBJECT_ALLOCATED) continue;
    curLin = dmLin(load<u64>(m + KF_M_ADDR));
    curSize = load<u32>(m + KF_M_SIZE);
    curPid = load<u32>(m + KF_M_ALLOC_TRACK + KF_T_PID);
    curStack = load<u32>(m + KF_M_ALLOC_TRACK + KF_T_STACK);
    return curLin;
  }
  return 0;
}
export function kmemleak_walk_size(): u32 { return curSize; }
export function kmemleak_walk_pid(): u32 { return curPid; }
export function kmemleak_walk_stack(): u32 { return curStack; }
