// Properties of generic KASAN over random workloads:
//  - accesses inside live objects (any size 1..16, any alignment) never report;
//  - any access that touches a freed object still in the quarantine reports
//    slab-use-after-free at that address.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { boot, BUILDS } from "../helpers.js";

const SIZES = [1, 2, 4, 8, 16];

describe.each(BUILDS)("generic KASAN properties (%s build)", (build) => {
  it("never reports a valid access", () => {
    const e = boot({ cmdline: "kasan_multi_shot" }, build);
    fc.assert(fc.property(
      fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 12 }),
      fc.array(fc.tuple(fc.nat(), fc.constantFrom(...SIZES), fc.nat(), fc.boolean()), { minLength: 1, maxLength: 40 }),
      (sizes, accesses) => {
        const objs = sizes.map((n) => ({ p: e.kmalloc(n), n }));
        for (const [pick, size, off, write] of accesses) {
          const o = objs[pick % objs.length];
          if (o.n < size) continue;
          const at = o.p + BigInt(off % (o.n - size + 1));
          if (write) e.store(at, size, size === 16 ? new Uint8Array(16) : 1);
          else e.load(at, size);
        }
        for (const o of objs) e.kfree(o.p);
        expect(e.takeReports().map((r) => r.title)).toEqual([]);
      }), { numRuns: 60, seed: 42 });
  });

  it("reports every access to a freed object still in the quarantine", () => {
    fc.assert(fc.property(
      fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 10 }),
      fc.array(fc.tuple(fc.nat(), fc.constantFrom(...SIZES), fc.nat(), fc.boolean()), { minLength: 1, maxLength: 20 }),
      (sizes, accesses) => {
        const e = boot({ cmdline: "kasan_multi_shot", ram: 64 }, build);
        const objs = sizes.map((n) => ({ p: e.kmalloc(n), n }));
        for (const o of objs) e.kfree(o.p);
        // under the per-CPU limit nothing has left the quarantine yet
        expect(e.stats().quarantine.objects).toBe(objs.length);
        for (const [pick, size, off, write] of accesses) {
          const o = objs[pick % objs.length];
          const at = o.p + BigInt(off % o.n);
          if (write) e.store(at, size, size === 16 ? new Uint8Array(16) : 1);
          else e.load(at, size);
          const rs = e.takeReports();
          expect(rs.length).toBeGreaterThan(0);
          expect(rs[0].type).toBe("slab-use-after-free");
          expect(rs[0].address).toBe(at);
          expect(rs[0].isWrite).toBe(write);
          expect(rs[0].kasan!.object!.address).toBe(o.p);
        }
      }), { numRuns: 40, seed: 7 });
  });
});
