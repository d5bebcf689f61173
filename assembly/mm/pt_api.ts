// Page-table operations as the host (and the model tests) call them: map,
// unmap, protect, split, translate. Every change that can leave a stale
// translation flushes the TLB for the range, as the kernel's callers do.
import { PAGE_SHIFT, PAGE_SIZE, PTE_RW, USE_PAGES } from "../../abi/abi";
import { ptMapPage, ptClearPage, ptSetProt, ptSplit, ptWalk, walkLeaf, ptePtr, PTE_LOOKUP,
         PAGE_KERNEL, PAGE_KERNEL_RO, PTE_NX, PMD_SIZE } from "./pgtable";
import { flush_tlb_one, flush_tlb_kernel_range } from "./tlb";
import { allocPagesPfn, freePagesPfn } from "./page_alloc";
import { NO_PFN } from "./phys";
import { isCanonical } from "./layout";
import { PTE_PRESENT } from "../../abi/abi";

// Map one page; 1 ok, 0 out of memory, -1 bad arguments.
export function pt_map(va: u64, pa: u64, writable: i32): i32 {
  if ((va & (PAGE_SIZE - 1)) != 0 || (pa & (PAGE_SIZE - 1)) != 0 || !isCanonical(va)) return -1;
  const p = ptePtr(va, PTE_LOOKUP);
  const wasPresent = p != 0 && (load<u64>(p) & PTE_PRESENT) != 0;
  if (!ptMapPage(va, pa, writable ? PAGE_KERNEL : PAGE_KERNEL_RO)) return 0;
  if (wasPresent) flush_tlb_one(va);
  return 1;
}
export function pt_unmap(va: u64): i32 {
  if (!isCanonical(va)) return -1;
  ptClearPage(va & ~<u64>(PAGE_SIZE - 1));
  flush_tlb_one(va);
  return 1;
}
// Change protection: 0 not present, 1 read-only, 2 read-write. 0 if unmapped.
export function pt_protect(va: u64, prot: i32): i32 {
  if (!isCanonical(va)) return -1;
  const p = prot == 2 ? PAGE_KERNEL : prot == 1 ? PAGE_KERNEL_RO : (PAGE_KERNEL & ~<u64>PTE_PRESENT);
  const ok = ptSetProt(va & ~<u64>(PAGE_SIZE - 1), p);
  flush_tlb_one(va);
  return ok ? 1 : 0;
}
export function pt_split(va: u64): i32 {
  if (!isCanonical(va)) return -1;
  const ok = ptSplit(va);
  if (ok) flush_tlb_kernel_range(va & ~(PMD_SIZE - 1), (va & ~(PMD_SIZE - 1)) + PMD_SIZE);
  return ok ? 1 : 0;
}
// Physical address behind va (-1 if not mapped); writable() after it tells RW.
export function pt_translate(va: u64): i64 {
  if (!isCanonical(va)) return -1;
  const pa = ptWalk(va);
  if (pa == u64.MAX_VALUE) return -1;
  return <i64>pa | ((walkLeaf & PTE_RW) != 0 ? <i64>1 << 62 : 0);
}
// A PTE write without the flush: for the test that proves stale entries are caught.
export function pt_set_pte_noflush(va: u64, pa: u64, prot: i32): i32 {
  const p = ptePtr(va, PTE_LOOKUP);
  if (p == 0) return 0;
  store<u64>(p, prot == 0 ? 0 : ((pa & 0x000ffffffffff000) | (prot == 2 ? PAGE_KERNEL : PAGE_KERNEL_RO)));
  return 1;
}
// Frames for the model test's mappings.
export function pt_alloc_frame(): i64 {
  const pfn = allocPagesPfn(0, USE_PAGES);
  return pfn == NO_PFN ? -1 : <i64>pfn << PAGE_SHIFT;
}
