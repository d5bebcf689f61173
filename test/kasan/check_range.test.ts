// kasan_check_range over N bytes (memory_is_poisoned_n): the word-at-a-time
// scan of the direct map's shadow must give the kernel's verdict for every
// range, checked against the rule applied byte by byte to the shadow.
import { describe, it, expect } from "vitest";
import { boot, BUILDS } from "../helpers.js";

function model(shadow: (a: bigint) => number, a: bigint, n: bigint): boolean {
  const last = a + n - 1n;
  for (let g = a & ~7n; g <= last; g += 8n) {
    const s = shadow(g);
    if (s === 0) continue;
    if (g >> 3n !== last >> 3n) return false;
    const signed = s > 127 ? s - 256 : s;
    return Number(last & 7n) < signed;
  }
  return true;
}

describe.each(BUILDS)("generic KASAN N-byte checks (%s core)", (build) => {
  it("agree with the byte-by-byte rule on slab objects, redzones and freed objects", () => {
    const e = boot({ cmdline: "kasan_multi_shot" }, build);
    let seed = 12345;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) % n; };
    const objs: bigint[] = [];
    for (let i = 0; i < 40; i++) objs.push(e.kmalloc(1 + rnd(700)));
    for (let i = 0; i < 10; i++) e.kfree(objs[i * 3]);
    const shadow = (a: bigint) => e.shadowByte(a);
    let bad = 0, good = 0;
    for (let i = 0; i < 3000; i++) {
      const base = objs[rnd(objs.length)];
      const a = base - 64n + BigInt(rnd(900));
      const n = BigInt(1 + rnd(i % 3 === 0 ? 400 : 40));
      const want = model(shadow, a, n);
      const got = e.kasan_check_read(a, n);
      e.takeReports();
      expect(got, `[${a.toString(16)}, +${n})`).toBe(want);
      if (want) good++; else bad++;
    }
    expect(good).toBeGreaterThan(300);
    expect(bad).toBeGreaterThan(300);
  });
});
