// Generic KASAN's access checks (mm/kasan/generic.c), slow path: the inline
// fast path in mm/access.ts settles the common cases and comes here otherwise.
//   1 byte at A:  s = shadow(A); bad if s != 0 and (A & 7) >= s
//   2/4/8:        crossing a granule, the first shadow byte must be 0; then the last byte's rule
//   16:           both shadow bytes 0 when aligned; unaligned adds the last byte's rule
//   N:            the first non-zero shadow byte over the range must be the last
//                 one, and the last byte must pass its rule
import { KASAN_MEM_START, kasanMemToShadow } from "../mm/layout";
import { shadowByte, dmShadowStart, dmShadowEnd, dmShadowLin } from "./shadow";

// Check outcomes
// @ts-ignore: decorator
@inline export const CHECK_OK: i32 = 0;
// @ts-ignore: decorator
@inline export const CHECK_BAD: i32 = 1;
// @ts-ignore: decorator
@inline export const CHECK_NO_SHADOW: i32 = 2;   // shadow page not mapped (reading it faults)

// memory_is_poisoned_1, returning CHECK_*; faultAddr receives the shadow address on CHECK_NO_SHADOW
export let noShadowAddr: u64 = 0;
export function setNoShadowAddr(a: u64): void { noShadowAddr = a; }
function poisoned1(a: u64): i32 {
  const s = shadowByte(a);
  if (s < 0) { noShadowAddr = a; return CHECK_NO_SHADOW; }
  const v = <i32><i8>s;
  if (v != 0 && <i32>(a & 7) >= v) return CHECK_BAD;
  return CHECK_OK;
}

function poisonedN(a: u64, size: u64): i32 {
  const last = a + size - 1;
  // The direct map's shadow is one block: scan it a word at a time, as
  // memory_is_nonzero() does (one call per granule is most of a memset's cost).
  const s0 = kasanMemToShadow(a) - dmShadowStart, s1 = kasanMemToShadow(last) - dmShadowStart;
  const span = dmShadowEnd - dmShadowStart;
  if (s0 < span && s1 < span && s0 <= s1) {
    const end = dmShadowLin + <usize>s1 + 1;
    let p = dmShadowLin + <usize>s0;
    while (p < end) {
      if ((p & 7) == 0 && p + 8 <= end) {
        if (load<u64>(p) == 0) { p += 8; continue; }
        while (load<u8>(p) == 0) p++;
        break;
      }
      if (load<u8>(p) != 0) break;
      p++;
    }
    if (p == end) return CHECK_OK;
    if (p != end - 1) return CHECK_BAD;
    return <i32>(last & 7) >= <i32><i8>load<u8>(p) ? CHECK_BAD : CHECK_OK;
  }
  // first non-zero shadow byte over [shadow(a), shadow(last)]
  let p = a & ~<u64>7;
  while (p <= last) {
    const s = shadowByte(p);
    if (s < 0) { noShadowAddr = p; return CHECK_NO_SHADOW; }
    if (s != 0) {
      if ((p >> 3) != (last >> 3)) return CHECK_BAD;
      return <i32>(last & 7) >= <i32><i8>s ? CHECK_BAD : CHECK_OK;
    }
    p += 8;
  }
  return CHECK_OK;
}

// memory_is_poisoned(addr, size)
export function genericPoisoned(a: u64, size: u64): i32 {
  if (size == 1) return poisoned1(a);
  if (size == 2 || size == 4 || size == 8) {
    if (((a + size - 1) & 7) < size - 1) {
      const s = shadowByte(a);
      if (s < 0) { noShadowAddr = a; return CHECK_NO_SHADOW; }
      if (s != 0) return CHECK_BAD;
    }
    return poisoned1(a + size - 1);
  }
  if (size == 16) {
    const s0 = shadowByte(a), s1 = shadowByte(a + 8);
    if (s0 < 0) { noShadowAddr = a; return CHECK_NO_SHADOW; }
    if (s1 < 0) { noShadowAddr = a + 8; return CHECK_NO_SHADOW; }
    if ((s0 | s1) != 0) return CHECK_BAD;
    if ((a & 7) != 0) return poisoned1(a + 15);
    return CHECK_OK;
  }
  return poisonedN(a, size);
}

// addr_has_metadata()
// @ts-ignore: decorator
@inline export function addrHasMetadata(untagged: u64): bool { return untagged >= KASAN_MEM_START; }

// kasan_find_first_bad_addr (generic): step granules from addr while the shadow is 0.
export function genericFirstBad(addr: u64, size: u64): u64 {
  if (!addrHasMetadata(addr)) return addr;
  let p = addr;
  while (p < addr + size && shadowByte(p) == 0) p += 8;
  return p;
}
