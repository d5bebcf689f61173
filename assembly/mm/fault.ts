// Faults the checked accesses raise: the page-fault oops (arch/x86/mm/fault.c
// after KFENCE declined), the general protection fault on a non-canonical
// address, the SLUB BUG, and panics. Each writes a record and skips the access;
// the engine stays usable, except after a panic.
import { REP_OOPS, REP_GPF, REP_PANIC, REP_WARN, R_ADDR, R_SIZE, R_ERRCODE, R_FLAGS, R_PGWALK,
         R_PGWALK_LEVELS, R_DIE, R_ARG0, R_ARG1, R_CACHE, R_STACK, RF_SKIPPED, RF_WRITE,
         PF_WRITE, STAT_PAGE_FAULTS, STAT_OOPSES, WARN_SLUB_DOUBLE_FREE, WARN_SLUB_FREECHAIN,
         R_FIRST_BAD, R_OBJSIZE, R_REGION, R_SLOT, WARN_CALLBACK,
         WARN_SLAB_ERR, WARN_LIST_DEL, LIST_DEL_PREV, LIST_DEL_NEXT, STRUCT_PAGE_SHIFT } from "../../abi/abi";
import { reportBegin } from "../report";
import { statInc } from "../stats";
import { addTaint, TAINT_DIE, TAINT_WARN, TAINT_BAD_PAGE } from "../task";
import { fillPageInfo } from "./page_info";
import { currentStack } from "../stackdepot";
import { ptWalk, WALK_ENTRIES, walkLevels } from "./pgtable";
import { mmuVa } from "./access";
import { isCanonical, VMEMMAP_START } from "./layout";
import { NO_PFN, pgNext, pgPrev, nrFrames } from "./phys";
import { kfenceCheckOnPanic } from "../kfence/core";
import { MACHINE_STATE } from "../statics";

// A panic on any CPU panics the machine: linear memory, not this CPU's (docs/smp.md, "The audit").
// @ts-ignore: decorator
@unmanaged class FaultState { dieCounter: u32; enginePanicked: bool; }
export const FS = changetype<FaultState>(MACHINE_STATE + 0xb00);
if (offsetof<FaultState>() > 0x100) ERROR("FaultState outgrew its MACHINE_STATE slot");

function oopsCommon(rec: usize, va: u64, size: u32, write: bool): void {
  store<u64>(rec + R_ADDR, va);
  store<u64>(rec + R_SIZE, size);
  store<u32>(rec + R_STACK, currentStack);
  store<u8>(rec + R_FLAGS, <u8>(RF_SKIPPED | (write ? RF_WRITE : 0)));
  store<u32>(rec + R_DIE, ++FS.dieCounter);
  addTaint(TAINT_DIE);
  statInc(STAT_OOPSES);
}

// A page fault nobody handled: "BUG: unable to handle page fault for address".
export function pageFault(va: u64, errcode: u32, size: u32): void {
  statInc(STAT_PAGE_FAULTS);
  const rec = reportBegin(REP_OOPS);
  ptWalk(mmuVa(va));
  memory.copy(rec + R_PGWALK, WALK_ENTRIES, 40);
  store<u8>(rec + R_PGWALK_LEVELS, <u8>walkLevels);
  store<u32>(rec + R_ERRCODE, errcode);
  oopsCommon(rec, va, size, (errcode & PF_WRITE) != 0);
}

// "general protection fault, probably for non-canonical address"
export function generalProtectionFault(va: u64, size: u32, write: bool): void {
  const rec = reportBegin(REP_GPF);
  oopsCommon(rec, va, size, write);
}

// kernel BUG at mm/slub.c (the naive double-free check of freelist hardening)
export function slubBug(va: u64, cacheId: u32): void {
  const rec = reportBegin(REP_WARN);
  store<u64>(rec + R_ARG0, WARN_SLUB_DOUBLE_FREE);
  store<u64>(rec + R_ADDR, va);
  store<u32>(rec + R_CACHE, cacheId);
  store<u32>(rec + R_STACK, currentStack);
  store<u32>(rec + R_DIE, ++FS.dieCounter);
  addTaint(TAINT_DIE);
}

// SLUB's object_err(..., "Freechain corrupt") + "Isolate corrupted freechain":
// the free pointer of the object at objVa leads nowhere valid. The page
// section carries the slab's freelist, inuse and objects.
export function slubFreechainCorrupt(objVa: u64, fp: u64, cacheId: u32, objectSize: u32, slabPfn: u32,
                                     infoEnd: u32, slot: u32): void {
  const rec = reportBegin(REP_WARN);
  fillPageInfo(rec, slabPfn);
  store<u64>(rec + R_ARG0, WARN_SLUB_FREECHAIN);
  store<u64>(rec + R_ADDR, objVa);
  store<u64>(rec + R_FIRST_BAD, fp);
  store<u32>(rec + R_CACHE, cacheId);
  store<u32>(rec + R_OBJSIZE, objectSize);
  store<u32>(rec + R_REGION, infoEnd);
  store<u32>(rec + R_SLOT, slot);
  store<u32>(rec + R_STACK, currentStack);
  addTaint(TAINT_BAD_PAGE);
}

// The kernel loading a corrupted pointer from its metadata and dereferencing
// it: the fault that access takes (a general protection fault for a
// non-canonical value, else the page fault). Nothing is accessed.
export function wildDeref(va: u64): void {
  if (!isCanonical(va)) generalProtectionFault(va, 8, false);
  else pageFault(va, 0, 8);
}
// A struct page pointer to pfn when pfn lies past mem_map (vmemmap is not populated there).
export function wildPageDeref(pfn: u32): void {
  wildDeref(VMEMMAP_START + (<u64>pfn << STRUCT_PAGE_SHIFT));
}

// SLUB's slab_err(s, slab, msg, a, b) and the slab_fix() line after it.
export function slabErr(slabPfn: u32, cacheId: u32, msg: u32, a: u64, b: u64, fix: u32): void {
  const rec = reportBegin(REP_WARN);
  fillPageInfo(rec, slabPfn);
  store<u64>(rec + R_ARG0, WARN_SLAB_ERR);
  store<u32>(rec + R_CACHE, cacheId);
  store<u32>(rec + R_ERRCODE, msg);
  store<u64>(rec + R_SIZE, a);
  store<u64>(rec + R_FIRST_BAD, b);
  store<u32>(rec + R_REGION, fix);
  store<u32>(rec + R_STACK, currentStack);
  addTaint(TAINT_BAD_PAGE);
}

// &page->lru of pfn (a struct page pointer plus the list's offset), as list_debug.c prints it
export function lruVa(pfn: u32): u64 { return VMEMMAP_START + (<u64>pfn << STRUCT_PAGE_SHIFT) + 8; }

// CONFIG_DEBUG_LIST's __list_del_entry_valid() for pfn on the pfn list whose head
// word is at `head` (headVa: that head as the kernel would print it). False, after
// the report, when a link leaves mem_map (the fault on it) or does not point back
// ("list_del corruption"); the caller then cuts its list off.
export function pfnListDelValid(head: usize, pfn: u32, headVa: u64): bool {
  const next = pgNext(pfn), prev = pgPrev(pfn);
  if (next != NO_PFN && next >= nrFrames) { wildPageDeref(next); return false; }
  if (prev != NO_PFN && prev >= nrFrames) { wildPageDeref(prev); return false; }
  if (prev == NO_PFN ? load<u32>(head) != pfn : pgNext(prev) != pfn) {
    const was = prev == NO_PFN ? load<u32>(head) : pgNext(prev);
    listDelCorruption(LIST_DEL_PREV, lruVa(pfn), was == NO_PFN ? 0 : lruVa(was), prev == NO_PFN ? headVa : lruVa(prev));
    return false;
  }
  if (next != NO_PFN && pgPrev(next) != pfn) {
    listDelCorruption(LIST_DEL_NEXT, lruVa(pfn), pgPrev(next) == NO_PFN ? 0 : lruVa(pgPrev(next)), lruVa(next));
    return false;
  }
  return true;
}

// CONFIG_DEBUG_LIST's list_del check failed on the entry at entryVa (struct
// list_head pointers): which = LIST_DEL_*, was = what the neighbour held.
export function listDelCorruption(which: u32, entryVa: u64, was: u64, neighbourVa: u64): void {
  const rec = reportBegin(REP_WARN);
  store<u64>(rec + R_ARG0, WARN_LIST_DEL);
  store<u32>(rec + R_ERRCODE, which);
  store<u64>(rec + R_ADDR, entryVa);
  store<u64>(rec + R_ARG1, was);
  store<u64>(rec + R_SIZE, neighbourVa);
  store<u32>(rec + R_STACK, currentStack);
  addTaint(TAINT_WARN);
}

// A kernel WARN with an id the host knows how to print.
export function warnRecord(id: u32, va: u64, arg: u64): usize {
  const rec = reportBegin(REP_WARN);
  store<u64>(rec + R_ARG0, id);
  store<u64>(rec + R_ADDR, va);
  store<u64>(rec + R_ARG1, arg);
  store<u32>(rec + R_STACK, currentStack);
  addTaint(TAINT_WARN);
  return rec;
}

// A WARN about a host-run callback (the host holds its message): TAINT_WARN as any WARN.
export function warn_callback(kind: u32): void { warnRecord(WARN_CALLBACK, 0, kind); }

// panic(): the engine stops; every later call fails on the host side.
export function enginePanic(reason: u32, arg: u64): void {
  if (FS.enginePanicked) return;
  const rec = reportBegin(REP_PANIC);
  store<u64>(rec + R_ARG0, reason);
  store<u64>(rec + R_ARG1, arg);
  store<u32>(rec + R_STACK, currentStack);
  FS.enginePanicked = true;
  // panic notifiers
  kfenceCheckOnPanic();
}
