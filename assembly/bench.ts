// Loops the benchmarks time inside wasm (bench/), so no JS call sits between
// iterations: raw loads over a buffer vs checked loads of the same bytes.
import { checkedLoadM, checkedStoreM, ModeOff, ModeGeneric, ModeTags } from "./mm/access";
import { kasanMode, KASAN_OFF, KASAN_GENERIC } from "./kasan/kasan";
import { ptWalk } from "./mm/pgtable";
import { tlbEntry } from "./mm/tlb";
import { dmLin } from "./mm/layout";

// Sum n 8-byte loads walking a buffer of `mask + 1` bytes (mask = power of two - 1).
export function bench_raw_load8(va: u64, n: u32, mask: u32): u64 {
  const lin = dmLin(va);
  let acc: u64 = 0;
  for (let i: u32 = 0; i < n; i++) acc += load<u64>(lin + ((i << 3) & mask));
  return acc;
}
// The mode is chosen once, outside the loop, as a kernel is built for one mode.
function loadLoop<M>(va: u64, n: u32, mask: u32): u64 {
  let acc: u64 = 0;
  for (let i: u32 = 0; i < n; i++) acc += checkedLoadM<u64, M>(va + <u64>((i << 3) & mask));
  return acc;
}
function storeLoop<M>(va: u64, n: u32, mask: u32): void {
  for (let i: u32 = 0; i < n; i++) checkedStoreM<u64, M>(va + <u64>((i << 3) & mask), <u64>i);
}
export function bench_checked_load8(va: u64, n: u32, mask: u32): u64 {
  if (kasanMode == KASAN_OFF) return loadLoop<ModeOff>(va, n, mask);
  if (kasanMode == KASAN_GENERIC) return loadLoop<ModeGeneric>(va, n, mask);
  return loadLoop<ModeTags>(va, n, mask);
}
export function bench_checked_store8(va: u64, n: u32, mask: u32): void {
  if (kasanMode == KASAN_OFF) storeLoop<ModeOff>(va, n, mask);
  else if (kasanMode == KASAN_GENERIC) storeLoop<ModeGeneric>(va, n, mask);
  else storeLoop<ModeTags>(va, n, mask);
}
// TLB lookups alone (hit path), and full page-table walks.
export function bench_tlb_hits(va: u64, n: u32, mask: u32): u32 {
  let hits: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const a = va + <u64>((i << 12) & mask);
    const e = tlbEntry(a);
    if (a - load<u64>(e) < 4096) hits++;
  }
  return hits;
}
export function bench_walks(va: u64, n: u32, mask: u32): u64 {
  let acc: u64 = 0;
  for (let i: u32 = 0; i < n; i++) acc += ptWalk(va + <u64>((i << 12) & mask));
  return acc;
}
