// SLAB's metadata in simulated RAM (struct page of its slabs: active, s_mem's
// colour offset, the freelist pointer, list links; the index arrays on the
// slab, in an object or in a kmalloc object) written at random, then
// allocator traffic on two CPUs with cache_reap: the kernel's answers only
// (slab_err, list_del corruption, KASAN), never a host exception or a hang,
// and a use-after-free in a new cache is still found afterwards.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import * as abi from "../../abi/abi.js";
import { EnginePanicError } from "../../host/engine.js";
import { boot } from "../helpers.js";

const PAGE_OFFSET = 0xffff888000000000n;

describe("SLAB metadata corruption", () => {
  it.each([["kasan_multi_shot"], ["kasan=off"], ["kasan_multi_shot init_on_free=1"]])(
    "random writes over SLAB slabs and their struct pages (%s): the kernel's answers only", (mode) => {
      const write = fc.record({
        target: fc.constantFrom("page", "slab", "object", "freed"),
        pick: fc.nat(),
        offset: fc.nat({ max: 4095 }),
        len: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 64 })),
        fill: fc.oneof(fc.constant(0), fc.constant(0xff), fc.nat({ max: 255 })),
      });
      const op = fc.record({ kind: fc.nat({ max: 9 }), a: fc.nat(), b: fc.nat() });
      fc.assert(fc.property(fc.array(write, { minLength: 1, maxLength: 8 }), fc.array(op, { minLength: 10, maxLength: 80 }), fc.nat(), (writes, ops, seed) => {
        const e = boot({ cmdline: `shadowfence.slab=slab mem=32M ${mode} kfence.sample_interval=0 kasan.seed=${seed % 1000 + 1}` });
        const rcu = e.kmem_cache_create("rcu_obj", 1024, { flags: "SLAB_TYPESAFE_BY_RCU" });    // OFF_SLAB freelists
        const ctor = e.kmem_cache_create("ctor_obj", 100, { ctor: () => {} });                   // on-slab freelists
        const live: bigint[] = [];
        const cacheObjs: Array<[typeof rcu, bigint]> = [];
        for (let i = 0; i < 40; i++) live.push(e.kmalloc(8 << (i % 10)));
        for (let i = 0; i < 10; i++) cacheObjs.push([rcu, e.kmem_cache_alloc(rcu)], [ctor, e.kmem_cache_alloc(ctor)]);
        const freed: bigint[] = [];
        for (let i = 0; i < 10; i++) { freed.push(live.splice(i, 1)[0]); e.kfree(freed.at(-1)!); }
        const frames = BigInt(e.stats().framesTotal);
        const memMapVa = PAGE_OFFSET + (frames - (frames * 64n + 4095n) / 4096n) * 4096n;
        const pfnOf = (va: bigint) => (va - PAGE_OFFSET) >> 12n;
        let panicked = false;
        const guard = (fn: () => void) => {
          if (panicked) return;
          try { fn(); } catch (err) {
            if (err instanceof EnginePanicError) { panicked = true; return; }
            throw err;
          }
        };
        for (const w of writes) {
          const all = [...live, ...cacheObjs.map((x) => x[1])].filter((p) => p !== 0n);
          const p = w.target === "freed" ? freed[w.pick % freed.length] : all[w.pick % all.length];
          let va: bigint, room: number;
          if (w.target === "page") { va = memMapVa + pfnOf(p) * 64n + BigInt(w.offset % 64); room = 64 - (w.offset % 64); }
          else if (w.target === "slab") { va = (p & ~0xfffn) + BigInt(w.offset); room = 4096 - w.offset; }
          else { va = p + BigInt(w.offset % 64); room = 64 - (w.offset % 64); }
          const n = Math.min(w.len, room);
          guard(() => e.writeBytes(va, new Uint8Array(n).fill(w.fill)));
        }
        const pick = <T,>(xs: T[], n: number) => (xs.length ? xs[n % xs.length] : undefined);
        for (const o of ops) {
          guard(() => {
            switch (o.kind) {
              case 0: case 1: { const p = e.kmalloc(1 + (o.a % 5000)); if (p) live.push(p); break; }
              case 2: { const p = pick(live, o.a); if (p !== undefined) { live.splice(live.indexOf(p), 1); e.kfree(p); } break; }
              case 3: { const c = o.a % 2 ? rcu : ctor; const p = e.kmem_cache_alloc(c); if (p) cacheObjs.push([c, p]); break; }
              case 4: { const x = pick(cacheObjs, o.a); if (x) { cacheObjs.splice(cacheObjs.indexOf(x), 1); e.kmem_cache_free(x[0], x[1]); } break; }
              case 5: e.setTask({ pid: 1, cpu: o.a % 2 }); break;
              case 6: e.tick(1000 + (o.a % 5000)); break;
              case 7: e.kmem_cache_shrink(o.a % 2 ? rcu : ctor); break;
              case 8: { const p = pick(live, o.a); if (p !== undefined) e.load(p, 1); break; }
              default: e.quarantineDrain(); break;
            }
          });
        }
        for (const r of e.takeReports()) expect(typeof r.text).toBe("string");
        if (!panicked) {
          expect(Array.isArray(e.selfCheck())).toBe(true);
          if (!mode.includes("kasan=off")) {
            e.kasanMultiShot = true;
            e.takeReports();
            guard(() => {
              // a new cache: objects already in an array cache stay there whatever their struct page says, as in SLAB
              const fresh = e.kmem_cache_create("fresh", 200);
              const p = e.kmem_cache_alloc(fresh);
              if (p === 0n) return;
              e.kmem_cache_free(fresh, p);
              e.load(p, 1);
              expect(e.takeReports().map((r) => r.type)).toContain("slab-use-after-free");
            });
          }
        }
      }), { numRuns: 60, seed: 19 });
    }, 180_000);

  it("an index array entry out of range: slab_err's text, the slab taken out of use, its objects never handed out", () => {
    const e = boot({ cmdline: "shadowfence.slab=slab kasan=off kfence.sample_interval=0" });
    // a constructor: no OBJFREELIST; 100 bytes (104 a slot) leave too little room for OFF_SLAB: on-slab, 39 a slab
    const c = e.kmem_cache_create("idx", 100, { ctor: () => {} });
    expect(e.exports.slab_info(c.id, abi.SL_MGMT)).toBe(abi.SLAB_MGMT_ON_SLAB);
    const first = e.kmem_cache_alloc(c);               // an untouched refill: 16 objects of a new slab A
    const a = first & ~0xfffn;
    expect(e.exports.slab_info(c.id, abi.SL_CPU_AVAIL)).toBe(15);
    // A's index array is its last 39 bytes; entries 16.. are the free objects' indexes
    e.writeBytes(a + 4096n - 39n + 16n, new Uint8Array(23).fill(0xee));
    const held = [first];
    for (let i = 0; i < 15; i++) held.push(e.kmem_cache_alloc(c));
    expect(e.takeReports()).toEqual([]);
    const next = e.kmem_cache_alloc(c);               // refill: A is the partial slab, its next index is 238
    const rs = e.takeReports();
    expect(rs.map((r) => r.type)).toEqual(["slub-slab-err"]);
    expect(rs[0].text).toMatch(/^BUG idx \(Not tainted\): Freepointer corrupt$/m);
    expect(next & ~0xfffn).not.toBe(a);
    const got = new Set([...held, next]);
    for (let i = 0; i < 100; i++) {
      const q = e.kmem_cache_alloc(c);
      expect(q & ~0xfffn).not.toBe(a);
      expect(got.has(q)).toBe(false);
      got.add(q);
    }
    expect(e.selfCheck()).toEqual([]);
  });
});
