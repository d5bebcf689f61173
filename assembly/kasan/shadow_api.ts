// Shadow writes the host and guests ask for: stack frames and globals are laid
// out by their compiler (or the host) and poisoned here, as the compiler's
// __asan_set_shadow_* and register/unregister calls do.
import { kasanPoison, kasanUnpoison, shadowByte } from "./shadow";
import { kasanMode, KASAN_OFF, KASAN_GENERIC, KASAN_SW_TAGS, KASAN_ALLOCA_LEFT, KASAN_ALLOCA_RIGHT,
         KASAN_ALLOCA_REDZONE_SIZE } from "./kasan";
import { getTag, kasanRandomTag } from "./sw_tags";

// Poison [va, va + size) with a shadow code (size rounded up to the granule).
export function kasan_poison_range(va: u64, size: u64, value: u32): void {
  if (kasanMode == KASAN_OFF) return;
  const g: u64 = kasanMode == KASAN_GENERIC ? 8 : 16;
  kasanPoison(va & ~(g - 1), (size + (va & (g - 1)) + g - 1) & ~(g - 1), <u8>value);
}
export function kasan_unpoison_range(va: u64, size: u64): void {
  kasanUnpoison(va, size, getTag(va));
}
// The shadow byte (or memory tag) of va; -1 when the shadow is not mapped.
export function kasan_shadow_byte(va: u64): i32 { return shadowByte(va | (kasanMode == KASAN_SW_TAGS ? 0xff00000000000000 : 0)); }

// __asan_alloca_poison (generic): a 32-byte left redzone, the object (its last
// granule partial), a right redzone up to 32-byte alignment plus 32 more.
export function kasan_alloca_poison(va: u64, size: u64): void {
  if (kasanMode != KASAN_GENERIC) return;
  const roundedUp = (size + 7) & ~<u64>7;
  const roundedDown = size & ~<u64>7;
  const padding = ((size + KASAN_ALLOCA_REDZONE_SIZE - 1) & ~<u64>(KASAN_ALLOCA_REDZONE_SIZE - 1)) - roundedUp;
  kasanUnpoison(va + roundedDown, size - roundedDown, 0xff);
  kasanPoison(va - KASAN_ALLOCA_REDZONE_SIZE, KASAN_ALLOCA_REDZONE_SIZE, KASAN_ALLOCA_LEFT);
  kasanPoison(va + roundedUp, padding + KASAN_ALLOCA_REDZONE_SIZE, KASAN_ALLOCA_RIGHT);
}
// __asan_allocas_unpoison: everything between the stack top and bottom becomes accessible.
export function kasan_allocas_unpoison(top: u64, bottom: u64): void {
  if (top == 0 || top > bottom) return;
  kasanUnpoison(top, bottom - top, 0xff);
}

// A random tag for a stack variable (sw_tags kernels built with stack tagging
// give each local its own tag, as for heap objects).
export function kasan_random_tag(): u32 { return kasanRandomTag(); }
