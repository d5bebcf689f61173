// The sampling gate on the engine clock: exact counts on the virtual clock,
// burst, deferrable timers, the incompatible/covered/capacity skips, the wall
// clock, and sample_interval=0.
import { describe, it, expect } from "vitest";
import { boot, BUILDS } from "../helpers.js";
import type { Engine } from "../../host/engine.js";

// kmalloc + kfree n times from one call site; which of them were KFENCE's (1-based)
function churn(e: Engine, n: number, size = 32, afterEach?: (i: number) => void): number[] {
  const hits: number[] = [];
  for (let i = 1; i <= n; i++) {
    const p = e.kmalloc(size);
    if (e.kfence.isKfenceAddress(p)) hits.push(i);
    e.kfree(p);
    afterEach?.(i);
  }
  return hits;
}

describe.each(BUILDS)("KFENCE sampling (%s build)", (build) => {
  it("virtual clock per allocation: every interval-th allocation is KFENCE's, exactly", () => {
    // 1 ms per slab allocation, a sample every 10 ms: allocations 10, 20, ... (kfree is no allocation)
    const e = boot({ cmdline: "kfence.sample_interval=10 kfence.alloc_tick_ns=1000000" }, build);
    const hits = churn(e, 1000);
    expect(hits.length).toBe(100);
    expect(hits.slice(0, 4)).toEqual([10, 20, 30, 40]);
    expect(e.clockNs).toBe(1000n * 1000000n);
    expect(e.kfence.statsData()).toMatchObject({ totalAllocations: 100, totalFrees: 100, currentlyAllocated: 0 });
  });

  it("virtual clock driven by tick(): one sample per interval, the first one interval after boot", () => {
    const e = boot({ cmdline: "kfence.sample_interval=100" }, build);
    // 99 ms pass: nothing sampled yet
    expect(churn(e, 99, 32, () => e.tick(1))).toEqual([]);
    // 5 allocations per ms for 1 s: the gate opens at 100, 200, ..., 1000 ms
    const hits = churn(e, 5000, 64, (i) => { if (i % 5 === 0) e.tick(1); });
    expect(hits.length).toBe(10);
    expect(hits[0]).toBe(6);          // the clock reaches 100 ms after the 5th of these
    expect(hits[1]).toBe(506);        // 100 ms later
  });

  it("a tick spanning many intervals opens the gate once; burst adds allocations per sample", () => {
    const e = boot({ cmdline: "kfence.sample_interval=10" }, build);
    e.tick(1000);
    expect(churn(e, 20)).toEqual([1]);
    const b = boot({ cmdline: "kfence.sample_interval=10 kfence.burst=3" }, build);
    b.tick(10);
    expect(churn(b, 20)).toEqual([1, 2, 3, 4]);
    b.tick(10);
    expect(churn(b, 20)).toEqual([1, 2, 3, 4]);
  });

  it("the timer keeps its phase: it last fired at the latest expiry before the clock", () => {
    const e = boot({ cmdline: "kfence.sample_interval=100" }, build);
    e.tick(250);                      // fired at 100 and 200: next at 300
    expect(e.exports.kfence_next_sample()).toBe(300_000_000n);
    expect(churn(e, 3)).toEqual([1]);
    e.tick(49);
    expect(churn(e, 3)).toEqual([]);
    e.tick(1);
    expect(churn(e, 3)).toEqual([1]);
  });

  it("kfence.deferrable: an expiry during idle time runs at the next allocation, re-armed from there", () => {
    const e = boot({ cmdline: "kfence.sample_interval=100 kfence.deferrable=1" }, build);
    e.tick(250);
    expect(churn(e, 3)).toEqual([1]);
    expect(e.exports.kfence_next_sample()).toBe(350_000_000n);
    e.tick(99);
    expect(churn(e, 3)).toEqual([]);
    e.tick(1);
    expect(churn(e, 3)).toEqual([1]);
  });

  it("incompatible allocations do not use up the sample; SLAB_SKIP_KFENCE is not even counted", () => {
    const e = boot({}, build);
    const skip = e.kmem_cache_create("no_kfence", 64, { flags: "SLAB_SKIP_KFENCE" });
    e.tick(100);
    const big = e.kmalloc(5000);              // kmalloc-8k, larger than a page
    const dma = e.kmalloc(64, "GFP_KERNEL | __GFP_DMA");
    const s = e.kmem_cache_alloc(skip);
    for (const p of [big, dma, s]) expect(e.kfence.isKfenceAddress(p)).toBe(false);
    expect(e.kfence.statsData().skippedIncompatible).toBe(2);
    const p = e.kmalloc(64);
    expect(e.kfence.isKfenceAddress(p)).toBe(true);
    // large kmalloc (pages) never asks KFENCE
    e.tick(100);
    expect(e.kfence.isKfenceAddress(e.kmalloc(20000))).toBe(false);
    expect(e.kfence.statsData().skippedIncompatible).toBe(2);
    expect(e.kfence.isKfenceAddress(e.kmalloc(8))).toBe(true);
  });

  it("skip_covered_thresh: above it, an already-covered allocation stack uses up the sample", () => {
    // 4 objects, 50%: filtering starts when more than 2 are allocated
    const e = boot({ cmdline: "kfence.num_objects=4 kfence.skip_covered_thresh=50" }, build);
    // the coverage hash takes the top 8 frames: __kfence_alloc, __kmalloc_noprof and these six
    function site6(): bigint { return e.kmalloc(32); }
    function site5(): bigint { return site6(); }
    function site4(): bigint { return site5(); }
    function site3(): bigint { return site4(); }
    function site2(): bigint { return site3(); }
    function same_site(): bigint { return site2(); }
    const sample = (fn: () => bigint) => { e.tick(100); return fn(); };
    const kept: bigint[] = [];
    for (let i = 0; i < 3; i++) kept.push(sample(same_site));
    expect(kept.every((p) => e.kfence.isKfenceAddress(p))).toBe(true);
    const covered = sample(same_site);
    expect(e.kfence.isKfenceAddress(covered)).toBe(false);
    expect(e.kfence.statsData().skippedCovered).toBe(1);
    // the sample is used up: the next allocation is not KFENCE's either
    expect(e.kfence.isKfenceAddress(e.kmalloc(32))).toBe(false);
    function other_site(): bigint { return e.kmalloc(32); }
    expect(e.kfence.isKfenceAddress(sample(other_site))).toBe(true);
    expect(e.kfence.isKfenceAddress(sample(same_site))).toBe(false);
    expect(e.kfence.statsData().skippedCovered).toBe(2);
    // two frees take the pool back to the threshold: the site is sampled again
    e.kfree(kept[0]);
    e.kfree(kept[1]);
    expect(e.kfence.isKfenceAddress(sample(same_site))).toBe(true);
  });

  it("pool exhaustion: the capacity counter, and the slab takes over", () => {
    const e = boot({ cmdline: "kfence.num_objects=3 kfence.skip_covered_thresh=100" }, build);
    const got: bigint[] = [];
    for (let i = 0; i < 5; i++) { e.tick(100); got.push(e.kmalloc(128)); }
    expect(got.map((p) => e.kfence.isKfenceAddress(p))).toEqual([true, true, true, false, false]);
    expect(e.kfence.stats()).toBe([
      "enabled: 1",
      "currently allocated: 3",
      "total allocations: 3",
      "total frees: 0",
      "zombie allocations: 0",
      "total bugs: 0",
      "skipped allocations (incompatible): 0",
      "skipped allocations (capacity): 2",
      "skipped allocations (covered): 0",
      "",
    ].join("\n"));
    // a freed object is reused once the pool has room again
    e.kfree(got[1]);
    e.tick(100);
    expect(e.kmalloc(128)).toBe(got[1]);
  });

  it("kfence.sample_interval=0: no pool, no boot line, nothing is KFENCE's", () => {
    const e = boot({ cmdline: "kfence.sample_interval=0" }, build);
    expect(e.kfence.initialized).toBe(false);
    expect(e.dmesg()).not.toContain("kfence:");
    expect(e.stats().framesByUse.kfence).toBe(0);
    e.tick(1000);
    expect(churn(e, 10)).toEqual([]);
    expect(() => e.kfence.stats()).toThrow(/does not exist/);
  });

  it("writing sample_interval at run time: disabled, re-enabled, and a late pool", () => {
    const e = boot({}, build);
    e.kfence.sampleInterval = 0;
    expect(e.dmesg()).toMatch(/kfence: disabled\n$/);
    expect(e.kfence.sampleInterval).toBe(0);
    e.tick(500);
    expect(churn(e, 5)).toEqual([]);
    expect(e.kfence.stats().split("\n")[0]).toBe("enabled: 0");
    e.kfence.sampleInterval = 50;
    expect(e.dmesg()).toMatch(/kfence: re-enabled\n$/);
    // the timer runs at once when re-enabled
    expect(churn(e, 3)).toEqual([1]);
    e.tick(50);
    expect(churn(e, 3)).toEqual([1]);

    const late = boot({ cmdline: "kfence.sample_interval=0 kfence.num_objects=63" }, build);
    late.kfence.sampleInterval = 100;
    expect(late.kfence.initialized).toBe(true);
    const start = late.kfence.poolStart;
    expect(late.dmesg()).toContain(`kfence: initialized - using 524288 bytes for 63 objects at 0x${start.toString(16)}-0x${(start + 524288n).toString(16)}`);
    expect(late.stats().framesByUse.kfence).toBe(128);
    const p = late.kmalloc(40);
    expect(late.kfence.isKfenceAddress(p)).toBe(true);
    late.kfree(p);
    late.load(p, 1);
    expect(late.takeReports().map((r) => r.type)).toEqual(["use-after-free read"]);
    // KASAN never sees the late pool as freed pages
    expect(late.shadowByte(p)).toBe(0);
  });

  it("kfence.clock=wall: the sampling timer follows the host's clock", () => {
    const e = boot({ cmdline: "kfence.clock=wall kfence.sample_interval=2" }, build);
    const t0 = e.clockNs;
    const until = Date.now() + 5;
    while (Date.now() < until) { /* let wall time pass */ }
    const p = e.kmalloc(32);
    expect(e.kfence.isKfenceAddress(p)).toBe(true);
    expect(e.clockNs - t0).toBeGreaterThanOrEqual(4_000_000n);
    // tick() still moves it forward
    const before = e.clockNs;
    e.tick(1000);
    expect(e.clockNs - before).toBeGreaterThanOrEqual(1_000_000_000n);
  });
});
