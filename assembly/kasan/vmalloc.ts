// KASAN_VMALLOC (mm/kasan/shadow.c, arch/x86/mm/kasan_init_64.c): vmalloc
// space gets real shadow, populated when a mapping first needs it and shared
// between neighbouring mappings (one shadow page describes 32 KiB of vmalloc
// space in generic mode, 64 KiB with tags), and released lazily when the vmap
// areas are purged, only where a whole shadow page lies in free space.
//
// Without kasan.vmalloc the vmalloc shadow stays the read-only early shadow
// page that kasan_init() maps everywhere, and every hook here is a no-op.
import { PAGE_SHIFT, PAGE_SIZE, PTE_PRESENT, USE_SHADOW, STAT_VMALLOC_SHADOW_PAGES,
         STAT_VMALLOC_SHADOW_FREED, STAT_VMALLOC_SHADOW_PEAK, ENOMEM } from "../../abi/abi";
import { kasanMode, kasanVmalloc, kasanGranuleSize, KASAN_SW_TAGS, KASAN_VMALLOC_INVALID,
         KASAN_TAG_INVALID } from "./kasan";
import { granuleUp } from "./shadow";
import { kasanRandomTag, setTag, getTag } from "./sw_tags";
import { kasanMemToShadow, physToLin, untag, VMALLOC_START, VMALLOC_END } from "../mm/layout";
import { ptePtr, PTE_CREATE, PTE_LOOKUP, PTE_PFN_MASK, PAGE_KERNEL, PAGE_TABLE, tableAlloc, pgdPfn,
         earlyPudPfn, earlyPmdPfn, earlyPtePfn } from "../mm/pgtable";
import { allocPagesPfn, freePagesPfn } from "../mm/page_alloc";
import { NO_PFN, nrFrames, pgUse, pgFlags, pgPrivate, pgSetPrivate } from "../mm/phys";
import { flush_tlb_kernel_range } from "../mm/tlb";
import { statAdd, statGet, statInc, statSet } from "../stats";
import { PG_RESERVED } from "../../abi/abi";
import { MACHINE_STATE } from "../statics";

// struct page private of a shadow page this file populated: marker | generation
// @ts-ignore: decorator
@inline const SHADOW_MARK: u64 = 0x5641534e00000000;     // "VASN"
// @ts-ignore: decorator
@inline const SHADOW_MARK_MASK: u64 = 0xffffffff00000000;
// the machine's, not this CPU's: linear memory (docs/smp.md, "The audit")
// @ts-ignore: decorator
@unmanaged class KasanVmallocState { populateGen: u32; }
export const KVS = changetype<KasanVmallocState>(MACHINE_STATE + 0x700);
if (offsetof<KasanVmallocState>() > 0x100) ERROR("KasanVmallocState outgrew its MACHINE_STATE slot");

// KASAN_MEMORY_PER_SHADOW_PAGE
// @ts-ignore: decorator
@inline export function memoryPerShadowPage(): u64 { return <u64>kasanGranuleSize << PAGE_SHIFT; }

// KASAN_VMALLOC_INVALID in this mode: tag modes use the invalid tag for it.
// @ts-ignore: decorator
@inline function vmallocInvalid(): u8 { return kasanMode == KASAN_SW_TAGS ? KASAN_TAG_INVALID : KASAN_VMALLOC_INVALID; }

// @ts-ignore: decorator
@inline function pageLinOf(pfn: u32): usize { return physToLin(<u64>pfn << PAGE_SHIFT); }

// The PTE tables of the vmalloc shadow, cached by the 2 MiB of shadow each
// maps (16 MiB of vmalloc space in generic mode): population, poisoning and
// release then touch one PTE instead of walking four levels. Kernel page
// tables are never freed, so an entry stays valid once made.
// @ts-ignore: decorator
@inline const PTCACHE_ENTRIES: u32 = 16;
const PTCACHE: usize = memory.data(PTCACHE_ENTRIES * 16, 8);
// The PTE slot of shadow page spage; 0 when its table does not exist (create:
// make it, 0 only when out of memory).
function shadowPte(spage: u64, create: bool): usize {
  const key = (spage >> 21) + 1;
  const slot = PTCACHE + (<usize>(<u32>key & (PTCACHE_ENTRIES - 1)) << 4);
  const idx = <usize>((spage >> PAGE_SHIFT) & 511) << 3;
  if (load<u64>(slot) == key) return <usize>load<u32>(slot, 8) + idx;
  let p = ptePtr(spage, PTE_LOOKUP);
  if (p == 0 && create) p = ptePtr(spage, PTE_CREATE);
  if (p == 0) return 0;
  store<u64>(slot, key);
  store<u32>(slot, <u32>(p - idx), 8);
  return p;
}
// Linear address of the populated shadow page at spage (page-aligned), 0 if none.
function shadowPageLin(spage: u64): usize {
  const p = shadowPte(spage, false);
  if (p == 0) return 0;
  const e = load<u64>(p);
  // a PTE scribbled to a frame outside RAM maps nothing
  return (e & PTE_PRESENT) == 0 || ((e & PTE_PFN_MASK) >> PAGE_SHIFT) >= <u64>nrFrames ? 0 : physToLin(e & PTE_PFN_MASK);
}
// memset of the vmalloc shadow [sva, sva + n); unpopulated pages are skipped.
function vshadowFill(sva: u64, n: u64, value: u8): void {
  const end = sva + n;
  while (sva < end) {
    const spage = sva & ~<u64>(PAGE_SIZE - 1);
    const pageEnd = spage + PAGE_SIZE;
    const chunk = (pageEnd < end ? pageEnd : end) - sva;
    const lin = shadowPageLin(spage);
    if (lin != 0) memory.fill(lin + <usize>(sva - spage), value, <usize>chunk);
    sva += chunk;
  }
}

// ── boot: kasan_shallow_populate_pgds() ──────────────────────────────────────
// kasan_init() pointed the whole shadow region at the early shadow (shared
// PUD/PMD/PTE tables). Take the vmalloc shadow back out of it: top-level
// entries wholly inside get their own empty PUD table (so population never
// touches the PGD, as on x86), partly covered tables become private copies
// with the covered entries cleared.
export function kasanVmallocShadowInit(): bool {
  if (!kasanVmalloc) return true;
  const s0 = kasanMemToShadow(VMALLOC_START) & ~<u64>(PAGE_SIZE - 1);
  const s1 = (kasanMemToShadow(VMALLOC_END) + PAGE_SIZE - 1) & ~<u64>(PAGE_SIZE - 1);
  return carve(pageLinOf(pgdPfn), 39, s0, s1);
}

function isEarlyTable(pfn: u32): bool {
  return pfn != 0 && (pfn == earlyPudPfn || pfn == earlyPmdPfn || pfn == earlyPtePfn);
}

// Clear [s0, s1) out of the table at `table` whose entries each span 1 << shift.
function carve(table: usize, shift: u32, s0: u64, s1: u64): bool {
  const span: u64 = <u64>1 << shift;
  let a = s0;
  while (a < s1) {
    const eStart = a & ~(span - 1);
    const eEnd = eStart + span;                       // 0 when it wraps past the top
    const segEnd = (eEnd == 0 || eEnd > s1) ? s1 : eEnd;
    const entry = table + (<usize>((a >> shift) & 511) << 3);
    if (a == eStart && segEnd == eEnd) {
      if (shift == 39) {
        const pud = tableAlloc();
        if (pud == NO_PFN) return false;
        store<u64>(entry, (<u64>pud << PAGE_SHIFT) | PAGE_TABLE);
      } else {
        store<u64>(entry, 0);
      }
    } else {
      let e = load<u64>(entry);
      const pfn = <u32>((e & PTE_PFN_MASK) >> PAGE_SHIFT);
      if ((e & PTE_PRESENT) != 0 && pfn >= nrFrames) return false;   // a corrupted table entry: not followed
      if ((e & PTE_PRESENT) == 0 || isEarlyTable(pfn)) {
        const copy = tableAlloc();
        if (copy == NO_PFN) return false;
        if ((e & PTE_PRESENT) != 0) memory.copy(pageLinOf(copy), pageLinOf(pfn), PAGE_SIZE);
        e = (<u64>copy << PAGE_SHIFT) | PAGE_TABLE;
        store<u64>(entry, e);
      }
      if (!carve(physToLin(e & PTE_PFN_MASK), shift - 9, a, segEnd)) return false;
    }
    a = segEnd;
  }
  return true;
}

// ── kasan_populate_vmalloc ───────────────────────────────────────────────────
// Map a fresh shadow page, filled with KASAN_VMALLOC_INVALID, under every page
// of the shadow of [addr, addr + size) that has none; pages a neighbour already
// populated are shared. The caller unpoisons [addr, addr + keep) right after
// (before anything can look), so a fresh page skips the fill there. 0, or
// -ENOMEM after undoing what this call mapped (the page tables it created
// stay, as the kernel's do).
export function kasanPopulateVmalloc(addr: u64, size: u64, keep: u64): i32 {
  if (!kasanVmalloc) return 0;
  const s0 = kasanMemToShadow(addr) & ~<u64>(PAGE_SIZE - 1);
  const s1 = (kasanMemToShadow(addr + size) + PAGE_SIZE - 1) & ~<u64>(PAGE_SIZE - 1);
  const k0 = kasanMemToShadow(addr);
  const k1 = kasanMemToShadow(addr + keep);
  const gen = ++KVS.populateGen;
  const invalid = vmallocInvalid();
  for (let s = s0; s < s1; s += PAGE_SIZE) {
    const p = shadowPte(s, true);
    if (p == 0) { undoPopulate(s0, s, gen); return -ENOMEM; }
    if ((load<u64>(p) & PTE_PRESENT) != 0) continue;      // shared with a neighbour
    const pfn = allocPagesPfn(0, USE_SHADOW);
    if (pfn == NO_PFN) { undoPopulate(s0, s, gen); return -ENOMEM; }
    const lin = pageLinOf(pfn);
    // F8 everywhere but [k0, k1), which the caller's unpoison overwrites
    const a = k0 > s ? k0 : s;
    const b = k1 < s + PAGE_SIZE ? k1 : s + PAGE_SIZE;
    if (a >= b) {
      memory.fill(lin, invalid, PAGE_SIZE);
    } else {
      if (a > s) memory.fill(lin, invalid, <usize>(a - s));
      if (b < s + PAGE_SIZE) memory.fill(lin + <usize>(b - s), invalid, <usize>(s + PAGE_SIZE - b));
    }
    pgSetPrivate(pfn, SHADOW_MARK | gen);
    store<u64>(p, (<u64>pfn << PAGE_SHIFT) | PAGE_KERNEL);
    statInc(STAT_VMALLOC_SHADOW_PAGES);
    const now = statGet(STAT_VMALLOC_SHADOW_PAGES);
    if (now > statGet(STAT_VMALLOC_SHADOW_PEAK)) statSet(STAT_VMALLOC_SHADOW_PEAK, now);
  }
  return 0;
}

// Give back the pages populate call `gen` mapped in [s0, s1). Nothing read
// them yet, so no TLB entry can hold them.
function undoPopulate(s0: u64, s1: u64, gen: u32): void {
  for (let s = s0; s < s1; s += PAGE_SIZE) {
    const p = shadowPte(s, false);
    if (p == 0) continue;
    const e = load<u64>(p);
    if ((e & PTE_PRESENT) == 0) continue;
    const pfn = <u32>((e & PTE_PFN_MASK) >> PAGE_SHIFT);
    if (pfn >= nrFrames || pgPrivate(pfn) != (SHADOW_MARK | gen)) continue;
    store<u64>(p, 0);
    freePagesPfn(pfn, 0);
    statAdd(STAT_VMALLOC_SHADOW_PAGES, -1);
  }
}

// A page this file populated (never a boot-time shadow page: on arm64 the
// kernel image's shadow lies inside the vmalloc shadow).
function isVmallocShadowPage(pfn: u32): bool {
  return pfn < nrFrames && pgUse(pfn) == USE_SHADOW && (pgFlags(pfn) & PG_RESERVED) == 0 &&
         (pgPrivate(pfn) & SHADOW_MARK_MASK) == SHADOW_MARK;
}

// ── kasan_release_vmalloc ────────────────────────────────────────────────────
// [start, end) was freed and lies in the free region [freeStart, freeEnd).
// Round the region inward to whole shadow pages; take in the partly covered
// shadow page on a side only when the free region covers all of it (it is
// then used by no mapping). Depopulate those pages; the caller flushes the
// TLB once for everything released (kasanReleaseFlush), before any reuse.
let flushLo: u64 = u64.MAX_VALUE;
let flushHi: u64 = 0;

export function kasanReleaseVmalloc(start: u64, end: u64, freeStart: u64, freeEnd: u64): void {
  if (!kasanVmalloc) return;
  const g = memoryPerShadowPage();
  let regionStart = (start + g - 1) & ~(g - 1);
  let regionEnd = end & ~(g - 1);
  const fs = (freeStart + g - 1) & ~(g - 1);
  if (start != regionStart && fs < regionStart) regionStart -= g;
  const fe = freeEnd & ~(g - 1);
  if (end != regionEnd && fe > regionEnd) regionEnd += g;
  const ss = kasanMemToShadow(regionStart);
  const se = kasanMemToShadow(regionEnd);
  if (se <= ss || regionEnd <= regionStart) return;
  for (let s = ss; s < se; s += PAGE_SIZE) {
    const p = shadowPte(s, false);
    if (p == 0) continue;
    const e = load<u64>(p);
    if ((e & PTE_PRESENT) == 0) continue;
    const pfn = <u32>((e & PTE_PFN_MASK) >> PAGE_SHIFT);
    if (!isVmallocShadowPage(pfn)) continue;
    store<u64>(p, 0);
    freePagesPfn(pfn, 0);
    statAdd(STAT_VMALLOC_SHADOW_PAGES, -1);
    statInc(STAT_VMALLOC_SHADOW_FREED);
    if (s < flushLo) flushLo = s;
    if (s + PAGE_SIZE > flushHi) flushHi = s + PAGE_SIZE;
  }
}

// The TLB flush after unmapping shadow pages: a data page's TLB entry caches
// its shadow page too, so this also drops the entries that point at them.
export function kasanReleaseFlush(): void {
  if (flushHi <= flushLo) return;
  flush_tlb_kernel_range(flushLo, flushHi);
  flushLo = u64.MAX_VALUE;
  flushHi = 0;
}

// ── poisoning ───────────────────────────────────────────────────────────────
// kasan_unpoison_vmalloc: [addr, addr + size) accessible to its exact size
// (generic marks the partial last granule); tag modes give the mapping a random
// tag and return the tagged pointer, unless keepTag (addr is tagged already).
export function kasanUnpoisonVmalloc(addr: u64, size: u64, keepTag: bool): u64 {
  if (!kasanVmalloc || size == 0) return addr;
  let tagged = addr;
  if (kasanMode == KASAN_SW_TAGS && !keepTag) tagged = setTag(addr, kasanRandomTag());
  // kasan_unpoison(): the granule-rounded range gets 0 (generic) or the tag,
  // then generic marks how much of the last granule is valid
  const a = untag(tagged);
  const g = <u64>kasanGranuleSize;
  const rounded = (size + g - 1) & ~(g - 1);
  const s0 = kasanMemToShadow(a);
  vshadowFill(s0, kasanMemToShadow(a + rounded) - s0, kasanMode == KASAN_SW_TAGS ? getTag(tagged) : 0);
  if (kasanMode != KASAN_SW_TAGS && (size & 7) != 0) {
    const sva = kasanMemToShadow(a + rounded - g);              // the partial last granule: one byte
    const lin = shadowPageLin(sva & ~<u64>(PAGE_SIZE - 1));
    if (lin != 0) store<u8>(lin + <usize>(sva & (PAGE_SIZE - 1)), <u8>(size & 7));
  }
  return tagged;
}

// kasan_poison_vmalloc: the whole (granule-rounded) range becomes invalid again.
export function kasanPoisonVmalloc(addr: u64, size: u64): void {
  if (!kasanVmalloc || size == 0) return;
  const a = untag(addr);
  const s0 = kasanMemToShadow(a);
  vshadowFill(s0, kasanMemToShadow(a + granuleUp(size)) - s0, vmallocInvalid());
}
