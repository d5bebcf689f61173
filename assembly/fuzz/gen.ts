// The workload generator's inner loop (host/fuzz/generator.ts sets it up):
// writes seeded op bytes into a buffer, so a fuzz worker spends no JS per op
// on making them either. The host writes the profile (weights as 4096-entry
// tables, size tables, site bases, planted-bug rates) into the configuration
// block; everything after that is a function of the seed.
//
// The generator keeps a model of its own slots (live or not, kind, size), so
// ordinary ops are valid: accesses stay in bounds, frees free live objects.
// Planted bugs are scenarios: a victim allocated at the scenario's allocation
// site, then, a few ops later, the buggy op at the scenario's site (an access
// past the end or before the start, an access after the free, a second free,
// a free of an interior pointer), then the victim's last free.
import { FZ_KMALLOC, FZ_KZALLOC, FZ_CACHE_ALLOC, FZ_KFREE, FZ_KFREE_AT, FZ_KREALLOC, FZ_VMALLOC, FZ_VFREE,
         FZ_LOAD1, FZ_STORE1, FZ_MEMSET, FZ_MEMCPY, FZ_TICK, FZ_TASK, FZ_PLANTED, FZ_MAX_SLOTS } from "../../abi/abi";
import { FUZZ_GEN } from "../statics";
import { fuzzSlotsTogether, fuzzVictimSlot, fuzzOwnerSetup, fuzzSlotOwnerIn, fuzzTickSlot } from "./owner";

// ── configuration (host-written) ────────────────────────────────────────────
// @ts-ignore: decorator
@inline const CFG: usize = FUZZ_GEN;
// @ts-ignore: decorator
@inline const C_SLOTS: usize = 0;
// @ts-ignore: decorator
@inline const C_TARGET: usize = 4;         // live objects to steer towards
// @ts-ignore: decorator
@inline const C_NCACHES: usize = 8;
// @ts-ignore: decorator
@inline const C_TICK_EVERY: usize = 12;
// @ts-ignore: decorator
@inline const C_TICK_US: usize = 16;
// @ts-ignore: decorator
@inline const C_MAX_UAF: usize = 20;
// @ts-ignore: decorator
@inline const C_MAX_OOB: usize = 24;
// @ts-ignore: decorator
@inline const C_PLANT_TOTAL: usize = 28;   // probability per op x 2^32
// @ts-ignore: decorator
@inline const C_PLANT_CUM: usize = 32;     // 5 x u32, cumulative, same scale
// @ts-ignore: decorator
@inline const C_VM_VICTIM: usize = 52;     // probability x 2^32 that an oob/underflow victim is vmalloc'ed
// @ts-ignore: decorator
@inline const C_SEED: usize = 56;
// @ts-ignore: decorator
@inline const C_READS_ONLY: usize = 60;
// @ts-ignore: decorator
@inline const C_TARGET_RECIP: usize = 136;  // 2^20 / C_TARGET, so steering needs no division    // 1: planted accesses only read (buggy sites 0, 2, ...)
// @ts-ignore: decorator
@inline const C_CPUS: usize = 140;         // fuzz --cpus N (0 or 1: one CPU): no task ops, memcpy within one CPU's slots, victims in victim slots
// @ts-ignore: decorator
@inline const C_OWNER_SHARES: usize = 144; // fuzz --cpus N: the slots' cycle (owner.ts): CPU 0's places | each other CPU's << 8
// @ts-ignore: decorator
@inline const C_SEG_OPS: usize = 148;      // fuzz --cpus N: ops per segment (the CPUs meet at a barrier after each)
// @ts-ignore: decorator
@inline const C_GROUPS: usize = 64;        // 10 x (u16 base, u16 count), G_* order
// @ts-ignore: decorator
@inline const C_PLANTED: usize = 112;      // 5 x (u16 buggy-site base, u16 victim-alloc-site base)
// @ts-ignore: decorator
@inline const C_PLANT_SITES: usize = 132;  // u32 sites per planted class
// @ts-ignore: decorator
@inline const C_CACHE_SIZES: usize = 192;  // 16 x u32
// @ts-ignore: decorator
@inline const C_CAT: usize = 256;          // 4096 x u8: op category of each 1/4096 of the mix
// @ts-ignore: decorator
@inline const C_KIND: usize = 4352;        // 4096 x u8: allocation kind of each 1/4096
// @ts-ignore: decorator
@inline const C_SLAB_SIZES: usize = 8448;  // 1024 x u32
// @ts-ignore: decorator
@inline const C_VM_SIZES: usize = 12544;   // 1024 x u32
// @ts-ignore: decorator
@inline const C_LARGE_SIZES: usize = 16640; // 256 x u32

// groups of sites (C_GROUPS)
// @ts-ignore: decorator
@inline const G_ALLOC: u32 = 0;
// @ts-ignore: decorator
@inline const G_FREE: u32 = 1;
// @ts-ignore: decorator
@inline const G_LOAD: u32 = 2;
// @ts-ignore: decorator
@inline const G_STORE: u32 = 3;
// @ts-ignore: decorator
@inline const G_MEM: u32 = 4;
// @ts-ignore: decorator
@inline const G_REALLOC: u32 = 5;
// @ts-ignore: decorator
@inline const G_CACHE_ALLOC: u32 = 6;
// @ts-ignore: decorator
@inline const G_CACHE_FREE: u32 = 7;
// @ts-ignore: decorator
@inline const G_VMALLOC: u32 = 8;
// @ts-ignore: decorator
@inline const G_VFREE: u32 = 9;
// categories (C_CAT)
// @ts-ignore: decorator
@inline const CAT_ALLOCFREE: u8 = 0;
// @ts-ignore: decorator
@inline const CAT_REALLOC: u8 = 1;
// @ts-ignore: decorator
@inline const CAT_LOAD: u8 = 2;
// @ts-ignore: decorator
@inline const CAT_STORE: u8 = 3;
// @ts-ignore: decorator
@inline const CAT_MEMSET: u8 = 4;
// @ts-ignore: decorator
@inline const CAT_MEMCPY: u8 = 5;
// allocation kinds (C_KIND)
// @ts-ignore: decorator
@inline const A_KMALLOC: u8 = 0;
// @ts-ignore: decorator
@inline const A_KZALLOC: u8 = 1;
// @ts-ignore: decorator
@inline const A_CACHE: u8 = 2;
// @ts-ignore: decorator
@inline const A_VMALLOC: u8 = 3;
// planted classes, in host/fuzz/generator.ts BUG_CLASSES order
// @ts-ignore: decorator
@inline const P_OOB: u32 = 0;
// @ts-ignore: decorator
@inline const P_UNDERFLOW: u32 = 1;
// @ts-ignore: decorator
@inline const P_UAF: u32 = 2;
// @ts-ignore: decorator
@inline const P_DOUBLE_FREE: u32 = 3;
// @ts-ignore: decorator
@inline const P_INVALID_FREE: u32 = 4;

// ── state ───────────────────────────────────────────────────────────────────
// @ts-ignore: decorator
@inline const SLOT_STATE: usize = FUZZ_GEN + 0x6000;   // u8: EMPTY, LIVE, RESERVED (a victim)
// @ts-ignore: decorator
@inline const SLOT_KIND: usize = FUZZ_GEN + 0xa000;    // u8: KIND_*
// @ts-ignore: decorator
@inline const SLOT_CACHE: usize = FUZZ_GEN + 0xe000;   // u8
// @ts-ignore: decorator
@inline const SLOT_SIZE: usize = FUZZ_GEN + 0x12000;   // u32
// @ts-ignore: decorator
@inline const LIVE: usize = FUZZ_GEN + 0x22000;        // u32 slots
// @ts-ignore: decorator
@inline const LIVE_POS: usize = FUZZ_GEN + 0x32000;    // u32 index in LIVE
// @ts-ignore: decorator
@inline const EMPTY: usize = FUZZ_GEN + 0x42000;       // u32 slots (a stack)
// @ts-ignore: decorator
@inline const VICTIMS: usize = FUZZ_GEN + 0x7a000;     // u32 empty victim slots (a stack; fuzz --cpus only, owner.ts)
// @ts-ignore: decorator
@inline const PENDING: usize = FUZZ_GEN + 0x52000;     // 4096 x (due u32, event u32), sorted by due
// @ts-ignore: decorator
@inline const SCEN: usize = FUZZ_GEN + 0x5a000;        // 4096 x 32: running scenarios
// @ts-ignore: decorator
@inline const MAX_PENDING: u32 = 4096;
// @ts-ignore: decorator
@inline const S_EMPTY: u8 = 0;
// @ts-ignore: decorator
@inline const S_LIVE: u8 = 1;
// @ts-ignore: decorator
@inline const S_RESERVED: u8 = 2;
// @ts-ignore: decorator
@inline const KIND_KMALLOC: u8 = 1;
// @ts-ignore: decorator
@inline const KIND_CACHE: u8 = 2;
// @ts-ignore: decorator
@inline const KIND_VMALLOC: u8 = 3;
// @ts-ignore: decorator
@inline const EV_BUG: u32 = 1;
// @ts-ignore: decorator
@inline const EV_FREE: u32 = 2;
// @ts-ignore: decorator
@inline const EV_LAST: u32 = 3;

// Scalar state lives in linear memory at constant addresses: a mutable wasm
// global costs V8 a reload through the instance on every use (see statics.ts).
// @ts-ignore: decorator
@inline const ST: usize = FUZZ_GEN + 0x5000;
// @ts-ignore: decorator
@inline const ST_RNG: usize = ST + 64;         // u64
// @ts-ignore: decorator
@inline const ST_OP: usize = ST + 4;
// @ts-ignore: decorator
@inline const ST_NLIVE: usize = ST + 8;
// @ts-ignore: decorator
@inline const ST_NEMPTY: usize = ST + 12;
// @ts-ignore: decorator
@inline const ST_NPENDING: usize = ST + 16;
// @ts-ignore: decorator
@inline const ST_SCENFREE: usize = ST + 20;     // free list of SCEN entries: index + 1
// @ts-ignore: decorator
@inline const ST_OUTLEN: usize = ST + 28;
// @ts-ignore: decorator
@inline const ST_TICKLEFT: usize = ST + 32;     // ops until the next tick
// @ts-ignore: decorator
@inline const ST_PLANTED: usize = ST + 40;      // 5 x u32: buggy ops written, per class
// @ts-ignore: decorator
@inline const ST_PLANT_LEFT: usize = ST + 0;    // ops until the next planted scenario (0: none planned)
// @ts-ignore: decorator
@inline const ST_RUN: usize = ST + 24;          // ops left in the current run of one category
// @ts-ignore: decorator
@inline const ST_RUN_CAT: usize = ST + 36;      // u8 its category
// @ts-ignore: decorator
@inline const ST_RUN_SLOT: usize = ST + 60;     // the object its accesses touch
// @ts-ignore: decorator
@inline const ST_NVICTIMS: usize = ST + 80;     // empty victim slots (VICTIMS)
// @ts-ignore: decorator
@inline const ST_VICTIMS: usize = ST + 84;      // victim slots in all
// @ts-ignore: decorator
@inline function get(a: usize): u32 { return load<u32>(a); }
// @ts-ignore: decorator
@inline function put(a: usize, v: u32): void { store<u32>(a, v); }

// widths of ordinary accesses, log2, 16 entries
const WIDTH_LOG2: usize = memory.data<u8>([0, 1, 2, 3, 3, 2, 2, 1, 0, 3, 4, 2, 3, 0, 1, 2]);

// @ts-ignore: decorator
@inline function cfg32(off: usize): u32 { return load<u32>(CFG + off); }
// xorshift64*: one draw gives the op's category, object, width, offset and
// site (a chain of small draws through memory cost ~4 ns each, in series).
// @ts-ignore: decorator
@inline function draw(): u64 {
  let x = load<u64>(ST_RNG);
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  store<u64>(ST_RNG, x);
  return x * 0x2545f4914f6cdd1d;
}
// @ts-ignore: decorator
@inline function next(): u32 { return <u32>(draw() >> 32); }
// Uniform in [0, n) by multiply-shift (no division).
// @ts-ignore: decorator
@inline function below(n: u32): u32 { return <u32>((<u64>next() * <u64>n) >> 32); }
// Uniform in [0, n) (n < 2^20) from the 20 bits of r at `shift`.
// @ts-ignore: decorator
@inline function pick(r: u64, shift: u32, n: u32): u32 { return <u32>((((r >> shift) & 0xfffff) * <u64>n) >> 20); }
// @ts-ignore: decorator
@inline function site(g: u32): u32 {
  const b = load<u32>(CFG + C_GROUPS + (<usize>g << 2));
  return (b & 0xffff) + below(b >> 16);
}
// @ts-ignore: decorator
@inline function siteOf(g: u32, r: u64, shift: u32): u32 {
  const b = load<u32>(CFG + C_GROUPS + (<usize>g << 2));
  return (b & 0xffff) + pick(r, shift, b >> 16);
}

// @ts-ignore: decorator
@inline function sState(s: u32): u8 { return load<u8>(SLOT_STATE + <usize>s); }
// @ts-ignore: decorator
@inline function sKind(s: u32): u8 { return load<u8>(SLOT_KIND + <usize>s); }
// @ts-ignore: decorator
@inline function sSize(s: u32): u32 { return load<u32>(SLOT_SIZE + (<usize>s << 2)); }

function addLive(s: u32): void {
  const n = get(ST_NLIVE);
  store<u32>(LIVE + (<usize>n << 2), s);
  store<u32>(LIVE_POS + (<usize>s << 2), n);
  put(ST_NLIVE, n + 1);
}
function removeLive(s: u32): void {
  const at = load<u32>(LIVE_POS + (<usize>s << 2));
  const n = get(ST_NLIVE) - 1;
  put(ST_NLIVE, n);
  const last = load<u32>(LIVE + (<usize>n << 2));
  store<u32>(LIVE + (<usize>at << 2), last);
  store<u32>(LIVE_POS + (<usize>last << 2), at);
}
// @ts-ignore: decorator
@inline function takeEmpty(): u32 {
  const n = get(ST_NEMPTY) - 1;
  put(ST_NEMPTY, n);
  return load<u32>(EMPTY + (<usize>n << 2));
}
function putEmpty(s: u32): void {
  store<u8>(SLOT_STATE + <usize>s, S_EMPTY);
  if (cfg32(C_CPUS) > 1 && fuzzVictimSlot(s)) {
    const v = get(ST_NVICTIMS);
    store<u32>(VICTIMS + (<usize>v << 2), s);
    put(ST_NVICTIMS, v + 1);
    return;
  }
  const n = get(ST_NEMPTY);
  store<u32>(EMPTY + (<usize>n << 2), s);
  put(ST_NEMPTY, n + 1);
}

// ── op writers ──────────────────────────────────────────────────────────────
// Every writer takes the write cursor and returns it advanced (a local in the
// fill loop: no memory round trip per op).
// @ts-ignore: decorator
@inline function head(p: usize, code: u32, st: u32, slot: u32): usize {
  store<u8>(p, <u8>code);
  store<u16>(p, <u16>st, 1);
  store<u16>(p, <u16>slot, 3);
  return p;
}
// @ts-ignore: decorator
@inline function emitSized(p: usize, code: u32, st: u32, slot: u32, size: u32): usize { store<u32>(head(p, code, st, slot), size, 5); return p + 9; }
// @ts-ignore: decorator
@inline function emitOff(p: usize, code: u32, st: u32, slot: u32, off: i32): usize { store<i32>(head(p, code, st, slot), off, 5); return p + 9; }
// @ts-ignore: decorator
@inline function emitFree(p: usize, code: u32, st: u32, slot: u32): usize { head(p, code, st, slot); return p + 5; }

function freeSlot(p: usize, s: u32, planted: u32, st: i32): usize {
  const k = sKind(s);
  if (k == KIND_VMALLOC) return emitFree(p, FZ_VFREE | planted, st >= 0 ? <u32>st : site(G_VFREE), s);
  return emitFree(p, FZ_KFREE | planted, st >= 0 ? <u32>st : site(k == KIND_CACHE ? G_CACHE_FREE : G_FREE), s);
}

// r: the op's draw; bits 0..31 went to its category and object.
// @ts-ignore: decorator
@inline function access(p: usize, s: u32, size: u32, store_: bool, r: u64): usize {
  let wi = <u32>load<u8>(WIDTH_LOG2 + <usize>((r >> 32) & 15));
  while ((<u32>1 << wi) > size) wi--;
  const width = <u32>1 << wi;
  let off = pick(r, 36, size - width + 1);
  if (((r >> 56) & 7) != 0) off &= ~(width - 1);           // 7 in 8 aligned
  return emitOff(p, (store_ ? FZ_STORE1 : FZ_LOAD1) + wi, store_ ? siteOf(G_STORE, r, 44) : siteOf(G_LOAD, r, 44), s, <i32>off);
}

function alloc(p: usize): usize {
  const s = takeEmpty();
  const r = draw();
  const a = load<u8>(CFG + C_KIND + <usize>(r & 4095));
  let size: u32;
  let kind = KIND_KMALLOC;
  if (a == A_VMALLOC) {
    kind = KIND_VMALLOC;
    size = load<u32>(CFG + C_VM_SIZES + (<usize>((r >> 12) & 1023) << 2));
    p = emitSized(p, FZ_VMALLOC, siteOf(G_VMALLOC, r, 22), s, size);
  } else if (a == A_CACHE) {
    kind = KIND_CACHE;
    const c = pick(r, 42, cfg32(C_NCACHES));
    size = load<u32>(CFG + C_CACHE_SIZES + (<usize>c << 2));
    store<u8>(SLOT_CACHE + <usize>s, <u8>c);
    store<u8>(head(p, FZ_CACHE_ALLOC, siteOf(G_CACHE_ALLOC, r, 22), s), <u8>c, 5);
    p += 6;
  } else if (a == A_KMALLOC || a == A_KZALLOC) {
    size = load<u32>(CFG + C_SLAB_SIZES + (<usize>((r >> 12) & 1023) << 2));
    p = emitSized(p, a == A_KZALLOC ? FZ_KZALLOC : FZ_KMALLOC, siteOf(G_ALLOC, r, 22), s, size);
  } else {
    size = load<u32>(CFG + C_LARGE_SIZES + (<usize>((r >> 12) & 255) << 2));
    p = emitSized(p, FZ_KMALLOC, siteOf(G_ALLOC, r, 22), s, size);
  }
  store<u8>(SLOT_STATE + <usize>s, S_LIVE);
  store<u8>(SLOT_KIND + <usize>s, kind);
  store<u32>(SLOT_SIZE + (<usize>s << 2), size);
  addLive(s);
  return p;
}

// Ops come in runs of one category (1 to 4, the same for every category, so
// the mix's proportions hold); a run of accesses touches one object, as code
// does a struct's fields. Runs also make the interpreter's dispatch and the
// generator's own branches predictable (a random category every op cost
// both ~8 ns in mispredictions).
function normal(p: usize): usize {
  const r = draw();
  const left = get(ST_RUN);
  let cat: u8;
  if (left != 0) {
    cat = load<u8>(ST_RUN_CAT);
    put(ST_RUN, left - 1);
  } else {
    cat = load<u8>(CFG + C_CAT + <usize>(r & 4095));
    store<u8>(ST_RUN_CAT, cat);
    put(ST_RUN, <u32>(r >> 62));
    put(ST_RUN_SLOT, 0xffffffff);
  }
  const nLive = get(ST_NLIVE);
  if (cat == CAT_ALLOCFREE || nLive == 0) {
    // steer the number of live objects towards the target (C_TARGET_RECIP: 2^20 / target)
    const target = <i32>cfg32(C_TARGET);
    const nEmpty = get(ST_NEMPTY);
    const wantAlloc = nLive == 0 || (nEmpty > 0 && <i32>pick(r, 32, 1024) < 512 + (((target - <i32>nLive) * <i32>cfg32(C_TARGET_RECIP)) >> 10));
    if (wantAlloc && nEmpty > 0) return alloc(p);
    const s = load<u32>(LIVE + (<usize>pick(r, 12, nLive) << 2));
    p = freeSlot(p, s, 0, -1);
    removeLive(s);
    putEmpty(s);
    return p;
  }
  let s = get(ST_RUN_SLOT);
  if (s == 0xffffffff || sState(s) != S_LIVE) {
    s = load<u32>(LIVE + (<usize>pick(r, 12, nLive) << 2));
    put(ST_RUN_SLOT, s);
  }
  const size = sSize(s);
  if (cat == CAT_LOAD) return access(p, s, size, false, r);
  if (cat == CAT_STORE) return access(p, s, size, true, r);
  if (cat == CAT_REALLOC) {
    if (sKind(s) != KIND_KMALLOC) return access(p, s, size, false, r);
    const ns = load<u32>(CFG + C_SLAB_SIZES + (<usize>(next() & 1023) << 2));
    store<u32>(SLOT_SIZE + (<usize>s << 2), ns);
    return emitSized(p, FZ_KREALLOC, site(G_REALLOC), s, ns);
  }
  if (cat == CAT_MEMSET) {
    const off = below(size);
    const len = 1 + below(min<u32>(256, size - off));
    head(p, FZ_MEMSET, site(G_MEM), s);
    store<i32>(p, <i32>off, 5);
    store<u32>(p, len, 9);
    store<u8>(p, <u8>next(), 13);
    return p + 14;
  }
  if (cat == CAT_MEMCPY) {
    let t: u32 = 0;
    if (cfg32(C_CPUS) > 1) {
      // on N CPUs both slots of a memcpy must be on one CPU in every segment
      // (owner.ts): four tries at one, then a read instead
      const d = draw();
      let i: u32 = 0;
      for (; i < 4; i++) {
        t = load<u32>(LIVE + (<usize>((((d >> (i << 4)) & 0xffff) * <u64>nLive) >> 16) << 2));
        if (fuzzSlotsTogether(s, t)) break;
      }
      if (i == 4) return access(p, s, size, false, r);
    } else {
      t = load<u32>(LIVE + (<usize>below(nLive) << 2));
    }
    const tSize = sSize(t);
    const dOff = below(size), sOff = below(tSize);
    const len = 1 + below(min<u32>(256, min<u32>(size - dOff, tSize - sOff)));
    head(p, FZ_MEMCPY, site(G_MEM), s);
    store<i32>(p, <i32>dOff, 5);
    store<u16>(p, <u16>t, 9);
    store<i32>(p, <i32>sOff, 11);
    store<u32>(p, len, 15);
    return p + 19;
  }
  // CAT_TASK (on N CPUs each CPU runs its own task: a read instead)
  if (cfg32(C_CPUS) > 1) return access(p, s, size, false, r);
  store<u8>(p, FZ_TASK);
  store<u8>(p, <u8>below(4), 1);
  store<u8>(p, <u8>below(2), 2);
  return p + 3;
}

// ── planted scenarios ───────────────────────────────────────────────────────
// Ops until the next planted scenario: geometric with the planting rate (one
// draw per scenario rather than one per op). 0: planting is off.
function plantGap(): u32 {
  const total = cfg32(C_PLANT_TOTAL);
  if (total == 0) return 0;
  const p = <f64>total / 4294967296.0;
  const u = (<f64>(next() >> 8) + 0.5) / 16777216.0;
  const g = Math.floor(Math.log(u) / Math.log1p(-p));
  return g >= 4294967295.0 ? 0xffffffff : <u32>g + 1;
}

// SCEN entry: cls u8, k u8, write u8, vm u8, slot u32, size u32, off i32, width u32,
// the barrier its bad use comes after u32 (0: none), then the free list's link at 28
function schedule(due: u32, ev: u32, sc: u32): void {
  const np = get(ST_NPENDING);
  let i = np;
  while (i > 0 && load<u32>(PENDING + (<usize>(i - 1) << 3)) > due) i--;
  memory.copy(PENDING + (<usize>(i + 1) << 3), PENDING + (<usize>i << 3), <usize>(np - i) << 3);
  store<u32>(PENDING + (<usize>i << 3), due);
  store<u32>(PENDING + (<usize>i << 3), (ev << 24) | sc, 4);
  put(ST_NPENDING, np + 1);
}

// Start a scenario at op `op`: the victim's allocation. Returns the cursor, or 0 when no scenario could start.
function plant(p: usize, op: u32): usize {
  // (on N CPUs victims live in victim slots, owner.ts)
  const victims = cfg32(C_CPUS) > 1;
  if ((victims ? get(ST_NVICTIMS) : get(ST_NEMPTY)) == 0 || get(ST_SCENFREE) == 0 || get(ST_NPENDING) + 2 >= MAX_PENDING) return 0;
  const r = below(cfg32(C_PLANT_TOTAL));
  let cls: u32 = 0;
  while (cls < 4 && r >= load<u32>(CFG + C_PLANT_CUM + (<usize>cls << 2))) cls++;
  let s: u32;
  if (victims) {
    const v = get(ST_NVICTIMS) - 1;
    put(ST_NVICTIMS, v);
    s = load<u32>(VICTIMS + (<usize>v << 2));
  } else {
    s = takeEmpty();
  }
  let k = below(cfg32(C_PLANT_SITES));
  if (cfg32(C_READS_ONLY) != 0) k &= ~1;
  const allocBase = <u32>load<u16>(CFG + C_PLANTED + (<usize>cls << 2), 2);
  const vm = (cls == P_OOB || cls == P_UNDERFLOW) && next() < cfg32(C_VM_VICTIM);
  let size = vm ? load<u32>(CFG + C_VM_SIZES + (<usize>(next() & 1023) << 2))
                : load<u32>(CFG + C_SLAB_SIZES + (<usize>(next() & 1023) << 2));
  if (cls == P_INVALID_FREE && size < 2) size = 2;
  p = emitSized(p, vm ? FZ_VMALLOC : FZ_KMALLOC, allocBase + k, s, size);
  store<u8>(SLOT_STATE + <usize>s, S_RESERVED);
  store<u8>(SLOT_KIND + <usize>s, vm ? KIND_VMALLOC : KIND_KMALLOC);
  store<u32>(SLOT_SIZE + (<usize>s << 2), size);
  const write = (cls == P_OOB || cls == P_UNDERFLOW || cls == P_UAF) && (k & 1) == 1;
  let wi = <u32>load<u8>(WIDTH_LOG2 + <usize>(next() & 15));
  if (cls == P_UAF) while ((<u32>1 << wi) > size) wi--;
  const n = 1 + below(cfg32(C_MAX_OOB));
  let off: i32 = 0;
  if (cls == P_OOB) off = <i32>(size + n - 1);
  else if (cls == P_UNDERFLOW) off = -<i32>n;
  else if (cls == P_UAF) off = <i32>(below(size - (<u32>1 << wi) + 1) & ~((<u32>1 << wi) - 1));
  else if (cls == P_INVALID_FREE) off = <i32>(1 + below(size - 1));
  const sc = get(ST_SCENFREE) - 1;
  const e = SCEN + (<usize>sc << 5);
  put(ST_SCENFREE, load<u32>(e, 28));
  store<u8>(e, <u8>cls);
  store<u8>(e, <u8>k, 1);
  store<u8>(e, write ? 1 : 0, 2);
  store<u8>(e, vm ? 1 : 0, 3);
  store<u32>(e, s, 4);
  store<u32>(e, size, 8);
  store<i32>(e, off, 12);
  store<u32>(e, wi, 16);
  let due = op + 1 + below(64);
  store<u32>(e, 0, 20);
  if (victims && (cls == P_UAF || cls == P_DOUBLE_FREE)) {
    // On N CPUs half of them, while victim slots are plentiful, span a
    // barrier: the free in the last ops before it, the bad use after it, on
    // the next CPU (the victim's pair changes CPU there, owner.ts).
    const seg = cfg32(C_SEG_OPS);
    const barrier: u32 = seg == 0 ? 0 : (op / seg + 1) * seg;
    if (barrier > op + 2 && get(ST_NVICTIMS) * 2 >= get(ST_VICTIMS) && (next() & 1) != 0) {
      due = barrier - 1 - below(min<u32>(32, barrier - op - 2));
      store<u32>(e, barrier, 20);
    }
  }
  schedule(due, cls == P_UAF || cls == P_DOUBLE_FREE ? EV_FREE : EV_BUG, sc);
  return p;
}

function event(p: usize, op: u32, ev: u32, sc: u32): usize {
  const e = SCEN + (<usize>sc << 5);
  const cls = <u32>load<u8>(e);
  const s = load<u32>(e, 4);
  if (ev == EV_FREE) {
    // the free before a use-after-free or a double free (after the barrier the scenario spans, if it does)
    const barrier = load<u32>(e, 20);
    const delay = 1 + below(cfg32(C_MAX_UAF));
    schedule(barrier > op ? barrier - 1 + delay : op + delay, EV_BUG, sc);
    return freeSlot(p, s, 0, -1);
  }
  if (ev == EV_LAST) {
    p = freeSlot(p, s, 0, -1);
    putEmpty(s);
    store<u32>(e, get(ST_SCENFREE), 28);
    put(ST_SCENFREE, sc + 1);
    return p;
  }
  const bugSite = <u32>load<u16>(CFG + C_PLANTED + (<usize>cls << 2)) + <u32>load<u8>(e, 1);
  put(ST_PLANTED + (<usize>cls << 2), get(ST_PLANTED + (<usize>cls << 2)) + 1);
  if (cls == P_DOUBLE_FREE) {
    p = freeSlot(p, s, FZ_PLANTED, <i32>bugSite);
  } else if (cls == P_INVALID_FREE) {
    p = emitOff(p, FZ_KFREE_AT | FZ_PLANTED, bugSite, s, load<i32>(e, 12));
  } else {
    const base = load<u8>(e, 2) != 0 ? FZ_STORE1 : FZ_LOAD1;
    p = emitOff(p, (base + load<u32>(e, 16)) | FZ_PLANTED, bugSite, s, load<i32>(e, 12));
  }
  if (cls == P_UAF || cls == P_DOUBLE_FREE) {
    putEmpty(s);
    store<u32>(e, get(ST_SCENFREE), 28);
    put(ST_SCENFREE, sc + 1);
  } else {
    schedule(op + 1 + below(64), EV_LAST, sc);
  }
  return p;
}

// ── exports ─────────────────────────────────────────────────────────────────
export function fuzz_gen_config(): usize { return CFG; }

// Start a stream (after the host wrote the configuration): every slot empty.
export function fuzz_gen_init(): i32 {
  const slots = cfg32(C_SLOTS);
  if (slots == 0 || slots > <u32>FZ_MAX_SLOTS || cfg32(C_TARGET) == 0) return -1;
  const cpus = cfg32(C_CPUS);
  if (cpus > 1 && !fuzzOwnerSetup(cpus, cfg32(C_OWNER_SHARES) & 0xff, cfg32(C_OWNER_SHARES) >> 8)) return -1;
  memory.fill(ST, 0, 128);
  store<u64>(ST_RNG, (<u64>cfg32(C_SEED) << 32) | <u64>(cfg32(C_SEED) ^ 0x9e3779b9) | 1);
  for (let i = 0; i < 8; i++) draw();
  put(ST_PLANT_LEFT, plantGap());
  put(ST_TICKLEFT, cfg32(C_TICK_EVERY));
  memory.fill(SLOT_STATE, 0, <usize>slots);
  for (let i = slots; i > 0; i--) putEmpty(i - 1);
  put(ST_VICTIMS, get(ST_NVICTIMS));
  let free: u32 = 0;
  for (let i: u32 = MAX_PENDING; i > 0; i--) {
    store<u32>(SCEN + (<usize>(i - 1) << 5), free, 28);
    free = i;
  }
  put(ST_SCENFREE, free);
  return 0;
}

// Write up to maxOps ops at dst (at most cap bytes); returns the ops written,
// fuzz_gen_bytes() their length.
export function fuzz_gen_fill(dst: usize, cap: u32, maxOps: u32): u32 { return fill<u8>(dst, cap, maxOps, 0, 0, 0, 0, 0); }
/**
 * fuzz --cpus (rounds.ts): fuzz_gen_fill, and for each op i its byte offset
 * (u32 at offs + 4i), and i (u16) appended to the list of the CPU that runs
 * it in the segment `seg` describes (owner.ts): CPU c's list at lists +
 * c * stride, its length the u32 at counts + 4c.
 */
export function fuzzGenFillIndexed(dst: usize, cap: u32, maxOps: u32, offs: usize, lists: usize, stride: usize, counts: usize, seg: u64): u32 {
  return fill<u16>(dst, cap, maxOps, offs, lists, stride, counts, seg);
}
// S: u8 plain, u16 indexed (compiled apart, so the one-CPU loop carries none of it).
// @ts-ignore: decorator
@inline function fill<S>(dst: usize, cap: u32, maxOps: u32, offs: usize, lists: usize, stride: usize, counts: usize, seg: u64): u32 {
  const tickEvery = cfg32(C_TICK_EVERY);
  let plantLeft = get(ST_PLANT_LEFT);
  const end = dst + <usize>cap;
  let p = dst;
  let op = get(ST_OP);
  let tl = get(ST_TICKLEFT);
  let n: u32 = 0;
  while (n < maxOps && p + 24 <= end) {
    const at = p;
    if (tickEvery != 0 && --tl == 0) {
      tl = tickEvery;
      store<u8>(p, FZ_TICK);
      store<u32>(p, cfg32(C_TICK_US), 1);
      p += 5;
    } else if (get(ST_NPENDING) != 0 && load<u32>(PENDING) <= op) {
      const ev = load<u32>(PENDING, 4);
      const np = get(ST_NPENDING) - 1;
      put(ST_NPENDING, np);
      memory.copy(PENDING, PENDING + 8, <usize>np << 3);
      p = event(p, op, ev >> 24, ev & 0xffffff);
    } else {
      let q: usize = 0;
      if (plantLeft != 0 && --plantLeft == 0) {
        q = plant(p, op);
        plantLeft = plantGap();
      }
      p = q != 0 ? q : normal(p);
    }
    if (sizeof<S>() == 2) {
      // (one op an iteration; a tick's CPU by its op (owner.ts fuzzTickSlot), task switches on CPU 0)
      const code = <u32>load<u8>(at) & 0x7f;
      const cpu = code == FZ_TASK ? 0 : fuzzSlotOwnerIn(code == FZ_TICK ? fuzzTickSlot(op) : <u32>load<u16>(at, 3), seg);
      store<u32>(offs + (<usize>n << 2), <u32>(at - dst));
      const c = counts + (<usize>cpu << 2);
      const j = load<u32>(c);
      store<u16>(lists + <usize>cpu * stride + (<usize>j << 1), <u16>n);
      store<u32>(c, j + 1);
    }
    op++;
    n++;
  }
  put(ST_OP, op);
  put(ST_TICKLEFT, tl);
  put(ST_PLANT_LEFT, plantLeft);
  put(ST_OUTLEN, <u32>(p - dst));
  return n;
}
export function fuzz_gen_bytes(): u32 { return get(ST_OUTLEN); }
export function fuzz_gen_op(): u32 { return get(ST_OP); }
// Buggy ops written so far of planted class cls (host/fuzz/generator.ts BUG_CLASSES order).
export function fuzz_gen_planted(cls: u32): u32 { return cls < 5 ? get(ST_PLANTED + (<usize>cls << 2)) : 0; }
