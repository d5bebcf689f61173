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
    if (a - e.readBase < 4096) hits++;
  }
  return hits;
}
export function bench_walks(va: u64, n: u32, mask: u32): u64 {
  let acc: u64 = 0;
  for (let i: u32 = 0; i < n; i++) acc += ptWalk(va + <u64>((i << 12) & mask));
  return acc;
}

// ── KFENCE (bench/kfence.ts) ────────────────────────────────────────────────
// A hackbench-like allocation workload: n rounds over a table of `slots` live
// objects; each round frees a random slot's object (after a small read) and
// kmallocs a new one of a mixed size (8..1024 bytes, skewed small), writing
// its first and last byte. Every `tickEvery` allocations the engine clock
// advances `tickNs` (the sampling timer runs on it). Returns a checksum.
import { kmalloc, kfree } from "./mm/slub";
import { clock_advance } from "./task";
import { isKfenceAddress } from "./kfence/core";
import { checkedLoad, checkedStore } from "./mm/access";
import { GFP_KERNEL } from "../abi/abi";
import { kmallocFast, kfreeFast } from "./mm/slub";
import { fastBegin, fastEnd, fastStay, kernelEnter, kernelLeave, thisCpu } from "./smp";
import { SLAB_PASS } from "./statics";

// @ts-ignore: decorator
@inline const BENCH_SLOTS: u32 = 256;
const BENCH_TABLE: usize = memory.data(BENCH_SLOTS * 8, 8);
const BENCH_SIZES: usize = memory.data<u32>([8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 8, 32, 64, 1024]);

export function bench_kfence_workload(n: u32, seed: u32, tickEvery: u32, tickNs: u64): u64 {
  let x = seed | 1;
  let acc: u64 = 0;
  let sinceTick: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    const slot = BENCH_TABLE + (<usize>(x & (BENCH_SLOTS - 1)) << 3);
    const old = load<u64>(slot);
    if (old != 0) {
      acc += <u64>checkedLoad<u8>(old);
      kfree(old);
    }
    const size = load<u32>(BENCH_SIZES + (<usize>((x >> 8) & 15) << 2));
    const p = kmalloc(size, GFP_KERNEL);
    if (p != 0) {
      checkedStore<u8>(p, <u8>i);
      checkedStore<u8>(p + size - 1, <u8>i);
    }
    store<u64>(slot, p);
    if (tickEvery != 0 && ++sinceTick == tickEvery) { sinceTick = 0; clock_advance(tickNs); }
  }
  // leave nothing allocated so runs are independent
  for (let s: u32 = 0; s < BENCH_SLOTS; s++) {
    const slot = BENCH_TABLE + (<usize>s << 3);
    const p = load<u64>(slot);
    if (p != 0) { kfree(p); store<u64>(slot, 0); }
  }
  return acc;
}

// The is-KFENCE test kfree makes: n addresses walking a buffer of `mask + 1`
// bytes from va (mask = power of two - 1). Returns how many were KFENCE's.
export function bench_is_kfence(va: u64, n: u32, mask: u32): u32 {
  let hits: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    if (isKfenceAddress(va + <u64>((i << 6) & mask))) hits++;
  }
  return hits;
}

// ── KASAN modes (bench/modes.ts) ────────────────────────────────────────────
// The same slab workload under each mode: n rounds over BENCH_SLOTS live
// objects; each round frees a random slot's object and kmallocs a new one of a
// mixed size, then writes it and reads it back 8 bytes at a time through the
// checked path (specialised per mode, as a kernel is built for one).
function modesLoop<M>(n: u32, seed: u32): u64 {
  let x = seed | 1;
  let acc: u64 = 0;
  for (let i: u32 = 0; i < n; i++) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    const slot = BENCH_TABLE + (<usize>(x & (BENCH_SLOTS - 1)) << 3);
    const old = load<u64>(slot);
    if (old != 0) kfree(old);
    const size = load<u32>(BENCH_SIZES + (<usize>((x >> 8) & 15) << 2));
    const p = kmalloc(size, GFP_KERNEL);
    store<u64>(slot, p);
    if (p == 0) continue;
    const words = <u64>(size >> 3);
    for (let w: u64 = 0; w < words; w++) checkedStoreM<u64, M>(p + (w << 3), w ^ <u64>i);
    for (let w: u64 = 0; w < words; w++) acc += checkedLoadM<u64, M>(p + (w << 3));
  }
  for (let s: u32 = 0; s < BENCH_SLOTS; s++) {
    const slot = BENCH_TABLE + (<usize>s << 3);
    const p = load<u64>(slot);
    if (p != 0) { kfree(p); store<u64>(slot, 0); }
  }
  return acc;
}
export function bench_modes_workload(n: u32, seed: u32): u64 {
  if (kasanMode == KASAN_OFF) return modesLoop<ModeOff>(n, seed);
  if (kasanMode == KASAN_GENERIC) return modesLoop<ModeGeneric>(n, seed);
  return modesLoop<ModeTags>(n, seed);
}
// n live objects of the workload's size mix, never freed (the engine is
// thrown away after): the slab memory they take per mode. Returns the bytes
// requested.
export function bench_modes_fill(n: u32, seed: u32): u64 {
  let x = seed | 1;
  let requested: u64 = 0;
  for (let i: u32 = 0; i < n; i++) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    const size = load<u32>(BENCH_SIZES + (<usize>((x >> 8) & 15) << 2));
    if (kmalloc(size, GFP_KERNEL) != 0) requested += size;
  }
  return requested;
}

// ── generic KASAN (bench/kasan.ts) ──────────────────────────────────────────
// n kmalloc(size) + kfree pairs, the freed object going straight back (and,
// under generic KASAN, through the quarantine).
export function bench_kmalloc_kfree(n: u32, size: u32): u32 {
  let fails: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const p = kmalloc(size, GFP_KERNEL);
    if (p == 0) { fails++; continue; }
    kfree(p);
  }
  return fails;
}

// ── SMP (engine.onCpus kmalloc_kfree jobs, bench/smp.ts) ────────────────────
// bench_kmalloc_kfree's loop as a CPU's job: each pair takes SLUB's per-CPU
// path without the kernel lock where it can (slub.ts's kmallocFast, kfreeFast), so CPUs running
// it at once run in parallel between slow paths (with one CPU, or before CPU
// threads start, it is the plain loop). A separate function so that the
// single-CPU loop above stays as it was.
export function kmalloc_kfree_run(n: u32, size: u32): u32 {
  let fails: u32 = 0;
  // on the lockless path from one pair to the next (smp.ts fastStay)
  let marked = false;
  for (let i: u32 = 0; i < n; i++) {
    // the pair on the lockless path where both can finish there; else what
    // is left of it under the kernel lock
    let p: u64 = 0;
    if (marked = marked ? fastStay() : fastBegin()) {
      p = kmallocFast(size, GFP_KERNEL);
      if (p != 0 && kfreeFast(p)) continue;
      fastEnd();
      marked = false;
    }
    const d = kernelEnter();
    if (p == 0) p = kmalloc(size, GFP_KERNEL);
    if (p == 0) fails++;
    else kfree(p);
    kernelLeave(d);
  }
  if (marked) fastEnd();
  return fails;
}

// The kmalloc_kfree job with `pass`: each round allocates an object, puts it
// in a table all CPUs share and frees the one it takes out, which the other
// CPU put there half a table earlier (the CPUs start half a table apart): a
// producer on one CPU and a consumer on another, so the frees go into the
// other CPU's slabs (__slab_free's remote free). Each CPU empties the table
// when it is done, so every object it put there is freed once, by whichever
// CPU took it.
// @ts-ignore: decorator
@inline const PASS_SLOTS: u32 = 256;
export function kmalloc_pass_run(n: u32, size: u32): u32 {
  let fails: u32 = 0;
  let marked = false;
  const start = thisCpu * (PASS_SLOTS >> 1);
  for (let i: u32 = 0; i < n; i++) {
    let p: u64 = 0;
    if (marked = marked ? fastStay() : fastBegin()) p = kmallocFast(size, GFP_KERNEL);
    if (p == 0) {
      if (marked) { fastEnd(); marked = false; }
      const d = kernelEnter();
      p = kmalloc(size, GFP_KERNEL);
      kernelLeave(d);
      if (p == 0) { fails++; continue; }
    }
    const old = atomic.xchg<u64>(SLAB_PASS + (<usize>((start + i) & (PASS_SLOTS - 1)) << 3), p);
    if (old != 0) marked = passFree(old, marked);
  }
  for (let i: u32 = 0; i < PASS_SLOTS; i++) {
    const old = atomic.xchg<u64>(SLAB_PASS + (<usize>i << 3), 0);
    if (old != 0) marked = passFree(old, marked);
  }
  if (marked) fastEnd();
  return fails;
}
// kfree for kmalloc_pass_run: lockless where it can; returns whether the CPU is still marked.
function passFree(p: u64, marked: bool): bool {
  if (marked = marked ? fastStay() : fastBegin()) {
    if (kfreeFast(p)) return true;
    fastEnd();
  }
  const d = kernelEnter();
  kfree(p);
  kernelLeave(d);
  return false;
}
