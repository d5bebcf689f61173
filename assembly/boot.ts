// Boot: the machine comes up in the kernel's order, compressed. memblock
// carves mem_map, page tables, KASAN shadow, the kernel image, the stack depot
// and KFENCE's pool; then every other frame goes to the buddy and the slab
// caches come up.
import { BOOT_OK, BOOT_ENOMEM, BOOT_EINVAL, CFG_RAM_MB, CFG_KASAN, CFG_KASAN_MODE, CFG_KASAN_SEED,
         CFG_KASAN_VMALLOC, CFG_KASAN_MULTI_SHOT, CFG_KASAN_FAULT, CFG_STACK_DEPOT_MAX,
         CFG_KASAN_STACK_RING_SIZE, CFG_VMAP_STACK, CFG_KFENCE_CLOCK, KASAN_MODE_SW_TAGS, ARCH_ARM64, PAGE_SHIFT,
         PAGE_SIZE, USE_SHADOW, USE_METADATA, PHYS_BASE } from "../abi/abi";
import { cfg } from "./config";
import { layoutInit, arch, PAGE_OFFSET, kasanMemToShadow, KASAN_SHADOW_START, KASAN_SHADOW_END,
         KASAN_SHADOW_SCALE_SHIFT, physToLin } from "./mm/layout";
import { physInit, memblockAlloc, NO_PFN, nrFrames } from "./mm/phys";
import { buddyInit, memblockFreeAll, failInit } from "./mm/page_alloc";
import { pgtableInit, ptMapHuge, ptMapPage, PAGE_KERNEL, PAGE_KERNEL_LARGE, PAGE_KERNEL_RO, PAGE_TABLE,
         PMD_SIZE, pgdPfn, tableAlloc, setEarlyShadowTables } from "./mm/pgtable";
import { flush_tlb_all } from "./mm/tlb";
import { accessInit } from "./mm/access";
import { kasanMode, kasanSetMode, kasanSetVmalloc, kasanSetOptions, KASAN_OFF, KASAN_GENERIC, KASAN_SW_TAGS } from "./kasan/kasan";
import { shadowSetDirectMap } from "./kasan/shadow";
import { quarantineInit } from "./kasan/quarantine";
import { stackRingInit, StackRingEntry } from "./kasan/sw_tags";
import { kasanStackCacheFlush } from "./kasan/common";
import { kasanResetReported } from "./kasan/report";
import { kimageInit, imageDataVa, moduleVa, IMAGE_DATA_SIZE, MODULE_AREA_SIZE } from "./mm/kimage";
import { depotInit } from "./stackdepot";
import { slabInit } from "./mm/slub";
import { randomSeed } from "./random";
import { setVmapStack } from "./task_stack";
import { staticsFit, staticsClear } from "./statics";
import { clockInit } from "./task";
import { kfenceInit, kfenceInitEnable } from "./kfence/core";
import { kasanVmallocShadowInit } from "./kasan/vmalloc";
import { vmallocInit } from "./mm/vmalloc";
import { guestInit } from "./guest";

import { BOOT_STAGE_MEM_MAP, BOOT_STAGE_PAGING_INIT, BOOT_STAGE_KASAN_INIT, BOOT_STAGE_KIMAGE, BOOT_STAGE_KIMAGE_SHADOW, BOOT_STAGE_STACK_DEPOT, BOOT_STAGE_STACK_RING, BOOT_STAGE_KMEM_CACHE_INIT, BOOT_STAGE_VMALLOC_INIT } from "../abi/abi";
export let booted: bool = false;
// Which step failed, for the host's error message (0 = none).
export let failedStage: i32 = 0;
export function boot_failed_stage(): i32 { return failedStage; }
function fail(stage: i32, rc: i32): i32 { failedStage = stage; return rc; }

// Map all of RAM at PAGE_OFFSET: 2 MiB pages where aligned, 4 KiB for a tail.
function mapDirectMap(): bool {
  const bytes = <u64>nrFrames << PAGE_SHIFT;
  let pa: u64 = 0;
  for (; pa + PMD_SIZE <= bytes; pa += PMD_SIZE) {
    if (!ptMapHuge(PAGE_OFFSET + pa, pa, PAGE_KERNEL_LARGE)) return false;
  }
  for (; pa < bytes; pa += PAGE_SIZE) {
    if (!ptMapPage(PAGE_OFFSET + pa, pa, PAGE_KERNEL)) return false;
  }
  return true;
}

// kasan_init(): the read-only early shadow everywhere (one page, shared PTE,
// PMD and PUD tables), then real shadow for the direct map, the kernel image
// data and the module area. Shadow starts as KASAN_SHADOW_INIT: 0 for generic
// (accessible), 0xff for sw_tags (the native pointer tag: untagged kernel
// pointers match, tagged ones into memory nobody tagged do not).
function kasanInit(): bool {
  const page = memblockAlloc(1, 1, USE_SHADOW);
  const pte = tableAlloc(), pmd = tableAlloc(), pud = tableAlloc();
  if (page == NO_PFN || pte == NO_PFN || pmd == NO_PFN || pud == NO_PFN) return false;
  shadowInit(page, 1);
  for (let i: usize = 0; i < 512; i++) {
    store<u64>(physToLin(<u64>pte << PAGE_SHIFT) + (i << 3), (<u64>page << PAGE_SHIFT) | PAGE_KERNEL_RO);
    store<u64>(physToLin(<u64>pmd << PAGE_SHIFT) + (i << 3), (<u64>pte << PAGE_SHIFT) | PAGE_TABLE);
    store<u64>(physToLin(<u64>pud << PAGE_SHIFT) + (i << 3), (<u64>pmd << PAGE_SHIFT) | PAGE_TABLE);
  }
  setEarlyShadowTables(pud, pmd, pte);
  const pgd = physToLin(<u64>pgdPfn << PAGE_SHIFT);
  for (let va = KASAN_SHADOW_START; va < KASAN_SHADOW_END; va += <u64>1 << 39) {
    store<u64>(pgd + (<usize>((va >> 39) & 511) << 3), (<u64>pud << PAGE_SHIFT) | PAGE_TABLE);
  }
  // direct map: one contiguous block so shadow addresses are arithmetic
  const shadowBytes = (<u64>nrFrames << PAGE_SHIFT) >> KASAN_SHADOW_SCALE_SHIFT;
  const frames = <u32>((shadowBytes + PAGE_SIZE - 1) >> PAGE_SHIFT);
  const spfn = memblockAlloc(frames, 1, USE_SHADOW);
  if (spfn == NO_PFN) return false;
  shadowInit(spfn, frames);
  const s0 = kasanMemToShadow(PAGE_OFFSET);
  for (let i: u32 = 0; i < frames; i++) {
    if (!ptMapPage(s0 + (<u64>i << PAGE_SHIFT), (<u64>(spfn + i)) << PAGE_SHIFT, PAGE_KERNEL)) return false;
  }
  shadowSetDirectMap(spfn, <u64>frames << PAGE_SHIFT);
  return true;
}

// Real shadow for [va, va + bytes) (kernel image data, module area).
function populateShadow(va: u64, bytes: u64): bool {
  const s0 = kasanMemToShadow(va) & ~<u64>(PAGE_SIZE - 1);
  const s1 = (kasanMemToShadow(va + bytes) + PAGE_SIZE - 1) & ~<u64>(PAGE_SIZE - 1);
  for (let s = s0; s < s1; s += PAGE_SIZE) {
    const pfn = memblockAlloc(1, 1, USE_SHADOW);
    if (pfn == NO_PFN || !ptMapPage(s, <u64>pfn << PAGE_SHIFT, PAGE_KERNEL)) return false;
    shadowInit(pfn, 1);
  }
  return true;
}

function shadowInit(pfn: u32, frames: u32): void {
  if (kasanMode == KASAN_SW_TAGS) memory.fill(physToLin(<u64>pfn << PAGE_SHIFT), 0xff, <usize>frames << PAGE_SHIFT);
}

export function boot(): i32 {
  if (booted || !staticsFit()) return BOOT_EINVAL;
  staticsClear();
  layoutInit();
  accessInit(arch == ARCH_ARM64);
  guestInit();
  randomSeed(<u64>cfg(CFG_KASAN_SEED));
  clockInit(cfg(CFG_KFENCE_CLOCK) == 1);
  const ram = cfg(CFG_RAM_MB);
  if (ram < 8) return BOOT_EINVAL;
  if (!physInit(<u32>ram)) return fail(BOOT_STAGE_MEM_MAP, BOOT_ENOMEM);
  buddyInit();
  if (!pgtableInit() || !mapDirectMap()) return fail(BOOT_STAGE_PAGING_INIT, BOOT_ENOMEM);

  let mode = KASAN_OFF;
  if (cfg(CFG_KASAN) != 0) mode = cfg(CFG_KASAN_MODE) == KASAN_MODE_SW_TAGS ? KASAN_SW_TAGS : KASAN_GENERIC;
  kasanSetMode(mode);
  kasanSetVmalloc(mode != KASAN_OFF && cfg(CFG_KASAN_VMALLOC) != 0);
  kasanSetOptions(cfg(CFG_KASAN_MULTI_SHOT) != 0, <i32>cfg(CFG_KASAN_FAULT));
  kasanResetReported();
  kasanStackCacheFlush();
  setVmapStack(cfg(CFG_VMAP_STACK) != 0);
  if (mode != KASAN_OFF && !kasanInit()) return fail(BOOT_STAGE_KASAN_INIT, BOOT_ENOMEM);
  if (!kasanVmallocShadowInit()) return fail(BOOT_STAGE_KASAN_INIT, BOOT_ENOMEM);     // kasan.vmalloc: shadow on demand
  if (!kimageInit()) return fail(BOOT_STAGE_KIMAGE, BOOT_ENOMEM);
  if (mode != KASAN_OFF) {
    if (!populateShadow(imageDataVa, IMAGE_DATA_SIZE) || !populateShadow(moduleVa, MODULE_AREA_SIZE)) return fail(BOOT_STAGE_KIMAGE_SHADOW, BOOT_ENOMEM);
  }
  if (!depotInit(<u32>cfg(CFG_STACK_DEPOT_MAX))) return fail(BOOT_STAGE_STACK_DEPOT, BOOT_ENOMEM);
  if (mode == KASAN_SW_TAGS) {
    const entries = <u32>cfg(CFG_KASAN_STACK_RING_SIZE);
    const frames = (entries * <u32>offsetof<StackRingEntry>() + PAGE_SIZE - 1) >> PAGE_SHIFT;
    const pfn = memblockAlloc(frames, 1, USE_METADATA);
    if (pfn == NO_PFN) return fail(BOOT_STAGE_STACK_RING, BOOT_ENOMEM);
    stackRingInit(physToLin(<u64>pfn << PAGE_SHIFT), entries);
  }
  kfenceInit();
  memblockFreeAll();
  if (!vmallocInit()) return fail(BOOT_STAGE_VMALLOC_INIT, BOOT_ENOMEM);
  quarantineInit();
  if (!slabInit()) return fail(BOOT_STAGE_KMEM_CACHE_INIT, BOOT_ENOMEM);
  kfenceInitEnable();
  // fault injection counts from here: the boot has no fallbacks for a failed
  // allocation (the kernel's boot is spared by fail_page_alloc's default filters)
  failInit();
  flush_tlb_all();
  booted = true;
  return BOOT_OK;
}

// Bytes of linear memory the host must provide for `ramMb` of RAM.
