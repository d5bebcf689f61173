// The buddy allocator under random alloc/free: no overlap, natural alignment,
// coalescing back to the starting free count, OOM gives null and never traps.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { boot, BUILDS } from "../helpers.js";

const PAGE_OFFSET = 0xffff888000000000n;
// Free frames, counting the stack depot's pools as free: they are taken from
// the buddy allocator on first use of a new stack, as the kernel's are.
const freeFrames = (e: { stats(): { framesFree: number; framesByUse: Record<string, number> } }) =>
  e.stats().framesFree + e.stats().framesByUse.stackdepot;

describe.each(BUILDS)("buddy allocator (%s build)", (build) => {
  it("never hands out overlapping or misaligned blocks and coalesces back", () => {
    const e = boot({ kasan: false, ram: 32 }, build);
    e.__free_pages(e.alloc_pages(0), 0);      // the depot's first pool
    const start = freeFrames(e);
    e.exports.drain_all_pages();
    const startFree = Array.from({ length: 11 }, (_, o) => e.exports.nr_free(o));
    fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat(6), fc.nat(1000)), { maxLength: 120 }), (ops) => {
      const live: Array<{ addr: bigint; order: number }> = [];
      for (const [alloc, order, pick] of ops) {
        if (alloc || live.length === 0) {
          const a = e.alloc_pages(order);
          if (a === 0n) continue;
          const pfn = (a - PAGE_OFFSET) >> 12n;
          expect(pfn % (1n << BigInt(order)), "naturally aligned").toBe(0n);
          const end = a + (4096n << BigInt(order));
          for (const b of live) {
            const bend = b.addr + (4096n << BigInt(b.order));
            expect(a < bend && b.addr < end, "overlap").toBe(false);
          }
          live.push({ addr: a, order });
        } else {
          const [b] = live.splice(pick % live.length, 1);
          e.__free_pages(b.addr, b.order);
        }
      }
      for (const b of live) e.__free_pages(b.addr, b.order);
      expect(e.reports()).toEqual([]);
      expect(freeFrames(e)).toBe(start);
      e.exports.drain_all_pages();          // pages on the per-CPU lists merge once given back
      expect(e.selfCheck()).toEqual([]);
      expect(Array.from({ length: 11 }, (_, o) => e.exports.nr_free(o))).toEqual(startFree);
    }), { numRuns: 40, seed: 7 });
  });

  it("returns null when memory runs out, and recovers after freeing", () => {
    const e = boot({ kasan: false, ram: 16 }, build);
    e.__free_pages(e.alloc_pages(0), 0);
    const start = freeFrames(e);
    const got: bigint[] = [];
    for (;;) {
      const a = e.alloc_pages(4);
      if (a === 0n) break;
      got.push(a);
    }
    expect(got.length).toBeGreaterThan(0);
    expect(e.alloc_pages(10)).toBe(0n);
    expect(e.stats().pages.allocFailures).toBeGreaterThanOrEqual(2);
    for (const a of got) e.__free_pages(a, 4);
    expect(freeFrames(e)).toBe(start);
  });

  it("reports a double __free_pages as Bad page state and keeps the allocator intact", () => {
    const e = boot({ kasan: false, ram: 16 }, build);
    e.__free_pages(e.alloc_pages(0), 0);
    const start = freeFrames(e);
    const a = e.alloc_pages(0);
    e.__free_pages(a, 0);
    e.__free_pages(a, 0);
    const r = e.takeReports();
    expect(r.map((x) => x.kind)).toEqual(["bad_page"]);
    expect(r[0].title).toBe(`BUG: Bad page state in process swapper/0  pfn:${((a - PAGE_OFFSET) >> 12n).toString(16).padStart(5, "0")}`);
    expect(r[0].text).toContain("page dumped because: nonzero mapcount");
    expect(freeFrames(e)).toBe(start);
    expect(() => e.__free_pages(a + 8n, 0)).toThrow(/not a page-aligned direct-map address/);
  });

  it("accounts every frame to one use, with shadow at 1/8 of RAM", () => {
    const e = boot({ ram: 128 }, build);
    const s = e.stats();
    const sum = Object.values(s.framesByUse).reduce((a, b) => a + b, 0);
    expect(sum).toBe(s.framesTotal);
    expect(s.framesByUse.shadow * 4096).toBeGreaterThanOrEqual(128 * 1048576 / 8);
    expect(s.memory.shadowFraction).toBeGreaterThan(0.125);
    expect(s.memory.shadowFraction).toBeLessThan(0.13);
    const off = boot({ kasan: false, ram: 128 }, build).stats();
    expect(off.framesByUse.shadow).toBe(0);
  });
});
