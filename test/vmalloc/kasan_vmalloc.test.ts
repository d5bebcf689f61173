// KASAN_VMALLOC: shadow populated on demand and shared between neighbours,
// released at purge time only where a whole shadow page lies in free space,
// the TLB kept coherent through it, population failures that leave nothing
// behind, and no leak over random workloads.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { boot, BUILDS, expectNoReport, lines } from "../helpers.js";
import type { Engine, EngineStats } from "../../host/engine.js";

const VMALLOC_START = 0xffffc90000000000n;
const PAGE = 4096n;
const GRANULE_MEM = 32768n;                 // memory one generic shadow page describes

function coherent(e: Engine): void {
  expect(e.exports.tlb_check_coherent()).toBe(0);
}

// Everything a workload may leave behind legitimately: page tables and the
// vmap-area record chunks are never given back (the kernel keeps its page
// tables too); every other frame must be where it was.
function expectNoLeak(start: EngineStats, end: EngineStats): void {
  expect(end.vmalloc.shadowPages).toBe(start.vmalloc.shadowPages);
  expect(end.vmalloc.pages).toBe(start.vmalloc.pages);
  expect(end.vmalloc.areas).toBe(start.vmalloc.areas);
  expect(end.vmalloc.lazyPages).toBe(0);
  for (const use of ["shadow", "vmalloc", "pages", "slab", "large_kmalloc"]) {
    expect(end.framesByUse[use], `frames used for ${use}`).toBe(start.framesByUse[use]);
  }
  const kept = (end.framesByUse.pagetables - start.framesByUse.pagetables) + (end.framesByUse.metadata - start.framesByUse.metadata);
  expect(end.framesFree + kept).toBe(start.framesFree);
}

describe.each(BUILDS)("KASAN_VMALLOC shadow (%s build)", (build) => {
  it("shares a shadow page between neighbours and frees it with the last of them", () => {
    const e = boot({ ram: 64, cmdline: "kasan_multi_shot" }, build);
    expect(e.stats().vmalloc.shadowPages).toBe(0);
    const a = e.vmalloc(4096);
    const b = e.vmalloc(4096);
    expect(b - a).toBe(2n * PAGE);
    expect(e.stats().vmalloc.shadowPages).toBe(1);           // both live in one 32 KiB granule
    e.vfree(a);
    e.vm_unmap_aliases();
    expect(e.stats().vmalloc.shadowPages).toBe(1);           // b still needs it
    expect(e.shadowByte(a)).toBe(0xf8);
    expectNoReport(e, () => { e.store(b, 8, 1n); e.store(b + 4088n, 8, 2n); });
    coherent(e);
    e.vfree(b);
    e.vm_unmap_aliases();
    expect(e.stats().vmalloc.shadowPages).toBe(0);
    expect(e.stats().vmalloc.shadowPagesFreed).toBe(1);
    expect(e.shadowByte(b)).toBe(-1);                          // unmapped again
    coherent(e);
  });

  it("rounds the released region inward, and widens it only into wholly free shadow pages", () => {
    const e = boot({ ram: 64 }, build);
    const x = e.vmalloc(36 * 1024);                           // [0, 40K) with its guard: granule 0 and 8K of granule 1
    const y = e.vmalloc(4096);                                 // [40K, 48K)
    expect(x).toBe(VMALLOC_START);
    expect(y).toBe(VMALLOC_START + 40n * 1024n);
    expect(e.stats().vmalloc.shadowPages).toBe(2);
    e.vfree(x);
    e.vm_unmap_aliases();
    // granule 0 lies wholly in the free region; granule 1 is shared with y
    expect(e.stats().vmalloc.shadowPages).toBe(1);
    expect(e.shadowByte(x)).toBe(-1);
    expect(e.shadowByte(x + GRANULE_MEM)).toBe(0xf8);
    e.vfree(y);
    e.vm_unmap_aliases();
    // y itself covers no whole granule, but the merged free region covers all of granule 1
    expect(e.stats().vmalloc.shadowPages).toBe(0);
    expect(e.stats().vmalloc.shadowPagesFreed).toBe(2);
  });

  it("poisons to the exact size: partial granule, tail of the page, guard page", () => {
    const e = boot({ ram: 64 }, build);
    const v = e.vmalloc(4096 + 13);
    expect(e.shadowByte(v)).toBe(0);
    expect(e.shadowByte(v + 4096n + 8n)).toBe(5);
    expect(e.shadowByte(v + 4096n + 16n)).toBe(0xf8);
    expect(e.shadowByte(v + 2n * PAGE)).toBe(0xf8);            // guard page
    e.vfree(v);
    for (const off of [0n, 4096n, 4104n]) expect(e.shadowByte(v + off)).toBe(0xf8);
  });

  it("keeps the TLB coherent through vfree, purges and shadow reuse", () => {
    const e = boot({ ram: 64, cmdline: "kasan_multi_shot" }, build);
    const areas: bigint[] = [];
    for (let i = 0; i < 40; i++) {
      const p = e.vmalloc(4096 * (1 + (i % 5)));
      for (let off = 0n; off < 4096n * BigInt(1 + (i % 5)); off += 4096n) e.store(p + off, 8, BigInt(i));
      areas.push(p);
    }
    coherent(e);
    for (let i = 0; i < areas.length; i += 2) e.vfree(areas[i]);
    coherent(e);
    e.vm_unmap_aliases();
    coherent(e);
    // reuse the freed space: new shadow pages where old ones were released
    const again = areas.filter((_, i) => i % 2 === 0).map(() => e.vmalloc(4096));
    for (const p of again) e.store(p, 8, 7n);
    for (let i = 1; i < areas.length; i += 2) expect(e.load(areas[i], 8)).toBe(BigInt(i));
    coherent(e);
    expect(e.takeReports()).toEqual([]);
    for (const p of [...again, ...areas.filter((_, i) => i % 2 === 1)]) e.vfree(p);
    e.vm_unmap_aliases();
    coherent(e);
    expect(e.stats().vmalloc.shadowPages).toBe(0);
  });

  it("fails cleanly when shadow population fails (fail_page_alloc), leaving nothing behind", () => {
    const e = boot({ ram: 64 }, build);
    const start = e.stats();
    e.failPageAlloc("1,100,0,1");                              // the next page allocation fails, once
    function populate_fails() { return e.vmalloc(4096); }
    expect(populate_fails()).toBe(0n);
    const s = e.stats();
    expect(s.pages.allocFailures).toBe(start.pages.allocFailures + 1);
    expect(s.vmalloc.areas).toBe(0);
    expect(s.vmalloc.shadowPages).toBe(0);
    expect(s.vmalloc.lazyPages).toBe(0);
    const [warn] = e.takeReports();
    expect(lines(warn)[0]).toBe("swapper/0: vmalloc error: size 4096, vm_struct allocation failed, mode:0xcc0(GFP_KERNEL), nodemask=(null),cpuset=/,mems_allowed=0");
    expect(lines(warn)[9]).toMatch(/^ populate_fails\+0x/);
    // the address space went straight back: the next vmalloc gets the same range
    expect(e.vmalloc(4096)).toBe(VMALLOC_START);
    expect(e.stats().vmalloc.shadowPages).toBe(1);
  });

  it("whichever allocation fails inside vmalloc, nothing leaks", () => {
    for (let k = 2; k <= 24; k++) {
      const e = boot({ ram: 32 }, build);
      const start = e.stats();
      e.failPageAlloc(`${k},100,0,1`);                         // the k-th page allocation from now fails
      const p = e.vmalloc(10 * 4096);
      const failed = e.stats().pages.allocFailures > start.pages.allocFailures;
      expect(p === 0n, `k=${k}`).toBe(failed);
      if (p !== 0n) {
        e.writeBytes(p, new Uint8Array(10 * 4096).fill(1));
        e.vfree(p);
      }
      e.vm_unmap_aliases();
      coherent(e);
      expectNoLeak(start, e.stats());
      const reasons = e.takeReports().map((r) => r.title);
      if (failed) expect(reasons[0]).toMatch(/vmalloc error: size \d+, (vm_struct allocation failed|failed to allocate pages|failed to map pages)/);
    }
  });

  it("returns to its starting shadow over random vmalloc/vmap/vm_map_ram workloads (no leak)", () => {
    type Op = { kind: "vmalloc"; size: number; alignShift: number } | { kind: "vfree"; pick: number }
      | { kind: "vmap"; pages: number } | { kind: "ram"; pages: number } | { kind: "purge" };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant("vmalloc" as const), size: fc.integer({ min: 1, max: 200_000 }), alignShift: fc.integer({ min: 0, max: 20 }) }),
      fc.record({ kind: fc.constant("vfree" as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant("vmap" as const), pages: fc.integer({ min: 1, max: 6 }) }),
      fc.record({ kind: fc.constant("ram" as const), pages: fc.integer({ min: 1, max: 70 }) }),
      fc.record({ kind: fc.constant("purge" as const) }),
    );
    fc.assert(fc.property(fc.array(op, { minLength: 1, maxLength: 40 }), (ops) => {
      const e = boot({ ram: 64, cmdline: "kasan_multi_shot" }, build);
      const start = e.stats();
      const live: Array<{ p: bigint; size: number; free(): void }> = [];
      const pages: bigint[] = [];
      const page = () => { const p = e.alloc_pages(0); pages.push(p); return p; };
      for (const o of ops) {
        if (o.kind === "vmalloc") {
          const p = e.__vmalloc_node(o.size, 1n << BigInt(o.alignShift));
          expect(p).not.toBe(0n);
          live.push({ p, size: o.size, free: () => e.vfree(p) });
        } else if (o.kind === "vmap") {
          const p = e.vmap(Array.from({ length: o.pages }, page));
          live.push({ p, size: o.pages * 4096, free: () => e.vunmap(p) });
        } else if (o.kind === "ram") {
          const p = e.vm_map_ram(Array.from({ length: o.pages }, page));
          live.push({ p, size: o.pages * 4096, free: () => e.vm_unmap_ram(p, o.pages) });
        } else if (o.kind === "vfree" && live.length) {
          live.splice(o.pick % live.length, 1)[0].free();
        } else if (o.kind === "purge") {
          e.vm_unmap_aliases();
        }
        // every live mapping is accessible to its exact size, and only to it
        for (const l of live) {
          expect(e.kasan_check_write(l.p, l.size)).toBe(true);
          if (l.size % 4096 !== 0) expect(e.kasan_check_read(l.p + BigInt(l.size), 1)).toBe(false);
        }
        expect(e.takeReports().every((r) => r.type === "vmalloc-out-of-bounds")).toBe(true);
        coherent(e);
      }
      for (const l of live) l.free();
      for (const p of pages) e.__free_pages(p, 0);
      e.vm_unmap_aliases();
      expect(e.takeReports()).toEqual([]);
      coherent(e);
      expectNoLeak(start, e.stats());
    }), { numRuns: 25 });
  });
});

describe.each(BUILDS)("KASAN_VMALLOC with software tags, arm64 (%s build)", (build) => {
  it("tags vmalloc memory, reports the first granule past it, and leaks no shadow", () => {
    const e = boot({ ram: 64, cmdline: "arch=arm64 kasan.mode=sw_tags kasan_multi_shot" }, build);
    const start = e.stats();
    const v = e.vmalloc(100);
    const tag = Number(v >> 56n);
    expect(tag).toBeLessThan(0xff);
    expect(e.is_vmalloc_addr(v)).toBe(true);
    expect(e.shadowByte(v)).toBe(tag);
    expectNoReport(e, () => e.store(v + 111n, 1, 1));            // the granule is 16 bytes
    function vmalloc_oob_tags() { e.load(v + 112n, 1); }
    vmalloc_oob_tags();
    const [r] = e.takeReports();
    expect(r.type).toBe("invalid-access");
    expect(lines(r)[2]).toBe(`Read of size 1 at addr ${(v + 112n).toString(16).padStart(16, "0")} by task swapper/0/1`);
    expect(lines(r)[3]).toBe(`Pointer tag: [${tag.toString(16).padStart(2, "0")}], memory tag: [fe]`);
    const w = e.vmalloc(4096);
    expect(e.stats().vmalloc.shadowPages).toBe(1);               // 64 KiB per shadow page: shared
    e.vfree(v);
    e.vfree(w);
    e.vm_unmap_aliases();
    expectNoLeak(start, e.stats());
  });
});
