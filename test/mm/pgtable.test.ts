// Page tables and TLB against a plain model: every translation and every fault
// matches, and no TLB entry is ever stale.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { boot, BUILDS } from "../helpers.js";

const WINDOW = 0xffffd90000000000n;          // an unused part of vmalloc space
const PAGE = 4096n;

type Prot = "rw" | "ro" | "none";
type Op =
  | { op: "map"; page: number; frame: number; writable: boolean }
  | { op: "unmap"; page: number }
  | { op: "protect"; page: number; prot: Prot }
  | { op: "read"; page: number; off: number }
  | { op: "write"; page: number; off: number; value: number }
  | { op: "flush"; page: number; all: boolean }
  | { op: "split"; region: number };

const PAGES = 24;
const FRAMES = 8;
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("map" as const), page: fc.nat(PAGES - 1), frame: fc.nat(FRAMES - 1), writable: fc.boolean() }),
  fc.record({ op: fc.constant("unmap" as const), page: fc.nat(PAGES - 1) }),
  fc.record({ op: fc.constant("protect" as const), page: fc.nat(PAGES - 1), prot: fc.constantFrom<Prot>("rw", "ro", "none") }),
  fc.record({ op: fc.constant("read" as const), page: fc.nat(PAGES - 1), off: fc.nat(511).map((x) => x * 8) }),
  fc.record({ op: fc.constant("write" as const), page: fc.nat(PAGES - 1), off: fc.nat(511).map((x) => x * 8), value: fc.nat() }),
  fc.record({ op: fc.constant("flush" as const), page: fc.nat(PAGES - 1), all: fc.boolean() }),
  fc.record({ op: fc.constant("split" as const), region: fc.nat(15) }),
);

describe.each(BUILDS)("page tables and TLB (%s build)", (build) => {
  it("agree with a model over random map/unmap/protect/split/flush/access sequences", () => {
    const e = boot({ kasan: false, ram: 64 }, build);
    const x = e.exports;
    const frames: bigint[] = [];
    for (let i = 0; i < FRAMES; i++) frames.push(BigInt.asUintN(64, x.pt_alloc_frame()));
    const dm = (pa: bigint) => 0xffff888000000000n + pa;

    fc.assert(fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => {
      // fresh state: nothing mapped in the window, frames hold known words
      for (let p = 0; p < PAGES; p++) x.pt_unmap(WINDOW + BigInt(p) * PAGE);
      const data = new Map<string, bigint>();
      const model = new Map<number, { frame: number; prot: Prot }>();
      for (let f = 0; f < FRAMES; f++) e.store(dm(frames[f]), 8, BigInt(f + 1) << 32n);
      e.takeReports();
      const word = (f: number, off: number) => data.get(`${f}:${off}`) ?? (off === 0 ? BigInt(f + 1) << 32n : 0n);
      for (let f = 0; f < FRAMES; f++) for (let off = 8; off < 4096; off += 8) e.store(dm(frames[f]) + BigInt(off), 8, 0n);
      e.takeReports();

      for (const o of ops) {
        const va = o.op === "split" ? 0n : WINDOW + BigInt((o as { page: number }).page) * PAGE;
        switch (o.op) {
          case "map":
            expect(x.pt_map(va, frames[o.frame], o.writable ? 1 : 0)).toBe(1);
            model.set(o.page, { frame: o.frame, prot: o.writable ? "rw" : "ro" });
            break;
          case "unmap":
            x.pt_unmap(va);
            model.delete(o.page);
            break;
          case "protect": {
            const ok = x.pt_protect(va, o.prot === "rw" ? 2 : o.prot === "ro" ? 1 : 0);
            const m = model.get(o.page);
            expect(ok === 1).toBe(m !== undefined);
            if (m) m.prot = o.prot;
            break;
          }
          case "flush":
            if (o.all) x.flush_tlb_all(); else x.flush_tlb_one(va);
            break;
          case "split": {
            // a 2 MiB direct-map mapping splits into 512 PTEs; contents unchanged
            const region = 0xffff888000000000n + BigInt(o.region + 8) * 0x200000n;
            const before = e.load(region + 0x1238n, 8);
            x.pt_split(region);
            expect(e.load(region + 0x1238n, 8)).toBe(before);
            x.pt_translate(region + 0x1238n);
            expect(x.walk_levels(), "a split region is mapped by a PTE").toBe(5);
            break;
          }
          case "read": {
            const m = model.get(o.page);
            const got = e.load(va + BigInt(o.off), 8);
            const reports = e.takeReports();
            if (!m || m.prot === "none") {
              expect(reports.map((r) => r.kind)).toEqual(["oops"]);
              expect(reports[0].address).toBe(va + BigInt(o.off));
              expect(reports[0].text).toContain("#PF: error_code(0x0000) - not-present page");
            } else {
              expect(reports).toEqual([]);
              expect(got).toBe(word(m.frame, o.off));
            }
            break;
          }
          case "write": {
            const m = model.get(o.page);
            e.store(va + BigInt(o.off), 8, BigInt(o.value));
            const reports = e.takeReports();
            if (!m || m.prot === "none") {
              expect(reports.map((r) => r.kind)).toEqual(["oops"]);
              expect(reports[0].text).toContain("#PF: error_code(0x0002) - not-present page");
            } else if (m.prot === "ro") {
              expect(reports.map((r) => r.kind)).toEqual(["oops"]);
              expect(reports[0].text).toContain("#PF: error_code(0x0003) - permissions violation");
            } else {
              expect(reports).toEqual([]);
              data.set(`${m.frame}:${o.off}`, BigInt(o.value));
            }
            break;
          }
        }
        expect(x.tlb_check_coherent(), `stale TLB entries after ${JSON.stringify(o)}`).toBe(0);
      }
    }), { numRuns: 60, seed: 20261122 });
  });

  it("catches a stale entry when a PTE changes without a flush, and the flush cures it", () => {
    const e = boot({ kasan: false, ram: 64 }, build);
    const x = e.exports;
    const f1 = BigInt.asUintN(64, x.pt_alloc_frame()), f2 = BigInt.asUintN(64, x.pt_alloc_frame());
    e.store(0xffff888000000000n + f1, 8, 111n);
    e.store(0xffff888000000000n + f2, 8, 222n);
    expect(x.pt_map(WINDOW, f1, 1)).toBe(1);
    expect(e.load(WINDOW, 8)).toBe(111n);          // the TLB now holds WINDOW -> f1
    x.pt_set_pte_noflush(WINDOW, f2, 2);
    expect(x.tlb_check_coherent()).toBe(1);        // the checker sees the stale entry
    expect(e.load(WINDOW, 8)).toBe(111n);          // and the access really uses it
    x.flush_tlb_one(WINDOW);
    expect(x.tlb_check_coherent()).toBe(0);
    expect(e.load(WINDOW, 8)).toBe(222n);
  });

  it("faults after unmap and after protect, never through a stale entry", () => {
    const e = boot({ kasan: false, ram: 64 }, build);
    const x = e.exports;
    const f = BigInt.asUintN(64, x.pt_alloc_frame());
    x.pt_map(WINDOW, f, 1);
    e.store(WINDOW, 8, 5n);
    expect(e.load(WINDOW, 8)).toBe(5n);
    x.pt_protect(WINDOW, 1);
    e.store(WINDOW, 8, 6n);
    expect(e.takeReports().map((r) => r.kind)).toEqual(["oops"]);
    expect(e.load(WINDOW, 8)).toBe(5n);
    x.pt_unmap(WINDOW);
    e.load(WINDOW, 8);
    expect(e.takeReports().map((r) => r.kind)).toEqual(["oops"]);
  });
});
