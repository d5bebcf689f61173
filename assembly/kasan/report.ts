// KASAN reports (mm/kasan/report.c, report_generic.c, report_tags.c): decide
// whether to report (report-once unless kasan_multi_shot), work out the bug
// type, the object, the tracks, the page and the shadow rows, and write them
// into a report record. The host prints the text.
import { REP_KASAN, REP_KASAN_FREE, REP_PANIC, R_ADDR, R_SIZE, R_FIRST_BAD, R_FLAGS, R_BUG, R_STACK,
         R_OBJECT, R_CACHE, R_OBJSIZE, R_REGION, R_SLOT, R_ALLOC_PID, R_ALLOC_STACK, R_FREE_PID,
         R_FREE_STACK, R_AUX0, R_AUX1, R_PFN, R_PAGE_FLAGS, R_PAGE_USE, R_PAGE_ORDER, R_PAGE_REF,
         R_PAGE_MAP, R_HEAD_PFN, R_SHADOW_ROW, R_SHADOW, R_PTR_TAG, R_MEM_TAG, R_ARG0, R_ARG1, R_ARG2,
         R_FRAME_BASE, R_FRAME_ID, R_TASK_PID, R_ALLOC_CPU, R_FREE_CPU,
         RF_WRITE, RF_OBJECT, RF_PAGE, RF_SHADOW, RF_TAGS, RF_GUEST,
         BUG_OUT_OF_BOUNDS, BUG_SLAB_OOB, BUG_GLOBAL_OOB, BUG_STACK_OOB, BUG_USE_AFTER_FREE,
         BUG_SLAB_UAF, BUG_ALLOCA_OOB, BUG_VMALLOC_OOB, BUG_UNKNOWN_CRASH, BUG_NULL_PTR_DEREF,
         BUG_USER_MEMORY_ACCESS, BUG_WILD_MEMORY_ACCESS, BUG_INVALID_ACCESS,
         KASAN_FAULT_PANIC, KASAN_FAULT_PANIC_ON_WRITE, PANIC_KASAN_FAULT, PANIC_ON_WARN,
         CFG_PANIC_ON_WARN, PAGE_SHIFT, PAGE_SIZE, STAT_REPORTS_SUPPRESSED, PG_SLAB } from "../../abi/abi";
import { reportBegin } from "../report";
import { statInc } from "../stats";
import { cfg } from "../config";
import { addTaint, TAINT_BAD_PAGE, currentPid } from "../task";
import { currentStack } from "../stackdepot";
import { kasanMode, KASAN_GENERIC, KASAN_SW_TAGS, KS, faultMode, kasanGranuleShift,
         KASAN_SLAB_FREE_META, KASAN_STACK_LEFT, KASAN_STACK_FRAME_MAGIC } from "./kasan";
import { shadowByte } from "./shadow";
import { addrHasMetadata, genericFirstBad } from "./generic";
import { getTag, tagsFirstBad, stackRingFind, stackRingEntry } from "./sw_tags";
import { untag, PAGE_OFFSET, TASK_SIZE, dmLin } from "../mm/layout";
import { nrFrames, NO_PFN, pgFlags, pgCache, pgUse, pgOrder, pgRef, pgMapcount } from "../mm/phys";
import { kernelImagePfn } from "../mm/kimage";
import { fillPageInfo } from "../mm/page_info";
import { translateLin } from "../mm/access";
import { virtToSlab, slabCacheId, cacheLin, nearestObj, kmemCache } from "../mm/slub";
import { allocMetaLin, freeMetaLin, KasanAllocMeta, KasanFreeMeta } from "./common";
import { enginePanic } from "../mm/fault";
import { vmallocDescribe } from "../mm/vmalloc";
import { taskStackOf, taskStackWord } from "../task_stack";
import { HOT_GUEST_DELTA, MACHINE_STATE } from "../statics";

// kasan_disable_current() depth: access reports inside are suppressed
export let kasanDisableDepth: i32 = 0;
export function kasan_disable_current(): void { kasanDisableDepth++; }
export function kasan_enable_current(): void { if (kasanDisableDepth > 0) kasanDisableDepth--; }

// the machine's, not this CPU's: linear memory (docs/smp.md, "The audit")
// @ts-ignore: decorator
@unmanaged class KasanReportState { reported: bool; }
export const KRS = changetype<KasanReportState>(MACHINE_STATE + 0x400);
if (offsetof<KasanReportState>() > 0x100) ERROR("KasanReportState outgrew its MACHINE_STATE slot");

export function kasanResetReported(): void { KRS.reported = false; }

// report_enabled(): multi-shot, or the first report.
function reportEnabled(): bool {
  if (KS.multiShot) return true;
  if (KRS.reported) { statInc(STAT_REPORTS_SUPPRESSED); return false; }
  KRS.reported = true;
  return true;
}

// kasan_report for a bad access. True when a report was printed.
export function kasanReport(addr: u64, size: u64, write: bool, path: i32): bool {
  if (kasanDisableDepth > 0) { statInc(STAT_REPORTS_SUPPRESSED); return false; }
  if (!reportEnabled()) return false;
  const rec = reportBegin(REP_KASAN);
  fillReport(rec, addr, size, write, 0, path);
  endReport(write);
  return true;
}

// kasan_report_invalid_free: never suppressed by kasan_disable_current.
export function kasanReportInvalidFree(addr: u64, bug: i32, path: i32): void {
  if (!reportEnabled()) return;
  const rec = reportBegin(REP_KASAN_FREE);
  fillReport(rec, addr, 0, false, bug, path);
  endReport(false);
}

function endReport(write: bool): void {
  addTaint(TAINT_BAD_PAGE);
  if (!KS.multiShot && cfg(CFG_PANIC_ON_WARN) != 0) { enginePanic(PANIC_ON_WARN, 0); return; }
  if (faultMode == KASAN_FAULT_PANIC || (faultMode == KASAN_FAULT_PANIC_ON_WRITE && write)) {
    enginePanic(PANIC_KASAN_FAULT, faultMode);
  }
}

// Generic's get_wild_bug_type(); tag modes have only get_common_bug_type()
// ("invalid-access") for an address without an object.
function wildBugType(a: u64): i32 {
  if (kasanMode != KASAN_GENERIC) return BUG_INVALID_ACCESS;
  if (a < <u64>PAGE_SIZE) return BUG_NULL_PTR_DEREF;
  if (a < TASK_SIZE) return BUG_USER_MEMORY_ACCESS;
  return BUG_WILD_MEMORY_ACCESS;
}

// get_shadow_bug_type(): from the shadow byte of the first bad address.
function shadowBugType(firstBad: u64): i32 {
  let s = shadowByte(firstBad);
  if (s > 0 && s <= 7) s = shadowByte(firstBad + 8);
  if (s < 0) return BUG_UNKNOWN_CRASH;
  if (s <= 7) return BUG_OUT_OF_BOUNDS;
  switch (s) {
    case 0xfe: case 0xfc: return BUG_SLAB_OOB;
    case 0xf9: return BUG_GLOBAL_OOB;
    case 0xf1: case 0xf2: case 0xf3: case 0xf4: return BUG_STACK_OOB;
    case 0xff: return BUG_USE_AFTER_FREE;
    case 0xfa: case 0xfb: return BUG_SLAB_UAF;
    case 0xca: case 0xcb: return BUG_ALLOCA_OOB;
    case 0xf8: return BUG_VMALLOC_OOB;
  }
  return BUG_UNKNOWN_CRASH;
}

// kasan_get_alloc_size(): generic scans the shadow from the object start;
// tag modes count granules until the invalid tag. 0 for freed objects.
function allocSize(obj: u64, objectSize: u32): u32 {
  let size: u32 = 0;
  if (kasanMode == KASAN_GENERIC) {
    let p = obj;
    while (size < objectSize) {
      const s = shadowByte(p);
      if (s == 0) size += 8;
      else if (s >= 1 && s <= 7) return size + <u32>s;
      else return size;
      p += 8;
    }
    return objectSize;
  }
  let p = obj;
  while (size < objectSize) {
    const s = shadowByte(p);
    if (s == 0xfe || s < 0) return size;
    size += 16;
    p += 16;
  }
  return objectSize;
}

function fillReport(rec: usize, addr: u64, size: u64, write: bool, freeBug: i32, path: i32): void {
  const a = untag(addr);
  const tags = kasanMode == KASAN_SW_TAGS;
  store<u64>(rec + R_ADDR, addr);
  store<u64>(rec + R_SIZE, size);
  store<u32>(rec + R_STACK, currentStack);
  store<u64>(rec + R_ARG0, <u64>path);
  let flags: u32 = write ? RF_WRITE : 0;
  if (tags) flags |= RF_TAGS;
  const hasMeta = addrHasMetadata(a);
  // first bad address
  let firstBad = a;
  if (freeBug == 0 && hasMeta) firstBad = tags ? tagsFirstBad(addr, size) : genericFirstBad(a, size);
  store<u64>(rec + R_FIRST_BAD, firstBad);
  if (tags && hasMeta) {
    store<u8>(rec + R_PTR_TAG, getTag(addr));
    const s = shadowByte(firstBad);
    store<u8>(rec + R_MEM_TAG, <u8>(s < 0 ? 0 : s));
  }

  // object
  let bug = freeBug;
  let cacheC: usize = 0;
  let obj: u64 = 0;
  const slab = hasMeta ? virtToSlab(a) : NO_PFN;
  if (slab != NO_PFN) {
    cacheC = cacheLin(slabCacheId(slab));
    obj = nearestObj(cacheC, slab, a);
    const objectSize = kmemCache(cacheC).objectSize;
    let region = allocSize(obj, objectSize);
    if (region == 0) region = objectSize;
    flags |= RF_OBJECT;
    store<u64>(rec + R_OBJECT, obj);
    store<u32>(rec + R_CACHE, kmemCache(cacheC).id);
    store<u32>(rec + R_OBJSIZE, objectSize);
    store<u32>(rec + R_REGION, region);
    store<u32>(rec + R_SLOT, kmemCache(cacheC).size);
  }

  // bug type
  if (bug == 0) {
    if (size != 0 && addr + size < addr) bug = BUG_OUT_OF_BOUNDS;
    else if (!hasMeta) bug = wildBugType(a);
    else if (!tags) bug = shadowBugType(firstBad);
    else bug = tagsBugType(obj, getTag(addr));
  }
  store<u8>(rec + R_BUG, <u8>bug);

  // tracks
  if (obj != 0) {
    if (kasanMode == KASAN_GENERIC) {
      const objLin = dmLin(obj);
      const amLin = allocMetaLin(cacheC, objLin);
      if (amLin != 0) {
        const am = changetype<KasanAllocMeta>(amLin);
        store<u32>(rec + R_ALLOC_PID, am.pid);
        store<u32>(rec + R_ALLOC_STACK, am.stack);
        store<u32>(rec + R_AUX0, am.auxStack0);
        store<u32>(rec + R_AUX1, am.auxStack1);
      }
      if (shadowByte(obj) == <i32>KASAN_SLAB_FREE_META) {
        const fmLin = freeMetaLin(cacheC, objLin);
        if (fmLin != 0) {
          const fm = changetype<KasanFreeMeta>(fmLin);
          store<u32>(rec + R_FREE_PID, fm.pid);
          store<u32>(rec + R_FREE_STACK, fm.stack);
        }
      }
    } else if (tags) {
      tagsTracks(rec, obj, getTag(addr));
    }
  }

  if (hasMeta) {
    // stack of the current task
    const base = taskStackOf(currentPid, a);
    if (base != 0) stackFrameInfo(rec, a, base);
    // vmalloc area (fills R_VM_*, and the page behind it)
    let pfn: u32 = NO_PFN;
    const vpfn = vmallocDescribe(rec, a);
    if (vpfn != NO_PFN) pfn = vpfn;
    else if (a - PAGE_OFFSET < (<u64>nrFrames << PAGE_SHIFT)) pfn = <u32>((a - PAGE_OFFSET) >> PAGE_SHIFT);
    else pfn = kernelImagePfn(a);
    if (pfn != NO_PFN && pfn < nrFrames) { fillPageInfo(rec, pfn); flags |= RF_PAGE; }
    fillShadowRows(rec, firstBad);
    flags |= RF_SHADOW;
  }
  // keep the bits helpers set on the record (RF_VMALLOC from vmallocDescribe)
  store<u8>(rec + R_FLAGS, <u8>flags | load<u8>(rec + R_FLAGS));
}

// Tag modes: the newest stack-ring entry for this object and pointer tag names
// the bug (a free first: use-after-free; an alloc first: out-of-bounds).
function tagsBugType(obj: u64, tag: u8): i32 {
  if (obj == 0) return BUG_INVALID_ACCESS;
  const pos = stackRingFind(obj, tag, -1);
  if (pos == 0) return BUG_INVALID_ACCESS;
  return (stackRingEntry(pos).isFree & 1) != 0 ? BUG_SLAB_UAF : BUG_SLAB_OOB;
}
// The report's Allocated/Freed stacks in tag modes: the newest ring entries
// for the object with the access's tag.
function tagsTracks(rec: usize, obj: u64, tag: u8): void {
  const f = stackRingFind(obj, tag, 1);
  const al = stackRingFind(obj, tag, 0);
  if (f != 0) {
    const e = stackRingEntry(f);
    store<u32>(rec + R_FREE_PID, e.pid);
    store<u32>(rec + R_FREE_CPU, e.cpu);
    store<u32>(rec + R_FREE_STACK, e.stack);
  }
  if (al != 0) {
    const e = stackRingEntry(al);
    store<u32>(rec + R_ALLOC_PID, e.pid);
    store<u32>(rec + R_ALLOC_CPU, e.cpu);
    store<u32>(rec + R_ALLOC_STACK, e.stack);
  }
}

// print_memory_metadata(): 5 rows of 16 granules around the first bad address.
function fillShadowRows(rec: usize, firstBad: u64): void {
  const g = kasanGranuleShift;
  const rowBytes: u64 = <u64>16 << g;
  const first = (firstBad & ~(rowBytes - 1)) - 2 * rowBytes;
  store<u64>(rec + R_SHADOW_ROW, first);
  for (let i: u32 = 0; i < 80; i++) {
    const s = shadowByte(first + (<u64>i << g));
    store<u8>(rec + R_SHADOW + i, <u8>(s < 0 ? 0 : s));
  }
}

// The ASan frame the address sits in: walk the shadow back to the frame's left
// redzone and read its header [magic, descriptor, pc] (get_address_stack_frame_info).
function stackFrameInfo(rec: usize, a: u64, stackBottom: u64): void {
  store<u32>(rec + R_TASK_PID, currentPid);
  const word = taskStackWord(currentPid);
  let mem = (a & ~<u64>(word - 1)) & ~<u64>7;
  while (mem >= stackBottom && shadowByte(mem) != <i32>KASAN_STACK_LEFT) mem -= 8;
  while (mem >= stackBottom && shadowByte(mem) == <i32>KASAN_STACK_LEFT) mem -= 8;
  if (mem < stackBottom) return;
  const frame = mem + 8;
  const fl = translateLin(frame);
  if (fl == 0) return;
  const magic = word == 8 ? load<u64>(fl) : <u64>load<u32>(fl);
  if (magic != KASAN_STACK_FRAME_MAGIC) return;
  store<u64>(rec + R_FRAME_BASE, frame);
  // descriptor pointer and pc, as stored in the frame; a wasm32 guest's
  // pointers are linear addresses, a constant offset below the direct map
  store<u64>(rec + R_ARG1, word == 8 ? load<u64>(fl, 8) : <u64>load<u32>(fl, 4) + load<u64>(HOT_GUEST_DELTA));
  store<u64>(rec + R_ARG2, word == 8 ? load<u64>(fl, 16) : <u64>load<u32>(fl, 8));
  store<u32>(rec + R_FRAME_ID, 1);
}

// ── guests ───────────────────────────────────────────────────────────────────
// A bad access to an address KASAN has no metadata for, with the bug type
// given (null-ptr-deref, wild-memory-access): the report stops after the
// stack, as the kernel's does for addresses without shadow. True if printed.
export function kasanReportNoMeta(addr: u64, size: u64, write: bool, path: i32, bug: i32): bool {
  if (kasanDisableDepth > 0) { statInc(STAT_REPORTS_SUPPRESSED); return false; }
  if (!reportEnabled()) return false;
  const rec = reportBegin(REP_KASAN);
  store<u64>(rec + R_ADDR, addr);
  store<u64>(rec + R_SIZE, size);
  store<u64>(rec + R_FIRST_BAD, addr);
  store<u32>(rec + R_STACK, currentStack);
  store<u64>(rec + R_ARG0, <u64>path);
  store<u8>(rec + R_BUG, <u8>bug);
  store<u8>(rec + R_FLAGS, <u8>((write ? RF_WRITE : 0) | RF_GUEST));
  endReport(write);
  return true;
}
