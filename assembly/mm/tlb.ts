// The software TLB: direct mapped, one entry per virtual page, filled by a
// page-table walk on a miss and emptied by the flush calls (flush_tlb_one,
// flush_tlb_kernel_range). Checked accesses hit it first.
//
// A TLB entry is a TlbEntry (32 bytes, below). A hit is one subtraction and one unsigned compare: va - base <= 4096 - size
// (which also rules out an access crossing into the next page). Permissions
// are separate comparators, as in QEMU's softmmu, so a hit tests no flag bits.
// The marker of slot i is the base of page i+1: a VA in that page indexes slot
// i+1, so a marker can never match.
import { PAGE_SHIFT, PAGE_SIZE, PTE_RW, STAT_TLB_FLUSHES, STAT_TLB_FLUSH_ALL, STAT_TLB_MISSES,
         PF_PROT, PF_WRITE, PF_RSVD, PHYS_BASE } from "../../abi/abi";
import { nrFrames } from "./phys";
import { ptWalk, walkLeaf, walkLeafShift, walkRsvd } from "./pgtable";
import { physToLin, kasanMemToShadow, kasanShadowToMem, KASAN_SHADOW_START, KASAN_SHADOW_END,
         KASAN_SHADOW_SCALE_SHIFT } from "./layout";
import { statInc } from "../stats";
import { TLB_TABLE } from "../statics";
import { kasanMode, KASAN_OFF } from "../kasan/kasan";

// @ts-ignore: decorator
@inline export const TLB_BITS: u32 = 12;
// @ts-ignore: decorator
@inline export const TLB_ENTRIES: u32 = 1 << TLB_BITS;
// @ts-ignore: decorator
@inline export const TLB_MASK: u32 = TLB_ENTRIES - 1;
// @ts-ignore: decorator
@inline export const TLB_ENTRY_SHIFT: u32 = 5;
// the kernel's tlb_single_page_flush_ceiling: larger ranges flush everything
// @ts-ignore: decorator
@inline const FLUSH_CEILING: u64 = 33;

// @ts-ignore: decorator
@inline export const TLB_BASE: usize = TLB_TABLE;

// One TLB slot (an unmanaged layout over the TLB table: field reads are plain
// loads at fixed offsets).
// @ts-ignore: decorator
@unmanaged export class TlbEntry {
  readBase: u64;    // page VA if readable, else the slot's marker
  writeBase: u64;   // page VA if writable, else the slot's marker
  lin: u32;         // engine linear address of the frame
  shadowLin: u32;   // linear address of the page's first KASAN shadow byte (KASAN on)
  leaf: u64;        // the PTE/PMD it was filled from
}
if (offsetof<TlbEntry>() != 1 << TLB_ENTRY_SHIFT) ERROR("TlbEntry must be 1 << TLB_ENTRY_SHIFT bytes");

// @ts-ignore: decorator
@inline export function tlbEntry(va: u64): TlbEntry {
  return changetype<TlbEntry>(TLB_BASE + ((<usize>(va >>> PAGE_SHIFT) & TLB_MASK) << TLB_ENTRY_SHIFT));
}
// @ts-ignore: decorator
@inline function tlbSlot(slot: u32): TlbEntry { return changetype<TlbEntry>(TLB_BASE + (<usize>slot << TLB_ENTRY_SHIFT)); }
// @ts-ignore: decorator
@inline function marker(slot: u32): u64 { return <u64>((slot + 1) & TLB_MASK) << PAGE_SHIFT; }

function invalidateSlot(slot: u32): void {
  const e = tlbSlot(slot);
  const m = marker(slot);
  e.readBase = m;
  e.writeBase = m;
  e.lin = 0;
  e.shadowLin = 0;
  e.leaf = 0;
}

export function flush_tlb_all(): void {
  for (let i: u32 = 0; i < TLB_ENTRIES; i++) invalidateSlot(i);
  statInc(STAT_TLB_FLUSH_ALL);
}

// @ts-ignore: decorator
@inline function flushPage(pageVa: u64): void {
  const slot = <u32>(pageVa >>> PAGE_SHIFT) & TLB_MASK;
  const e = tlbSlot(slot);
  if (e.readBase == pageVa || e.writeBase == pageVa) invalidateSlot(slot);
}

export function flush_tlb_one(va: u64): void {
  flushRange(va & ~<u64>(PAGE_SIZE - 1), (va & ~<u64>(PAGE_SIZE - 1)) + PAGE_SIZE);
  statInc(STAT_TLB_FLUSHES);
}

// flush_tlb_kernel_range(start, end). An entry caches its page's shadow pointer
// too, so flushing shadow pages also drops the data pages they describe.
export function flush_tlb_kernel_range(start: u64, end: u64): void {
  statInc(STAT_TLB_FLUSHES);
  flushRange(start & ~<u64>(PAGE_SIZE - 1), end);
}

function flushRange(start: u64, end: u64): void {
  if (end <= start) return;
  const pages = (end - start + PAGE_SIZE - 1) >> PAGE_SHIFT;
  if (pages > FLUSH_CEILING) { flush_tlb_all(); return; }
  for (let va = start; va < end; va += PAGE_SIZE) flushPage(va);
  if (kasanMode != KASAN_OFF && end > KASAN_SHADOW_START && start < KASAN_SHADOW_END) {
    const memStart = kasanShadowToMem(start);
    const memPages = pages << KASAN_SHADOW_SCALE_SHIFT;
    if (memPages > FLUSH_CEILING) { flush_tlb_all(); return; }
    for (let i: u64 = 0; i < memPages; i++) flushPage(memStart + (i << PAGE_SHIFT));
  }
}

// Fill the entry for (untagged) va. Returns 0 on success or a #PF error code
// with bit 31 set when the walk faults (not present, or a write to a read-only page).
// @ts-ignore: decorator
@inline export const TLB_FAULT: u32 = 0x80000000;
export function tlbFill(va: u64, write: bool): u32 {
  statInc(STAT_TLB_MISSES);
  const pa = ptWalk(va);
  if (pa == u64.MAX_VALUE) return TLB_FAULT | (walkRsvd ? PF_PROT | PF_RSVD : 0) | (write ? PF_WRITE : 0);
  const leaf = walkLeaf;
  const writable = (leaf & PTE_RW) != 0;
  if (write && !writable) return TLB_FAULT | PF_PROT | PF_WRITE;
  const pageVa = va & ~<u64>(PAGE_SIZE - 1);
  let shadowLin: u32 = 0;
  if (kasanMode != KASAN_OFF) {
    const spa = ptWalk(kasanMemToShadow(pageVa));
    // no shadow mapped: leave the page out of the TLB so every access takes the
    // slow path, whose shadow read then faults as the kernel's would
    if (spa == u64.MAX_VALUE) return 0;
    shadowLin = <u32>physToLin(spa);
  }
  const e = tlbEntry(va);
  e.readBase = pageVa;
  e.writeBase = writable ? pageVa : marker(<u32>(pageVa >>> PAGE_SHIFT) & TLB_MASK);
  e.lin = <u32>physToLin(pa & ~<u64>(PAGE_SIZE - 1));
  e.shadowLin = shadowLin;
  e.leaf = leaf;
  if (isDefined(SF_CHECKS)) checkFill(e, va, writable);
  return 0;
}

// Debug build: a filled entry names a whole frame of RAM (and, KASAN on, the
// frame's shadow), for the page of va, with the permissions of its leaf.
function checkFill(e: TlbEntry, va: u64, writable: bool): void {
  const ramEnd = <usize>PHYS_BASE + (<usize>nrFrames << PAGE_SHIFT);
  assert(e.readBase == (va & ~<u64>(PAGE_SIZE - 1)) && tlbEntry(e.readBase) == e, "TLB fill: entry not for the page's slot");
  assert((e.writeBase == e.readBase) == writable, "TLB fill: write base disagrees with the leaf");
  assert((e.lin & (PAGE_SIZE - 1)) == 0 && <usize>e.lin >= <usize>PHYS_BASE && <usize>e.lin < ramEnd, "TLB fill: frame outside RAM");
  assert(kasanMode == KASAN_OFF || (<usize>e.shadowLin >= <usize>PHYS_BASE && <usize>e.shadowLin < ramEnd), "TLB fill: shadow outside RAM");
}

// Debug/test invariant: every valid entry agrees with a fresh walk. Returns the
// number of stale entries (0 when the TLB is coherent).
export function tlb_check_coherent(): i32 {
  let stale = 0;
  for (let i: u32 = 0; i < TLB_ENTRIES; i++) {
    const e = tlbSlot(i);
    const rb = e.readBase;
    if (rb == marker(i)) continue;
    const pa = ptWalk(rb);
    if (pa == u64.MAX_VALUE) { stale++; continue; }
    if (<u32>physToLin(pa) != e.lin) { stale++; continue; }
    const wb = e.writeBase;
    if (wb == rb && (walkLeaf & PTE_RW) == 0) { stale++; continue; }
    if (kasanMode != KASAN_OFF) {
      const spa = ptWalk(kasanMemToShadow(rb));
      if (spa == u64.MAX_VALUE || <u32>physToLin(spa) != e.shadowLin) stale++;
    }
  }
  return stale;
}

export function tlb_base(): usize { return TLB_BASE; }
// keep the shift of a leaf available for callers that print it
export function tlbLeafShift(): u32 { return walkLeafShift; }

// ── vmalloc: flush exactly the pages of a data range ────────────────────────
// Unmapping a vmalloc area: each page's own slot is checked, which drops the
// same entries as flush_tlb_kernel_range without the whole-TLB flush its
// ceiling picks for ranges over 33 pages. Not for shadow ranges (those also
// drop the data pages they describe: use flush_tlb_kernel_range).
export function flushTlbPages(start: u64, end: u64): void {
  if (end <= start) return;
  statInc(STAT_TLB_FLUSHES);
  if ((end - start) >> PAGE_SHIFT >= <u64>TLB_ENTRIES) { flush_tlb_all(); return; }
  for (let va = start & ~<u64>(PAGE_SIZE - 1); va < end; va += PAGE_SIZE) flushPage(va);
}
