// stats(): the TLB's hits, misses and flushes and the frame accounting, as a
// user reading them after a run expects them to add up.
import { describe, it, expect } from "vitest";
import { boot, BUILDS } from "../helpers.js";

describe.each(BUILDS)("stats (%s build)", (build) => {
  it("counts a walk for the first access to a page and hits for the rest", () => {
    const e = boot({ cmdline: "kasan=off" }, build);
    const p = e.alloc_pages(2);                       // 4 pages, not touched yet
    const t0 = e.stats().tlb;
    for (let i = 0; i < 10; i++) e.load(p + BigInt(i * 8), 8);
    const t1 = e.stats().tlb;
    expect(t1.misses - t0.misses).toBe(1);
    expect(t1.hits - t0.hits).toBe(9);
    // a memset over three pages: one translation per page, all misses the first time
    e.memset(p + 4096n, 0, 3 * 4096);
    const t2 = e.stats().tlb;
    expect(t2.misses - t1.misses).toBe(3);
    e.memset(p + 4096n, 1, 3 * 4096);
    const t3 = e.stats().tlb;
    expect(t3.hits - t2.hits).toBe(3);
    expect(t3.misses).toBe(t2.misses);
    // freed pages stay in the direct map (no flush, as in the kernel); vfree unmaps and flushes
    e.__free_pages(p, 2);
    expect(e.stats().tlb.flushes).toBe(t3.flushes);
    const v = e.vmalloc(3 * 4096);
    e.load(v, 1);
    e.vfree(v);
    expect(e.stats().tlb.flushes).toBeGreaterThan(t3.flushes);
  });

  it("accounts every frame to exactly one use", () => {
    const e = boot({}, build);
    const s = e.stats();
    const used = Object.values(s.framesByUse).reduce((a, b) => a + b, 0);
    expect(used).toBe(s.framesTotal);
    expect(s.framesByUse.free).toBe(s.framesFree);
    expect(s.memory.shadowBytes).toBe(s.framesByUse.shadow * 4096);
    expect(s.memory.shadowFraction).toBeGreaterThan(1 / 8);
    expect(s.memory.shadowFraction).toBeLessThan(1 / 7.5);
  });
});
