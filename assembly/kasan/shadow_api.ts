// Shadow writes the host and guests ask for: stack frames and globals are laid
// out by their compiler (or the host) and poisoned here, as the compiler's
// __asan_set_shadow_* and register/unregister calls do.
import { kasanPoison, kasanUnpoison, shadowByte } from "./shadow";
import { kasanMode, KASAN_OFF } from "./kasan";
import { getTag } from "./sw_tags";

// Poison [va, va + size) with a shadow code (size rounded up to the granule).
export function kasan_poison_range(va: u64, size: u64, value: u32): void {
  if (kasanMode == KASAN_OFF) return;
  const g: u64 = kasanMode == 1 ? 8 : 16;
  kasanPoison(va & ~(g - 1), (size + (va & (g - 1)) + g - 1) & ~(g - 1), <u8>value);
}
export function kasan_unpoison_range(va: u64, size: u64): void {
  kasanUnpoison(va, size, getTag(va));
}
// The shadow byte (or memory tag) of va; -1 when the shadow is not mapped.
export function kasan_shadow_byte(va: u64): i32 { return shadowByte(va | (kasanMode == 2 ? 0xff00000000000000 : 0)); }
