// KASAN's private header (mm/kasan/kasan.h): shadow codes, granule geometry and
// the boot-time mode.

import { HOT_KASAN_MODE, MACHINE_STATE } from "../statics";
import * as abi from "../../abi/abi";

// The mode (abi.ts's KASAN_MODE_*, short names for the core).
// @ts-ignore: decorator
@inline export const KASAN_OFF: i32 = abi.KASAN_MODE_OFF;
// @ts-ignore: decorator
@inline export const KASAN_GENERIC: i32 = abi.KASAN_MODE_GENERIC;
// @ts-ignore: decorator
@inline export const KASAN_SW_TAGS: i32 = abi.KASAN_MODE_SW_TAGS;
export let kasanMode: i32 = KASAN_OFF;
export let kasanVmalloc: bool = false;
export let faultMode: i32 = 0;
export let kasanGranuleShift: u32 = 3;
export let kasanGranuleSize: u32 = 8;

// the machine's, not this CPU's: linear memory (docs/smp.md, "The audit")
// @ts-ignore: decorator
@unmanaged class KasanState { multiShot: bool; }
export const KS = changetype<KasanState>(MACHINE_STATE + 0x500);
if (offsetof<KasanState>() > 0x100) ERROR("KasanState outgrew its MACHINE_STATE slot");

// The fast paths read the mode from linear memory (see statics.ts).
// @ts-ignore: decorator
@inline export function kasanModeHot(): i32 { return load<i32>(HOT_KASAN_MODE); }

export function kasanSetMode(mode: i32): void {
  kasanMode = mode;
  store<i32>(HOT_KASAN_MODE, mode);
  kasanGranuleShift = mode == KASAN_SW_TAGS ? 4 : 3;
  kasanGranuleSize = 1 << kasanGranuleShift;
}
export function kasanSetVmalloc(on: bool): void { kasanVmalloc = on; }
export function kasanSetOptions(multi: bool, fault: i32): void { KS.multiShot = multi; faultMode = fault; }
export function kasan_multi_shot(on: i32): void { KS.multiShot = on != 0; }

// Generic shadow byte values: 0 = all 8 bytes accessible, 1..7 = first N bytes.
// @ts-ignore: decorator
@inline export const KASAN_PAGE_FREE: u8 = <u8>abi.KASAN_PAGE_FREE;        // freed page (buddy)
// @ts-ignore: decorator
@inline export const KASAN_PAGE_REDZONE: u8 = <u8>abi.KASAN_PAGE_REDZONE;     // tail of a large kmalloc's pages
// @ts-ignore: decorator
@inline export const KASAN_SLAB_REDZONE: u8 = <u8>abi.KASAN_SLAB_REDZONE;     // slab redzone, unused slot, object tail
// @ts-ignore: decorator
@inline export const KASAN_SLAB_FREE: u8 = <u8>abi.KASAN_SLAB_FREE;        // freed slab object
// @ts-ignore: decorator
@inline export const KASAN_SLAB_FREE_META: u8 = <u8>abi.KASAN_SLAB_FREE_META;   // first granule of a freed object with free meta
// @ts-ignore: decorator
@inline export const KASAN_GLOBAL_REDZONE: u8 = <u8>abi.KASAN_GLOBAL_REDZONE;
// @ts-ignore: decorator
@inline export const KASAN_VMALLOC_INVALID: u8 = <u8>abi.KASAN_VMALLOC_INVALID;  // vmalloc shadow outside a live mapping
// @ts-ignore: decorator
@inline export const KASAN_STACK_LEFT: u8 = <u8>abi.KASAN_STACK_LEFT;
// @ts-ignore: decorator
@inline export const KASAN_STACK_MID: u8 = <u8>abi.KASAN_STACK_MID;
// @ts-ignore: decorator
@inline export const KASAN_STACK_RIGHT: u8 = <u8>abi.KASAN_STACK_RIGHT;
// @ts-ignore: decorator
@inline export const KASAN_STACK_PARTIAL: u8 = <u8>abi.KASAN_STACK_PARTIAL;
// @ts-ignore: decorator
@inline export const KASAN_ALLOCA_LEFT: u8 = <u8>abi.KASAN_ALLOCA_LEFT;
// @ts-ignore: decorator
@inline export const KASAN_ALLOCA_RIGHT: u8 = <u8>abi.KASAN_ALLOCA_RIGHT;

// Tag-based constants (include/linux/kasan-tags.h)
// @ts-ignore: decorator
@inline export const KASAN_TAG_KERNEL: u8 = <u8>abi.KASAN_TAG_KERNEL;       // match-all pointer tag
// @ts-ignore: decorator
@inline export const KASAN_TAG_INVALID: u8 = <u8>abi.KASAN_TAG_INVALID;
// @ts-ignore: decorator
@inline export const KASAN_TAG_MAX: u8 = 0xfd;

// @ts-ignore: decorator
@inline export const KASAN_ALLOCA_REDZONE_SIZE: u32 = 32;
// @ts-ignore: decorator
@inline export const KASAN_STACK_FRAME_MAGIC: u32 = 0x41b58ab3;
