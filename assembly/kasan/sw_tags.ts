// Software tag-based KASAN (mm/kasan/sw_tags.c, tags.c): a random tag per
// allocation in the pointer's top byte and in every 16-byte granule's shadow,
// and a ring of recent alloc/free events that reports use to name the bug.
import { kasanMode, KASAN_SW_TAGS, KASAN_TAG_KERNEL, KASAN_TAG_MAX } from "./kasan";
import { randomBelow } from "../random";
import { KASAN_MEM_START } from "../mm/layout";
import { shadowByte } from "./shadow";
import { CHECK_OK, CHECK_BAD, CHECK_NO_SHADOW, setNoShadowAddr } from "./generic";
import { currentPid, currentCpu } from "../task";
import { kasanSaveStack } from "./common";
import { MACHINE_STATE } from "../statics";

// @ts-ignore: decorator
@inline export function getTag(va: u64): u8 { return <u8>(va >> 56); }
// @ts-ignore: decorator
@inline export function setTag(va: u64, tag: u8): u64 { return (va & 0x00ffffffffffffff) | (<u64>tag << 56); }

// kasan_random_tag(): uniform over [KASAN_TAG_MIN, KASAN_TAG_MAX] = [0x00, 0xfd]
export function kasanRandomTag(): u8 { return <u8>randomBelow(<u32>KASAN_TAG_MAX + 1); }

// assign_tag(): a fresh random tag per allocation. (The kernel derives the tag
// of constructor/RCU-cache objects from the object index so it survives
// reallocation; a random tag per slab life is kept for those here too.)
export function assignTag(c: usize, va: u64): u8 {
  if (kasanMode != KASAN_SW_TAGS) return KASAN_TAG_KERNEL;
  return kasanRandomTag();
}

// ── stack ring (mm/kasan/tags.c) ─────────────────────────────────────────────
// struct kasan_stack_ring_entry
// @ts-ignore: decorator
@unmanaged export class StackRingEntry {
  ptr: u64;         // the object's (tagged) pointer
  cacheId: u32;
  isFree: u32;      // 1: a free, 0: an allocation
  pid: u32;
  cpu: u32;
  stack: u32;       // depot handle
  _pad: u32;
}
// @ts-ignore: decorator
@inline const RING_ENTRY: usize = offsetof<StackRingEntry>();
// @ts-ignore: decorator
@inline function ringAt(pos: u64): StackRingEntry { return changetype<StackRingEntry>(ringLin + <usize>(pos % ringSize) * RING_ENTRY); }
export let ringLin: usize = 0;
export let ringSize: u32 = 0;
// the machine's, not this CPU's: linear memory (docs/smp.md, "The audit")
// @ts-ignore: decorator
@unmanaged class StackRingState { ringPos: u64; }
export const SRS = changetype<StackRingState>(MACHINE_STATE + 0x600);
if (offsetof<StackRingState>() > 0x100) ERROR("StackRingState outgrew its MACHINE_STATE slot");

export function stackRingInit(lin: usize, entries: u32): void {
  ringLin = lin; ringSize = entries; SRS.ringPos = 0;
  memory.fill(lin, 0, <usize>entries * RING_ENTRY);
}
export function stackRingRecord(va: u64, cacheId: u32, isFree: bool, path: u32): void {
  if (ringSize == 0) return;
  const e = ringAt(SRS.ringPos);
  SRS.ringPos++;
  e.ptr = va;
  e.cacheId = cacheId;
  e.isFree = isFree ? 1 : 0;
  e.pid = currentPid;
  e.cpu = currentCpu;
  e.stack = kasanSaveStack(path);
}

// Search the ring backwards for the newest entry for this object with this
// tag. Returns the ring position + 1, or 0. Also used to find the newest free
// and alloc entries for the report's stacks.
export function stackRingFind(objUntagged: u64, tag: u8, wantFree: i32): u64 {
  if (ringSize == 0) return 0;
  const n: u64 = SRS.ringPos < <u64>ringSize ? SRS.ringPos : <u64>ringSize;
  for (let i: u64 = 1; i <= n; i++) {
    const pos = SRS.ringPos - i;
    const e = ringAt(pos);
    const p = e.ptr;
    if ((p | 0xff00000000000000) != objUntagged) continue;
    if (<u8>(p >> 56) != tag) continue;
    const isFree = <i32>(e.isFree & 1);
    if (wantFree >= 0 && isFree != wantFree) continue;
    return pos + 1;
  }
  return 0;
}
export function stackRingEntry(pos1: u64): StackRingEntry { return ringAt(pos1 - 1); }

// kasan_check_range for tag modes: every granule's tag must equal the pointer's.
// CHECK_NO_SHADOW when a granule's shadow page is not mapped (vmalloc space
// nobody populated): reading it faults, as the check's own load would.
export function tagsCheck(addr: u64, size: u64): i32 {
  const tag = getTag(addr);
  if (tag == KASAN_TAG_KERNEL) return CHECK_OK;
  const a = addr | 0xff00000000000000;
  if (a < KASAN_MEM_START) return CHECK_BAD;
  const last = a + size - 1;
  for (let p = a & ~<u64>15; p <= last; p += 16) {
    const s = shadowByte(p);
    if (s < 0) { setNoShadowAddr(p); return CHECK_NO_SHADOW; }
    if (s != <i32>tag) return CHECK_BAD;
  }
  return CHECK_OK;
}

// kasan_find_first_bad_addr for tag modes
export function tagsFirstBad(addr: u64, size: u64): u64 {
  const tag = getTag(addr);
  let p = addr | 0xff00000000000000;
  if (p < KASAN_MEM_START) return p;
  const end = p + size;
  while (p < end && shadowByte(p) == <i32>tag) p += 16;
  return p;
}
