// The percpu allocator (mm/percpu.c, percpu-vm.c), as far as vmalloc sees it:
// chunks of one unit per CPU in a vmap area taken from the top of vmalloc
// space (pcpu_get_vm_areas), an allocation bitmap of 4-byte units with a
// boundary map, pages populated in every unit the first time an allocation
// touches them, and fully free chunks given back (one empty chunk is kept).
// Every chunk comes from vmalloc here; the kernel embeds its first chunk in
// the linear map.
import { PAGE_SHIFT, PAGE_SIZE, USE_VMALLOC, USE_METADATA, CFG_NR_CPUS, FR_PCPU_GET_VM_AREAS, PHYS_BASE,
         PTE_PRESENT, STAT_PCPU_PAGES } from "../../abi/abi";
import { NO_PFN, pgUse, nrFrames } from "./phys";
import { allocPagesPfn, freePagesPfn } from "./page_alloc";
import { ptePtr, ptMapPage, PTE_LOOKUP, PTE_PFN_MASK, PAGE_KERNEL } from "./pgtable";
import { flushTlbPages } from "./tlb";
import { physToLin, untag } from "./layout";
import { cfg } from "../config";
import { takePte, pcpuGetVmArea, pcpuFreeVmArea, findVmapArea, FLAGS, START, ADDR, VM_PERCPU, areaAux, setAreaAux,
         notePagesPeak, directMapReadOnly } from "./vmalloc";
import { statAdd } from "../stats";
import { MACHINE_STATE } from "../statics";

// @ts-ignore: decorator
@inline export const PCPU_UNIT_PAGES: u32 = 32;
// @ts-ignore: decorator
@inline export const PCPU_UNIT_SIZE: u32 = PCPU_UNIT_PAGES << PAGE_SHIFT;   // 128 KiB per CPU
// @ts-ignore: decorator
@inline const PCPU_MIN_ALLOC_SHIFT: u32 = 2;                               // 4-byte units
// @ts-ignore: decorator
@inline const MAP_BITS: u32 = PCPU_UNIT_SIZE >> PCPU_MIN_ALLOC_SHIFT;
// @ts-ignore: decorator
@inline const PCPU_MIN_UNIT_SIZE: u32 = 32 << 10;                          // largest allocation

// Chunk metadata: 16 KiB of frames. Header, then alloc map, then bound map.
// @ts-ignore: decorator
@inline const H_VA: usize = 0;          // u32 vmap area record
// @ts-ignore: decorator
@inline const H_NEXT: usize = 4;        // u32 next chunk (linear address)
// @ts-ignore: decorator
@inline const H_FREE: usize = 8;        // u32 free bits
// @ts-ignore: decorator
@inline const H_FIRST: usize = 12;      // u32 no free bit below this
// @ts-ignore: decorator
@inline const H_FAIL: usize = 16;       // u32 no free run this long (since the last free)
// @ts-ignore: decorator
@inline const H_NALLOC: usize = 20;     // u32 live allocations
// @ts-ignore: decorator
@inline const H_POP: usize = 24;        // u32 populated pages (bit per page)
// @ts-ignore: decorator
@inline const H_BASE: usize = 32;       // u64 unit 0 address (tagged under sw_tags)
// @ts-ignore: decorator
@inline const ALLOC_MAP: usize = 1024;
// @ts-ignore: decorator
@inline const BOUND_MAP: usize = ALLOC_MAP + (MAP_BITS >> 3);
// @ts-ignore: decorator
@inline const META_ORDER: u32 = 2;

// @ts-ignore: decorator
@unmanaged class PercpuState { chunks: usize; }   // chunks: list of chunk metadata
// the machine's, not this CPU's: linear memory (docs/smp.md, "The audit")
export const PCS = changetype<PercpuState>(MACHINE_STATE + 0x1200);
if (offsetof<PercpuState>() > 0x100) ERROR("PercpuState overflows its 0x100 bytes of MACHINE_STATE");
export let nrCpus: u32 = 0;

function cpus(): u32 {
  if (nrCpus == 0) { nrCpus = <u32>cfg(CFG_NR_CPUS); if (nrCpus == 0) nrCpus = 1; }
  return nrCpus;
}

// ── bitmaps (bit set = in use) ───────────────────────────────────────────────
// @ts-ignore: decorator
@inline function testBit(map: usize, i: u32): bool { return ((load<u8>(map + (i >> 3)) >> (i & 7)) & 1) != 0; }
function setBits(map: usize, from: u32, n: u32): void {
  for (let i = from; i < from + n; i++) store<u8>(map + (i >> 3), <u32>load<u8>(map + (i >> 3)) | (<u32>1 << (i & 7)));
}
function clearBits(map: usize, from: u32, n: u32): void {
  for (let i = from; i < from + n; i++) store<u8>(map + (i >> 3), <u32>load<u8>(map + (i >> 3)) & ~(<u32>1 << (i & 7)));
}
// first bit in [from, to) with value `set`, or `to`
function findBit(map: usize, from: u32, to: u32, set: bool): u32 {
  let i = from;
  while (i < to) {
    const w = i >> 6;
    const bit = i & 63;
    let word = load<u64>(map + (<usize>w << 3));
    if (!set) word = ~word;
    word >>= bit;
    const span = min<u32>(64 - bit, to - i);
    if (span < 64) word &= (<u64>1 << span) - 1;
    if (word != 0) return i + <u32>ctz<u64>(word);
    i += span;
  }
  return to;
}
// @ts-ignore: decorator
@inline function alignUp32(x: u32, a: u32): u32 { return (x + a - 1) & ~(a - 1); }

// A free run of n bits at a multiple of a, at or after start; MAP_BITS if none.
function findRun(map: usize, start: u32, n: u32, a: u32): u32 {
  let p = alignUp32(start, a);
  while (p + n <= MAP_BITS) {
    const q = findBit(map, p, p + n, true);
    if (q == p + n) return p;
    p = alignUp32(findBit(map, q, MAP_BITS, false), a);
  }
  return MAP_BITS;
}

// ── chunks ───────────────────────────────────────────────────────────────────
function chunkCreate(): usize {
  const pfn = allocPagesPfn(META_ORDER, USE_METADATA);
  if (pfn == NO_PFN) return 0;
  const m = physToLin(<u64>pfn << PAGE_SHIFT);
  memory.fill(m, 0, PAGE_SIZE << META_ORDER);
  const va = pcpuGetVmArea(<u64>PCPU_UNIT_SIZE * cpus(), FR_PCPU_GET_VM_AREAS);
  if (va == 0) { freePagesPfn(pfn, META_ORDER); return 0; }
  // the chunk's maps are the engine's: read-only in the direct map (a stray write faults)
  directMapReadOnly(pfn, 1 << META_ORDER, true);
  setAreaAux(va, <u32>m);
  store<u32>(m + H_VA, va);
  store<u32>(m + H_FREE, MAP_BITS);
  store<u32>(m + H_FAIL, MAP_BITS + 1);
  store<u64>(m + H_BASE, ADDR(va));
  store<u32>(m + H_NEXT, <u32>PCS.chunks);
  PCS.chunks = m;
  return m;
}

// Unmap and free a chunk's pages, give back its area and metadata.
function chunkDestroy(m: usize): void {
  if (PCS.chunks == m) PCS.chunks = load<u32>(m + H_NEXT);
  else {
    let p = PCS.chunks;
    while (p != 0 && <usize>load<u32>(p + H_NEXT) != m) p = load<u32>(p + H_NEXT);
    if (p != 0) store<u32>(p + H_NEXT, load<u32>(m + H_NEXT));
  }
  const va = load<u32>(m + H_VA);
  const start = START(va);
  const end = start + <u64>PCPU_UNIT_SIZE * cpus();
  for (let v = start; v < end; v += PAGE_SIZE) {
    const pfn = takePte(v);
    if (pfn == NO_PFN || pgUse(pfn) != USE_VMALLOC) continue;   // never free a frame it does not own
    freePagesPfn(pfn, 0);
    statAdd(STAT_PCPU_PAGES, -1);
  }
  flushTlbPages(start, end);
  pcpuFreeVmArea(va);
  const mpfn = <u32>((<u64>m - PHYS_BASE) >> PAGE_SHIFT);
  directMapReadOnly(mpfn, 1 << META_ORDER, false);
  freePagesPfn(mpfn, META_ORDER);
}

// pcpu_populate_chunk: back pages [p0, p1) of every unit. False on OOM (the
// pages this call mapped are left in place: the chunk keeps them populated).
function populate(m: usize, p0: u32, p1: u32): bool {
  const base = START(load<u32>(m + H_VA));
  for (let pg = p0; pg < p1; pg++) {
    if ((load<u32>(m + H_POP) >> pg) & 1) continue;
    for (let c: u32 = 0; c < cpus(); c++) {
      const va = base + <u64>c * PCPU_UNIT_SIZE + (<u64>pg << PAGE_SHIFT);
      const pfn = allocPagesPfn(0, USE_VMALLOC);
      if (pfn == NO_PFN) { unpopulatePage(m, pg, c); return false; }
      if (!ptMapPage(va, <u64>pfn << PAGE_SHIFT, PAGE_KERNEL)) {
        freePagesPfn(pfn, 0);
        unpopulatePage(m, pg, c);
        return false;
      }
    }
    store<u32>(m + H_POP, load<u32>(m + H_POP) | (1 << pg));
    statAdd(STAT_PCPU_PAGES, cpus());
  }
  notePagesPeak();
  return true;
}
// Undo the first `units` units of page pg.
function unpopulatePage(m: usize, pg: u32, units: u32): void {
  const base = START(load<u32>(m + H_VA));
  for (let c: u32 = 0; c < units; c++) {
    const va = base + <u64>c * PCPU_UNIT_SIZE + (<u64>pg << PAGE_SHIFT);
    const pfn = takePte(va);
    if (pfn == NO_PFN) continue;
    flushTlbPages(va, va + PAGE_SIZE);
    if (pgUse(pfn) != USE_VMALLOC) continue;
    freePagesPfn(pfn, 0);
  }
}

function chunkAlloc(m: usize, bits: u32, alignBits: u32): u32 {
  if (load<u32>(m + H_FREE) < bits || bits >= load<u32>(m + H_FAIL)) return MAP_BITS;
  const map = m + ALLOC_MAP;
  const first = load<u32>(m + H_FIRST);
  const off = findRun(map, first, bits, alignBits);
  if (off == MAP_BITS) {
    // no aligned run of `bits`: then no free run of bits + alignBits - 1 at all
    const fail = bits + alignBits - 1;
    if (fail < load<u32>(m + H_FAIL)) store<u32>(m + H_FAIL, fail);
    return MAP_BITS;
  }
  setBits(map, off, bits);
  const bound = m + BOUND_MAP;
  setBits(bound, off, 1);
  clearBits(bound, off + 1, bits - 1);
  setBits(bound, off + bits, 1);
  store<u32>(m + H_FREE, load<u32>(m + H_FREE) - bits);
  if (off == first) store<u32>(m + H_FIRST, findBit(map, off + bits, MAP_BITS, false));
  store<u32>(m + H_NALLOC, load<u32>(m + H_NALLOC) + 1);
  return off;
}

function chunkFreeArea(m: usize, off: u32): u32 {
  const bound = m + BOUND_MAP;
  const end = findBit(bound, off + 1, MAP_BITS, true);
  const bits = end - off;
  clearBits(m + ALLOC_MAP, off, bits);
  clearBits(bound, off, 1);
  store<u32>(m + H_FREE, load<u32>(m + H_FREE) + bits);
  if (off < load<u32>(m + H_FIRST)) store<u32>(m + H_FIRST, off);
  store<u32>(m + H_FAIL, MAP_BITS + 1);
  store<u32>(m + H_NALLOC, load<u32>(m + H_NALLOC) - 1);
  return bits;
}

// __alloc_percpu(size, align): the percpu pointer (unit 0's copy), 0 on failure.
export function allocPercpu(size: u32, align: u32): u64 {
  if (size == 0 || size > PCPU_MIN_UNIT_SIZE || align > <u32>PAGE_SIZE || (align & (align - 1)) != 0) return 0;
  if (align < (1 << PCPU_MIN_ALLOC_SHIFT)) align = 1 << PCPU_MIN_ALLOC_SHIFT;
  const bits = (size + (1 << PCPU_MIN_ALLOC_SHIFT) - 1) >> PCPU_MIN_ALLOC_SHIFT;
  const alignBits = align >> PCPU_MIN_ALLOC_SHIFT;
  let m = PCS.chunks;
  let off = MAP_BITS;
  while (m != 0) {
    off = chunkAlloc(m, bits, alignBits);
    if (off != MAP_BITS) break;
    m = load<u32>(m + H_NEXT);
  }
  if (m == 0) {
    m = chunkCreate();
    if (m == 0) return 0;
    off = chunkAlloc(m, bits, alignBits);
    if (off == MAP_BITS) return 0;
  }
  const byteOff = off << PCPU_MIN_ALLOC_SHIFT;
  if (!populate(m, byteOff >> PAGE_SHIFT, (byteOff + size + PAGE_SIZE - 1) >> PAGE_SHIFT)) {
    chunkFreeArea(m, off);
    return 0;
  }
  // the area is zeroed in every unit
  const base = START(load<u32>(m + H_VA));
  for (let c: u32 = 0; c < cpus(); c++) {
    const va = base + <u64>c * PCPU_UNIT_SIZE + byteOff;
    zeroMapped(va, size);
  }
  return load<u64>(m + H_BASE) + byteOff;
}

function zeroMapped(va: u64, n: u32): void {
  while (n > 0) {
    const chunk = min<u32>(n, PAGE_SIZE - (<u32>va & (PAGE_SIZE - 1)));
    const p = ptePtr(va, PTE_LOOKUP);
    if (p != 0 && (load<u64>(p) & PTE_PRESENT) != 0 && ((load<u64>(p) & PTE_PFN_MASK) >> PAGE_SHIFT) < <u64>nrFrames) {
      memory.fill(physToLin((load<u64>(p) & PTE_PFN_MASK) + (va & (PAGE_SIZE - 1))), 0, chunk);
    }
    va += chunk; n -= chunk;
  }
}

// The chunk of a percpu pointer (unit 0 address), 0 if none.
function chunkOf(a: u64): usize {
  const va = findVmapArea(a);
  if (va == 0 || (FLAGS(va) & VM_PERCPU) == 0) return 0;
  if (a - START(va) >= PCPU_UNIT_SIZE) return 0;
  return areaAux(va);
}

// free_percpu(ptr): 0 done, -1 not a live percpu allocation.
export function freePercpu(p: u64): i32 {
  if (p == 0) return 0;
  const a = untag(p);
  const m = chunkOf(a);
  if (m == 0) return -1;
  const off = <u32>((a - START(load<u32>(m + H_VA))) >> PCPU_MIN_ALLOC_SHIFT);
  if (((<u32>a) & ((1 << PCPU_MIN_ALLOC_SHIFT) - 1)) != 0 || !testBit(m + BOUND_MAP, off) || !testBit(m + ALLOC_MAP, off)) return -1;
  chunkFreeArea(m, off);
  // pcpu_balance_free: fully free chunks go, but one empty chunk stays
  if (load<u32>(m + H_NALLOC) == 0) {
    let empty = 0;
    let c = PCS.chunks;
    while (c != 0) { if (load<u32>(c + H_NALLOC) == 0) empty++; c = load<u32>(c + H_NEXT); }
    if (empty > 1) chunkDestroy(m);
  }
  return 0;
}

// per_cpu_ptr(ptr, cpu)
export function perCpuPtr(p: u64, cpu: u32): u64 { return p + <u64>cpu * PCPU_UNIT_SIZE; }

export function __alloc_percpu(size: u32, align: u32): u64 { return allocPercpu(size, align); }
export function free_percpu(p: u64): i32 { return freePercpu(p); }
export function per_cpu_ptr(p: u64, cpu: u32): u64 { return cpu < cpus() ? perCpuPtr(p, cpu) : 0; }
