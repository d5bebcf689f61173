// The SMP stress workload (engine.onCpus churn jobs): each CPU makes random
// kernel calls on slots only it owns, entering the kernel per call so that
// CPUs interleave at call granularity (kmalloc and kfree, and their objects'
// stamps, take SLUB's lockless per-CPU path where they can). kmalloc/kzalloc/krealloc/kfree,
// vmalloc/vfree and alloc_pages + vmap/vunmap, every object written at both
// ends and read back. Bugs are planted only on request (every `oobEvery`-th
// step reads the byte past a kmalloc'd object: a slab-out-of-bounds), so any
// other report is the engine's. Ends with everything freed.
import { PAGE_SHIFT, GFP_KERNEL, GFP_ZERO, EINVAL } from "../abi/abi";
import { kmalloc, kfree, kmallocFast, kfreeFast } from "./mm/slub";
import { krealloc } from "./mm/slab_common";
import { vmalloc, vfreeAddr, vmapPfns, vunmapAddr } from "./mm/vmalloc";
import { alloc_pages, __free_pages } from "./mm/page_alloc";
import { checkedStore, checkedLoad, directMapLinAny } from "./mm/access";
import { PAGE_OFFSET, untag } from "./mm/layout";
import { currentStack } from "./stackdepot";
import { FS } from "./mm/fault";
import { xorshiftStep } from "./random";
import { kernelEnter, kernelLeave, thisCpu, fastBegin, fastEnd } from "./smp";
import { PERCPU_CHURN, CHURN_SLOTS, CHURN_AREA_SIZE } from "./statics";

// slot: va u64 | size u32 | kind u32 | pages' vas (vmap: up to MAX_VMAP_PAGES u64)
// @ts-ignore: decorator
@inline const SLOT_SIZE: usize = 48;
// @ts-ignore: decorator
@inline const MAX_VMAP_PAGES: u32 = 4;
// @ts-ignore: decorator
@inline const KIND_NONE: u32 = 0;
// @ts-ignore: decorator
@inline const KIND_KMALLOC: u32 = 1;
// @ts-ignore: decorator
@inline const KIND_VMALLOC: u32 = 2;
// @ts-ignore: decorator
@inline const KIND_VMAP: u32 = 3;

let churnRs: u64 = 1;
function rnd(): u32 {
  churnRs = xorshiftStep(churnRs);
  return <u32>((churnRs * 0x2545f4914f6cdd1d) >> 32);
}

// @ts-ignore: decorator
@inline function slotAt(i: u32): usize { return PERCPU_CHURN + <usize>thisCpu * CHURN_AREA_SIZE + <usize>i * SLOT_SIZE; }
// @ts-ignore: decorator
@inline function pfnsAt(): usize { return PERCPU_CHURN + <usize>thisCpu * CHURN_AREA_SIZE + <usize>CHURN_SLOTS * SLOT_SIZE; }

// the object's first and last byte carry the slot's tag: written after allocation, checked before free
function stamp(va: u64, size: u32, tag: u8): void {
  checkedStore<u8>(va, tag);
  checkedStore<u8>(va + size - 1, tag);
}
function checkStamp(va: u64, size: u32, tag: u8): bool {
  return checkedLoad<u8>(va) == tag && checkedLoad<u8>(va + size - 1) == tag;
}
// The same on the lockless path (a kmalloc'd object): the stamp's linear
// addresses, both 0 when either access needs the checked path.
function stampLins(va: u64, size: u32): u64 {
  const a = untag(va);
  const first = directMapLinAny(a, 1), last = directMapLinAny(a + size - 1, 1);
  return first == 0 || last == 0 ? 0 : (<u64>first << 32) | <u64>last;
}

// free slot i: 0, or -1 when its stamp was overwritten (another CPU wrote into this CPU's object)
function release(i: u32): i32 {
  const s = slotAt(i);
  const kind = load<u32>(s, 12);
  if (kind == KIND_NONE) return 0;
  const va = load<u64>(s), size = load<u32>(s, 8);
  if (kind == KIND_KMALLOC && fastBegin()) {
    // SLUB's lockless path (slub.ts), with the stamp read from the direct map
    const lins = stampLins(va, size);
    const ok = lins != 0 && load<u8>(<usize>(lins >> 32)) == <u8>(i + 1) && load<u8>(<usize>lins) == <u8>(i + 1);
    const done = lins != 0 && kfreeFast(va);
    fastEnd();
    if (done) {
      store<u32>(s, KIND_NONE, 12);
      return ok ? 0 : -1;
    }
  }
  const d = kernelEnter();
  const ok = checkStamp(va, size, <u8>(i + 1));
  if (kind == KIND_KMALLOC) kfree(va);
  else if (kind == KIND_VMALLOC) vfreeAddr(va);
  else {
    vunmapAddr(va);
    const n = size >> <u32>PAGE_SHIFT;
    for (let p: u32 = 0; p < n; p++) __free_pages(load<u64>(s + 16 + (<usize>p << 3)), 0);
  }
  kernelLeave(d);
  store<u32>(s, KIND_NONE, 12);
  return ok ? 0 : -1;
}

function setSlot(s: usize, va: u64, size: u32, kind: u32): void {
  store<u64>(s, va);
  store<u32>(s, size, 8);
  store<u32>(s, kind, 12);
}

function fill(i: u32): i32 {
  const s = slotAt(i);
  const r = rnd() % 10;
  if (r < 6) return fillKmalloc(i, 1 + rnd() % 1024, r == 0 ? GFP_KERNEL | GFP_ZERO : GFP_KERNEL);
  const d = kernelEnter();
  let va: u64 = 0, size: u32 = 0, kind = KIND_VMAP;
  if (r < 8) {
    size = 1 + rnd() % (3 << PAGE_SHIFT);
    va = vmalloc(size);
    kind = KIND_VMALLOC;
  } else {
    const n: u32 = 1 + rnd() % MAX_VMAP_PAGES;
    let got: u32 = 0;
    for (; got < n; got++) {
      const p = alloc_pages(0, GFP_KERNEL);
      if (p == 0) break;
      store<u64>(s + 16 + (<usize>got << 3), p);
      store<u32>(pfnsAt() + (<usize>got << 2), <u32>((untag(p) - PAGE_OFFSET) >> PAGE_SHIFT));
    }
    const m = got == n ? vmapPfns(pfnsAt(), n, currentStack) : 0;
    if (m == 0 || m == -EINVAL) {                 // (an address is a negative i64)
      for (let p: u32 = 0; p < got; p++) __free_pages(load<u64>(s + 16 + (<usize>p << 3)), 0);
      kernelLeave(d);
      return -2;
    }
    va = <u64>m;
    size = n << <u32>PAGE_SHIFT;
  }
  if (va == 0) { kernelLeave(d); return -2; }
  stamp(va, size, <u8>(i + 1));
  kernelLeave(d);
  setSlot(s, va, size, kind);
  return 0;
}

// kmalloc and the stamp on SLUB's lockless path (slub.ts) where they can go,
// else (what is left of them) under the kernel lock
function fillKmalloc(i: u32, size: u32, gfp: u32): i32 {
  const s = slotAt(i), tag = <u8>(i + 1);
  let va: u64 = 0;
  if (fastBegin()) {
    va = kmallocFast(size, gfp);
    const lins = va != 0 ? stampLins(va, size) : 0;
    if (lins != 0) {
      store<u8>(<usize>(lins >> 32), tag);
      store<u8>(<usize>lins, tag);
    }
    fastEnd();
    if (lins != 0) { setSlot(s, va, size, KIND_KMALLOC); return 0; }
  }
  const d = kernelEnter();
  if (va == 0) va = kmalloc(size, gfp);
  if (va != 0) stamp(va, size, tag);
  kernelLeave(d);
  if (va == 0) return -2;
  setSlot(s, va, size, KIND_KMALLOC);
  return 0;
}

function grow(i: u32): i32 {
  const s = slotAt(i);
  const va = load<u64>(s), size = load<u32>(s, 8);
  const d = kernelEnter();
  if (!checkStamp(va, size, <u8>(i + 1))) { kernelLeave(d); return -1; }
  const n = 1 + rnd() % 2048;
  const nv = krealloc(va, n, GFP_KERNEL);
  if (nv != 0) {
    // krealloc kept min(old, new) bytes: restamp the new object's ends
    stamp(nv, n, <u8>(i + 1));
    store<u64>(s, nv);
    store<u32>(s, n, 8);
  }
  kernelLeave(d);
  return 0;
}

// the planted bug: one byte past the object (in its redzone)
function plantOob(): bool {
  const d = kernelEnter();
  const p = kmalloc(24, GFP_KERNEL);
  if (p != 0) {
    checkedLoad<u8>(p + 24);
    kfree(p);
  }
  kernelLeave(d);
  return p != 0;
}

/**
 * `ops` random steps on this CPU's CHURN_SLOTS slots, seeded by `seed` (and
 * every `oobEvery`-th step, when not 0, a planted out-of-bounds read); then
 * everything is freed. Returns the number of bugs planted, -1 when an
 * object's contents changed under it (another CPU wrote into it), -3 when the
 * machine panicked.
 */
export function smp_churn_run(seed: u32, ops: u32, oobEvery: u32): i32 {
  churnRs = (<u64>seed + 1) * 0x9e3779b97f4a7c15 + <u64>thisCpu;
  for (let i: u32 = 0; i < CHURN_SLOTS; i++) store<u32>(slotAt(i), KIND_NONE, 12);
  let rc: i32 = 0, planted: i32 = 0;
  for (let k: u32 = 0; k < ops && !FS.enginePanicked; k++) {
    const i = rnd() % CHURN_SLOTS;
    const s = slotAt(i);
    const kind = load<u32>(s, 12);
    let r: i32 = 0;
    if (kind == KIND_NONE) r = fill(i);
    else if (kind == KIND_KMALLOC && (rnd() & 3) == 0) r = grow(i);
    else r = release(i);
    if (r == -1) rc = -1;
    if (oobEvery != 0 && k % oobEvery == oobEvery - 1 && plantOob()) planted++;
  }
  for (let i: u32 = 0; i < CHURN_SLOTS; i++) if (release(i) == -1) rc = -1;
  return FS.enginePanicked ? -3 : rc < 0 ? rc : planted;
}
