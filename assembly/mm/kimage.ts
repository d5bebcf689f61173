// The kernel image's data area and the module area: where registered globals
// live (global-out-of-bounds). Both are real frames from memblock, mapped at
// the kernel's addresses (_text / MODULES_VADDR) with real KASAN shadow, so a
// global's redzone is poisoned like the compiler's __asan_register_globals does.
import { PAGE_SHIFT, PAGE_SIZE, USE_KERNEL } from "../../abi/abi";
import { memblockAlloc, NO_PFN } from "./phys";
import { ptMapPage, PAGE_KERNEL } from "./pgtable";
import { KERNEL_TEXT, MODULES_VADDR, physToLin } from "./layout";
import { MACHINE_STATE } from "../statics";

// @ts-ignore: decorator
@inline export const IMAGE_DATA_SIZE: u32 = 1 << 20;
// @ts-ignore: decorator
@inline export const MODULE_AREA_SIZE: u32 = 1 << 20;
// the data area starts after a text-sized gap, as .data follows .text
// @ts-ignore: decorator
@inline const IMAGE_DATA_OFFSET: u64 = 0x2000000;

export let imagePfn: u32 = NO_PFN;
export let modulePfn: u32 = NO_PFN;
export let imageDataVa: u64 = 0;
export let moduleVa: u64 = 0;
// @ts-ignore: decorator
@unmanaged class KimageState { imageUsed: u32; moduleUsed: u32; }
// the machine's, not this CPU's: linear memory (docs/smp.md, "The audit")
export const KIS = changetype<KimageState>(MACHINE_STATE + 0x1000);
if (offsetof<KimageState>() > 0x100) ERROR("KimageState overflows its 0x100 bytes of MACHINE_STATE");

function mapRegion(va: u64, pfn: u32, bytes: u32): bool {
  for (let off: u32 = 0; off < bytes; off += PAGE_SIZE) {
    if (!ptMapPage(va + off, (<u64>pfn << PAGE_SHIFT) + off, PAGE_KERNEL)) return false;
  }
  return true;
}

export function kimageInit(): bool {
  imagePfn = memblockAlloc(IMAGE_DATA_SIZE >> PAGE_SHIFT, 1, USE_KERNEL);
  modulePfn = memblockAlloc(MODULE_AREA_SIZE >> PAGE_SHIFT, 1, USE_KERNEL);
  if (imagePfn == NO_PFN || modulePfn == NO_PFN) return false;
  imageDataVa = KERNEL_TEXT + IMAGE_DATA_OFFSET;
  moduleVa = MODULES_VADDR + 0x1000000;
  KIS.imageUsed = 0; KIS.moduleUsed = 0;
  return mapRegion(imageDataVa, imagePfn, IMAGE_DATA_SIZE) && mapRegion(moduleVa, modulePfn, MODULE_AREA_SIZE);
}

// Space for a global of `total` bytes (object + redzone), 32-byte aligned like
// the compiler's globals. 0 when the area is full.
export function kimage_global_alloc(total: u32, inModule: i32): u64 {
  const size = (total + 31) & ~31;
  if (inModule != 0) {
    if (KIS.moduleUsed + size > MODULE_AREA_SIZE) return 0;
    const va = moduleVa + KIS.moduleUsed;
    KIS.moduleUsed += size;
    return va;
  }
  if (KIS.imageUsed + size > IMAGE_DATA_SIZE) return 0;
  const va = imageDataVa + KIS.imageUsed;
  KIS.imageUsed += size;
  return va;
}

// The frame behind a kernel-image address (the page section of reports), or
// NO_PFN. virt_addr_valid() holds for the image but not for module space, so
// module addresses get no page section, as in the kernel.
export function kernelImagePfn(va: u64): u32 {
  if (va - imageDataVa < <u64>IMAGE_DATA_SIZE && imagePfn != NO_PFN) return imagePfn + <u32>((va - imageDataVa) >> PAGE_SHIFT);
  return NO_PFN;
}
export function kimage_data_va(): u64 { return imageDataVa; }
// Linear address behind an image-data address (statics the kernel keeps in .data).
export function kimageLin(va: u64): usize { return physToLin(<u64>imagePfn << PAGE_SHIFT) + <usize>(va - imageDataVa); }
