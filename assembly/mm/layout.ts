// The kernel's virtual memory layout, per architecture, chosen at boot.
//
// x86_64, 4-level paging (Documentation/arch/x86/x86_64/mm.rst):
//   0000000000000000 - 00007fffffffffff  user space
//   ffff888000000000 - ffffc87fffffffff  direct map of all physical memory (page_offset_base)
//   ffffc90000000000 - ffffe8ffffffffff  vmalloc/ioremap space
//   ffffea0000000000 - ffffeaffffffffff  vmemmap (struct page array)
//   ffffec0000000000 - fffffbffffffffff  KASAN shadow memory
//   ffffffff80000000 - ffffffff9fffffff  kernel text mapping (phys 0)
//   ffffffffa0000000 - fffffffffeffffff  modules
// arm64, 48-bit VA, 4 KiB pages (Documentation/arch/arm64/memory.rst):
//   ffff000000000000 - ffff7fffffffffff  linear map (KASAN shadow at its top)
//   ffff800000000000 - ffff80007fffffff  modules
//   ffff800080000000 - fffffbffefffffff  vmalloc (kernel image at its start)
//   fffffc0000000000 - fffffdffffffffff  vmemmap
import { cfg } from "../config";
import { ARCH_ARM64, CFG_ARCH, CFG_KASAN_MODE, KASAN_MODE_SW_TAGS, PHYS_BASE } from "../../abi/abi";
import { LAYOUT_PAGE_OFFSET, LAYOUT_VMEMMAP_START, LAYOUT_KASAN_SHADOW_OFFSET, LAYOUT_KASAN_SHADOW_START,
         LAYOUT_KASAN_SHADOW_END, LAYOUT_TASK_SIZE, LAYOUT_VMALLOC_START, LAYOUT_VMALLOC_END,
         LAYOUT_KERNEL_TEXT } from "../../abi/abi";

export let arch: i32 = 0;
export let PAGE_OFFSET: u64 = 0xffff888000000000;
export let VMALLOC_START: u64 = 0xffffc90000000000;
export let VMALLOC_END: u64 = 0xffffe90000000000;      // exclusive
export let VMEMMAP_START: u64 = 0xffffea0000000000;
export let KASAN_SHADOW_OFFSET: u64 = 0xdffffc0000000000;
export let KASAN_SHADOW_START: u64 = 0xffffec0000000000;
export let KASAN_SHADOW_END: u64 = 0xfffffc0000000000;  // exclusive
export let KASAN_SHADOW_SCALE_SHIFT: u32 = 3;
export let KIMAGE_VADDR: u64 = 0xffffffff80000000;     // __START_KERNEL_map (phys 0)
export let KERNEL_TEXT: u64 = 0xffffffff81000000;      // _text
export let MODULES_VADDR: u64 = 0xffffffffa0000000;
export let MODULES_END: u64 = 0xffffffffff000000;
export let TASK_SIZE: u64 = 0x00007ffffffff000;       // TASK_SIZE_MAX
// lowest kernel address that has KASAN shadow (kasan_shadow_to_mem(KASAN_SHADOW_START))
export let KASAN_MEM_START: u64 = 0xffff800000000000;

export function layoutInit(): void {
  arch = <i32>cfg(CFG_ARCH);
  if (arch == ARCH_ARM64) {
    const tags = cfg(CFG_KASAN_MODE) == KASAN_MODE_SW_TAGS;
    PAGE_OFFSET = 0xffff000000000000;
    MODULES_VADDR = 0xffff800000000000;
    MODULES_END = 0xffff800080000000;
    KIMAGE_VADDR = 0xffff800080000000;
    KERNEL_TEXT = 0xffff800080000000;
    VMALLOC_START = 0xffff800080000000;
    VMALLOC_END = 0xfffffbfff0000000;
    VMEMMAP_START = 0xfffffc0000000000;
    TASK_SIZE = 0x0001000000000000;
    KASAN_SHADOW_SCALE_SHIFT = tags ? 4 : 3;
    KASAN_SHADOW_OFFSET = tags ? 0xefff800000000000 : 0xdfff800000000000;
    KASAN_SHADOW_END = 0xffff800000000000;
    KASAN_SHADOW_START = tags ? 0xffff700000000000 : 0xffff600000000000;
    KASAN_MEM_START = 0xffff000000000000;
  }
}

// The layout as the host reads it once after boot (LAYOUT_*), so it never keeps its own copy.
export function layout_value(slot: i32): u64 {
  switch (slot) {
    case LAYOUT_PAGE_OFFSET: return PAGE_OFFSET;
    case LAYOUT_VMEMMAP_START: return VMEMMAP_START;
    case LAYOUT_KASAN_SHADOW_OFFSET: return KASAN_SHADOW_OFFSET;
    case LAYOUT_KASAN_SHADOW_START: return KASAN_SHADOW_START;
    case LAYOUT_KASAN_SHADOW_END: return KASAN_SHADOW_END;
    case LAYOUT_TASK_SIZE: return TASK_SIZE;
    case LAYOUT_VMALLOC_START: return VMALLOC_START;
    case LAYOUT_VMALLOC_END: return VMALLOC_END;
    case LAYOUT_KERNEL_TEXT: return KERNEL_TEXT;
  }
  return 0;
}

// Tag-based KASAN keeps a tag in bits 56..63; the MMU ignores it (TBI) and the
// kernel's canonical kernel pointer has 0xff there.
// @ts-ignore: decorator
@inline export function untag(va: u64): u64 {
  return arch == ARCH_ARM64 ? (va | 0xff00000000000000) : va;
}

// __pa / __va for the direct map
// @ts-ignore: decorator
@inline export function __pa(va: u64): u64 { return va - PAGE_OFFSET; }
// @ts-ignore: decorator
@inline export function __va(pa: u64): u64 { return pa + PAGE_OFFSET; }
// physical address -> engine linear address
// @ts-ignore: decorator
@inline export function physToLin(pa: u64): usize { return <usize>PHYS_BASE + <usize>pa; }
// direct-map virtual address -> engine linear address (no checks: kernel-internal use)
// @ts-ignore: decorator
@inline export function dmLin(va: u64): usize { return <usize>PHYS_BASE + <usize>(va - PAGE_OFFSET); }

// x86_64: bits 63..47 all equal. arm64: bits 55..48 equal to bit 55 (TBI ignores 56..63).
export function isCanonical(va: u64): bool {
  if (arch == ARCH_ARM64) {
    const top = (va >> 48) & 0xff;
    return top == 0 || top == 0xff;
  }
  const top = <i64>va >> 47;
  return top == 0 || top == -1;
}

// @ts-ignore: decorator
@inline export function kasanMemToShadow(va: u64): u64 {
  return (va >> KASAN_SHADOW_SCALE_SHIFT) + KASAN_SHADOW_OFFSET;
}
// @ts-ignore: decorator
@inline export function kasanShadowToMem(sva: u64): u64 {
  return (sva - KASAN_SHADOW_OFFSET) << KASAN_SHADOW_SCALE_SHIFT;
}
