// Guest programs (host/guest/): a wasm32 program that imports the engine's
// memory and runs on the simulated machine. Its pointers are linear addresses,
// so a guest pointer p in RAM is the direct-map address p + HOT_GUEST_DELTA.
//
// What a guest may touch through a checked access (GUEST_FRAMES, one byte a
// frame): its own image (data + C stack, frames claimed at a fixed place at run
// time) and kmalloc memory (slub.ts marks kmalloc slabs and large kmallocs).
// Free frames and KFENCE's pool go through the slow path, where KASAN and
// KFENCE judge them; anything else (engine tables below PHYS_BASE, page tables,
// mem_map, shadow, the stack depot, kmem_cache descriptors, memory past RAM)
// is reported and the guest is stopped (hooks.ts).
//
// Stacks: the host rewrites the guest so that every call pushes a frame id
// (the call site, interned by the host) onto a shadow call stack in a ring it
// reserves next to the image, and every __asan_* call stores its call site in
// the control block. Capturing a stack is copying a few u32s into the depot:
// no unwinding, no call into JS.
//
// ╒═══════ control region (claimed, never guest-accessible) ═══════╕
// │ [ctl, ctl + ring)     the shadow call stack, growing down, wraps │
// │ ctl + ring: +0 ssp    u32 linear address of the innermost entry  │
// │             +4 site   u32 frame id of the current __asan_* call  │
// └────────────────────────────────────────────────────────────────────┘
import { PHYS_BASE, PAGE_SHIFT, PAGE_SIZE, USE_GUEST, USE_FREE, USE_RESERVED, ZERO_SIZE_PTR, GFP_KERNEL, GFP_ZERO,
         R_STACK, RING_RECORDS, REC_SIZE, STAT_OOPSES, BUG_INVALID_FREE, PATH_KFREE_LARGE,
         WARN_KFREE_NOT_HEAP, KMALLOC_MAX_CACHE_SIZE, EINVAL, EBUSY, EOPNOTSUPP,
         GUEST_RUNNING, GUEST_STOP_OOPS, GUEST_STOP_PANIC } from "../abi/abi";
import { GUEST_FRAMES, GUEST_MISC, HOT_GUEST_DELTA, GUEST_FRAME_IMAGE, GUEST_FRAME_HEAP,
         guestFramesMark } from "./statics";
import { PAGE_OFFSET } from "./mm/layout";
import { nrFrames, NO_PFN, pgUse, pgSetUse } from "./mm/phys";
import { claimPfnRange, freePagesPfn } from "./mm/page_alloc";
import { kmalloc, kfree, virtToSlab, slabCacheId, cacheLin, isLiveObjectStart } from "./mm/slub";
import { krealloc, ksize } from "./mm/slab_common";
import { kasanMode, KASAN_OFF, KASAN_GENERIC, KASAN_SW_TAGS, KASAN_PAGE_REDZONE } from "./kasan/kasan";
import { kasanUnpoison, kasanPoison } from "./kasan/shadow";
import { kasanFreePages, kasanKmallocPath, TRACK_KMALLOC } from "./kasan/common";
import { kasanReportInvalidFree } from "./kasan/report";
import { isKfenceAddress } from "./kfence/core";
import { currentStack, set_current_stack, depot_save, DEPOT_MAX_FRAMES } from "./stackdepot";
import { RING_BASE, ring_head, ring_tail } from "./report";
import { task_stack_set, task_stack_free } from "./task_stack";
import { warnRecord, FS } from "./mm/fault";
import { statGet } from "./stats";

// @ts-ignore: decorator
@external("env", "sf_guest_reports")
declare function sfGuestReports(): void;


// @ts-ignore: decorator
@inline const GCB_SSP: usize = 0;
// @ts-ignore: decorator
@inline const GCB_SITE: usize = 4;
// frames a captured guest stack keeps (the depot adds KASAN's own on top)
// @ts-ignore: decorator
@inline const GUEST_STACK_MAX: u32 = DEPOT_MAX_FRAMES - 8;
// GUEST_MISC: +0 globals registry count, +8 (descriptor array u32, count u32) x 255;
// +0x800 frame buffer for stack capture
// @ts-ignore: decorator
@inline const GLOBALS_TABLE: usize = GUEST_MISC;
// @ts-ignore: decorator
@inline const GLOBALS_MAX: u32 = 255;
// @ts-ignore: decorator
@inline const STACK_BUF: usize = GUEST_MISC + 0x800;

export let guestActive: bool = false;
let guestPid: u32 = 0;
export let imageLo: u32 = 0;          // linear, page-aligned
export let imageHi: u32 = 0;
export let stackLo: u32 = 0;          // the C stack, linear
export let stackHi: u32 = 0;
let ctlLo: u32 = 0;                   // control region, page-aligned
let ctlHi: u32 = 0;
let gcb: usize = 0;
let ringBase: u32 = 0;
let ringMask: u32 = 0;
let stopReason: i32 = GUEST_RUNNING;
let busyPfn: u32 = NO_PFN;
let ignoredShadowWrites: u32 = 0;
export function ignoredShadowWriteInc(): void { ignoredShadowWrites++; }
// A relocated guest (a default wasm-ld layout, host/guest/runner.ts): its
// pointer p is the linear address p + guestBase (PHYS_BASE, so the kernel
// address is PAGE_OFFSET + p), and its first guestNullLen bytes (below its
// image, at most a page) are its NULL page. Not relocated: base 0, and the
// NULL page is linear [0, PAGE_SIZE).
export let guestBase: u32 = 0;
let guestNullLen: u32 = <u32>PAGE_SIZE;
// frame 0 (reserved, the BIOS page) holds the start of a relocated image
let frame0Image: bool = false;

// boot: the direct-map offset the hooks add to a guest pointer
export function guestInit(): void {
  store<u64>(HOT_GUEST_DELTA, PAGE_OFFSET - <u64>PHYS_BASE);
  guestActive = false;
}

// ── addresses ────────────────────────────────────────────────────────────────
// A guest pointer as a kernel address: the first page keeps its value (NULL,
// ZERO_SIZE_PTR), everything else is shifted onto the direct map.
// @ts-ignore: decorator
@inline export function guestVa(p: u32): u64 { return linearVa(<u64>p); }
// The kernel address of linear address lin (which may lie past 4 GiB): the
// guest's NULL page keeps the guest's own value.
export function linearVa(lin: u64): u64 {
  const g = lin - <u64>guestBase;
  return g < <u64>guestNullLen ? g : lin + load<u64>(HOT_GUEST_DELTA);
}
// Is linear address a in the guest's NULL page (the report says null-ptr-deref)?
// @ts-ignore: decorator
@inline export function inNullPage(a: u32): bool { return a - guestBase < <u32>PAGE_SIZE; }
// What the heap hands a guest for kernel address va (NULL, ZERO_SIZE_PTR keep their value).
// @ts-ignore: decorator
@inline function guestPtr(va: u64): u32 {
  return va <= <u64>ZERO_SIZE_PTR ? <u32>va : <u32>(va - load<u64>(HOT_GUEST_DELTA) - <u64>guestBase);
}
// @ts-ignore: decorator
@inline function ramBytes(): u64 { return <u64>nrFrames << PAGE_SHIFT; }
// @ts-ignore: decorator
@inline export function guestFrameKind(p: u32): u8 { return load<u8>(GUEST_FRAMES + <usize>((p - <u32>PHYS_BASE) >>> PAGE_SHIFT)); }

// Is [p, p + n) in the image (stack and data)?
export function inImage(p: u64, n: u64): bool {
  return guestActive && p >= <u64>imageLo && p + n <= <u64>imageHi && p + n >= p;
}

// The first byte of [p, p + n) a checked guest access may not touch, or
// u64.MAX_VALUE when the whole range is fine. Allowed: frames marked in
// GUEST_FRAMES, free frames (KASAN reports use-after-free there; nothing of
// the engine lives in them) and KFENCE's pool (KFENCE guards it).
export function firstForbidden(p: u32, n: u32): u64 {
  if (n == 0) return u64.MAX_VALUE;
  const end = <u64>p + <u64>n;                // exclusive, may exceed 4 GiB
  let a = <u64>p;
  while (a < end) {
    const off = a - <u64>PHYS_BASE;
    if (a < <u64>PHYS_BASE || off >= ramBytes()) return a;
    if (guestBase != 0 && a - <u64>guestBase < <u64>guestNullLen) return a;
    const pfn = <u32>(off >> PAGE_SHIFT);
    if (load<u8>(GUEST_FRAMES + <usize>pfn) == 0 && pgUse(pfn) != USE_FREE && !(pfn == 0 && frame0Image) &&
        !isKfenceAddress(guestVa(<u32>a))) return a;
    a = (a | (PAGE_SIZE - 1)) + 1;
  }
  return u64.MAX_VALUE;
}

// ── stacks ───────────────────────────────────────────────────────────────────
// The depot handle of the guest's current stack: the __asan_* call site when
// withSite, then the shadow call stack, innermost first.
export function guestStack(withSite: bool): u32 {
  if (!guestActive) return 0;
  let n: u32 = 0;
  if (withSite) {
    const s = load<u32>(gcb + GCB_SITE);
    if (s != 0) { store<u32>(STACK_BUF, s); n = 1; }
  }
  let sp = load<u32>(gcb + GCB_SSP) & ~3;
  if (sp - ringBase > ringMask) sp = ringBase;     // not in the ring: no frames
  let depth = (ringBase - sp) & ringMask;
  while (depth != 0 && n < GUEST_STACK_MAX) {
    store<u32>(STACK_BUF + (<usize>n << 2), load<u32>(<usize>sp));
    sp = ((sp + 4) & ringMask) | ringBase;
    depth -= 4;
    n++;
  }
  return depot_save(STACK_BUF, n);
}

// Give the records a guest path wrote since `head` the guest's stack, and let
// the host print them now (its report lines then sit between the guest's own
// output where they happened).
export function guestReportsSince(head: u32, withSite: bool): void {
  const now = ring_head();
  if (now != head) {
    const h = guestStack(withSite);
    for (let i = head; i != now; i++) {
      if (now - i > <u32>RING_RECORDS) continue;     // overwritten
      const rec = RING_BASE + <usize>(i % <u32>RING_RECORDS) * <usize>REC_SIZE;
      if (load<u32>(rec + R_STACK) == 0) store<u32>(rec + R_STACK, h);
    }
  }
  if (ring_head() != ring_tail()) sfGuestReports();
}

// Stop the guest: it traps out of this call; the engine is consistent here.
export function guestStop(reason: i32): void {
  stopReason = reason;
  set_current_stack(0);
  unreachable();
}

// A guest path that raised an oops or saw a panic cannot go on.
export function guestCheckAlive(oopsesBefore: u64): void {
  if (FS.enginePanicked) guestStop(GUEST_STOP_PANIC);
  if (statGet(STAT_OOPSES) != oopsesBefore) guestStop(GUEST_STOP_OOPS);
}

// ── run bracket ──────────────────────────────────────────────────────────────
function releaseFrames(lo: u32, hi: u32): void {
  if (lo == <u32>PHYS_BASE && frame0Image) {
    // frame 0 goes back to reserved, zeroed, its shadow as at boot
    frame0Image = false;
    memory.fill(<usize>lo, 0, PAGE_SIZE);
    if (kasanMode != KASAN_OFF) kasanPoison(PAGE_OFFSET, PAGE_SIZE, 0);
    pgSetUse(0, USE_RESERVED);
    lo += <u32>PAGE_SIZE;
  }
  for (let p = lo; p < hi; p += PAGE_SIZE) {
    const pfn = (p - <u32>PHYS_BASE) >>> PAGE_SHIFT;
    kasanFreePages(pfn, 0);
    freePagesPfn(pfn, 0);
  }
}

// Claim [lo, hi) (page-aligned linear addresses) for the guest; false if busy.
function claim(lo: u32, hi: u32): bool {
  if (lo == <u32>PHYS_BASE && guestBase != 0) {
    // a relocated image starting in the first page (wasm-ld's data at 1024):
    // frame 0 is reserved, never the buddy's; the guest borrows it
    if (pgUse(0) != USE_RESERVED) { busyPfn = 0; return false; }
    if (lo + <u32>PAGE_SIZE < hi && !claim(lo + <u32>PAGE_SIZE, hi)) return false;
    pgSetUse(0, USE_GUEST);
    memory.fill(<usize>lo, 0, PAGE_SIZE);
    kasanUnpoison(PAGE_OFFSET, PAGE_SIZE, 0xff);
    // the NULL page below the data: poisoned, so checks take the slow path, which refuses it
    if (kasanMode != KASAN_OFF) kasanPoison(PAGE_OFFSET, <u64>(guestNullLen & ~7), KASAN_PAGE_REDZONE);
    frame0Image = true;
    return true;
  }
  const pfn = (lo - <u32>PHYS_BASE) >>> PAGE_SHIFT;
  const busy = claimPfnRange(pfn, (hi - lo) >>> PAGE_SHIFT, USE_GUEST);
  if (busy != NO_PFN) { busyPfn = busy; return false; }
  memory.fill(<usize>lo, 0, <usize>(hi - lo));
  kasanUnpoison(guestVa(lo), <u64>(hi - lo), 0xff);
  return true;
}

// Start a guest: its image [imgLo, imgHi) with the C stack [stkLo, stkHi) in
// it, and the control region at ctl (a ring of ringBytes, a power of two that
// ctl is aligned to, then one page). Returns 0, or -EINVAL bad layout, -EBUSY frames
// in use (guest_busy_pfn), -EOPNOTSUPP tag-based KASAN (32-bit pointers carry no tag).
export function guest_begin(imgLo: u32, imgHi: u32, stkLo: u32, stkHi: u32, ctl: u32, ringBytes: u32, pid: u32): i32 {
  if (kasanMode == KASAN_SW_TAGS) return -EOPNOTSUPP;
  const ramEnd = <u64>PHYS_BASE + ramBytes();
  const lo = imgLo & ~(PAGE_SIZE - 1);
  const hi = <u64>((<u64>imgHi + PAGE_SIZE - 1) & ~<u64>(PAGE_SIZE - 1));
  const ctlEnd = <u64>ctl + <u64>ringBytes + PAGE_SIZE;
  if (guestActive || lo < <u32>PHYS_BASE + (guestBase != 0 ? 0 : PAGE_SIZE) || hi > ramEnd || imgLo >= imgHi ||
      stkLo < imgLo || stkHi > imgHi || stkLo > stkHi ||
      ringBytes < <u32>PAGE_SIZE || (ringBytes & (ringBytes - 1)) != 0 || (ctl & (ringBytes - 1)) != 0 ||
      ctl < <u32>PHYS_BASE + PAGE_SIZE || ctlEnd > ramEnd || (<u64>ctl < hi && ctlEnd > <u64>lo)) return -EINVAL;
  busyPfn = NO_PFN;
  if (guestBase != 0 && lo < guestBase + guestNullLen && lo != guestBase) return -EINVAL;
  if (!claim(lo, <u32>hi)) return -EBUSY;
  if (!claim(ctl, <u32>ctlEnd)) { releaseFrames(lo, <u32>hi); return -EBUSY; }
  imageLo = lo; imageHi = <u32>hi;
  stackLo = stkLo; stackHi = stkHi;
  ctlLo = ctl; ctlHi = <u32>ctlEnd;
  ringBase = ctl; ringMask = ringBytes - 1;
  gcb = <usize>ctl + <usize>ringBytes;
  store<u32>(gcb + GCB_SSP, ringBase);
  store<u32>(gcb + GCB_SITE, 0);
  guestFramesMark((lo - <u32>PHYS_BASE) >>> PAGE_SHIFT, (<u32>hi - lo) >>> PAGE_SHIFT, GUEST_FRAME_IMAGE);
  // KASAN off has no shadow to send the NULL page to the slow path: every access to frame 0 takes it
  if (frame0Image && kasanMode == KASAN_OFF) guestFramesMark(0, 1, 0);
  guestPid = pid;
  task_stack_set(pid, guestVa(stkLo), stkHi - stkLo, 4);
  store<u32>(GLOBALS_TABLE, 0);
  stopReason = GUEST_RUNNING;
  ignoredShadowWrites = 0;
  guestActive = true;
  return 0;
}

// End the guest: its image and control frames go back to the buddy (their
// heap objects stay allocated, as a leaked object would).
export function guest_end(): void {
  if (!guestActive) { guest_relocate(0, 0); return; }
  guestActive = false;
  guestFramesMark((imageLo - <u32>PHYS_BASE) >>> PAGE_SHIFT, (imageHi - imageLo) >>> PAGE_SHIFT, 0);
  task_stack_free(guestPid);
  releaseFrames(imageLo, imageHi);
  releaseFrames(ctlLo, ctlHi);
  set_current_stack(0);
  guest_relocate(0, 0);
}

// Before guest_begin: the next guest's pointers are linear - base (0 or
// PHYS_BASE) and its NULL page is its first nullLen bytes (1..PAGE_SIZE).
// Returns 0, -EBUSY while a guest is running, or -EINVAL for bad arguments.
// (0, 0) restores the plain layout.
export function guest_relocate(base: u32, nullLen: u32): i32 {
  if (guestActive) return -EBUSY;
  if (base == 0) { guestBase = 0; guestNullLen = <u32>PAGE_SIZE; return 0; }
  if (base != <u32>PHYS_BASE || nullLen == 0 || nullLen > <u32>PAGE_SIZE) return -EINVAL;
  guestBase = base;
  guestNullLen = nullLen;
  return 0;
}

export function guest_stop_reason(): i32 { return stopReason; }
// A check made on the guest's behalf outside any instrumented site: no stale site frame.
export function guestClearSite(): void { if (guestActive) store<u32>(gcb + GCB_SITE, 0); }
// May the host write [p, p + n) for the guest (WASI syscalls)? 1 yes, 0 no.
export function guest_range_ok(p: u32, n: u32): i32 { return guestActive && firstForbidden(p, n) == u64.MAX_VALUE ? 1 : 0; }
export function guest_busy_pfn(): u32 { return busyPfn; }
export function guest_globals_table(): usize { return GLOBALS_TABLE; }
export function guest_ignored_shadow_writes(): u32 { return ignoredShadowWrites; }

// __asan_register_globals keeps (descriptors, count) here for the host's names.
export function guestGlobalsRecord(ptr: u32, n: u32): void {
  const count = load<u32>(GLOBALS_TABLE);
  if (count >= GLOBALS_MAX) return;
  store<u32>(GLOBALS_TABLE + 8 + (<usize>count << 3), ptr);
  store<u32>(GLOBALS_TABLE + 12 + (<usize>count << 3), n);
  store<u32>(GLOBALS_TABLE, count + 1);
}

// ── the heap: what the shim's __wrap_malloc & co. call ───────────────────────
// Each entry point runs with the guest's stack as the current stack (the
// allocation and free tracks), returns guest pointers, and hands its reports
// to the host before returning.
let heapOopses: u64 = 0;
let heapHead: u32 = 0;
// @ts-ignore: decorator
@inline function heapEnter(): void {
  if (FS.enginePanicked) guestStop(GUEST_STOP_PANIC);
  heapOopses = statGet(STAT_OOPSES);
  heapHead = ring_head();
  set_current_stack(guestStack(false));
}
// @ts-ignore: decorator
@inline function heapLeave(): void {
  set_current_stack(0);
  if (ring_head() != heapHead) guestReportsSince(heapHead, false);
  guestCheckAlive(heapOopses);
}

// Can va (guest pointer p) be handed to kfree/krealloc? KASAN and KFENCE judge
// kmalloc memory themselves; without KASAN, SLUB would corrupt its freelist
// on a pointer that is no object start or an object already free, so those
// are refused with the WARN free_large_kmalloc prints. Anything that is not
// kmalloc memory at all is an invalid free (KASAN) or that WARN.
function freeable(lin: u64, va: u64): bool {
  const off = lin - <u64>PHYS_BASE;
  const heap = isKfenceAddress(va) || (lin >= <u64>PHYS_BASE && off < ramBytes() && guestFrameKind(<u32>lin) == GUEST_FRAME_HEAP);
  if (heap) {
    if (kasanMode != KASAN_OFF || isKfenceAddress(va) || isLiveObjectStart(va)) return true;
    warnRecord(WARN_KFREE_NOT_HEAP, va, 0);
    return false;
  }
  if (kasanMode != KASAN_OFF) kasanReportInvalidFree(va, BUG_INVALID_FREE, PATH_KFREE_LARGE);
  else warnRecord(WARN_KFREE_NOT_HEAP, va, 0);
  return false;
}

export function guest_kmalloc(size: u32): u32 {
  heapEnter();
  const va = kmalloc(size, GFP_KERNEL);
  heapLeave();
  return guestPtr(va);
}

// calloc: NULL when n * size overflows, as kmalloc_array does.
export function guest_kcalloc(n: u32, size: u32): u32 {
  const total = <u64>n * <u64>size;
  if (total > 0xffffffff) return 0;
  heapEnter();
  const va = kmalloc(total, GFP_KERNEL | GFP_ZERO);
  heapLeave();
  return guestPtr(va);
}

export function guest_kfree(p: u32): void {
  if (p <= <u32>ZERO_SIZE_PTR) return;
  heapEnter();
  const lin = <u64>p + <u64>guestBase;
  const va = linearVa(lin);
  if (freeable(lin, va)) kfree(va);
  heapLeave();
}

export function guest_krealloc(p: u32, size: u32): u32 {
  heapEnter();
  let nv: u64 = 0;
  if (p <= <u32>ZERO_SIZE_PTR) {
    nv = kmalloc(size, GFP_KERNEL);
  } else {
    const lin = <u64>p + <u64>guestBase;
    const va = linearVa(lin);
    if (freeable(lin, va)) nv = krealloc(va, size, GFP_KERNEL);
  }
  heapLeave();
  return guestPtr(nv);
}

// malloc_usable_size: ksize (0 for what is not kmalloc memory).
export function guest_ksize(p: u32): u32 {
  if (p <= <u32>ZERO_SIZE_PTR) return 0;
  const lin = <u64>p + <u64>guestBase;
  const va = linearVa(lin);
  const off = lin - <u64>PHYS_BASE;
  if (!isKfenceAddress(va) && (lin < <u64>PHYS_BASE || off >= ramBytes() || guestFrameKind(<u32>lin) != GUEST_FRAME_HEAP)) return 0;
  heapEnter();
  const n = ksize(va);
  heapLeave();
  return <u32>n;
}

// aligned_alloc / posix_memalign / memalign: kmalloc of a power of two at
// least the alignment is aligned to it (kmalloc's natural alignment, and
// buddy blocks for large ones); KASAN's redzone then starts at `size`.
export function guest_kmalloc_aligned(align: u32, size: u32): u32 {
  if (align == 0 || (align & (align - 1)) != 0) return 0;
  heapEnter();
  let va: u64;
  if (align <= 8 || (size > <u32>KMALLOC_MAX_CACHE_SIZE && align <= <u32>PAGE_SIZE)) {
    va = kmalloc(size, GFP_KERNEL);
  } else {
    let want: u64 = size > align ? <u64>size : <u64>align;
    want = <u64>1 << (64 - clz(want - 1));
    va = kmalloc(want, GFP_KERNEL);
    if (va > <u64>ZERO_SIZE_PTR && kasanMode == KASAN_GENERIC && !isKfenceAddress(va) && want <= <u64>KMALLOC_MAX_CACHE_SIZE) {
      const slab = virtToSlab(va);
      if (slab != NO_PFN) kasanKmallocPath(cacheLin(slabCacheId(slab)), va, size, TRACK_KMALLOC);
    }
  }
  heapLeave();
  return guestPtr(va);
}
