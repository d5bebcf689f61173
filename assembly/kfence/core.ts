// KFENCE (mm/kfence/core.c). Entry points the allocators and the fault path
// call; the pool and its reports arrive with the KFENCE issue.
export let kfenceGateOpen: bool = false;
export let kfencePoolStart: u64 = 0;
export let kfencePoolSize: u64 = 0;

// is_kfence_address(): one subtraction and one unsigned compare.
// @ts-ignore: decorator
@inline export function isKfenceAddress(va: u64): bool { return va - kfencePoolStart < kfencePoolSize; }

export function kfenceAlloc(cacheId: u32, size: u32, gfp: u32): u64 { return 0; }
export function kfenceFree(va: u64): void {}
export function kfenceCacheDestroy(cacheId: u32): void {}
export function kfenceHandlePageFault(va: u64, write: bool): bool { return false; }
export function kfenceKsize(va: u64): u64 { return 0; }
