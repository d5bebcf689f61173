// engine_self_check(): the engine's own invariants, for tests and for the
// guest runner after every guest (a guest must never be able to break them).
// Returns 0, or a mask of SELF_CHECK_* bits naming what is broken.
import { PAGE_SHIFT, PAGE_SIZE, USE_COUNT, USE_KFENCE, USE_SLAB, USE_LARGE_KMALLOC, USE_GUEST, STAT_USE_BASE,
         STAT_FRAMES_TOTAL, RING_RECORDS } from "../abi/abi";
import { nrFrames, pgUse } from "./mm/phys";
import { buddyCheck } from "./mm/page_alloc";
import { slabCheck } from "./mm/slub";
import { ptWalk } from "./mm/pgtable";
import { tlb_check_coherent } from "./mm/tlb";
import { PAGE_OFFSET } from "./mm/layout";
import { statGet } from "./stats";
import { ring_head, ring_tail } from "./report";
import { GUEST_FRAMES, GUEST_FRAME_HEAP, GUEST_FRAME_IMAGE } from "./statics";
import { guestActive } from "./guest";
import { SELF_CHECK_TLB, SELF_CHECK_BUDDY, SELF_CHECK_FRAMES, SELF_CHECK_SLAB, SELF_CHECK_DIRECT_MAP,
         SELF_CHECK_GUEST_FRAMES, SELF_CHECK_RING } from "../abi/abi";

// per use, frames counted from struct page (USE_COUNT x u32)
const USE_COUNTS: usize = memory.data(4 * 16, 4);

export function engine_self_check(): u32 {
  let bad: u32 = 0;
  if (tlb_check_coherent() != 0) bad |= SELF_CHECK_TLB;
  if (!buddyCheck()) bad |= SELF_CHECK_BUDDY;
  if (!slabCheck()) bad |= SELF_CHECK_SLAB;
  if (ring_head() - ring_tail() > <u32>RING_RECORDS) bad |= SELF_CHECK_RING;
  memory.fill(USE_COUNTS, 0, 4 * 16);
  for (let pfn: u32 = 0; pfn < nrFrames; pfn++) {
    const use = pgUse(pfn);
    if (use >= USE_COUNT) { bad |= SELF_CHECK_FRAMES; continue; }
    const p = USE_COUNTS + (<usize>use << 2);
    store<u32>(p, load<u32>(p) + 1);
    // the direct map still maps every frame to itself (KFENCE protects its own pages)
    if (use != USE_KFENCE && ptWalk(PAGE_OFFSET + (<u64>pfn << PAGE_SHIFT)) != <u64>pfn << PAGE_SHIFT) bad |= SELF_CHECK_DIRECT_MAP;
    const g = load<u8>(GUEST_FRAMES + <usize>pfn);
    if ((g == GUEST_FRAME_HEAP && use != USE_SLAB && use != USE_LARGE_KMALLOC) ||
        (g == GUEST_FRAME_IMAGE && (!guestActive || use != USE_GUEST)) || g > GUEST_FRAME_IMAGE) bad |= SELF_CHECK_GUEST_FRAMES;
  }
  let total: u64 = 0;
  for (let u: i32 = 0; u < USE_COUNT; u++) {
    const n = <u64>load<u32>(USE_COUNTS + (<usize>u << 2));
    total += n;
    if (n != statGet(STAT_USE_BASE + u)) bad |= SELF_CHECK_FRAMES;
  }
  if (total != statGet(STAT_FRAMES_TOTAL)) bad |= SELF_CHECK_FRAMES;
  // nothing past RAM is marked (the hooks index the whole 32-bit space)
  for (let pfn: u32 = nrFrames; pfn < 0x100000; pfn++) {
    if (load<u8>(GUEST_FRAMES + <usize>pfn) != 0) { bad |= SELF_CHECK_GUEST_FRAMES; break; }
  }
  return bad;
}
