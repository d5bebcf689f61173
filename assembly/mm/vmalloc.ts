// vmalloc space (mm/vmalloc.c): vmap areas over [VMALLOC_START, VMALLOC_END),
// each followed by a guard page; pages from the buddy allocator; page tables
// populated on demand; lazy freeing of the address space with a purge
// threshold (lazy_max_pages) and explicit purges (vm_unmap_aliases); vmap,
// vm_map_ram (with the per-CPU vmap blocks of small mappings) and the vm_struct
// facts KASAN's report prints ("The buggy address belongs to the virtual
// mapping at ... created by: ...").
//
// Free address space is a treap of free ranges keyed by start, augmented with
// the largest free range of each subtree (the kernel's augmented rb-tree):
// first fit at the lowest address, or the highest one for percpu chunks. Busy
// areas are a second treap. Freed areas wait on the purge list: their address
// space (and KASAN shadow) is reused only after a purge merges them back.
import { PAGE_SHIFT, PAGE_SIZE, PTE_PRESENT, USE_VMALLOC, USE_METADATA, USE_PAGES, GFP_ZERO, GFP_NOWARN,
         GFP_KERNEL, CFG_NR_CPUS, CFG_INIT_ON_ALLOC, CFG_INIT_ON_FREE, ARCH_ARM64, R_VM_START, R_VM_SIZE,
         R_VM_CALLER, R_FLAGS, RF_VMALLOC, R_ADDR, R_SIZE, R_ARG0, R_ARG1, R_ARG2, R_FIRST_BAD, R_STACK, R_OBJECT,
         R_FRAME_BASE, STAT_VMALLOC_PAGES, STAT_VMALLOC_AREAS, STAT_VMALLOC_LAZY_PAGES, STAT_VMALLOC_PURGES,
         STAT_VMALLOC_PAGES_PEAK, STAT_VMALLOC_SHADOW_PAGES, STAT_VMALLOC_SHADOW_PEAK, STAT_PCPU_PAGES, REP_VMALLOC_WARN,
         VMW_VFREE_NONEXISTENT, VMW_VFREE_BAD_ADDR, VMW_VUNMAP_NONEXISTENT, VMW_ALLOC_FAILED, VMW_RANGE_FAILED,
         VMF_VM_STRUCT, VMF_PAGES, VMF_MAP, VMF_TOTAL_PAGES, FR_COPY_PROCESS, EINVAL } from "../../abi/abi";
import { NO_PFN, nrFrames, pgUse, pgMapcount, pgSetMapcount } from "./phys";
import { allocPagesPfn, freePagesPfn, ratelimit, RL_NOPAGE } from "./page_alloc";
import { ptePtr, ptMapPage, ptSetProt, PTE_LOOKUP, PTE_PFN_MASK, PAGE_KERNEL, PAGE_KERNEL_RO } from "./pgtable";
import { flushTlbPages, flush_tlb_one } from "./tlb";
import { physToLin, untag, arch, VMALLOC_START, VMALLOC_END, KIMAGE_VADDR, PAGE_OFFSET } from "./layout";
import { imageDataVa, IMAGE_DATA_SIZE } from "./kimage";
import { cfg } from "../config";
import { statAdd, statGet, statInc, statSet } from "../stats";
import { reportBegin } from "../report";
import { currentStack, depot_save } from "../stackdepot";
import { TS } from "../task";
import { kasanPopulateVmalloc, kasanReleaseVmalloc, kasanReleaseFlush, kasanUnpoisonVmalloc,
         kasanPoisonVmalloc } from "../kasan/vmalloc";
import { granuleUp } from "../kasan/shadow";
import { VMALLOC_TABLE, MACHINE_STATE } from "../statics";

// ── vmap area records ────────────────────────────────────────────────────────
// 64-byte records (VmapArea) in 16 KiB chunks of frames, named by a u32 index
// (0 = none).
// @ts-ignore: decorator
@unmanaged class VmapArea {
  start: u64;
  end: u64;         // va_end: the guard page included
  left: u32;        // treap links
  right: u32;
  flags: u32;       // VA_* / VM_*
  caller: u32;      // depot handle of the allocating stack
  max: u64;         // largest free range in the subtree (free tree)
  addr: u64;        // vm->addr as returned (tagged under sw_tags)
  next: u32;        // purge list / vmap block list / free records
  nrPages: u32;     // pages vmalloc allocated for the area
  vbFree: u32;      // vmap block page counts
  vbDirty: u32;
}
if (offsetof<VmapArea>() != 64) ERROR("vmap area records are 64 bytes (rec() shifts by 6)");
// @ts-ignore: decorator
@inline const CHUNK_RECS: u32 = 256;
// @ts-ignore: decorator
@inline const CHUNK_ORDER: u32 = 2;
// @ts-ignore: decorator
@inline const MAX_CHUNKS: u32 = 16384;

// @ts-ignore: decorator
@inline export const VA_BUSY: u32 = 1;
// @ts-ignore: decorator
@inline export const VA_LAZY: u32 = 2;
// @ts-ignore: decorator
@inline export const VA_FREE: u32 = 4;
// @ts-ignore: decorator
@inline export const VM_ALLOC: u32 = 0x10;          // pages belong to the area (vmalloc)
// @ts-ignore: decorator
@inline export const VM_MAP: u32 = 0x20;            // vmap of the caller's pages
// @ts-ignore: decorator
@inline export const VM_NO_GUARD: u32 = 0x40;
// @ts-ignore: decorator
@inline export const VM_HAS_VM: u32 = 0x80;         // has a vm_struct: find_vm_area() sees it
// @ts-ignore: decorator
@inline export const VMAP_RAM: u32 = 0x100;         // vm_map_ram of more than VMAP_MAX_ALLOC pages
// @ts-ignore: decorator
@inline export const VMAP_BLOCK: u32 = 0x200;       // a vmap block (small vm_map_ram mappings)
// @ts-ignore: decorator
@inline export const VM_PERCPU: u32 = 0x400;        // a percpu chunk
// @ts-ignore: decorator
@inline export const VM_EARLY: u32 = 0x800;         // reserved at boot (arm64 kernel image)

// @ts-ignore: decorator
@unmanaged class VmallocState {
  lazyNr: u64;
  recCount: u32;          // indices handed out so far (chunk-wise)
  recFreeHead: u32;
  recChunks: u32;
  freeRoot: u32;
  busyRoot: u32;
  lazyHead: u32;
  lazyTail: u32;
  vbList: u32;            // every live block
}
// the machine's, not this CPU's: linear memory (docs/smp.md, "The audit")
export const VMS = changetype<VmallocState>(MACHINE_STATE + 0x1500);
if (offsetof<VmallocState>() > 0x100) ERROR("VmallocState overflows its 0x100 bytes of MACHINE_STATE");

// @ts-ignore: decorator
@inline function rec(i: u32): usize {
  if (i >= VMS.recCount) i = 0;     // never index past the records made (a corrupted link)
  return <usize>load<u32>(VMALLOC_TABLE + (<usize>(i >> 8) << 2)) + (<usize>(i & 255) << 6);
}
// @ts-ignore: decorator
@inline function area(i: u32): VmapArea { return changetype<VmapArea>(rec(i)); }
// @ts-ignore: decorator
@inline export function START(i: u32): u64 { return area(i).start; }
// @ts-ignore: decorator
@inline export function END(i: u32): u64 { return area(i).end; }
// @ts-ignore: decorator
@inline function LEFT(i: u32): u32 { return area(i).left; }
// @ts-ignore: decorator
@inline function RIGHT(i: u32): u32 { return area(i).right; }
// @ts-ignore: decorator
@inline export function FLAGS(i: u32): u32 { return area(i).flags; }
// @ts-ignore: decorator
@inline function CALLER(i: u32): u32 { return area(i).caller; }
// @ts-ignore: decorator
@inline function MAX(i: u32): u64 { return area(i).max; }
// @ts-ignore: decorator
@inline export function ADDR(i: u32): u64 { return area(i).addr; }
// @ts-ignore: decorator
@inline function NEXT(i: u32): u32 { return area(i).next; }
// @ts-ignore: decorator
@inline function NRPAGES(i: u32): u32 { return area(i).nrPages; }
// @ts-ignore: decorator
@inline function VBFREE(i: u32): u32 { return area(i).vbFree; }
// @ts-ignore: decorator
@inline function VBDIRTY(i: u32): u32 { return area(i).vbDirty; }
// @ts-ignore: decorator
@inline function setSTART(i: u32, v: u64): void { area(i).start = v; }
// @ts-ignore: decorator
@inline function setEND(i: u32, v: u64): void { area(i).end = v; }
// @ts-ignore: decorator
@inline function setLEFT(i: u32, v: u32): void { area(i).left = v; }
// @ts-ignore: decorator
@inline function setRIGHT(i: u32, v: u32): void { area(i).right = v; }
// @ts-ignore: decorator
@inline export function setFLAGS(i: u32, v: u32): void { area(i).flags = v; }
// @ts-ignore: decorator
@inline function setCALLER(i: u32, v: u32): void { area(i).caller = v; }
// @ts-ignore: decorator
@inline function setMAX(i: u32, v: u64): void { area(i).max = v; }
// @ts-ignore: decorator
@inline export function setADDR(i: u32, v: u64): void { area(i).addr = v; }
// @ts-ignore: decorator
@inline function setNEXT(i: u32, v: u32): void { area(i).next = v; }
// @ts-ignore: decorator
@inline function setNRPAGES(i: u32, v: u32): void { area(i).nrPages = v; }
// @ts-ignore: decorator
@inline function setVBFREE(i: u32, v: u32): void { area(i).vbFree = v; }
// @ts-ignore: decorator
@inline function setVBDIRTY(i: u32, v: u32): void { area(i).vbDirty = v; }

// Engine metadata frames (vmap area records, percpu chunk maps) are mapped
// read-only in the direct map while they hold metadata, writable again before
// they go back to the buddy.
export function directMapReadOnly(pfn: u32, n: u32, ro: bool): void {
  for (let k: u32 = 0; k < n; k++) {
    const va = PAGE_OFFSET + (<u64>(pfn + k) << PAGE_SHIFT);
    ptSetProt(va, ro ? PAGE_KERNEL_RO : PAGE_KERNEL);
    flush_tlb_one(va);
  }
}

// A zeroed record, or 0 when no frame can be had for a new chunk.
function recAlloc(): u32 {
  let i = VMS.recFreeHead;
  if (i != 0) {
    VMS.recFreeHead = NEXT(i);
  } else {
    if (VMS.recCount == 0) VMS.recCount = 1;            // index 0 means "none"
    if ((VMS.recCount & (CHUNK_RECS - 1)) == 0 || VMS.recChunks == 0) {
      const chunk = VMS.recCount >> 8;
      if (chunk >= MAX_CHUNKS) return 0;
      const pfn = allocPagesPfn(CHUNK_ORDER, USE_METADATA);
      if (pfn == NO_PFN) return 0;
      store<u32>(VMALLOC_TABLE + (<usize>chunk << 2), <u32>physToLin(<u64>pfn << PAGE_SHIFT));
      VMS.recChunks++;
      // the records are the engine's, not kernel objects: read-only in the
      // direct map, so a stray write faults (a write to read-only kernel memory)
      // instead of corrupting the trees
      directMapReadOnly(pfn, 1 << CHUNK_ORDER, true);
    }
    i = VMS.recCount++;
  }
  memory.fill(rec(i), 0, 64);
  return i;
}
function recFree(i: u32): void {
  setFLAGS(i, 0);
  setNEXT(i, VMS.recFreeHead);
  VMS.recFreeHead = i;
}

// ── treaps ───────────────────────────────────────────────────────────────────
// Heap order on a hash of the record index: a random priority that costs no
// storage and draws nothing from the engine's seeded generator.
// @ts-ignore: decorator
@inline function prio(i: u32): u32 {
  let h = i * 0x9e3779b1;
  h ^= h >> 16; h *= 0x85ebca6b; h ^= h >> 13; h *= 0xc2b2ae35; h ^= h >> 16;
  return h;
}

function upd(t: u32): void {
  let m = END(t) - START(t);
  const l = LEFT(t), r = RIGHT(t);
  if (l != 0 && MAX(l) > m) m = MAX(l);
  if (r != 0 && MAX(r) > m) m = MAX(r);
  setMAX(t, m);
}

let splitL: u32 = 0;
let splitR: u32 = 0;
// splitL: the nodes with start < key; splitR: the rest.
function split(t: u32, key: u64): void {
  if (t == 0) { splitL = 0; splitR = 0; return; }
  if (START(t) < key) {
    split(RIGHT(t), key);
    setRIGHT(t, splitL); upd(t); splitL = t;
  } else {
    split(LEFT(t), key);
    setLEFT(t, splitR); upd(t); splitR = t;
  }
}
function merge(a: u32, b: u32): u32 {
  if (a == 0) return b;
  if (b == 0) return a;
  if (prio(a) > prio(b)) { setRIGHT(a, merge(RIGHT(a), b)); upd(a); return a; }
  setLEFT(b, merge(a, LEFT(b))); upd(b); return b;
}
function insert(t: u32, n: u32): u32 {
  if (t == 0) { setLEFT(n, 0); setRIGHT(n, 0); upd(n); return n; }
  if (prio(n) > prio(t)) {
    split(t, START(n));
    setLEFT(n, splitL); setRIGHT(n, splitR); upd(n);
    return n;
  }
  if (START(n) < START(t)) setLEFT(t, insert(LEFT(t), n));
  else setRIGHT(t, insert(RIGHT(t), n));
  upd(t);
  return t;
}
function erase(t: u32, key: u64): u32 {
  if (t == 0) return 0;
  const s = START(t);
  if (key == s) return merge(LEFT(t), RIGHT(t));
  if (key < s) setLEFT(t, erase(LEFT(t), key));
  else setRIGHT(t, erase(RIGHT(t), key));
  upd(t);
  return t;
}
// Recompute the augmented sizes on the path to the node keyed `key` (after its
// range changed in place without leaving its place in the order).
function fixPath(t: u32, key: u64): void {
  if (t == 0) return;
  const s = START(t);
  if (key < s) fixPath(LEFT(t), key);
  else if (key > s) fixPath(RIGHT(t), key);
  upd(t);
}
// greatest start <= key
function findLE(t: u32, key: u64): u32 {
  let best: u32 = 0;
  while (t != 0) {
    if (START(t) <= key) { best = t; t = RIGHT(t); } else t = LEFT(t);
  }
  return best;
}
// greatest start < key
function findLT(t: u32, key: u64): u32 {
  let best: u32 = 0;
  while (t != 0) {
    if (START(t) < key) { best = t; t = RIGHT(t); } else t = LEFT(t);
  }
  return best;
}
// least start >= key
function findGE(t: u32, key: u64): u32 {
  let best: u32 = 0;
  while (t != 0) {
    if (START(t) >= key) { best = t; t = LEFT(t); } else t = RIGHT(t);
  }
  return best;
}

// ── finding free space (find_vmap_lowest_match) ─────────────────────────────
let fitAddr: u64 = 0;
let fitNode: u32 = 0;

// @ts-ignore: decorator
@inline function alignUp(x: u64, a: u64): u64 { return (x + a - 1) & ~(a - 1); }

function fitsLow(t: u32, size: u64, align: u64, vstart: u64, vend: u64): bool {
  const s = START(t);
  const lo = s > vstart ? s : vstart;
  const a = alignUp(lo, align);
  if (a < lo) return false;                               // wrapped
  const e = END(t);
  const hi = e < vend ? e : vend;
  if (a > hi || hi - a < size) return false;
  fitAddr = a; fitNode = t;
  return true;
}
// `length` prunes subtrees: size + align - 1 for alignments above a page, so
// that any free range that long fits (adjust_search_size); the nodes on the
// path are tried whatever their size (find_vmap_lowest_match).
function lowestFit(t: u32, size: u64, length: u64, align: u64, vstart: u64, vend: u64): bool {
  if (t == 0) return false;
  const s = START(t);
  const l = LEFT(t);
  if (l != 0 && MAX(l) >= length && s > vstart && lowestFit(l, size, length, align, vstart, vend)) return true;
  if (s >= vend) return false;
  if (fitsLow(t, size, align, vstart, vend)) return true;
  const r = RIGHT(t);
  return r != 0 && MAX(r) >= length && lowestFit(r, size, length, align, vstart, vend);
}
function fitsHigh(t: u32, size: u64, align: u64, vstart: u64, vend: u64): bool {
  const e = END(t);
  const hi = e < vend ? e : vend;
  if (hi < size) return false;
  const a = (hi - size) & ~(align - 1);
  const s = START(t);
  const lo = s > vstart ? s : vstart;
  if (a < lo) return false;
  fitAddr = a; fitNode = t;
  return true;
}
function highestFit(t: u32, size: u64, length: u64, align: u64, vstart: u64, vend: u64): bool {
  if (t == 0) return false;
  const s = START(t);
  if (s < vend) {
    const r = RIGHT(t);
    if (r != 0 && MAX(r) >= length && highestFit(r, size, length, align, vstart, vend)) return true;
    if (fitsHigh(t, size, align, vstart, vend)) return true;
  }
  if (s <= vstart) return false;                          // the left subtree ends below s
  const l = LEFT(t);
  return l != 0 && MAX(l) >= length && highestFit(l, size, length, align, vstart, vend);
}

// Take [addr, addr + size) out of free node t (adjust_va_to_fit_type); a split
// uses the spare record. Returns whether the spare was used.
function carveFree(t: u32, addr: u64, size: u64, spare: u32): bool {
  const s = START(t), e = END(t), ae = addr + size;
  if (s == addr && e == ae) {
    VMS.freeRoot = erase(VMS.freeRoot, s);
    recFree(t);
  } else if (s == addr) {
    setSTART(t, ae);
    fixPath(VMS.freeRoot, ae);
  } else if (e == ae) {
    setEND(t, addr);
    fixPath(VMS.freeRoot, s);
  } else {
    setEND(t, addr);
    fixPath(VMS.freeRoot, s);
    setSTART(spare, ae); setEND(spare, e); setFLAGS(spare, VA_FREE);
    VMS.freeRoot = insert(VMS.freeRoot, spare);
    return true;
  }
  return false;
}

// Put a detached area back into the free tree, merging with free neighbours
// (merge_or_add_vmap_area). The merged free range is left in mergedStart/End.
let mergedStart: u64 = 0;
let mergedEnd: u64 = 0;
function mergeFree(va: u32): void {
  const s = START(va), e = END(va);
  const pred = findLT(VMS.freeRoot, s);
  const succ = findGE(VMS.freeRoot, e);
  const joinPred = pred != 0 && END(pred) == s;
  const joinSucc = succ != 0 && START(succ) == e;
  if (joinPred && joinSucc) {
    const newEnd = END(succ);
    VMS.freeRoot = erase(VMS.freeRoot, START(succ));
    recFree(succ);
    setEND(pred, newEnd);
    fixPath(VMS.freeRoot, START(pred));
    recFree(va);
    mergedStart = START(pred); mergedEnd = newEnd;
  } else if (joinPred) {
    setEND(pred, e);
    fixPath(VMS.freeRoot, START(pred));
    recFree(va);
    mergedStart = START(pred); mergedEnd = e;
  } else if (joinSucc) {
    setSTART(succ, s);
    fixPath(VMS.freeRoot, s);
    recFree(va);
    mergedStart = s; mergedEnd = END(succ);
  } else {
    setFLAGS(va, VA_FREE);
    setNEXT(va, 0);
    VMS.freeRoot = insert(VMS.freeRoot, va);
    mergedStart = s; mergedEnd = e;
  }
}

// ── lazy freeing ─────────────────────────────────────────────────────────────
export let lazyMax: u64 = 0;

// lazy_max_pages(): fls(num_online_cpus()) * 32 MiB of address space
export function lazyMaxPages(): u64 { return lazyMax; }

// __purge_vmap_area_lazy: every lazily freed area goes back to the free tree,
// and KASAN releases the shadow that is now wholly free, then flushes the TLB
// for it once. (Data pages were unmapped and flushed when the areas were freed.)
export function purgeVmapAreaLazy(): void {
  let va = VMS.lazyHead;
  if (va == 0) return;
  VMS.lazyHead = 0; VMS.lazyTail = 0;
  let nr: u64 = 0;
  while (va != 0) {
    const next = NEXT(va);
    const s = START(va), e = END(va);
    nr += (e - s) >> PAGE_SHIFT;
    mergeFree(va);
    kasanReleaseVmalloc(s, e, mergedStart, mergedEnd);
    va = next;
  }
  kasanReleaseFlush();
  VMS.lazyNr -= nr;
  statSet(STAT_VMALLOC_LAZY_PAGES, VMS.lazyNr);
  statInc(STAT_VMALLOC_PURGES);
}

// free_vmap_area_noflush: the area leaves the busy tree; its address space
// waits for a purge, which runs once more than lazy_max_pages are waiting.
function freeVmapAreaLazy(va: u32): void {
  VMS.busyRoot = erase(VMS.busyRoot, START(va));
  statAdd(STAT_VMALLOC_AREAS, -1);
  setFLAGS(va, VA_LAZY);
  setNEXT(va, 0);
  if (VMS.lazyTail != 0) setNEXT(VMS.lazyTail, va); else VMS.lazyHead = va;
  VMS.lazyTail = va;
  VMS.lazyNr += (END(va) - START(va)) >> PAGE_SHIFT;
  statSet(STAT_VMALLOC_LAZY_PAGES, VMS.lazyNr);
  if (VMS.lazyNr > lazyMax) purgeVmapAreaLazy();
}

// free_vmap_area: straight back to the free tree (an allocation that failed
// before anything was mapped).
function freeVmapAreaNow(va: u32): void {
  VMS.busyRoot = erase(VMS.busyRoot, START(va));
  statAdd(STAT_VMALLOC_AREAS, -1);
  mergeFree(va);
}

// ── alloc_vmap_area ──────────────────────────────────────────────────────────
// A busy area of `size` bytes (guard page included by the caller) aligned to
// `align` inside [vstart, vend), with its KASAN shadow populated; 0 on failure.
// `keep`: how much of the area the caller unpoisons right away (KASAN hint).
export function allocVmapArea(size: u64, align: u64, vstart: u64, vend: u64, gfp: u32, flags: u32,
                              caller: u32, topDown: bool, keep: u64): u32 {
  if (size == 0 || (size & (PAGE_SIZE - 1)) != 0 || align == 0 || (align & (align - 1)) != 0) return 0;
  if (align < <u64>PAGE_SIZE) align = <u64>PAGE_SIZE;
  const va = recAlloc();
  if (va == 0) return 0;
  const spare = recAlloc();
  if (spare == 0) { recFree(va); return 0; }
  let purged = false;
  // adjust_search_size: unless the range is exactly the size
  let length = size;
  if (align > <u64>PAGE_SIZE && vend - vstart != size) {
    length = size + align - 1;
    if (length < size) length = u64.MAX_VALUE;            // overflow: nothing is that long
  }
  while (true) {
    const found = topDown ? highestFit(VMS.freeRoot, size, length, align, vstart, vend)
                          : lowestFit(VMS.freeRoot, size, length, align, vstart, vend);
    if (found) break;
    if (!purged) { purgeVmapAreaLazy(); purged = true; continue; }
    recFree(spare); recFree(va);
    if ((gfp & GFP_NOWARN) == 0 && printkRatelimit()) {
      const r = warnRecord(VMW_RANGE_FAILED, 0, size);
      store<u64>(r + R_OBJECT, vstart);
      store<u64>(r + R_FRAME_BASE, vend);
    }
    return 0;
  }
  const addr = fitAddr;
  if (!carveFree(fitNode, addr, size, spare)) recFree(spare);
  setSTART(va, addr); setEND(va, addr + size);
  setFLAGS(va, flags | VA_BUSY);
  setCALLER(va, caller);
  setADDR(va, addr);
  VMS.busyRoot = insert(VMS.busyRoot, va);
  statInc(STAT_VMALLOC_AREAS);
  if ((flags & VM_EARLY) == 0 && kasanPopulateVmalloc(addr, size, keep) != 0) {
    freeVmapAreaNow(va);
    return 0;
  }
  return va;
}

// The busy area containing va (untagged), 0 if none (find_vmap_area).
export function findVmapArea(va: u64): u32 {
  const t = findLE(VMS.busyRoot, va);
  return t != 0 && va < END(t) ? t : 0;
}

// ── page table helpers ───────────────────────────────────────────────────────
// @ts-ignore: decorator
@inline function guardOf(va: u32): u64 { return (FLAGS(va) & VM_NO_GUARD) != 0 ? 0 : <u64>PAGE_SIZE; }
// get_vm_area_size(): the area without its guard page
// @ts-ignore: decorator
@inline export function areaSize(va: u32): u64 { return END(va) - START(va) - guardOf(va); }

// Clear the PTEs of [start, end); VM_ALLOC pages go back to the buddy, vmap'd
// pages lose the map count vmap gave them. The TLB is flushed right away:
// the kernel defers it to the purge, but a stale entry would let a late access
// write into a frame the buddy has handed to someone else.
// Clear the PTE of v if one is present; its frame, or NO_PFN when nothing was
// mapped or the PTE names no frame of RAM (someone scribbled on it: free nothing).
export function takePte(v: u64): u32 {
  const p = ptePtr(v, PTE_LOOKUP);
  if (p == 0) return NO_PFN;
  const e = load<u64>(p);
  if ((e & PTE_PRESENT) == 0) return NO_PFN;
  store<u64>(p, 0);
  const pfn = <u32>((e & PTE_PFN_MASK) >> PAGE_SHIFT);
  return pfn < nrFrames ? pfn : NO_PFN;
}

function unmapRange(start: u64, end: u64, freePages: bool): u32 {
  let freed: u32 = 0;
  const zero = cfg(CFG_INIT_ON_FREE) != 0;
  for (let v = start; v < end; v += PAGE_SIZE) {
    const pfn = takePte(v);
    if (pfn == NO_PFN) continue;
    if (freePages) {
      if (pgUse(pfn) != USE_VMALLOC) continue;
      if (zero) memory.fill(physToLin(<u64>pfn << PAGE_SHIFT), 0, PAGE_SIZE);
      freePagesPfn(pfn, 0);             // free_pages_prepare poisons it
      freed++;
    } else {
      const m = pgMapcount(pfn);
      if (m > 0) pgSetMapcount(pfn, m - 1);
    }
  }
  flushTlbPages(start, end);
  return freed;
}

// remove_vm_area + the page freeing of vfree: poison, unmap, lazily free.
function removeVmArea(va: u32): void {
  const size = areaSize(va);
  const start = START(va);
  kasanPoisonVmalloc(ADDR(va), size);
  const freed = unmapRange(start, start + size, (FLAGS(va) & VM_ALLOC) != 0);
  if (freed != 0) statAdd(STAT_VMALLOC_PAGES, -(<i64>freed));
  freeVmapAreaLazy(va);
}

// ── __vmalloc_node_range ─────────────────────────────────────────────────────
export function vmallocNodeRange(size: u64, align: u64, vstart: u64, vend: u64, gfp: u32, caller: u32,
                                 vmFlags: u32): u64 {
  const realSize = size;
  if (size == 0) return 0;
  if ((size >> PAGE_SHIFT) > <u64>nrFrames) { warnAlloc(VMF_TOTAL_PAGES, realSize, gfp); return 0; }
  size = alignUp(size, PAGE_SIZE);
  const guard: u64 = (vmFlags & VM_NO_GUARD) != 0 ? 0 : PAGE_SIZE;
  const va = allocVmapArea(size + guard, align, vstart, vend, gfp, vmFlags | VM_ALLOC | VM_HAS_VM, caller, false,
                           granuleUp(realSize));
  if (va == 0) { warnAlloc(VMF_VM_STRUCT, realSize, gfp); return 0; }
  const addr = START(va);
  const nr = <u32>(size >> PAGE_SHIFT);
  const zero = (gfp & GFP_ZERO) != 0 || cfg(CFG_INIT_ON_ALLOC) != 0;
  for (let i: u32 = 0; i < nr; i++) {
    const pfn = allocPagesPfn(0, USE_VMALLOC);
    if (pfn == NO_PFN) {
      warnAlloc(VMF_PAGES, <u64>i << PAGE_SHIFT, gfp);
      setNRPAGES(va, i);
      statAdd(STAT_VMALLOC_PAGES, i);
      removeVmArea(va);
      return 0;
    }
    const pa = <u64>pfn << PAGE_SHIFT;            // post_alloc_hook unpoisoned (and tagged) it
    if (zero) memory.fill(physToLin(pa), 0, PAGE_SIZE);
    if (!ptMapPage(addr + (<u64>i << PAGE_SHIFT), pa, PAGE_KERNEL)) {
      freePagesPfn(pfn, 0);
      warnAlloc(VMF_MAP, size, gfp);
      setNRPAGES(va, i);
      statAdd(STAT_VMALLOC_PAGES, i);
      removeVmArea(va);
      return 0;
    }
  }
  setNRPAGES(va, nr);
  statAdd(STAT_VMALLOC_PAGES, nr);
  notePagesPeak();
  const tagged = kasanUnpoisonVmalloc(addr, realSize, false);
  setADDR(va, tagged);
  return tagged;
}

// vfree(): 0 done (or NULL), 1 a WARN was printed instead.
export function vfreeAddr(p: u64): i32 {
  if (p == 0) return 0;
  const a = untag(p);
  if ((a & (PAGE_SIZE - 1)) != 0) { warnRecord(VMW_VFREE_BAD_ADDR, p, 0); return 1; }
  const va = findVmapArea(a);
  if (va == 0 || START(va) != a || (FLAGS(va) & VM_HAS_VM) == 0 || (FLAGS(va) & (VM_PERCPU | VM_EARLY)) != 0) {
    warnRecord(VMW_VFREE_NONEXISTENT, p, 0);
    return 1;
  }
  removeVmArea(va);
  return 0;
}

// ── vmap / vunmap ────────────────────────────────────────────────────────────
// A page the caller may map: one it got from alloc_pages (engine metadata,
// page tables and shadow are never mappable).
function mappablePfn(pfn: u32): bool { return pfn < nrFrames && pgUse(pfn) == USE_PAGES; }

// vmap(pages, count): map the pfns at pfnsLin; the pages gain a map count so
// they cannot be freed under the mapping. 0 on failure, -EINVAL for a bad page.
export function vmapPfns(pfnsLin: usize, count: u32, caller: u32): i64 {
  if (count == 0 || <u64>count > <u64>nrFrames) return 0;
  for (let i: u32 = 0; i < count; i++) if (!mappablePfn(load<u32>(pfnsLin + (<usize>i << 2)))) return -EINVAL;
  const size = <u64>count << PAGE_SHIFT;
  const va = allocVmapArea(size + PAGE_SIZE, PAGE_SIZE, VMALLOC_START, VMALLOC_END, GFP_KERNEL,
                           VM_MAP | VM_HAS_VM, caller, false, size);
  if (va == 0) return 0;
  const addr = START(va);
  setADDR(va, kasanUnpoisonVmalloc(addr, size, false));
  for (let i: u32 = 0; i < count; i++) {
    const pfn = load<u32>(pfnsLin + (<usize>i << 2));
    if (!ptMapPage(addr + (<u64>i << PAGE_SHIFT), <u64>pfn << PAGE_SHIFT, PAGE_KERNEL)) {
      removeVmArea(va);
      return 0;
    }
    pgSetMapcount(pfn, pgMapcount(pfn) + 1);
  }
  return <i64>ADDR(va);
}

// vunmap(): 0 done, 1 WARN (no such vmap'd area).
export function vunmapAddr(p: u64): i32 {
  if (p == 0) return 0;
  const a = untag(p);
  const va = findVmapArea(a);
  if (va == 0 || START(va) != a || (FLAGS(va) & VM_HAS_VM) == 0 || (FLAGS(va) & (VM_PERCPU | VM_EARLY)) != 0) {
    warnRecord(VMW_VUNMAP_NONEXISTENT, p, 0);
    return 1;
  }
  removeVmArea(va);
  return 0;
}

// ── vm_map_ram / vm_unmap_ram ────────────────────────────────────────────────
// Mappings of up to VMAP_MAX_ALLOC pages come from per-CPU vmap blocks of
// VMAP_BBMAP_BITS pages (no guard pages between them), handed out bump-style
// in power-of-two sizes; a block whose pages were all unmapped is freed, and
// vm_unmap_aliases() purges blocks holding nothing but dirty space.
// @ts-ignore: decorator
@inline const VMAP_MAX_ALLOC: u32 = 64;
// @ts-ignore: decorator
@inline const VMAP_BBMAP_BITS: u32 = 1024;
// @ts-ignore: decorator
@inline const VMAP_BLOCK_SIZE: u64 = <u64>VMAP_BBMAP_BITS << PAGE_SHIFT;
// @ts-ignore: decorator
@inline const MAX_CPUS: u32 = 64;
const VB_CUR: usize = memory.data(MAX_CPUS * 4, 4);   // per CPU: the block being filled

// @ts-ignore: decorator
@inline function getOrder(pages: u32): u32 { return pages <= 1 ? 0 : 32 - clz<u32>(pages - 1); }

function vbAlloc(pages: u32, cpu: u32): u64 {
  const n: u32 = 1 << getOrder(pages);
  const slot = VB_CUR + (<usize>(cpu & (MAX_CPUS - 1)) << 2);
  let vb = load<u32>(slot);
  if (vb == 0 || VBFREE(vb) < n) {
    vb = allocVmapArea(VMAP_BLOCK_SIZE, VMAP_BLOCK_SIZE, VMALLOC_START, VMALLOC_END, GFP_KERNEL,
                       VMAP_BLOCK | VM_NO_GUARD, 0, false, 0);
    if (vb == 0) return 0;
    setVBFREE(vb, VMAP_BBMAP_BITS);
    setVBDIRTY(vb, 0);
    setNEXT(vb, VMS.vbList);
    VMS.vbList = vb;
    store<u32>(slot, vb);
  }
  const off = VMAP_BBMAP_BITS - VBFREE(vb);
  setVBFREE(vb, VBFREE(vb) - n);
  return START(vb) + (<u64>off << PAGE_SHIFT);
}

function vbUnlink(vb: u32): void {
  if (VMS.vbList == vb) { VMS.vbList = NEXT(vb); }
  else {
    let p = VMS.vbList;
    while (p != 0 && NEXT(p) != vb) p = NEXT(p);
    if (p != 0) setNEXT(p, NEXT(vb));
  }
  for (let c: u32 = 0; c < MAX_CPUS; c++) {
    const slot = VB_CUR + (<usize>c << 2);
    if (load<u32>(slot) == vb) store<u32>(slot, 0);
  }
}

// free_vmap_block: the block's address space is freed lazily like any area.
function vbRelease(vb: u32): void {
  vbUnlink(vb);
  freeVmapAreaLazy(vb);
}

export function vmMapRamPfns(pfnsLin: usize, count: u32, cpu: u32): i64 {
  if (count == 0 || <u64>count > <u64>nrFrames) return 0;
  for (let i: u32 = 0; i < count; i++) if (!mappablePfn(load<u32>(pfnsLin + (<usize>i << 2)))) return -EINVAL;
  const size = <u64>count << PAGE_SHIFT;
  let mem: u64;
  if (count <= VMAP_MAX_ALLOC) {
    mem = vbAlloc(count, cpu);
  } else {
    const va = allocVmapArea(size, PAGE_SIZE, VMALLOC_START, VMALLOC_END, GFP_KERNEL, VMAP_RAM | VM_NO_GUARD, 0, false, size);
    mem = va == 0 ? 0 : START(va);
  }
  if (mem == 0) return 0;
  for (let i: u32 = 0; i < count; i++) {
    const pfn = load<u32>(pfnsLin + (<usize>i << 2));
    if (!ptMapPage(mem + (<u64>i << PAGE_SHIFT), <u64>pfn << PAGE_SHIFT, PAGE_KERNEL)) {
      vmUnmapRam(mem, count);                   // unmaps (and un-counts) what was mapped
      return 0;
    }
    pgSetMapcount(pfn, pgMapcount(pfn) + 1);
  }
  return <i64>kasanUnpoisonVmalloc(mem, size, false);
}

// Every page of [start, start + size) mapped (a vm_map_ram range not yet unmapped).
function allMapped(start: u64, size: u64): bool {
  for (let v = start; v < start + size; v += PAGE_SIZE) {
    const p = ptePtr(v, PTE_LOOKUP);
    if (p == 0 || (load<u64>(p) & PTE_PRESENT) == 0) return false;
  }
  return true;
}

// vm_unmap_ram(mem, count): 0 done, -1 not a live vm_map_ram mapping of that
// size (the kernel would corrupt its block accounting or BUG).
export function vmUnmapRam(p: u64, count: u32): i32 {
  const mem = untag(p);
  if (count == 0 || (mem & (PAGE_SIZE - 1)) != 0) return -1;
  const size = <u64>count << PAGE_SHIFT;
  const va = findVmapArea(mem);
  if (va == 0) return -1;
  const f = FLAGS(va);
  if (count <= VMAP_MAX_ALLOC) {
    if ((f & VMAP_BLOCK) == 0) return -1;
    const n: u32 = 1 << getOrder(count);
    const off = <u32>((mem - START(va)) >> PAGE_SHIFT);
    if (off + n > VMAP_BBMAP_BITS - VBFREE(va) || !allMapped(mem, size)) return -1;
    kasanPoisonVmalloc(p, size);
    unmapRange(mem, mem + size, false);
    setVBDIRTY(va, VBDIRTY(va) + n);
    if (VBDIRTY(va) >= VMAP_BBMAP_BITS) vbRelease(va);
    return 0;
  }
  if ((f & VMAP_RAM) == 0 || START(va) != mem || END(va) - START(va) != size || !allMapped(mem, size)) return -1;
  kasanPoisonVmalloc(p, size);
  unmapRange(mem, mem + size, false);
  freeVmapAreaLazy(va);
  return 0;
}

// vm_unmap_aliases(): purge the fragmented vmap blocks (nothing live in them)
// and every lazily freed area, with the TLB maintenance that goes with it.
export function vmUnmapAliases(): void {
  let vb = VMS.vbList;
  while (vb != 0) {
    const next = NEXT(vb);
    if (VBFREE(vb) + VBDIRTY(vb) == VMAP_BBMAP_BITS && VBDIRTY(vb) != 0) vbRelease(vb);
    vb = next;
  }
  purgeVmapAreaLazy();
}

// ── lookups ──────────────────────────────────────────────────────────────────
// @ts-ignore: decorator
@inline export function isVmallocAddr(a: u64): bool { return a - VMALLOC_START < VMALLOC_END - VMALLOC_START; }

// vmalloc_to_pfn(): the frame mapped at va, NO_PFN if none.
export function vmallocToPfn(p: u64): u32 {
  const a = untag(p);
  const e = ptePtr(a, PTE_LOOKUP);
  if (e == 0) return NO_PFN;
  const pte = load<u64>(e);
  if ((pte & PTE_PRESENT) == 0) return NO_PFN;
  const pfn = <u32>((pte & PTE_PFN_MASK) >> PAGE_SHIFT);
  return pfn < nrFrames ? pfn : NO_PFN;
}

// The page behind a vmalloc address, after writing the area into a report
// record; NO_PFN when va is not in a live vmalloc area (find_vm_area() is NULL).
export function vmallocDescribe(rec: usize, va: u64): u32 {
  const a = untag(va);
  if (!isVmallocAddr(a)) return NO_PFN;
  const t = findVmapArea(a);
  if (t == 0 || (FLAGS(t) & VM_HAS_VM) == 0) return NO_PFN;
  store<u64>(rec + R_VM_START, ADDR(t));
  store<u64>(rec + R_VM_SIZE, END(t) - START(t));
  store<u32>(rec + R_VM_CALLER, CALLER(t));
  store<u8>(rec + R_FLAGS, load<u8>(rec + R_FLAGS) | <u8>RF_VMALLOC);
  return vmallocToPfn(a);
}

// ── VMAP_STACK ───────────────────────────────────────────────────────────────
// alloc_thread_stack_node(): THREAD_SIZE from vmalloc, aligned to THREAD_ALIGN
// (THREAD_SIZE; twice that on arm64), created by copy_process, untagged.
const FRAME1: usize = memory.data(4, 4);
function oneFrameStack(frame: u32): u32 {
  store<u32>(FRAME1, frame);
  return depot_save(FRAME1, 1);
}
export function vmallocStack(size: u32): u64 {
  const align: u64 = arch == ARCH_ARM64 ? <u64>size << 1 : <u64>size;
  const p = vmallocNodeRange(size, align, VMALLOC_START, VMALLOC_END, GFP_KERNEL, oneFrameStack(FR_COPY_PROCESS), 0);
  return p == 0 ? 0 : untag(p);
}
export function vfreeStack(va: u64): void { vfreeAddr(va); }

// ── messages ─────────────────────────────────────────────────────────────────
// printk_ratelimit() / the nopage ratelimit: 10 messages per 5 s of engine time.
let rlStart: u64 = 0;
let rlCount: u32 = 0;
function printkRatelimit(): bool {
  if (rlCount == 0 || TS.clockNs - rlStart >= 5000000000) { rlStart = TS.clockNs; rlCount = 0; }
  if (rlCount >= 10) return false;
  rlCount++;
  return true;
}
function warnRecord(id: u32, addr: u64, size: u64): usize {
  const r = reportBegin(REP_VMALLOC_WARN);
  store<u64>(r + R_ARG0, id);
  store<u64>(r + R_ADDR, addr);
  store<u64>(r + R_SIZE, size);
  store<u32>(r + R_STACK, currentStack);
  return r;
}
// warn_alloc(): "vmalloc error: size N, <why>", unless __GFP_NOWARN or rate-limited.
// (the same warn_alloc() as the page allocator's: one ratelimit state for both)
function warnAlloc(why: u32, size: u64, gfp: u32): void {
  if ((gfp & GFP_NOWARN) != 0) return;
  const missed = ratelimit(RL_NOPAGE);
  if (missed < 0) return;
  const r = warnRecord(VMW_ALLOC_FAILED, 0, size);
  store<u64>(r + R_FIRST_BAD, <u64>missed);
  store<u64>(r + R_ARG1, why);
  store<u64>(r + R_ARG2, gfp);
}

// ── boot ─────────────────────────────────────────────────────────────────────
// vmalloc_init(): all of vmalloc space free, except (arm64) the kernel image
// at its start, which vm_area_add_early() keeps busy forever.
export function vmallocInit(): bool {
  const nrCpus = <u32>cfg(CFG_NR_CPUS);
  lazyMax = <u64>(32 - clz<u32>(nrCpus == 0 ? 1 : nrCpus)) * ((32 << 20) >> PAGE_SHIFT);
  const all = recAlloc();
  if (all == 0) return false;
  setSTART(all, VMALLOC_START); setEND(all, VMALLOC_END); setFLAGS(all, VA_FREE);
  VMS.freeRoot = insert(0, all);
  if (arch == ARCH_ARM64) {
    const end = alignUp(imageDataVa + IMAGE_DATA_SIZE, 2 << 20);
    const img = allocVmapArea(end - KIMAGE_VADDR, PAGE_SIZE, KIMAGE_VADDR, end, GFP_KERNEL, VM_EARLY | VM_NO_GUARD, 0, false, 0);
    if (img == 0) return false;
    statAdd(STAT_VMALLOC_AREAS, -1);       // not a vmalloc area anyone allocated
  }
  return true;
}

// ── exports for the host ────────────────────────────────────────────────────
export function vmalloc(size: u64): u64 {
  return vmallocNodeRange(size, 1, VMALLOC_START, VMALLOC_END, GFP_KERNEL, currentStack, 0);
}
export function vzalloc(size: u64): u64 {
  return vmallocNodeRange(size, 1, VMALLOC_START, VMALLOC_END, GFP_KERNEL | GFP_ZERO, currentStack, 0);
}
export function __vmalloc(size: u64, gfp: u32): u64 {
  return vmallocNodeRange(size, 1, VMALLOC_START, VMALLOC_END, gfp, currentStack, 0);
}
// __vmalloc_node(size, align, gfp): align is a power of two (the host checks)
export function __vmalloc_node(size: u64, align: u64, gfp: u32): u64 {
  return vmallocNodeRange(size, align, VMALLOC_START, VMALLOC_END, gfp, currentStack, 0);
}
export function vfree(p: u64): i32 { return vfreeAddr(p); }
export function vmap(pfnsLin: usize, count: u32): i64 { return vmapPfns(pfnsLin, count, currentStack); }
export function vunmap(p: u64): i32 { return vunmapAddr(p); }
export function vm_map_ram(pfnsLin: usize, count: u32, cpu: u32): i64 { return vmMapRamPfns(pfnsLin, count, cpu); }
export function vm_unmap_ram(p: u64, count: u32): i32 { return vmUnmapRam(p, count); }
export function vm_unmap_aliases(): void { vmUnmapAliases(); }
// vmalloc_to_pfn(): the pfn, or -1
export function vmalloc_to_pfn(p: u64): i64 { const pfn = vmallocToPfn(p); return pfn == NO_PFN ? -1 : <i64>pfn; }
export function is_vmalloc_addr(p: u64): i32 { return isVmallocAddr(untag(p)) ? 1 : 0; }
export function vmalloc_lazy_max_pages(): u32 { return <u32>lazyMax; }
// find_vm_area() for the host: writes addr u64, size u64, caller u32, flags u32,
// nr_pages u32 at outLin; 1 found, 0 not.
export function find_vm_area(p: u64, outLin: usize): i32 {
  const a = untag(p);
  if (!isVmallocAddr(a)) return 0;
  const t = findVmapArea(a);
  if (t == 0 || (FLAGS(t) & VM_HAS_VM) == 0) return 0;
  store<u64>(outLin, ADDR(t));
  store<u64>(outLin, END(t) - START(t), 8);
  store<u32>(outLin, CALLER(t), 16);
  store<u32>(outLin, FLAGS(t), 20);
  store<u32>(outLin, NRPAGES(t), 24);
  return 1;
}
// The peak of pages mapped in vmalloc space by vmalloc and percpu.
export function notePagesPeak(): void {
  const pages = statGet(STAT_VMALLOC_PAGES) + statGet(STAT_PCPU_PAGES);
  if (pages > statGet(STAT_VMALLOC_PAGES_PEAK)) statSet(STAT_VMALLOC_PAGES_PEAK, pages);
}
// Peaks restart from the current values (the benchmark measures per test).
export function vmalloc_reset_peaks(): void {
  statSet(STAT_VMALLOC_PAGES_PEAK, statGet(STAT_VMALLOC_PAGES) + statGet(STAT_PCPU_PAGES));
  statSet(STAT_VMALLOC_SHADOW_PEAK, statGet(STAT_VMALLOC_SHADOW_PAGES));
}

// ── for mm/percpu.ts ─────────────────────────────────────────────────────────
// pcpu_get_vm_areas(): a percpu chunk's area, from the top of vmalloc space,
// without a guard page, accessible as a whole (KASAN), created by the function
// itself as the kernel records it.
export function pcpuGetVmArea(size: u64, callerFrame: u32): u32 {
  const va = allocVmapArea(size, PAGE_SIZE, VMALLOC_START, VMALLOC_END, GFP_KERNEL,
                           VM_PERCPU | VM_NO_GUARD | VM_HAS_VM, oneFrameStack(callerFrame), true, size);
  if (va == 0) return 0;
  setADDR(va, kasanUnpoisonVmalloc(START(va), size, false));
  return va;
}
// pcpu_free_vm_areas(): the chunk's pages are already unmapped and freed.
export function pcpuFreeVmArea(va: u32): void { removeVmArea(va); }
// a percpu chunk's metadata pointer, kept in the vmap-block fields
export function areaAux(va: u32): u32 { return VBFREE(va); }
export function setAreaAux(va: u32, v: u32): void { setVBFREE(va, v); }
