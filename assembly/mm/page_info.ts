// The page section of a report record (dump_page() on the host side): the head
// page behind an address, its flags, order, counts, and slab fields.
import { R_PFN, R_PAGE_FLAGS, R_PAGE_USE, R_PAGE_ORDER, R_PAGE_REF, R_PAGE_MAP, R_HEAD_PFN, R_CACHE,
         R_ARG1, R_ARG2, R_FLAGS, RF_PAGE, PG_SLAB, PG_TAIL } from "../../abi/abi";
import { pgFlags, pgCache, pgUse, pgOrder, pgRef, pgMapcount, pfnToPage, nrFrames, Page } from "./phys";
import { slabIsSlab, slabPageInfo } from "./slab";
import { slabFrozen } from "./slub";

export function fillPageInfo(rec: usize, pfn: u32): void {
  let head = pfn;
  // a tail's head link is metadata a buggy write may have hit: never follow it out of mem_map
  if ((pgFlags(pfn) & PG_TAIL) != 0 && pgCache(pfn) < nrFrames) head = pgCache(pfn);
  store<u64>(rec + R_PFN, pfn);
  store<u64>(rec + R_HEAD_PFN, head);
  store<u32>(rec + R_PAGE_FLAGS, pgFlags(head));
  store<u8>(rec + R_PAGE_USE, <u8>pgUse(head));
  store<u8>(rec + R_PAGE_ORDER, <u8>pgOrder(head));
  store<i32>(rec + R_PAGE_REF, pgRef(head));
  store<i32>(rec + R_PAGE_MAP, pgMapcount(head));
  store<u8>(rec + R_FLAGS, load<u8>(rec + R_FLAGS) | <u8>RF_PAGE);
  if (pgFlags(head) & PG_SLAB) {
    const pg = pfnToPage(head);
    store<u32>(rec + R_CACHE, pgCache(head));
    store<u64>(rec + R_ARG1, pg.freelist);             // linear
    // inuse | objects << 16, one load of the two adjacent u16s; bit 32: frozen (a CPU's cpu slab)
    store<u64>(rec + R_ARG2, <u64>load<u32>(changetype<usize>(pg), offsetof<Page>("inuse")) |
                             (slabFrozen(head) ? <u64>1 << 32 : 0));
    if (slabIsSlab()) slabPageInfo(rec, head);
  }
}
