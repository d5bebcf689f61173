// Checked accesses: what an instrumented kernel load/store does on this machine.
//
// Fast path (inlined into every caller): TLB hit, no page crossing, and KASAN's
// verdict from one shadow byte (generic) or one tag compare (sw_tags); then the
// raw load/store. Anything else goes to accessPrepare(), which runs the full
// KASAN check (reporting, then performing the access, as kasan.fault=report
// does), walks the page tables, lets KFENCE claim a fault on its pool, and
// otherwise raises the kernel's oops and skips the access.
import { PAGE_SHIFT, PAGE_SIZE, PF_WRITE, PATH_ACCESS, PATH_CHECK_RANGE, PATH_MEMSET,
         PATH_MEMCPY, PATH_MEMMOVE, STAT_TLB_HITS } from "../../abi/abi";
import { SCRATCH_SIZE, SCRATCH_LOAD16, SCRATCH_STORE16 } from "../../abi/abi";
import { statInc } from "../stats";
import { tlbEntry, tlbFill, TLB_FAULT, TlbEntry } from "./tlb";
import { ptWalk } from "./pgtable";
import { physToLin, isCanonical, kasanMemToShadow, KASAN_MEM_START, PAGE_OFFSET, dmLin } from "./layout";
import { nrFrames } from "./phys";
import { dmShadowLin, dmShadowStart } from "../kasan/shadow";
import { kasanMode, kasanModeHot, KASAN_OFF, KASAN_GENERIC, KASAN_SW_TAGS, KASAN_TAG_KERNEL } from "../kasan/kasan";
import { genericPoisoned, CHECK_OK, CHECK_BAD, CHECK_NO_SHADOW, noShadowAddr } from "../kasan/generic";
import { tagsCheck } from "../kasan/sw_tags";
import { kasanReport } from "../kasan/report";
import { pageFault, generalProtectionFault, FS } from "./fault";
import { kfenceHandlePageFault, isKfenceAddress } from "../kfence/core";
import { MISC_TABLE, HOT_TAG_MASK, GUEST_FRAMES, GUEST_FRAME_HEAP } from "../statics";

// On arm64 the MMU ignores bits 56..63 (TBI): the address it translates is
// sign-extended from bit 55 (mmuVa, slow path). Fast paths need no such step:
// a kernel pointer's top byte is 0xff, which is what the TLB holds; any other
// top byte misses and the slow path translates it properly. Tag mode ORs the
// tag away (its pointers are always kernel pointers).
export let tagShift: u64 = 0;
export function accessInit(arm64: bool): void {
  tagShift = arm64 ? 8 : 0;
  store<u64>(HOT_TAG_MASK, arm64 ? 0xff00000000000000 : 0);
}
// @ts-ignore: decorator
@inline export function mmuVa(va: u64): u64 { return <u64>(<i64>(va << tagShift) >> tagShift); }

// Scratch for accesses split across pages and for 16/N-byte transfers with the host.
export const SCRATCH: usize = memory.data(SCRATCH_SIZE, 16);
let splitWriteVa: u64 = 0;
let splitWriteSize: u32 = 0;

// ── fast path, specialised per KASAN mode at compile time ───────────────────
// The mode is fixed at boot, as CONFIG_KASAN_* fixes it when the kernel is
// built; the fast paths take it as a type parameter so each mode's code has no
// mode test (a branch in the loop body measured at +0.6 ns per access).
// Exports dispatch once per call (hooks: once at binding; loops: outside).
export type ModeOff = u8;
export type ModeGeneric = u16;
export type ModeTags = u32;
// @ts-ignore: decorator
@inline export function modeOf<M>(): i32 { return sizeof<M>() == 1 ? KASAN_OFF : sizeof<M>() == 2 ? KASAN_GENERIC : KASAN_SW_TAGS; }

// The TLB entry of va under mode M, and d = va - page base (a hit when d <= PAGE_SIZE - size).
// @ts-ignore: decorator
@inline function fastVa<M>(va: u64): u64 {
  return modeOf<M>() == KASAN_SW_TAGS ? (va | 0xff00000000000000) : va;
}

// KASAN's verdict from one shadow byte: the common case only (a clean granule
// for generic, an equal tag for sw_tags). Partial granules, crossings and
// mismatches take the slow path, which applies the full rules.
// @ts-ignore: decorator
@inline function kasanFastOk<M>(e: TlbEntry, d: u32, va: u64, size: u32): bool {
  if (modeOf<M>() == KASAN_OFF) return true;
  if (modeOf<M>() == KASAN_GENERIC) {
    const sh = <usize>e.shadowLin + (d >> 3);
    if (size == 16) return ((<u32>load<u16>(sh)) | (d & 7)) == 0;
    return (<u32>load<u8>(sh) | <u32>((d & 7) > 8 - size)) == 0;
  }
  const ptag = <u32>(va >> 56);
  if ((d & 15) > 16 - size) return false;
  return ptag == KASAN_TAG_KERNEL || <u32>load<u8>(<usize>e.shadowLin + (d >> 4)) == ptag;
}

// countHits (a constant at every call site, so the optimizer drops the test)
// adds the TLB hit to stats().tlb.hits. The mode-specialised loops (bench,
// fuzz tapes) leave it false: the counter costs ~0.14 ns, 14% of a checked
// load; single accesses from code that does not know the mode (host API,
// kernel helpers) count, where it is nothing next to the call around them.
// @ts-ignore: decorator
@inline export function checkedLoadM<T, M>(va: u64, countHits: bool = false): T {
  const vu = fastVa<M>(va);
  const e = tlbEntry(vu);
  const d = vu - e.readBase;
  if (d <= <u64>(PAGE_SIZE - sizeof<T>()) && kasanFastOk<M>(e, <u32>d, va, <u32>sizeof<T>())) {
    if (countHits) statInc(STAT_TLB_HITS);
    return load<T>(<usize>e.lin + <usize>d);
  }
  return loadSlow<T>(va);
}

// @ts-ignore: decorator
@inline export function checkedStoreM<T, M>(va: u64, v: T, countHits: bool = false): void {
  const vu = fastVa<M>(va);
  const e = tlbEntry(vu);
  const d = vu - e.writeBase;
  if (d <= <u64>(PAGE_SIZE - sizeof<T>()) && kasanFastOk<M>(e, <u32>d, va, <u32>sizeof<T>())) {
    if (countHits) statInc(STAT_TLB_HITS);
    store<T>(<usize>e.lin + <usize>d, v);
    return;
  }
  storeSlow<T>(va, v);
}

// ── the lockless per-CPU paths (SMP) ────────────────────────────────────────
// A load or store of n <= 16 bytes at direct-map address a (untagged) on a
// CPU's lockless path (fuzz/tape.ts, smp_churn.ts), which takes neither the
// kernel lock nor the TLB: its linear address when both ends are on kmalloc
// slab or large-kmalloc pages (always mapped in the direct map; `frames`
// false: the caller checked the pages its own way) and, under generic KASAN,
// the shadow says accessible by the rule a full check applies (a granule's
// shadow 0: all 8 bytes; k in 1..7: the first k; a granule the access runs
// past must be whole). Else 0: the caller takes the TLB's path under the
// kernel lock, which checks (and reports) in full. Tag modes: 0.
// @ts-ignore: decorator
@inline export function directMapLin<M>(a: u64, n: u32, frames: bool = true): usize {
  if (modeOf<M>() == KASAN_SW_TAGS) return 0;
  const off = a - PAGE_OFFSET, last = a + n - 1;
  if (off >= (<u64>nrFrames << PAGE_SHIFT) || ((off + n - 1) >> PAGE_SHIFT) >= <u64>nrFrames || isKfenceAddress(a)) return 0;
  if (frames && (load<u8>(GUEST_FRAMES + <usize>(off >> PAGE_SHIFT)) != GUEST_FRAME_HEAP ||
      load<u8>(GUEST_FRAMES + <usize>((off + n - 1) >> PAGE_SHIFT)) != GUEST_FRAME_HEAP)) return 0;
  if (modeOf<M>() == KASAN_GENERIC) {
    const sh = dmShadowLin + <usize>(kasanMemToShadow(a) - dmShadowStart);
    const granules = (last >> 3) - (a >> 3);
    const s1 = <i32>load<i8>(sh + <usize>granules);
    if (s1 != 0 && (s1 < 0 || <i32>(last & 7) >= s1)) return 0;
    if (granules != 0 && load<u8>(sh) != 0) return 0;
    if (granules == 2 && load<u8>(sh, 1) != 0) return 0;
  }
  return dmLin(a);
}
// directMapLin for a range of up to a page (memset, memcpy on the lockless
// path): every granule it covers must be accessible.
export function directMapRangeLin<M>(a: u64, n: u32, frames: bool): usize {
  if (n <= 16) return directMapLin<M>(a, n, frames);
  if (n > <u32>PAGE_SIZE) return 0;
  const lin = directMapLin<M>(a, 1, frames);
  const end = directMapLin<M>(a + n - 1, 1, frames);
  if (lin == 0 || end == 0) return 0;
  if (modeOf<M>() == KASAN_GENERIC) {
    const sh = dmShadowLin + <usize>(kasanMemToShadow(a) - dmShadowStart);
    const last = <usize>(((a + n - 1) >> 3) - (a >> 3));
    for (let g: usize = 0; g < last; g++) if (load<u8>(sh + g) != 0) return 0;
  }
  return lin;
}
/** directMapLin under the booted mode (code that does not know it). */
export function directMapLinAny(a: u64, n: u32): usize {
  const m = kasanModeHot();
  if (m == KASAN_OFF) return directMapLin<ModeOff>(a, n);
  if (m == KASAN_GENERIC) return directMapLin<ModeGeneric>(a, n);
  return 0;
}

// Single accesses from code that does not know the mode: dispatch per call.
// @ts-ignore: decorator
@inline export function checkedLoad<T>(va: u64): T {
  const m = kasanModeHot();
  if (m == KASAN_OFF) return checkedLoadM<T, ModeOff>(va, true);
  if (m == KASAN_GENERIC) return checkedLoadM<T, ModeGeneric>(va, true);
  return checkedLoadM<T, ModeTags>(va, true);
}
// @ts-ignore: decorator
@inline export function checkedStore<T>(va: u64, v: T): void {
  const m = kasanModeHot();
  if (m == KASAN_OFF) checkedStoreM<T, ModeOff>(va, v, true);
  else if (m == KASAN_GENERIC) checkedStoreM<T, ModeGeneric>(va, v, true);
  else checkedStoreM<T, ModeTags>(va, v, true);
}

// A check without the access (the guest hooks): same verdicts, same reports.
// @ts-ignore: decorator
@inline export function checkOnlyM<M>(va: u64, size: u32, write: bool): void {
  const vu = fastVa<M>(va);
  const e = tlbEntry(vu);
  const d = vu - (write ? e.writeBase : e.readBase);
  if (d <= <u64>(PAGE_SIZE - size) && kasanFastOk<M>(e, <u32>d, va, size)) return;
  accessPrepare(va, size, write, PATH_ACCESS, true);
}

function loadSlow<T>(va: u64): T {
  const lin = accessPrepare(va, <u32>sizeof<T>(), false, PATH_ACCESS, false);
  if (lin == 0) return <T>0;
  return load<T>(lin);
}
function storeSlow<T>(va: u64, v: T): void {
  const lin = accessPrepare(va, <u32>sizeof<T>(), true, PATH_ACCESS, false);
  if (lin == 0) return;
  store<T>(lin, v);
  if (lin == SCRATCH) splitCommit();
}

// ── slow path ────────────────────────────────────────────────────────────────

// KASAN check of [va, va + size); true unless the access must be skipped
// (the shadow itself is unmapped, or the engine panicked).
function kasanCheck(va: u64, size: u64, write: bool, path: i32): i32 {
  if (kasanMode == KASAN_OFF || size == 0) return CHECK_OK;
  if (va + size < va) { kasanReport(va, size, write, path); return CHECK_BAD; }
  if (kasanMode == KASAN_GENERIC) {
    if (va < KASAN_MEM_START) { kasanReport(va, size, write, path); return CHECK_BAD; }
    const r = genericPoisoned(va, size);
    if (r == CHECK_NO_SHADOW) return r;
    if (r == CHECK_BAD) return kasanReport(va, size, write, path) ? CHECK_BAD : CHECK_OK;
    return CHECK_OK;
  }
  const t = tagsCheck(va, size);
  if (t != CHECK_BAD) return t;
  return kasanReport(va, size, write, path) ? CHECK_BAD : CHECK_OK;
}

// Translate one page for an access, taking faults. Returns the linear address
// of va or 0 when the access cannot proceed (an oops was raised).
function translateForAccess(va: u64, write: bool, size: u32): usize {
  const vu = mmuVa(va);
  for (let attempt = 0; attempt < 2; attempt++) {
    const e = tlbEntry(vu);
    const d = vu - (write ? e.writeBase : e.readBase);
    if (d < <u64>PAGE_SIZE) { statInc(STAT_TLB_HITS); return <usize>e.lin + <usize>d; }
    const r = tlbFill(vu, write);
    if (r == 0) {
      // the entry just filled; a page without shadow stays out of the TLB
      const d2 = vu - (write ? e.writeBase : e.readBase);
      if (d2 < <u64>PAGE_SIZE) return <usize>e.lin + <usize>d2;
      const pa = ptWalk(vu);
      if (pa != u64.MAX_VALUE) return physToLin(pa);
    }
    // a page fault: KFENCE gets the first chance, as kfence_handle_page_fault does
    if (attempt == 0 && isKfenceAddress(vu) && kfenceHandlePageFault(vu, write)) continue;
    pageFault(va, (r & ~TLB_FAULT) | (write ? PF_WRITE : 0), size);
    return 0;
  }
  return 0;
}

// Everything a slow access needs: returns the linear address to access, SCRATCH
// for an access split across two pages (loads gathered already; stores call
// splitCommit), or 0 when the access is skipped.
export function accessPrepare(va: u64, size: u32, write: bool, path: i32, checkOnlyMode: bool): usize {
  if (FS.enginePanicked) return 0;
  const k = kasanCheck(va, size, write, path);
  if (k == CHECK_NO_SHADOW) {
    // reading the shadow faults, as the outline check's load would
    pageFault(kasanMemToShadow(noShadowAddr), 0, 1);
    return 0;
  }
  if (FS.enginePanicked) return 0;
  const vu = mmuVa(va);
  if (!isCanonical(vu)) {
    generalProtectionFault(va, size, write);
    return 0;
  }
  const off = <u32>vu & (PAGE_SIZE - 1);
  if (off + size <= <u32>PAGE_SIZE) {
    const lin = translateForAccess(va, write, size);
    return checkOnlyMode ? (lin == 0 ? 0 : 1) : lin;
  }
  // split across two pages: translate both before touching anything
  const first = <u32>PAGE_SIZE - off;
  const lin0 = translateForAccess(va, write, size);
  if (lin0 == 0) return 0;
  const lin1 = translateForAccess(va + first, write, size);
  if (lin1 == 0) return 0;
  if (checkOnlyMode) return 1;
  if (!write) {
    memory.copy(SCRATCH, lin0, first);
    memory.copy(SCRATCH + first, lin1, size - first);
  } else {
    splitWriteVa = va;
    splitWriteSize = size;
  }
  return SCRATCH;
}

function splitCommit(): void {
  const vu = mmuVa(splitWriteVa);
  const first = <u32>PAGE_SIZE - (<u32>vu & (PAGE_SIZE - 1));
  const lin0 = translateForAccess(splitWriteVa, true, splitWriteSize);
  const lin1 = translateForAccess(splitWriteVa + first, true, splitWriteSize);
  if (lin0 == 0 || lin1 == 0) return;
  memory.copy(lin0, SCRATCH, first);
  memory.copy(lin1, SCRATCH + first, splitWriteSize - first);
}

// The linear address behind va without checks or faults (report helpers); 0 if unmapped.
export function translate_lin(va: u64): usize { return translateLin(va); }
export function translateLin(va: u64): usize {
  const pa = ptWalk(mmuVa(va));
  return pa == u64.MAX_VALUE ? 0 : physToLin(pa);
}

// ── bulk accesses: N bytes, memset, memcpy, memmove ─────────────────────────
// Copy between simulated memory and a linear buffer page by page. The KASAN
// check happened already; a fault stops the copy (bytes before it are done).
function copyOut(va: u64, dstLin: usize, n: u64): bool {
  while (n > 0) {
    const vu = mmuVa(va);
    const chunk = min<u64>(n, <u64>PAGE_SIZE - (vu & (PAGE_SIZE - 1)));
    const lin = translateForAccess(va, false, <u32>chunk);
    if (lin == 0) return false;
    memory.copy(dstLin, lin, <usize>chunk);
    va += chunk; dstLin += <usize>chunk; n -= chunk;
  }
  return true;
}
function copyIn(va: u64, srcLin: usize, n: u64): bool {
  while (n > 0) {
    const vu = mmuVa(va);
    const chunk = min<u64>(n, <u64>PAGE_SIZE - (vu & (PAGE_SIZE - 1)));
    const lin = translateForAccess(va, true, <u32>chunk);
    if (lin == 0) return false;
    memory.copy(lin, srcLin, <usize>chunk);
    va += chunk; srcLin += <usize>chunk; n -= chunk;
  }
  return true;
}
function fillIn(va: u64, byte: u8, n: u64): bool {
  while (n > 0) {
    const vu = mmuVa(va);
    const chunk = min<u64>(n, <u64>PAGE_SIZE - (vu & (PAGE_SIZE - 1)));
    const lin = translateForAccess(va, true, <u32>chunk);
    if (lin == 0) return false;
    memory.fill(lin, byte, <usize>chunk);
    va += chunk; n -= chunk;
  }
  return true;
}

// Copies without the KASAN check (the caller checked the whole range first):
// 1 done, 0 a fault stopped it.
export function mem_copy_out(va: u64, dstLin: usize, n: u64): i32 {
  if (FS.enginePanicked) return 0;
  if (!isCanonical(mmuVa(va))) { generalProtectionFault(va, <u32>n, false); return 0; }
  return copyOut(va, dstLin, n) ? 1 : 0;
}
export function mem_copy_in(va: u64, srcLin: usize, n: u64): i32 {
  if (FS.enginePanicked) return 0;
  if (!isCanonical(mmuVa(va))) { generalProtectionFault(va, <u32>n, true); return 0; }
  return copyIn(va, srcLin, n) ? 1 : 0;
}

// Read n bytes at va into dstLin: a kasan_check_range read, then the copy.
// Returns 1 on success, 0 when a fault cut it short.

// The KASAN interceptors: a failed check that reported skips the operation
// (memset/memcpy/memmove return NULL in mm/kasan/shadow.c). Returns 1 if done.
export function mem_memset(va: u64, byte: u32, n: u64): i32 {
  if (FS.enginePanicked) return 0;
  const k = kasanCheck(va, n, true, PATH_MEMSET);
  if (k != CHECK_OK) { if (k == CHECK_NO_SHADOW) pageFault(kasanMemToShadow(noShadowAddr), PF_WRITE, 1); return 0; }
  if (!isCanonical(mmuVa(va))) { generalProtectionFault(va, <u32>n, true); return 0; }
  return fillIn(va, <u8>byte, n) ? 1 : 0;
}

// @ts-ignore: decorator
@inline const BOUNCE: usize = MISC_TABLE;
function moveBytes(dst: u64, src: u64, n: u64): bool {
  // through a bounce page, in the direction that is safe for overlap
  if (dst <= src || dst >= src + n) {
    let done: u64 = 0;
    while (done < n) {
      const chunk = min<u64>(n - done, <u64>PAGE_SIZE);
      if (!copyOut(src + done, BOUNCE, chunk) || !copyIn(dst + done, BOUNCE, chunk)) return false;
      done += chunk;
    }
  } else {
    let left = n;
    while (left > 0) {
      const chunk = min<u64>(left, <u64>PAGE_SIZE);
      left -= chunk;
      if (!copyOut(src + left, BOUNCE, chunk) || !copyIn(dst + left, BOUNCE, chunk)) return false;
    }
  }
  return true;
}
function copyChecked(dst: u64, src: u64, n: u64, path: i32): i32 {
  if (FS.enginePanicked) return 0;
  let k = kasanCheck(src, n, false, path);
  if (k == CHECK_OK) k = kasanCheck(dst, n, true, path);
  if (k != CHECK_OK) { if (k == CHECK_NO_SHADOW) pageFault(kasanMemToShadow(noShadowAddr), 0, 1); return 0; }
  if (!isCanonical(mmuVa(src))) { generalProtectionFault(src, <u32>n, false); return 0; }
  if (!isCanonical(mmuVa(dst))) { generalProtectionFault(dst, <u32>n, true); return 0; }
  return moveBytes(dst, src, n) ? 1 : 0;
}
export function mem_memcpy(dst: u64, src: u64, n: u64): i32 { return copyChecked(dst, src, n, PATH_MEMCPY); }
export function mem_memmove(dst: u64, src: u64, n: u64): i32 { return copyChecked(dst, src, n, PATH_MEMMOVE); }

// kasan_check_read / kasan_check_write for the host (no access): 1 fine, 0
// reported, -1 the check itself faulted (unmapped shadow) or the engine panicked.
export function kasan_check_range(va: u64, n: u64, write: i32, path: i32): i32 {
  if (FS.enginePanicked) return -1;
  const k = kasanCheck(va, n, write != 0, path);
  if (k == CHECK_NO_SHADOW) { pageFault(kasanMemToShadow(noShadowAddr), write ? PF_WRITE : 0, 1); return -1; }
  if (FS.enginePanicked) return -1;
  return k == CHECK_OK ? 1 : 0;
}

// ── exports for the host: single accesses of 1, 2, 4, 8 and 16 bytes ─────────
export function mem_load1(va: u64): u32 { return checkedLoad<u8>(va); }
export function mem_load2(va: u64): u32 { return checkedLoad<u16>(va); }
export function mem_load4(va: u64): u32 { return checkedLoad<u32>(va); }
export function mem_load8(va: u64): u64 { return checkedLoad<u64>(va); }
export function mem_store1(va: u64, v: u32): void { checkedStore<u8>(va, <u8>v); }
export function mem_store2(va: u64, v: u32): void { checkedStore<u16>(va, <u16>v); }
export function mem_store4(va: u64, v: u32): void { checkedStore<u32>(va, v); }
export function mem_store8(va: u64, v: u64): void { checkedStore<u64>(va, v); }
// 16 bytes go through SCRATCH (v128 is not needed on the boundary)
export function mem_load16(va: u64): void {
  const vu = va;
  const e = tlbEntry(vu);
  const d = vu - e.readBase;
  let lin: usize;
  if (d <= <u64>(PAGE_SIZE - 16) && kasanModeHot() == KASAN_OFF) lin = <usize>e.lin + <usize>d;
  else lin = accessPrepare(va, 16, false, PATH_ACCESS, false);
  if (lin == 0) { memory.fill(SCRATCH, 0, 16); return; }
  if (lin != SCRATCH) memory.copy(SCRATCH, lin, 16);
}
export function mem_store16(va: u64): void {
  const vu = va;
  const e = tlbEntry(vu);
  const d = vu - e.writeBase;
  let lin: usize;
  if (d <= <u64>(PAGE_SIZE - 16) && kasanModeHot() == KASAN_OFF) lin = <usize>e.lin + <usize>d;
  else lin = accessPrepare(va, 16, true, PATH_ACCESS, false);
  if (lin == 0) return;
  if (lin != SCRATCH) { memory.copy(lin, SCRATCH + SCRATCH_STORE16, 16); return; }
  memory.copy(SCRATCH + SCRATCH_LOAD16, SCRATCH + SCRATCH_STORE16, 16);
  splitCommit();
}
export function scratch_base(): usize { return SCRATCH; }

// ── guests (assembly/hooks.ts) ──────────────────────────────────────────────
// The fast verdict of checkOnlyM without its slow path: the guest hooks add
// their own range checks before they take the slow path.
// @ts-ignore: decorator
@inline export function checkFastM<M>(va: u64, size: u32, write: bool): bool {
  const vu = fastVa<M>(va);
  const e = tlbEntry(vu);
  const d = vu - (write ? e.writeBase : e.readBase);
  return d <= <u64>(PAGE_SIZE - size) && kasanFastOk<M>(e, <u32>d, va, size);
}

// Translate every page of [va, va + n) for an access that KASAN already
// checked, taking faults (KFENCE first, else the oops). False when one faulted.
export function translateRange(va: u64, n: u64, write: bool): bool {
  while (n > 0) {
    const vu = mmuVa(va);
    const chunk = min<u64>(n, <u64>PAGE_SIZE - (vu & (PAGE_SIZE - 1)));
    if (translateForAccess(va, write, <u32>chunk) == 0) return false;
    va += chunk; n -= chunk;
  }
  return true;
}
