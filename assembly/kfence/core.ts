// KFENCE (mm/kfence/core.c). Entry points the allocators and the fault path
// call; the pool and its reports arrive with the KFENCE issue.
import { HOT_KFENCE_GATE, HOT_KFENCE_START, HOT_KFENCE_SIZE } from "../statics";

// The sampling gate: open when the next eligible slab allocation goes to KFENCE.
// @ts-ignore: decorator
@inline export function kfenceGateOpen(): bool { return load<i32>(HOT_KFENCE_GATE) != 0; }

// is_kfence_address(): one subtraction and one unsigned compare.
// @ts-ignore: decorator
@inline export function isKfenceAddress(va: u64): bool {
  return va - load<u64>(HOT_KFENCE_START) < load<u64>(HOT_KFENCE_SIZE);
}

export function kfenceAlloc(cacheId: u32, size: u32, gfp: u32): u64 { return 0; }
export function kfenceFree(va: u64): void {}
export function kfenceCacheDestroy(cacheId: u32): void {}
export function kfenceHandlePageFault(va: u64, write: bool): bool { return false; }
export function kfenceKsize(va: u64): u64 { return 0; }
