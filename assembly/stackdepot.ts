// The stack depot (lib/stackdepot.c): every distinct stack is stored once and
// named by a u32 handle; tracks keep handles, not stacks. Frames are u32 ids
// (the host interns function + offset; ids below FR_FIRST_DYNAMIC name the
// kernel's own functions). Records go into 16 KiB pools taken from the page
// allocator on demand, up to stack_depot_max_pools; when no pool can be had,
// the stack is dropped (handle 0) and STAT_DEPOT_DROPPED counts it.
//
// hash table (boot, memblock): DEPOT_BUCKETS x u32 handle of the newest record
// record: [next handle u32][hash u32][n u32][frames n x u32]
// handle: (pool + 1) << 12 | (offset in pool >> 2)
import { PAGE_SHIFT, PAGE_SIZE, USE_DEPOT, STAT_DEPOT_STACKS, STAT_DEPOT_DROPPED } from "../abi/abi";
import { memblockAlloc, NO_PFN } from "./mm/phys";
import { allocPagesPfn } from "./mm/page_alloc";
import { physToLin } from "./mm/layout";
import { statInc } from "./stats";
import { MISC_TABLE, MACHINE_STATE } from "./statics";

// @ts-ignore: decorator
@inline const DEPOT_BUCKETS: u32 = 1 << 14;
// @ts-ignore: decorator
@inline export const DEPOT_MAX_FRAMES: u32 = 64;
// @ts-ignore: decorator
@inline const POOL_SIZE: u32 = 16384;
// @ts-ignore: decorator
@inline const POOL_ORDER: u32 = 2;
// @ts-ignore: decorator
@inline const POOLS: usize = MISC_TABLE + 0x1000;        // 8192 x u32 linear base

export let tableLin: usize = 0;
export let maxPools: u32 = 0;
// The machine's, not this CPU's: linear memory (docs/smp.md, "The audit"). depotInit sets them.
// @ts-ignore: decorator
@unmanaged class DepotState {
  nrPools: u32;
  poolOffset: u32;   // in the newest pool; POOL_SIZE = needs a new pool
}
export const DS = changetype<DepotState>(MACHINE_STATE + 0x900);
if (offsetof<DepotState>() > 0x100) ERROR("DepotState outgrew its MACHINE_STATE slot");

// The stack of whatever runs now: set by the host before a host-driven call,
// or by a guest/workload runner. 0 = unknown.
export let currentStack: u32 = 0;
export function set_current_stack(handle: u32): void { currentStack = handle; }

export function depotInit(pools: u32): bool {
  const frames = (DEPOT_BUCKETS * 4) >> PAGE_SHIFT;
  const pfn = memblockAlloc(frames, 1, USE_DEPOT);
  if (pfn == NO_PFN) return false;
  tableLin = physToLin(<u64>pfn << PAGE_SHIFT);
  maxPools = pools > 8192 ? 8192 : pools;
  DS.nrPools = 0;
  DS.poolOffset = POOL_SIZE;
  currentStack = 0;
  return true;
}

// @ts-ignore: decorator
@inline function recordLin(handle: u32): usize {
  return <usize>load<u32>(POOLS + (<usize>((handle >> 12) - 1) << 2)) + (<usize>(handle & 0xfff) << 2);
}

// @ts-ignore: decorator
@inline function hashFrames(p: usize, n: u32): u32 {
  let h: u32 = 0x811c9dc5 ^ n;
  for (let i: u32 = 0; i < n; i++) {
    h ^= load<u32>(p + (<usize>i << 2));
    h *= 0x01000193;
    h ^= h >> 15;
  }
  return h;
}

// stack_depot_save: the handle of frames[0..n) (at a linear address); 0 if dropped.
export function depot_save(framesLin: usize, n: u32): u32 {
  if (tableLin == 0 || n == 0) return 0;
  if (n > DEPOT_MAX_FRAMES) n = DEPOT_MAX_FRAMES;
  const h = hashFrames(framesLin, n);
  const bucket = tableLin + (<usize>(h & (DEPOT_BUCKETS - 1)) << 2);
  // The bucket chain lives in simulated RAM: a link that names no record of
  // ours ends the walk, and no chain is longer than the records that exist
  // (a cycle). A lost match only costs a duplicate record.
  let handle = load<u32>(bucket);
  for (let walked: u32 = 0; handle != 0 && handleInPools(handle) && walked <= (DS.nrPools << 10); walked++) {
    const r = recordLin(handle);
    if (load<u32>(r, 4) == h && load<u32>(r, 8) == n && memory.compare(r + 12, framesLin, n << 2) == 0) return handle;
    handle = load<u32>(r);
  }
  const need = 12 + (n << 2);
  if (DS.poolOffset + need > POOL_SIZE) {
    if (DS.nrPools >= maxPools) { statInc(STAT_DEPOT_DROPPED); return 0; }
    const pfn = allocPagesPfn(POOL_ORDER, USE_DEPOT);
    if (pfn == NO_PFN) { statInc(STAT_DEPOT_DROPPED); return 0; }
    store<u32>(POOLS + (<usize>DS.nrPools << 2), <u32>physToLin(<u64>pfn << PAGE_SHIFT));
    DS.nrPools++;
    DS.poolOffset = 0;
  }
  handle = (DS.nrPools << 12) | (DS.poolOffset >> 2);
  const r = recordLin(handle);
  store<u32>(r, load<u32>(bucket));
  store<u32>(r, h, 4);
  store<u32>(r, n, 8);
  memory.copy(r + 12, framesLin, n << 2);
  store<u32>(bucket, handle);
  DS.poolOffset += need;
  statInc(STAT_DEPOT_STACKS);
  return handle;
}

// Does handle point at a record header inside the pools taken so far?
function handleInPools(handle: u32): bool {
  const pool = handle >> 12;
  if (pool == 0 || pool > DS.nrPools) return false;
  const off = (handle & 0xfff) << 2;
  return off + 12 <= (pool == DS.nrPools ? DS.poolOffset : POOL_SIZE);
}

// A handle read back from simulated memory may be garbage: is it a record we made?
export function depotValid(handle: u32): bool {
  if (handle == 0 || !handleInPools(handle)) return false;
  const off = (handle & 0xfff) << 2;
  const r = recordLin(handle);
  const n = load<u32>(r, 8);
  if (n == 0 || n > DEPOT_MAX_FRAMES || off + 12 + (n << 2) > POOL_SIZE) return false;
  return hashFrames(r + 12, n) == load<u32>(r, 4);
}

// stack_depot_fetch: copy the frames of handle to dstLin; the count (0 if invalid).
export function depot_fetch(handle: u32, dstLin: usize): u32 {
  if (!depotValid(handle)) return 0;
  const r = recordLin(handle);
  const n = load<u32>(r, 8);
  memory.copy(dstLin, r + 12, n << 2);
  return n;
}

export function depot_pools(): u32 { return DS.nrPools; }
