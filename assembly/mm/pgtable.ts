// Four-level page tables stored in frames (PGD -> PUD -> PMD -> PTE, P4D folded
// as on x86_64 4-level paging). Entries use the x86 bit layout for both arches:
//
//  63  62..52  51.............12  11..9  8  7  6  5  4  3  2  1  0
//  NX  ignored   frame address    avail  G  PS D  A  .  .  US RW P
//
// PS at the PMD level is a 2 MiB mapping. The direct map starts out with 2 MiB
// mappings; mapping or protecting a single page inside one splits it first.
// Tables that KASAN's early shadow shares (one PUD/PMD/PTE table each, reused
// across the whole shadow region) are cloned before they are written to.
import { PAGE_SHIFT, PAGE_SIZE, PTE_PRESENT, PTE_RW, PTE_HUGE, PG_TABLE, USE_PGTABLE, ARCH_ARM64,
         STAT_PGTABLE_SPLITS, ENOMEM } from "../../abi/abi";
import { physToLin, arch } from "./layout";
import { memblockAlloc, memblockDone, NO_PFN, pgSetFlags, pgFlags, nrFrames } from "./phys";
import { allocPagesPfn } from "./page_alloc";
import { statInc } from "../stats";

// @ts-ignore: decorator
@inline export const PTE_PFN_MASK: u64 = 0x000ffffffffff000;
// @ts-ignore: decorator
@inline export const PTE_NX: u64 = 0x8000000000000000;
// __PAGE_KERNEL: P|RW|A|D|G|NX; _PAGE_TABLE: P|RW|US|A|D
// @ts-ignore: decorator
@inline export const PAGE_KERNEL: u64 = 0x8000000000000163;
// @ts-ignore: decorator
@inline export const PAGE_KERNEL_RO: u64 = 0x8000000000000161;
// @ts-ignore: decorator
@inline export const PAGE_KERNEL_LARGE: u64 = 0x80000000000001e3;
// @ts-ignore: decorator
@inline export const PAGE_TABLE: u64 = 0x67;
// @ts-ignore: decorator
@inline export const PMD_SIZE: u64 = 0x200000;

export let pgdPfn: u32 = 0;
// KASAN early shadow tables shared by every unpopulated shadow range (0 = none)
export let earlyPudPfn: u32 = 0;
export let earlyPmdPfn: u32 = 0;
export let earlyPtePfn: u32 = 0;

export function setEarlyShadowTables(pud: u32, pmd: u32, pte: u32): void {
  earlyPudPfn = pud; earlyPmdPfn = pmd; earlyPtePfn = pte;
}

// What the last walk saw, level by level (PGD, P4D, PUD, PMD, PTE), for the oops line.
export const WALK_ENTRIES: usize = memory.data(5 * 8, 8);
export let walkLevels: u32 = 0;
// The leaf entry and its size (12 or 21) from the last successful ptWalk.
export let walkLeaf: u64 = 0;
export let walkLeafShift: u32 = 0;
// The last walk met a present entry whose frame lies outside RAM (a corrupted
// table): the machine's physical address width is its RAM, so the MMU raises
// a reserved-bit fault (PF_RSVD) instead of reading past the end.
export let walkRsvd: bool = false;

// @ts-ignore: decorator
@inline function idx(va: u64, shift: u32): usize { return <usize>((va >> shift) & 511); }
// @ts-ignore: decorator
@inline function tableLin(entry: u64): usize { return physToLin(entry & PTE_PFN_MASK); }
// @ts-ignore: decorator
@inline function frameInRam(entry: u64): bool { return ((entry & PTE_PFN_MASK) >> PAGE_SHIFT) < <u64>nrFrames; }
// @ts-ignore: decorator
@inline function pfnLin(pfn: u32): usize { return physToLin(<u64>pfn << PAGE_SHIFT); }

// A zeroed frame for a page table: memblock during boot, the buddy afterwards.
export function tableAlloc(): u32 {
  let pfn: u32;
  if (!memblockDone) {
    pfn = memblockAlloc(1, 1, USE_PGTABLE);
  } else {
    pfn = allocPagesPfn(0, USE_PGTABLE);
    if (pfn != NO_PFN) memory.fill(pfnLin(pfn), 0, PAGE_SIZE);
  }
  if (pfn != NO_PFN) pgSetFlags(pfn, pgFlags(pfn) | PG_TABLE);
  return pfn;
}

export function pgtableInit(): bool {
  pgdPfn = tableAlloc();
  return pgdPfn != NO_PFN;
}

// Walk without side effects on the tables. Returns the physical address or
// u64.MAX_VALUE when not present; fills WALK_ENTRIES/walkLevels, walkLeaf.
export function ptWalk(va: u64): u64 {
  // arm64 translates the lower half through TTBR0 (user tables, empty here)
  if (arch == ARCH_ARM64 && ((va >> 55) & 1) == 0) {
    store<u64>(WALK_ENTRIES, 0);
    store<u64>(WALK_ENTRIES + 8, 0);
    walkLevels = 2;
    return u64.MAX_VALUE;
  }
  walkRsvd = false;
  let table = pfnLin(pgdPfn);
  let e = load<u64>(table + (idx(va, 39) << 3));
  store<u64>(WALK_ENTRIES, e);
  store<u64>(WALK_ENTRIES + 8, e);          // P4D folded into the PGD
  walkLevels = 2;
  if ((e & PTE_PRESENT) == 0) return u64.MAX_VALUE;
  if (!frameInRam(e)) { walkRsvd = true; return u64.MAX_VALUE; }
  e = load<u64>(tableLin(e) + (idx(va, 30) << 3));
  store<u64>(WALK_ENTRIES + 16, e); walkLevels = 3;
  if ((e & PTE_PRESENT) == 0) return u64.MAX_VALUE;
  if (!frameInRam(e)) { walkRsvd = true; return u64.MAX_VALUE; }
  e = load<u64>(tableLin(e) + (idx(va, 21) << 3));
  store<u64>(WALK_ENTRIES + 24, e); walkLevels = 4;
  if ((e & PTE_PRESENT) == 0) return u64.MAX_VALUE;
  if (e & PTE_HUGE) {
    const pa = (e & PTE_PFN_MASK & ~(PMD_SIZE - 1)) + (va & (PMD_SIZE - 1));
    if ((pa >> PAGE_SHIFT) >= <u64>nrFrames) { walkRsvd = true; return u64.MAX_VALUE; }
    walkLeaf = e; walkLeafShift = 21;
    return pa;
  }
  if (!frameInRam(e)) { walkRsvd = true; return u64.MAX_VALUE; }
  e = load<u64>(tableLin(e) + (idx(va, 12) << 3));
  store<u64>(WALK_ENTRIES + 32, e); walkLevels = 5;
  if ((e & PTE_PRESENT) == 0) return u64.MAX_VALUE;
  if (!frameInRam(e)) { walkRsvd = true; return u64.MAX_VALUE; }
  walkLeaf = e; walkLeafShift = 12;
  return (e & PTE_PFN_MASK) + (va & (PAGE_SIZE - 1));
}

// ptePtr modes: look up only; split a huge mapping on the way; also create tables.
// @ts-ignore: decorator
@inline export const PTE_LOOKUP: i32 = 0;
// @ts-ignore: decorator
@inline export const PTE_SPLIT: i32 = 1;
// @ts-ignore: decorator
@inline export const PTE_CREATE: i32 = 2;

// Clone a shared early-shadow table so it can be written privately.
function unshare(entryPtr: usize): bool {
  const e = load<u64>(entryPtr);
  const pfn = <u32>((e & PTE_PFN_MASK) >> PAGE_SHIFT);
  if (pfn == 0 || (pfn != earlyPudPfn && pfn != earlyPmdPfn && pfn != earlyPtePfn)) return true;
  const copy = tableAlloc();
  if (copy == NO_PFN) return false;
  memory.copy(pfnLin(copy), pfnLin(pfn), PAGE_SIZE);
  store<u64>(entryPtr, (<u64>copy << PAGE_SHIFT) | (e & 0xfff));
  return true;
}

// Descend one level. PTE_CREATE allocates a missing table; any writing mode
// unshares an early-shadow table first. Returns the next table's linear address, or 0.
function nextTable(entryPtr: usize, mode: i32): usize {
  let e = load<u64>(entryPtr);
  if ((e & PTE_PRESENT) == 0) {
    if (mode != PTE_CREATE) return 0;
    const pfn = tableAlloc();
    if (pfn == NO_PFN) return 0;
    e = (<u64>pfn << PAGE_SHIFT) | PAGE_TABLE;
    store<u64>(entryPtr, e);
  } else if (mode != PTE_LOOKUP) {
    if (!unshare(entryPtr)) return 0;
    e = load<u64>(entryPtr);
  }
  // a corrupted entry (a huge leaf where a table belongs is handled by the
  // caller) is not followed outside RAM: the mapping operation fails
  if (!frameInRam(e)) return 0;
  return tableLin(e);
}

// Split a 2 MiB mapping into a table of 512 4 KiB entries with the same
// attributes. The caller flushes the TLB for the range.
function splitPmdAt(pmdPtr: usize): bool {
  const e = load<u64>(pmdPtr);
  const pfn = tableAlloc();
  if (pfn == NO_PFN) return false;
  const t = pfnLin(pfn);
  const base = e & PTE_PFN_MASK & ~(PMD_SIZE - 1);
  const prot = (e & ~PTE_PFN_MASK) & ~(<u64>PTE_HUGE);
  for (let i: usize = 0; i < 512; i++) store<u64>(t + (i << 3), (base + (<u64>i << PAGE_SHIFT)) | prot);
  store<u64>(pmdPtr, (<u64>pfn << PAGE_SHIFT) | PAGE_TABLE);
  statInc(STAT_PGTABLE_SPLITS);
  return true;
}

// Pointer to the PTE slot of va; 0 when absent (or out of memory creating it).
export function ptePtr(va: u64, mode: i32): usize {
  if (arch == ARCH_ARM64 && ((va >> 55) & 1) == 0) return 0;    // TTBR0: no user mappings
  const pud = nextTable(pfnLin(pgdPfn) + (idx(va, 39) << 3), mode);
  if (pud == 0) return 0;
  const pmd = nextTable(pud + (idx(va, 30) << 3), mode);
  if (pmd == 0) return 0;
  const pmdEntry = pmd + (idx(va, 21) << 3);
  const e = load<u64>(pmdEntry);
  if ((e & PTE_PRESENT) != 0 && (e & PTE_HUGE) != 0) {
    if (mode == PTE_LOOKUP || !splitPmdAt(pmdEntry)) return 0;
  }
  const pte = nextTable(pmdEntry, mode);
  if (pte == 0) return 0;
  return pte + (idx(va, 12) << 3);
}

// The PMD entry slot of va (creating PUD/PMD tables), for 2 MiB mappings.
function pmdPtr(va: u64): usize {
  const pud = nextTable(pfnLin(pgdPfn) + (idx(va, 39) << 3), PTE_CREATE);
  if (pud == 0) return 0;
  const pmd = nextTable(pud + (idx(va, 30) << 3), PTE_CREATE);
  if (pmd == 0) return 0;
  return pmd + (idx(va, 21) << 3);
}

export function ptMapHuge(va: u64, pa: u64, prot: u64): bool {
  const p = pmdPtr(va);
  if (p == 0) return false;
  store<u64>(p, (pa & PTE_PFN_MASK) | prot | PTE_HUGE);
  return true;
}

// Install a 4 KiB mapping. No TLB flush: mapping a non-present page needs none;
// replacing a present one is the caller's business (it must flush).
export function ptMapPage(va: u64, pa: u64, prot: u64): bool {
  const p = ptePtr(va, PTE_CREATE);
  if (p == 0) return false;
  store<u64>(p, (pa & PTE_PFN_MASK) | prot);
  return true;
}

// Clear the PTE of va (splitting a huge mapping first). Returns the old entry.
// The caller must flush the TLB.
export function ptClearPage(va: u64): u64 {
  const p = ptePtr(va, PTE_SPLIT);
  if (p == 0) return 0;
  const old = load<u64>(p);
  store<u64>(p, 0);
  return old;
}

// Change the protection of a present 4 KiB mapping; false if not mapped.
// A protected page (present bit clear, as KFENCE leaves it) keeps its frame address.
export function ptSetProt(va: u64, prot: u64): bool {
  const p = ptePtr(va, PTE_SPLIT);
  if (p == 0) return false;
  const e = load<u64>(p);
  if ((e & PTE_PRESENT) == 0 && (e & PTE_PFN_MASK) == 0) return false;
  store<u64>(p, (e & PTE_PFN_MASK) | prot);
  return true;
}

// Split the 2 MiB mapping that contains va; false if none or out of memory.
export function ptSplit(va: u64): bool {
  const pud = nextTable(pfnLin(pgdPfn) + (idx(va, 39) << 3), PTE_LOOKUP);
  if (pud == 0) return false;
  const pmd = nextTable(pud + (idx(va, 30) << 3), PTE_LOOKUP);
  if (pmd == 0) return false;
  const p = pmd + (idx(va, 21) << 3);
  const e = load<u64>(p);
  if ((e & PTE_PRESENT) == 0 || (e & PTE_HUGE) == 0) return false;
  return splitPmdAt(p);
}

// apply_to_page_range: call fn(pte slot, va, data) for every page of
// [start, start + size); with create, missing tables are allocated (and
// shared early-shadow tables unshared). Stops at the first non-zero result.
export function applyToPageRange(start: u64, size: u64, fn: (pte: usize, va: u64, data: u64) => i32,
                                 data: u64, create: bool): i32 {
  const end = start + size;
  for (let va = start; va < end; va += PAGE_SIZE) {
    const p = ptePtr(va, create ? PTE_CREATE : PTE_LOOKUP);
    if (p == 0) { if (create) return -ENOMEM; continue; }
    const r = fn(p, va, data);
    if (r != 0) return r;
  }
  return 0;
}

// Host/test access to the walk record.
export function walk_entry(i: i32): u64 { return load<u64>(WALK_ENTRIES + (<usize>i << 3)); }
export function walk_levels(): u32 { return walkLevels; }
