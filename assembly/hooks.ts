// The __asan_* ABI of C guests compiled by clang with AddressSanitizer's
// outline instrumentation (reference: clang-wasm-asan.md). The host binds the
// guest's imports straight to these exports: a check is a wasm-to-wasm call.
//
// A checked access: the guest pointer's frame must be one a guest may touch
// (one byte of GUEST_FRAMES), then the engine's own fast path (TLB hit, one
// shadow byte) under the KASAN mode fixed at binding time: exports with the
// exact clang names are generic KASAN, the `_kasan_off` ones KASAN off. Every
// other case is hookSlow: a range outside the guest's memory is reported
// (null-ptr-deref / wild-memory-access) and faults, anything else gets the
// full KASAN check, translation, KFENCE's fault handler and the oops path. An
// oops or a panic stops the guest (it traps); KASAN reports do not
// (kasan.fault=report): the guest performs the access, as the kernel does.
import { PHYS_BASE, PAGE_SHIFT, PAGE_SIZE, PF_PROT, PF_WRITE, PATH_ACCESS, PATH_MEMSET, PATH_MEMCPY,
         PATH_MEMMOVE, PATH_CHECK_RANGE, BUG_NULL_PTR_DEREF, BUG_WILD_MEMORY_ACCESS, STAT_OOPSES, STAT_TLB_HITS } from "../abi/abi";
import { GUEST_FRAMES, HOT_GUEST_DELTA } from "./statics";
import { checkFastM, accessPrepare, translateRange, mem_memset, mem_memcpy, mem_memmove, kasan_check_range,
         ModeOff, ModeGeneric } from "./mm/access";
import { kasanMemToShadow } from "./mm/layout";
import { nrFrames } from "./mm/phys";
import { pageFault, FS } from "./mm/fault";
import { kasanMode, KASAN_OFF, KASAN_GLOBAL_REDZONE,
         KASAN_ALLOCA_REDZONE_SIZE } from "./kasan/kasan";
import { shadowFill, kasanUnpoison, kasanPoison } from "./kasan/shadow";
import { kasanReportNoMeta } from "./kasan/report";
import { kasan_alloca_poison, kasan_allocas_unpoison } from "./kasan/shadow_api";
import { ring_head } from "./report";
import { statGet, statInc } from "./stats";
import { guestVa, guestActive, guestBase, inNullPage, guest_kmalloc_aligned, guestClearSite, inImage, firstForbidden, guestReportsSince, guestStop, guestCheckAlive,
         guestGlobalsRecord, stackLo, stackHi, ignoredShadowWriteInc } from "./guest";
import { GUEST_STOP_OOPS, GUEST_STOP_PANIC, WASI_ERRNO_INVAL, WASI_ERRNO_NOMEM } from "../abi/abi";

// The guest's inline shadow formula (clang for wasm32): shadow = (addr >> 3) + 0x20000000.
// @ts-ignore: decorator
@inline const GUEST_SHADOW_OFFSET: u32 = 0x20000000;

// ── checked accesses ─────────────────────────────────────────────────────────
// @ts-ignore: decorator
@inline function hookCheck<M>(addr: u32, size: u32, write: bool): void {
  if (load<u8>(GUEST_FRAMES + <usize>((addr - <u32>PHYS_BASE) >>> PAGE_SHIFT)) != 0 &&
      checkFastM<M>(<u64>addr + load<u64>(HOT_GUEST_DELTA), size, write)) {
    statInc(STAT_TLB_HITS);
    return;
  }
  hookSlow(addr, size, write);
}

// A guest access to memory it may not touch: KASAN's report (no shadow to
// speak of), then the fault the access takes, which kills the task.
function refuse(addr: u32, size: u32, write: bool, bad: u64, head: u32, withSite: bool): void {
  if (kasanMode != KASAN_OFF) {
    kasanReportNoMeta(guestVa(addr), size, write, PATH_ACCESS, inNullPage(addr) ? BUG_NULL_PTR_DEREF : BUG_WILD_MEMORY_ACCESS);
  }
  // CR2 is the first byte it may not touch; inside RAM the page is mapped (the
  // guest lacks the permission), elsewhere nothing is mapped there
  const mapped = bad >= <u64>PHYS_BASE + PAGE_SIZE && bad - <u64>PHYS_BASE < (<u64>nrFrames << PAGE_SHIFT);
  // (after a panic, kasan.fault=panic, nothing else happens)
  if (!FS.enginePanicked) pageFault(guestVa(<u32>bad), (mapped ? PF_PROT : 0) | (write ? PF_WRITE : 0), size);
  guestReportsSince(head, withSite);
  guestStop(FS.enginePanicked ? GUEST_STOP_PANIC : GUEST_STOP_OOPS);
}

export function hookSlow(addr: u32, size: u32, write: bool): void {
  if (size == 0) return;
  const head = ring_head();
  const oopses = statGet(STAT_OOPSES);
  const bad = firstForbidden(addr, size);
  if (bad != u64.MAX_VALUE) { refuse(addr, size, write, bad, head, true); return; }
  accessPrepare(guestVa(addr), size, write, PATH_ACCESS, true);
  if (ring_head() != head) guestReportsSince(head, true);
  guestCheckAlive(oopses);
}

// N bytes (__asan_loadN, the shim's string interceptors): one KASAN check
// over the range, then every page translated (KFENCE guards, faults).
// Returns 1 when KASAN found the range fine, 0 when it reported.
function hookRange(addr: u32, n: u32, write: bool, path: i32, withSite: bool): i32 {
  if (n == 0) return 1;
  const head = ring_head();
  const oopses = statGet(STAT_OOPSES);
  const bad = firstForbidden(addr, n);
  if (bad != u64.MAX_VALUE) { refuse(addr, n, write, bad, head, withSite); return 0; }
  const va = guestVa(addr);
  const k = kasan_check_range(va, n, write ? 1 : 0, path);
  if (k >= 0) translateRange(va, n, write);
  if (ring_head() != head) guestReportsSince(head, withSite);
  guestCheckAlive(oopses);
  return k == 1 ? 1 : 0;
}

// generic KASAN (the names clang emits; `_noabort` aliases in index.ts)
export function __asan_load1(addr: u32): void { hookCheck<ModeGeneric>(addr, 1, false); }
export function __asan_load2(addr: u32): void { hookCheck<ModeGeneric>(addr, 2, false); }
export function __asan_load4(addr: u32): void { hookCheck<ModeGeneric>(addr, 4, false); }
export function __asan_load8(addr: u32): void { hookCheck<ModeGeneric>(addr, 8, false); }
export function __asan_load16(addr: u32): void { hookCheck<ModeGeneric>(addr, 16, false); }
export function __asan_store1(addr: u32): void { hookCheck<ModeGeneric>(addr, 1, true); }
export function __asan_store2(addr: u32): void { hookCheck<ModeGeneric>(addr, 2, true); }
export function __asan_store4(addr: u32): void { hookCheck<ModeGeneric>(addr, 4, true); }
export function __asan_store8(addr: u32): void { hookCheck<ModeGeneric>(addr, 8, true); }
export function __asan_store16(addr: u32): void { hookCheck<ModeGeneric>(addr, 16, true); }
export function __asan_loadN(addr: u32, size: u32): void { hookRange(addr, size, false, PATH_ACCESS, true); }
export function __asan_storeN(addr: u32, size: u32): void { hookRange(addr, size, true, PATH_ACCESS, true); }

// KASAN off: no shadow, but the range rules, the page tables and KFENCE still apply
export function __asan_load1_kasan_off(addr: u32): void { hookCheck<ModeOff>(addr, 1, false); }
export function __asan_load2_kasan_off(addr: u32): void { hookCheck<ModeOff>(addr, 2, false); }
export function __asan_load4_kasan_off(addr: u32): void { hookCheck<ModeOff>(addr, 4, false); }
export function __asan_load8_kasan_off(addr: u32): void { hookCheck<ModeOff>(addr, 8, false); }
export function __asan_load16_kasan_off(addr: u32): void { hookCheck<ModeOff>(addr, 16, false); }
export function __asan_store1_kasan_off(addr: u32): void { hookCheck<ModeOff>(addr, 1, true); }
export function __asan_store2_kasan_off(addr: u32): void { hookCheck<ModeOff>(addr, 2, true); }
export function __asan_store4_kasan_off(addr: u32): void { hookCheck<ModeOff>(addr, 4, true); }
export function __asan_store8_kasan_off(addr: u32): void { hookCheck<ModeOff>(addr, 8, true); }
export function __asan_store16_kasan_off(addr: u32): void { hookCheck<ModeOff>(addr, 16, true); }

// ── sealed accesses (the load-time rewriter, host/guest/wasm.ts) ─────────────
// Every raw memory instruction of a guest is checked. A function clang
// instrumented already called a hook before its accesses: its raw accesses get
// an inline seal (the frame byte of addr + offset, no page crossing) and only a
// failed seal calls guest_seal, which stops an access the guest may not make.
// Every other function calls guest_sealed_{load,store} before each access.
// An effective address past 4 GiB is left to the access itself: it traps.
export function guest_frames_base(): usize { return GUEST_FRAMES; }

export function guest_seal(addr: u32, offset: u32, size: u32, write: i32): void {
  const ea = <u64>addr + <u64>offset;
  if (ea > <u64>u32.MAX_VALUE || size == 0) return;
  const head = ring_head();
  const bad = firstForbidden(<u32>ea, size);
  if (bad != u64.MAX_VALUE) refuse(<u32>ea, size, write != 0, bad, head, true);
}

// Loads of uninstrumented code are checked as the kernel's
// read_word_at_a_time(): KASAN judges the first byte (libc's word-at-a-time
// string functions read past a terminator inside an aligned word), the seal
// the whole range. Stores get KASAN's check of every byte.
// @ts-ignore: decorator
@inline function sealedLoad<M>(addr: u32, offset: u32, size: u32): void {
  const ea = <u64>addr + <u64>offset;
  if (ea > <u64>u32.MAX_VALUE) return;
  const a = <u32>ea;
  hookCheck<M>(a, 1, false);
  if ((a & (<u32>PAGE_SIZE - 1)) + size > <u32>PAGE_SIZE) guest_seal(a, 0, size, 0);
}
// @ts-ignore: decorator
@inline function sealedStore<M>(addr: u32, offset: u32, size: u32): void {
  const ea = <u64>addr + <u64>offset;
  if (ea > <u64>u32.MAX_VALUE) return;
  hookCheck<M>(<u32>ea, size, true);
}
export function guest_sealed_load(addr: u32, offset: u32, size: u32): void { sealedLoad<ModeGeneric>(addr, offset, size); }
export function guest_sealed_store(addr: u32, offset: u32, size: u32): void { sealedStore<ModeGeneric>(addr, offset, size); }
export function guest_sealed_load_kasan_off(addr: u32, offset: u32, size: u32): void { sealedLoad<ModeOff>(addr, offset, size); }
export function guest_sealed_store_kasan_off(addr: u32, offset: u32, size: u32): void { sealedStore<ModeOff>(addr, offset, size); }

// The shim's interceptors (strcpy & co.) check ranges before calling libc:
// 1 fine, 0 reported (the kernel ABI's mem* then skip, as KASAN's do).
export function guest_check_range(addr: u32, n: u32, write: i32): i32 {
  return hookRange(addr, n, write != 0, PATH_CHECK_RANGE, false);
}

// ── mem* (userspace flavour): check both ranges, then do it ──────────────────
// As mm/kasan/shadow.c's interceptors: a range KASAN reported is skipped.
function memRanges(dst: u32, src: u32, n: u32, hasSrc: bool): u32 {
  if (n == 0) return ring_head();
  const head = ring_head();
  if (hasSrc) {
    const bad = firstForbidden(src, n);
    if (bad != u64.MAX_VALUE) refuse(src, n, false, bad, head, true);
  }
  const bad = firstForbidden(dst, n);
  if (bad != u64.MAX_VALUE) refuse(dst, n, true, bad, head, true);
  return head;
}
export function __asan_memset(p: u32, c: i32, n: u32): u32 {
  if (n == 0) return p;
  const oopses = statGet(STAT_OOPSES);
  const head = memRanges(p, 0, n, false);
  mem_memset(guestVa(p), <u32>c, n);
  if (ring_head() != head) guestReportsSince(head, true);
  guestCheckAlive(oopses);
  return p;
}
export function __asan_memcpy(dst: u32, src: u32, n: u32): u32 {
  if (n == 0) return dst;
  const oopses = statGet(STAT_OOPSES);
  const head = memRanges(dst, src, n, true);
  mem_memcpy(guestVa(dst), guestVa(src), n);
  if (ring_head() != head) guestReportsSince(head, true);
  guestCheckAlive(oopses);
  return dst;
}
export function __asan_memmove(dst: u32, src: u32, n: u32): u32 {
  if (n == 0) return dst;
  const oopses = statGet(STAT_OOPSES);
  const head = memRanges(dst, src, n, true);
  mem_memmove(guestVa(dst), guestVa(src), n);
  if (ring_head() != head) guestReportsSince(head, true);
  guestCheckAlive(oopses);
  return dst;
}

// ── stack poisoning ──────────────────────────────────────────────────────────
// Shadow writes for the guest's C stack only; others are counted and ignored.
function setShadow(shadowAddr: u32, n: u32, v: u8): void {
  if (kasanMode == KASAN_OFF || n == 0) return;
  if (shadowAddr < GUEST_SHADOW_OFFSET) { ignoredShadowWriteInc(); return; }
  const mem = <u64>(shadowAddr - GUEST_SHADOW_OFFSET) << 3;
  if (!inImage(mem, <u64>n << 3)) { ignoredShadowWriteInc(); return; }
  shadowFill(kasanMemToShadow(guestVa(<u32>mem)), n, v);
}
export function __asan_set_shadow_00(a: u32, n: u32): void { setShadow(a, n, 0x00); }
export function __asan_set_shadow_01(a: u32, n: u32): void { setShadow(a, n, 0x01); }
export function __asan_set_shadow_02(a: u32, n: u32): void { setShadow(a, n, 0x02); }
export function __asan_set_shadow_03(a: u32, n: u32): void { setShadow(a, n, 0x03); }
export function __asan_set_shadow_04(a: u32, n: u32): void { setShadow(a, n, 0x04); }
export function __asan_set_shadow_05(a: u32, n: u32): void { setShadow(a, n, 0x05); }
export function __asan_set_shadow_06(a: u32, n: u32): void { setShadow(a, n, 0x06); }
export function __asan_set_shadow_07(a: u32, n: u32): void { setShadow(a, n, 0x07); }
export function __asan_set_shadow_f1(a: u32, n: u32): void { setShadow(a, n, 0xf1); }
export function __asan_set_shadow_f2(a: u32, n: u32): void { setShadow(a, n, 0xf2); }
export function __asan_set_shadow_f3(a: u32, n: u32): void { setShadow(a, n, 0xf3); }
export function __asan_set_shadow_f5(a: u32, n: u32): void { setShadow(a, n, 0xf5); }
export function __asan_set_shadow_f8(a: u32, n: u32): void { setShadow(a, n, 0xf8); }

// Dynamic allocas (the kernel's rules, kasan/shadow_api.ts) once the range is
// known to lie in the guest's image.
export function __asan_alloca_poison(addr: u32, size: u32): void {
  if (kasanMode == KASAN_OFF) return;
  const rz = <u64>KASAN_ALLOCA_REDZONE_SIZE;
  const end = ((<u64>addr + <u64>size + rz - 1) & ~(rz - 1)) + rz;
  if (<u64>addr < rz || !inImage(<u64>addr - rz, end - (<u64>addr - rz))) { ignoredShadowWriteInc(); return; }
  kasan_alloca_poison(guestVa(addr), <u64>size);
}
export function __asan_allocas_unpoison(top: u32, bottom: u32): void {
  if (kasanMode == KASAN_OFF || top == 0 || top > bottom) return;
  if (!inImage(<u64>top, <u64>(bottom - top))) { ignoredShadowWriteInc(); return; }
  kasan_allocas_unpoison(guestVa(top), guestVa(bottom));
}

// A noreturn call (exit, longjmp): the frames it leaves behind never unpoison
// themselves, so the whole C stack is made accessible.
export function __asan_handle_no_return(): void {
  if (kasanMode == KASAN_OFF || !guestActive || stackHi <= stackLo) return;
  kasanPoison(guestVa(stackLo), <u64>(stackHi - stackLo) & ~<u64>7, 0);
}

// ── globals ──────────────────────────────────────────────────────────────────
// struct { beg, size, size_with_redzone, name, module_name, has_dynamic_init,
// source_location, odr_indicator } x n, all u32 on wasm32; as the kernel's
// register_global(): unpoison the object, poison its redzone.
export function __asan_register_globals(ptr: u32, n: u32): void {
  if (n == 0 || !inImage(<u64>ptr, <u64>n * 32)) { if (n != 0) ignoredShadowWriteInc(); return; }
  guestGlobalsRecord(ptr, n);
  if (kasanMode == KASAN_OFF) return;
  for (let i: u32 = 0; i < n; i++) {
    const g = <usize>ptr + (<usize>i << 5);
    const beg = load<u32>(g), size = load<u32>(g, 4), total = load<u32>(g, 8);
    if (size > total || !inImage(<u64>beg, <u64>total)) { ignoredShadowWriteInc(); continue; }
    kasanUnpoison(guestVa(beg), size, 0xff);
    const aligned = (<u64>size + 7) & ~<u64>7;
    if (<u64>total > aligned) kasanPoison(guestVa(beg) + aligned, (<u64>total - aligned + 7) & ~<u64>7, KASAN_GLOBAL_REDZONE);
  }
}
// The kernel's is empty too: redzones stay poisoned until the image goes away.
export function __asan_unregister_globals(ptr: u32, n: u32): void {}

// ── init hooks (nothing to do: the engine is up before the guest starts) ─────
export function __asan_init(): void {}
export function __asan_version_mismatch_check_v8(): void {}
export function __asan_before_dynamic_init(moduleName: u32): void {}
export function __asan_after_dynamic_init(): void {}

// ── a relocated guest (its pointers are linear - guestBase) ──────────────────
// memory.fill / memory.copy / memory.init's destination and its libc's
// memset/memcpy/memmove: the same checked calls on the linear addresses. A
// range past 4 GiB traps, as the original instruction would.
// @ts-ignore: decorator
@inline function relocated(p: u32, n: u32): u32 {
  const lin = <u64>p + <u64>guestBase;
  if (lin + <u64>n > <u64>u32.MAX_VALUE + 1) unreachable();
  return <u32>lin;
}
export function guest_fill(p: u32, c: i32, n: u32): u32 {
  if (n != 0) __asan_memset(relocated(p, n), c, n);
  return p;
}
export function guest_copy(dst: u32, src: u32, n: u32): u32 {
  if (n != 0) __asan_memmove(relocated(dst, n), relocated(src, n), n);
  return dst;
}
export function guest_range(p: u32, n: u32): void {
  if (n != 0) __asan_storeN(relocated(p, n), n);
}

// posix_memalign of a build that links its own allocator: wasi-libc's
// EINVAL/ENOMEM, and *out stored as the guest's own store (checked).
// @ts-ignore: decorator
@inline function posixMemalign<M>(out: u32, align: u32, n: u32): i32 {
  if (align < 4 || (align & (align - 1)) != 0) return WASI_ERRNO_INVAL;
  const p = guest_kmalloc_aligned(align, n);
  if (p == 0) return WASI_ERRNO_NOMEM;
  const lin = <u64>out + <u64>guestBase;
  if (lin + 4 > <u64>u32.MAX_VALUE + 1) unreachable();
  guestClearSite();            // a report's stack starts at posix_memalign's caller
  hookCheck<M>(<u32>lin, 4, true);
  store<u32>(<usize>lin, p);
  return 0;
}
export function guest_posix_memalign(out: u32, align: u32, n: u32): i32 { return posixMemalign<ModeGeneric>(out, align, n); }
export function guest_posix_memalign_kasan_off(out: u32, align: u32, n: u32): i32 { return posixMemalign<ModeOff>(out, align, n); }
