// Shadow maintenance (mm/kasan/shadow.c): poison/unpoison ranges, read shadow
// bytes. The direct map's shadow is one contiguous block carved at boot, so it
// is addressed by arithmetic; other regions (kernel image, vmalloc) go through
// the page tables. Read-only (early) shadow pages are never written.
import { PAGE_SHIFT, PAGE_SIZE, PTE_RW } from "../../abi/abi";
import { kasanMemToShadow, physToLin, PAGE_OFFSET } from "../mm/layout";
import { ptWalk, walkLeaf } from "../mm/pgtable";
import { kasanMode, KASAN_OFF, KASAN_GENERIC, kasanGranuleSize, kasanGranuleShift } from "./kasan";
import { untag } from "../mm/layout";
import { isKfenceAddress } from "../kfence/core";

export let dmShadowStart: u64 = 0;   // shadow VA of PAGE_OFFSET
export let dmShadowEnd: u64 = 0;
export let dmShadowLin: usize = 0;

export function shadowSetDirectMap(pfn: u32, bytes: u64): void {
  dmShadowStart = kasanMemToShadow(PAGE_OFFSET);
  dmShadowEnd = dmShadowStart + bytes;
  dmShadowLin = physToLin(<u64>pfn << PAGE_SHIFT);
}

// Linear address of the shadow byte at shadow VA sva; 0 when unmapped.
// With write set, read-only (early shadow) pages also give 0.
export function shadowLin(sva: u64, write: bool): usize {
  if (sva - dmShadowStart < dmShadowEnd - dmShadowStart) return dmShadowLin + <usize>(sva - dmShadowStart);
  const pa = ptWalk(sva);
  if (pa == u64.MAX_VALUE) return 0;
  if (write && (walkLeaf & PTE_RW) == 0) return 0;
  return physToLin(pa);
}

// memset of shadow VAs [sva, sva + n), page by page outside the direct map.
export function shadowFill(sva: u64, n: u64, value: u8): void {
  if (n == 0) return;
  if (sva - dmShadowStart < dmShadowEnd - dmShadowStart && sva + n <= dmShadowEnd) {
    memory.fill(dmShadowLin + <usize>(sva - dmShadowStart), value, <usize>n);
    return;
  }
  const end = sva + n;
  while (sva < end) {
    const pageEnd = (sva | (PAGE_SIZE - 1)) + 1;
    const chunk = (pageEnd < end ? pageEnd : end) - sva;
    const lin = shadowLin(sva, true);
    if (lin != 0) memory.fill(lin, value, <usize>chunk);
    sva += chunk;
  }
}

// Shadow byte of addr (its tag ignored, as kasan_reset_tag does); -1 when its
// shadow is not mapped.
export function shadowByte(addr: u64): i32 {
  const lin = shadowLin(kasanMemToShadow(untag(addr)), false);
  return lin == 0 ? -1 : <i32>load<u8>(lin);
}

// shadowByte inline where it is hot (the free check, the quarantine's
// check of each queued object): the direct map's shadow by arithmetic, a
// call for the rest.
// @ts-ignore: decorator
@inline export function shadowByteInline(addr: u64): i32 {
  const sva = kasanMemToShadow(untag(addr));
  if (sva - dmShadowStart < dmShadowEnd - dmShadowStart) return <i32>load<u8>(dmShadowLin + <usize>(sva - dmShadowStart));
  return shadowByte(addr);
}

export function shadowSetByte(addr: u64, value: u8): void {
  const lin = shadowLin(kasanMemToShadow(untag(addr)), true);
  if (lin != 0) store<u8>(lin, value);
}

// kasan_poison: addr and size granule-aligned; value is a shadow code or a tag.
// KFENCE memory is skipped: its shadow stays clean (explicit calls from
// outside the slab hooks, e.g. ksize()-sized unpoisoning, would poison it).
export function kasanPoison(addr: u64, size: u64, value: u8): void {
  if (kasanMode == KASAN_OFF || size == 0) return;
  const a = untag(addr);
  if (isKfenceAddress(a)) return;
  const s0 = kasanMemToShadow(a);
  shadowFill(s0, kasanMemToShadow(a + size) - s0, value);
}

// kasan_unpoison: make [addr, addr + size) accessible; generic mode marks the
// partial last granule, tag modes set the pointer's tag on every granule.
export function kasanUnpoison(addr: u64, size: u64, tag: u8): void {
  if (kasanMode == KASAN_OFF || size == 0 || isKfenceAddress(untag(addr))) return;
  const g = <u64>kasanGranuleSize;
  const rounded = (size + g - 1) & ~(g - 1);
  if (kasanMode == KASAN_GENERIC) {
    kasanPoison(addr, rounded, 0);
    if (size & 7) shadowSetByte(untag(addr) + rounded - g, <u8>(size & 7));
  } else {
    kasanPoison(addr, rounded, tag);
  }
}

// Round helpers on the mode's granule.
// @ts-ignore: decorator
@inline export function granuleUp(x: u64): u64 { const g = <u64>kasanGranuleSize; return (x + g - 1) & ~(g - 1); }
// @ts-ignore: decorator
@inline export function granuleDown(x: u64): u64 { return x & ~(<u64>kasanGranuleSize - 1); }
export function granuleShift(): u32 { return kasanGranuleShift; }
