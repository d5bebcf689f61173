// CPUs as threads (issue 14): the machine state boot() leaves in wasm
// globals and nothing changes afterwards (docs/smp.md, class "M boot"). Each
// CPU is its own instance with its own globals, so CPU 0 publishes these in
// linear memory after boot and every other CPU copies them into its globals
// when it starts: the hot paths keep reading globals (or constants), and no
// use site changes. The lists follow docs/smp.md's "M boot" rows
// (test/smp/audit.test.ts checks both against the audit).
import { HOT_TABLE } from "./statics";
import { currentCpu, clockWall } from "./task";
import { booted, failedStage } from "./boot";
import { arch, PAGE_OFFSET, VMALLOC_START, VMALLOC_END, VMEMMAP_START, KASAN_SHADOW_OFFSET, KASAN_SHADOW_START, KASAN_SHADOW_END, KASAN_SHADOW_SCALE_SHIFT, KIMAGE_VADDR, KERNEL_TEXT, MODULES_VADDR, TASK_SIZE, KASAN_MEM_START } from "./mm/layout";
import { nrFrames, memMapLin, memMapPfn, memblockTop, memblockDone } from "./mm/phys";
import { pgdPfn, earlyPudPfn, earlyPmdPfn, earlyPtePfn } from "./mm/pgtable";
import { tagShift } from "./mm/access";
import { imagePfn, modulePfn, imageDataVa, moduleVa } from "./mm/kimage";
import { nrCpus } from "./mm/percpu";
import { kmemCacheBootVa } from "./mm/slub";
import { lazyMax } from "./mm/vmalloc";
import { untag, kasanMemToShadow } from "./mm/layout";
import { kasanMode, kasanVmalloc, faultMode, kasanGranuleShift, kasanGranuleSize } from "./kasan/kasan";
import { dmShadowStart, dmShadowEnd, dmShadowLin } from "./kasan/shadow";
import { nrCpus as quarantineNrCpus } from "./kasan/quarantine";
import { ringLin, ringSize } from "./kasan/sw_tags";
import { nObjects, hashSeed, initFailed, deferrable, skipThresh, checkOnPanic } from "./kfence/core";
import { tableLin, maxPools } from "./stackdepot";
import { nrCpus as slabNrCpus, slabMaxOrder, slabCacheAllocFn, slabCacheFreeFn, slabNearestObjFn } from "./mm/slab";
import { vmapStack } from "./task_stack";

// 8 bytes a global, between HOT_TABLE's switches and locks.ts's lines
// @ts-ignore: decorator
@inline const BOOT_STATE: usize = HOT_TABLE + 0x200;
// @ts-ignore: decorator
@inline const BOOT_STATE_SIZE: usize = 472;
// @ts-ignore: decorator
@inline const BOOT_STATE_READY: usize = BOOT_STATE + BOOT_STATE_SIZE;   // u32: 1 once published
// @ts-ignore: decorator
@inline export const SMP_MAX_CPUS: u32 = 8;

/** CPU 0, after boot: publish the boot state for the other CPUs. */
export function smp_boot_state_save(): void {
  store<u8>(BOOT_STATE + 0, booted ? 1 : 0);
  store<i32>(BOOT_STATE + 8, failedStage);
  store<i32>(BOOT_STATE + 16, arch);
  store<u64>(BOOT_STATE + 24, PAGE_OFFSET);
  store<u64>(BOOT_STATE + 32, VMALLOC_START);
  store<u64>(BOOT_STATE + 40, VMALLOC_END);
  store<u64>(BOOT_STATE + 48, VMEMMAP_START);
  store<u64>(BOOT_STATE + 56, KASAN_SHADOW_OFFSET);
  store<u64>(BOOT_STATE + 64, KASAN_SHADOW_START);
  store<u64>(BOOT_STATE + 72, KASAN_SHADOW_END);
  store<u32>(BOOT_STATE + 80, KASAN_SHADOW_SCALE_SHIFT);
  store<u64>(BOOT_STATE + 88, KIMAGE_VADDR);
  store<u64>(BOOT_STATE + 96, KERNEL_TEXT);
  store<u64>(BOOT_STATE + 104, MODULES_VADDR);
  store<u64>(BOOT_STATE + 112, TASK_SIZE);
  store<u64>(BOOT_STATE + 120, KASAN_MEM_START);
  store<u32>(BOOT_STATE + 128, nrFrames);
  store<usize>(BOOT_STATE + 136, memMapLin);
  store<u32>(BOOT_STATE + 144, memMapPfn);
  store<u32>(BOOT_STATE + 152, memblockTop);
  store<u8>(BOOT_STATE + 160, memblockDone ? 1 : 0);
  store<u32>(BOOT_STATE + 168, pgdPfn);
  store<u32>(BOOT_STATE + 176, earlyPudPfn);
  store<u32>(BOOT_STATE + 184, earlyPmdPfn);
  store<u32>(BOOT_STATE + 192, earlyPtePfn);
  store<u64>(BOOT_STATE + 200, tagShift);
  store<u32>(BOOT_STATE + 208, imagePfn);
  store<u32>(BOOT_STATE + 216, modulePfn);
  store<u64>(BOOT_STATE + 224, imageDataVa);
  store<u64>(BOOT_STATE + 232, moduleVa);
  store<u32>(BOOT_STATE + 240, nrCpus);
  store<u64>(BOOT_STATE + 248, kmemCacheBootVa);
  store<u64>(BOOT_STATE + 256, lazyMax);
  store<i32>(BOOT_STATE + 264, kasanMode);
  store<u8>(BOOT_STATE + 272, kasanVmalloc ? 1 : 0);
  store<i32>(BOOT_STATE + 280, faultMode);
  store<u32>(BOOT_STATE + 288, kasanGranuleShift);
  store<u32>(BOOT_STATE + 296, kasanGranuleSize);
  store<u64>(BOOT_STATE + 304, dmShadowStart);
  store<u64>(BOOT_STATE + 312, dmShadowEnd);
  store<usize>(BOOT_STATE + 320, dmShadowLin);
  store<u32>(BOOT_STATE + 328, quarantineNrCpus);
  store<usize>(BOOT_STATE + 336, ringLin);
  store<u32>(BOOT_STATE + 344, ringSize);
  store<u32>(BOOT_STATE + 352, nObjects);
  store<u32>(BOOT_STATE + 360, hashSeed);
  store<i32>(BOOT_STATE + 368, initFailed);
  store<u8>(BOOT_STATE + 376, deferrable ? 1 : 0);
  store<u64>(BOOT_STATE + 384, skipThresh);
  store<u8>(BOOT_STATE + 392, checkOnPanic ? 1 : 0);
  store<usize>(BOOT_STATE + 400, tableLin);
  store<u32>(BOOT_STATE + 408, maxPools);
  store<u8>(BOOT_STATE + 416, clockWall ? 1 : 0);
  store<u8>(BOOT_STATE + 424, vmapStack ? 1 : 0);
  store<u32>(BOOT_STATE + 432, slabNrCpus);
  store<u32>(BOOT_STATE + 440, slabMaxOrder);
  // SLAB or SLUB (shadowfence.slab=): function values are pointers into the read-only data
  store<u32>(BOOT_STATE + 448, changetype<u32>(slabCacheAllocFn));
  store<u32>(BOOT_STATE + 456, changetype<u32>(slabCacheFreeFn));
  store<u32>(BOOT_STATE + 464, changetype<u32>(slabNearestObjFn));
  atomic.store<u32>(BOOT_STATE_READY, 1);
}

/**
 * A CPU other than 0 starts: copy the boot state into this instance's globals
 * and become CPU `cpu`. Returns 0, or -1 when the state is not published or
 * the CPU number is out of range (then nothing changes).
 */
export function smp_secondary_start(cpu: u32): i32 {
  if (cpu == 0 || cpu >= SMP_MAX_CPUS || atomic.load<u32>(BOOT_STATE_READY) != 1) return -1;
  booted = load<u8>(BOOT_STATE + 0) != 0;
  failedStage = load<i32>(BOOT_STATE + 8);
  arch = load<i32>(BOOT_STATE + 16);
  PAGE_OFFSET = load<u64>(BOOT_STATE + 24);
  VMALLOC_START = load<u64>(BOOT_STATE + 32);
  VMALLOC_END = load<u64>(BOOT_STATE + 40);
  VMEMMAP_START = load<u64>(BOOT_STATE + 48);
  KASAN_SHADOW_OFFSET = load<u64>(BOOT_STATE + 56);
  KASAN_SHADOW_START = load<u64>(BOOT_STATE + 64);
  KASAN_SHADOW_END = load<u64>(BOOT_STATE + 72);
  KASAN_SHADOW_SCALE_SHIFT = load<u32>(BOOT_STATE + 80);
  KIMAGE_VADDR = load<u64>(BOOT_STATE + 88);
  KERNEL_TEXT = load<u64>(BOOT_STATE + 96);
  MODULES_VADDR = load<u64>(BOOT_STATE + 104);
  TASK_SIZE = load<u64>(BOOT_STATE + 112);
  KASAN_MEM_START = load<u64>(BOOT_STATE + 120);
  nrFrames = load<u32>(BOOT_STATE + 128);
  memMapLin = load<usize>(BOOT_STATE + 136);
  memMapPfn = load<u32>(BOOT_STATE + 144);
  memblockTop = load<u32>(BOOT_STATE + 152);
  memblockDone = load<u8>(BOOT_STATE + 160) != 0;
  pgdPfn = load<u32>(BOOT_STATE + 168);
  earlyPudPfn = load<u32>(BOOT_STATE + 176);
  earlyPmdPfn = load<u32>(BOOT_STATE + 184);
  earlyPtePfn = load<u32>(BOOT_STATE + 192);
  tagShift = load<u64>(BOOT_STATE + 200);
  imagePfn = load<u32>(BOOT_STATE + 208);
  modulePfn = load<u32>(BOOT_STATE + 216);
  imageDataVa = load<u64>(BOOT_STATE + 224);
  moduleVa = load<u64>(BOOT_STATE + 232);
  nrCpus = load<u32>(BOOT_STATE + 240);
  kmemCacheBootVa = load<u64>(BOOT_STATE + 248);
  lazyMax = load<u64>(BOOT_STATE + 256);
  kasanMode = load<i32>(BOOT_STATE + 264);
  kasanVmalloc = load<u8>(BOOT_STATE + 272) != 0;
  faultMode = load<i32>(BOOT_STATE + 280);
  kasanGranuleShift = load<u32>(BOOT_STATE + 288);
  kasanGranuleSize = load<u32>(BOOT_STATE + 296);
  dmShadowStart = load<u64>(BOOT_STATE + 304);
  dmShadowEnd = load<u64>(BOOT_STATE + 312);
  dmShadowLin = load<usize>(BOOT_STATE + 320);
  quarantineNrCpus = load<u32>(BOOT_STATE + 328);
  ringLin = load<usize>(BOOT_STATE + 336);
  ringSize = load<u32>(BOOT_STATE + 344);
  nObjects = load<u32>(BOOT_STATE + 352);
  hashSeed = load<u32>(BOOT_STATE + 360);
  initFailed = load<i32>(BOOT_STATE + 368);
  deferrable = load<u8>(BOOT_STATE + 376) != 0;
  skipThresh = load<u64>(BOOT_STATE + 384);
  checkOnPanic = load<u8>(BOOT_STATE + 392) != 0;
  tableLin = load<usize>(BOOT_STATE + 400);
  maxPools = load<u32>(BOOT_STATE + 408);
  clockWall = load<u8>(BOOT_STATE + 416) != 0;
  vmapStack = load<u8>(BOOT_STATE + 424) != 0;
  slabNrCpus = load<u32>(BOOT_STATE + 432);
  slabMaxOrder = load<u32>(BOOT_STATE + 440);
  slabCacheAllocFn = changetype<(c: usize, id: u32, gfp: u32) => usize>(load<u32>(BOOT_STATE + 448));
  slabCacheFreeFn = changetype<(c: usize, slabPfn: u32, lin: usize) => void>(load<u32>(BOOT_STATE + 456));
  slabNearestObjFn = changetype<(c: usize, slabPfn: u32, va: u64) => u64>(load<u32>(BOOT_STATE + 464));
  currentCpu = cpu;
  return 0;
}

/**
 * The KASAN shadow byte of a direct-map address, read from the boot state
 * alone (layout, shadow placement, mode): -1 when KASAN is off or va is not
 * in the direct map. Lets a test see that a CPU started with the state CPU 0
 * booted, without the TLB or the page tables.
 */
export function smp_probe_shadow(va: u64): i32 {
  if (kasanMode == 0) return -1;
  const sva = kasanMemToShadow(untag(va));
  if (sva - dmShadowStart >= dmShadowEnd - dmShadowStart) return -1;
  return <i32>load<u8>(dmShadowLin + <usize>(sva - dmShadowStart));
}
/** This instance's CPU number (0 until smp_secondary_start). */
export function smp_processor_id(): u32 { return currentCpu; }
