// The page allocator's per-CPU page lists (struct per_cpu_pages): frees of
// order <= PAGE_ALLOC_COSTLY_ORDER go to the current CPU's list up to pcp->high,
// then a batch goes back to the buddy; allocations take the hottest page of the
// list, refilled from the buddy a batch at a time; drain_all_pages() runs before
// an allocation fails. Pages on the lists are free pages: framesFree counts them,
// the buddy's nr_free does not (the kernel's NR_FREE_PAGES vs free_pcp).
import { describe, it, expect } from "vitest";
import { boot, BUILDS, lines } from "../helpers.js";
import type { Engine } from "../../host/engine.js";
import * as abi from "../../abi/abi.js";

const PAGE_OFFSET = 0xffff888000000000n;
const ZONE = 1;                                     // ZONE_DMA32 on x86_64, served first
const COUNT = 0, HIGH = 1, BATCH = 2, HIGH_MIN = 3, HIGH_MAX = 4, LIST = 5;

const pcp = (e: Engine, cpu: number, field: number, zone = ZONE) => e.exports.zone_pcp(cpu, zone, field);
const pcpTotal = (e: Engine) => [0, 1].reduce((n, z) => n + e.exports.zone_pcp(-1, z, COUNT), 0);
const buddyFree = (e: Engine, zone = ZONE) =>
  Array.from({ length: abi.MAX_PAGE_ORDER + 1 }, (_, o) => e.exports.zone_nr_free(zone, o) << o).reduce((a, b) => a + b, 0);
const buddyFreeAll = (e: Engine) => buddyFree(e, 0) + buddyFree(e, 1);
const pfnOf = (a: bigint) => Number((a - PAGE_OFFSET) >> 12n);

describe.each(BUILDS)("per-CPU page lists (%s build)", (build) => {
  it("are sized as zone_batchsize() and zone_highsize() size them", () => {
    const e = boot({ kasan: false, ram: 512, cmdline: "nr_cpus=2" }, build);
    // 512 MiB: ZONE_DMA32 manages ~128k pages: min(128k >> 10, 256) / 4 = 32 -> 2^n - 1 below 48: 31
    expect(pcp(e, 0, BATCH)).toBe(31);
    expect(pcp(e, 1, BATCH)).toBe(31);
    // ZONE_DMA (16 MiB): a batch of 1, high at least 4 batches
    expect(pcp(e, 0, BATCH, 0)).toBe(1);
    expect(pcp(e, 0, HIGH_MIN, 0)).toBeGreaterThanOrEqual(4);
    // high_min: the low watermark split over 2 CPUs; high_max: managed / 8 split likewise
    const hmin = pcp(e, 0, HIGH_MIN), hmax = pcp(e, 0, HIGH_MAX);
    expect(hmin).toBeGreaterThanOrEqual(4 * 31);
    expect(hmin).toBeLessThan(1000);
    expect(hmax).toBeGreaterThan(7000);
    expect(hmax).toBeLessThan(8300);
    expect(e.exports.zone_pcp(5, ZONE, COUNT)).toBe(0);          // a CPU the machine does not have
  });

  it("keep freed pages on the CPU's list up to high, then give a batch back to the buddy", () => {
    const e = boot({ kasan: false, ram: 64 }, build);
    const batch = pcp(e, 0, BATCH);
    const held: bigint[] = [];
    for (let i = 0; i < 3 * pcp(e, 0, HIGH_MAX); i++) held.push(e.alloc_pages(0));
    expect(held.every((a) => a !== 0n && pfnOf(a) >= 4096)).toBe(true);     // all from ZONE_DMA32
    e.exports.drain_all_pages();
    expect(pcp(e, 0, COUNT)).toBe(0);
    let drops = 0;
    for (const a of held) {
      const count = pcp(e, 0, COUNT), high = pcp(e, 0, HIGH), buddy = buddyFree(e), free = e.stats().framesFree;
      e.__free_pages(a, 0);
      expect(e.stats().framesFree).toBe(free + 1);                 // a free page either way
      const now = pcp(e, 0, COUNT);
      if (now === count + 1) {
        expect(buddyFree(e)).toBe(buddy);                           // stayed on the list
        expect(now).toBeLessThan(Math.max(high, pcp(e, 0, HIGH)));
      } else {
        drops++;
        const given = count + 1 - now;
        expect(given).toBeGreaterThanOrEqual(batch);               // free_pcppages_bulk: at least a batch
        expect(buddyFree(e)).toBe(buddy + given);
        expect(count + 1).toBeGreaterThanOrEqual(pcp(e, 0, HIGH_MIN));
      }
      expect(now).toBeLessThanOrEqual(pcp(e, 0, HIGH_MAX));
      expect(pcp(e, 0, LIST)).toBe(now);                            // all order 0
    }
    expect(drops).toBeGreaterThan(0);
    expect(e.selfCheck()).toEqual([]);
  });

  it("hand out the page freed last, and refill an empty list from the buddy a batch at a time", () => {
    const e = boot({ kasan: false, ram: 64 }, build);
    const a = e.alloc_pages(0), b = e.alloc_pages(0);
    e.__free_pages(a, 0);
    e.__free_pages(b, 0);
    const count = pcp(e, 0, COUNT);
    expect(e.alloc_pages(0)).toBe(b);                               // hot: list head
    expect(pcp(e, 0, COUNT)).toBe(count - 1);
    e.exports.drain_all_pages();
    const buddy = buddyFree(e);
    const c = e.alloc_pages(0);
    expect(c).not.toBe(0n);
    const refill = pcp(e, 0, COUNT) + 1;
    expect(refill).toBeGreaterThanOrEqual(pcp(e, 0, BATCH));       // rmqueue_bulk: nr_pcp_alloc() blocks
    expect(buddyFree(e)).toBe(buddy - refill);
    // higher orders up to PAGE_ALLOC_COSTLY_ORDER have their own lists; above, straight to the buddy
    const o3 = e.alloc_pages(3);
    e.__free_pages(o3, 3);
    expect(pcp(e, 0, LIST + 3)).toBeGreaterThanOrEqual(1);
    const o4 = e.alloc_pages(4), before = buddyFree(e), pcpBefore = pcp(e, 0, COUNT);
    e.__free_pages(o4, 4);
    expect(buddyFree(e)).toBe(before + 16);
    expect(pcp(e, 0, COUNT)).toBe(pcpBefore);
    expect(e.selfCheck()).toEqual([]);
  });

  it("belong to the CPU the current task runs on", () => {
    const e = boot({ kasan: false, ram: 64, cmdline: "nr_cpus=2" }, build);
    const a = e.alloc_pages(0);
    e.exports.drain_all_pages();
    e.setTask({ pid: 1, cpu: 1 });
    e.__free_pages(a, 0);
    expect(pcp(e, 1, COUNT)).toBe(1);
    expect(pcp(e, 0, COUNT)).toBe(0);
    e.setTask({ pid: 1, cpu: 0 });
    const b = e.alloc_pages(0);
    expect(b).not.toBe(a);                                          // CPU 0 refilled its own list
    expect(pcp(e, 1, COUNT)).toBe(1);
    e.setTask({ pid: 1, cpu: 1 });
    expect(e.alloc_pages(0)).toBe(a);
    expect(pcp(e, 1, COUNT)).toBe(0);
    expect(e.selfCheck()).toEqual([]);
  });

  it("are drained before an allocation fails: another CPU's free pages are found", () => {
    const e = boot({ kasan: false, ram: 16, cmdline: "nr_cpus=2" }, build);
    const held: bigint[] = [];
    for (;;) {
      const a = e.alloc_pages(0, "GFP_KERNEL | __GFP_NOWARN");
      if (a === 0n) break;
      held.push(a);
    }
    expect(e.takeReports()).toEqual([]);
    expect(buddyFreeAll(e) + pcpTotal(e)).toBe(0);
    for (const a of held.splice(0, 8)) e.__free_pages(a, 0);       // below high: they stay on CPU 0's list
    expect(e.exports.zone_pcp(0, 0, COUNT) + e.exports.zone_pcp(0, 1, COUNT)).toBe(8);
    expect(buddyFreeAll(e)).toBe(0);
    e.setTask({ pid: 1, cpu: 1 });
    const fails = e.stats().pages.allocFailures;
    const got = e.alloc_pages(0);
    expect(got).not.toBe(0n);
    expect(e.stats().pages.allocFailures).toBe(fails);
    expect(e.takeReports()).toEqual([]);
    expect(e.exports.zone_pcp(0, 0, COUNT) + e.exports.zone_pcp(0, 1, COUNT)).toBe(0);  // CPU 0 drained
    // an order-2 block needs merged pages: they are found once CPU 1's leftovers are drained too
    for (const a of held) e.__free_pages(a, 0);
    e.__free_pages(got, 0);
    expect(e.alloc_pages(6)).not.toBe(0n);
    expect(e.takeReports()).toEqual([]);
    expect(e.selfCheck()).toEqual([]);
  });

  it("leave the free-page counts and the self-check right through churn on two CPUs, memory running out", () => {
    const e = boot({ ram: 64, cmdline: "nr_cpus=2" }, build);
    e.__free_pages(e.alloc_pages(0), 0);        // the stack depot's first pool
    const start = e.stats().framesFree;
    let seed = 12345;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) % n; };
    const live: Array<{ a: bigint; order: number }> = [];
    let pages = 0;
    for (let i = 0; i < 6000; i++) {
      e.setTask({ pid: 1, cpu: rnd(2) });
      if (live.length === 0 || rnd(5) < 3) {
        const order = rnd(8) === 0 ? 4 + rnd(3) : rnd(4);
        const a = e.alloc_pages(order, "GFP_KERNEL | __GFP_NOWARN");   // memory runs out at times: drains
        if (a === 0n) continue;
        live.push({ a, order });
        pages += 1 << order;
      } else {
        const [b] = live.splice(rnd(live.length), 1);
        e.__free_pages(b.a, b.order);
        pages -= 1 << b.order;
      }
      if (i % 500 === 0) {
        const s = e.stats();
        expect(s.framesFree).toBe(start - pages);
        expect(s.framesByUse.free).toBe(s.framesFree);
        expect(buddyFreeAll(e) + pcpTotal(e)).toBe(s.framesFree);
        expect(e.selfCheck()).toEqual([]);
      }
    }
    expect(e.stats().pages.allocFailures).toBeGreaterThan(0);
    for (const b of live) e.__free_pages(b.a, b.order);
    expect(e.stats().framesFree).toBe(start);
    expect(pcpTotal(e)).toBeGreaterThan(0);
    expect(e.selfCheck()).toEqual([]);
    e.exports.drain_all_pages();
    expect(pcpTotal(e)).toBe(0);
    expect(buddyFreeAll(e)).toBe(start);
    expect(e.takeReports().map((r) => r.title)).toEqual([]);
  });

  it("a page on a pcp list dumps as a free page that is not a buddy, and freeing it again is refused", () => {
    const e = boot({ ram: 64, cmdline: "kasan_multi_shot" }, build);
    const a = e.alloc_pages(0);
    e.__free_pages(a, 0);
    expect(pcp(e, 0, COUNT)).toBeGreaterThan(0);
    e.load(a + 16n, 8);
    const [r] = e.takeReports();
    expect(r.title).toMatch(/^BUG: KASAN: use-after-free in /);
    const text = r.text.split("\n");
    const i = text.findIndex((l) => l.startsWith("page: "));
    expect(text[i]).toBe(`page: refcount:0 mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x${pfnOf(a).toString(16)}`);
    expect(text[i + 1]).toBe("flags: 0x4000000000000000(zone=1)");
    expect(text[i + 2]).toMatch(/^raw: /);                         // no page_type line: not PageBuddy
    const free = e.stats().framesFree;
    e.__free_pages(a, 0);
    const [bad] = e.takeReports();
    expect(bad.title).toBe(`BUG: Bad page state in process swapper/0  pfn:${pfnOf(a).toString(16).padStart(5, "0")}`);
    expect(bad.text).toContain("page dumped because: nonzero mapcount");
    expect(e.stats().framesFree).toBe(free);
    expect(e.selfCheck()).toEqual([]);
  });

  it("show_mem counts them as free_pcp and local_pcp, apart from the buddy's free pages", () => {
    const e = boot({ kasan: false, ram: 64, cmdline: "nr_cpus=2" }, build);
    const a = e.alloc_pages(0);
    e.__free_pages(a, 0);
    const onList = pcp(e, 0, COUNT);
    expect(onList).toBeGreaterThan(0);
    e.failPageAlloc("1,100,0,1");               // should_fail_alloc_page comes before the pcp lists
    expect(e.alloc_pages(0)).toBe(0n);
    const [r] = e.takeReports();
    const l = r.text.split("\n");
    const mi = l.indexOf("Mem-Info:");
    expect(l[mi + 8]).toBe(` free:${buddyFreeAll(e)} free_pcp:${onList} free_cma:0`);
    const zoneLine = l.find((x) => x.startsWith("Node 0 DMA32 free:"))!;
    expect(zoneLine).toContain(`free:${buddyFree(e) * 4}kB `);
    expect(zoneLine).toContain(` free_pcp:${onList * 4}kB local_pcp:${onList * 4}kB `);
  });

  it("a list link that does not point back: list_del corruption, the list cut off, the allocator goes on", () => {
    const e = boot({ cmdline: "kasan=off" }, build);
    const [a, b, c] = [e.alloc_pages(0), e.alloc_pages(0), e.alloc_pages(0)];
    e.exports.drain_all_pages();
    for (const p of [a, b, c]) e.__free_pages(p, 0);            // list: c, b, a
    expect(pcp(e, 0, COUNT)).toBe(3);
    const frames = BigInt(e.stats().framesTotal);
    const memMap = PAGE_OFFSET + (frames - (frames * 64n + 4095n) / 4096n) * 4096n;
    e.store(memMap + BigInt(pfnOf(b)) * 64n + 20n, 4, 5);        // b's prev link: pfn 5 instead of c
    expect(e.selfCheck()).toEqual(["buddy or per-CPU page lists are inconsistent"]);
    const free = e.stats().framesFree;
    const got = e.alloc_pages(0);
    expect([0n, a, b, c]).not.toContain(got);                      // refilled from the buddy
    const [r, ...rest] = e.takeReports();
    expect(rest).toEqual([]);
    expect(r.type).toBe("list-del-corruption");
    const lru = (pfn: number) => (0xffffea0000000000n + BigInt(pfn) * 64n + 8n).toString(16).padStart(16, "0");
    expect(lines(r)[1]).toBe(`list_del corruption. next->prev should be ${lru(pfnOf(c))}, but was ${lru(5)}. (next=${lru(pfnOf(b))})`);
    expect(e.stats().framesFree).toBe(free - 3 - 1);               // the cut list's pages leak
    expect(e.selfCheck()).toEqual([]);
  });
});
