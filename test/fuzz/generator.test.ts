// The generator: the same seed gives the same ops byte for byte (however they
// are chunked, in whichever instance), the profiles' mixes hold, ordinary ops
// are valid (in bounds, on live objects), and planted bugs come at their rates
// as the scenarios they are meant to be.
import { describe, it, expect } from "vitest";
import * as abi from "../../abi/abi.js";
import { boot } from "../helpers.js";
import { Generator, generateTape, ScenarioTracker, BUG_CLASSES, PROFILES, parsePlant, type Profile } from "../../host/fuzz/generator.js";
import { OpWriter, validateOps, readOp, emptyOp, accessSize, isStore } from "../../host/fuzz/tape.js";

function mix(profile: Profile, n: number) {
  const t = generateTape({ seed: 11, profile }, n);
  validateOps(t.body, t.header);
  const count: Record<string, number> = {};
  const dv = new DataView(t.body.buffer, t.body.byteOffset, t.body.byteLength);
  const o = emptyOp();
  for (let p = 0; p < t.body.length;) {
    p += readOp(t.body, dv, p, o);
    const k = accessSize(o.code) ? (isStore(o.code) ? "store" : "load") : String(o.code);
    count[k] = (count[k] ?? 0) + 1;
  }
  return { t, count };
}

describe("workload generator", () => {
  it("is a function of the seed: chunking and the instance do not matter", () => {
    const opts = { seed: 42, unit: 3, profile: "mixed" as const, plant: { uaf: 1e-3, oob: 1e-3 } };
    const whole = generateTape(opts, 50_000);
    const e = boot({});
    const g = new Generator(opts, e);               // inside an engine's instance
    const w = new OpWriter();
    let n = 0;
    for (const step of [1, 7, 1000, 13, 48_979]) n += g.fill(w, step);
    expect(n).toBe(50_000);
    expect(g.op).toBe(50_000);
    expect(Buffer.from(w.bytes()).equals(Buffer.from(whole.body))).toBe(true);
    const other = generateTape({ ...opts, unit: 4 }, 50_000);
    const seed2 = generateTape({ ...opts, seed: 43 }, 50_000);
    expect(Buffer.from(other.body).equals(Buffer.from(whole.body))).toBe(false);
    expect(Buffer.from(seed2.body).equals(Buffer.from(whole.body))).toBe(false);
  });

  it("keeps each profile's mix", () => {
    const n = 200_000;
    const slab = mix("slab-churn", n).count, vm = mix("vmalloc-heavy", n).count, mixed = mix("mixed", n).count;
    const share = (c: Record<string, number>, k: string) => (c[k] ?? 0) / n;
    // slab-churn: about 60% allocation and free, no vmalloc
    expect(share(slab, String(abi.FZ_KMALLOC)) + share(slab, String(abi.FZ_KZALLOC)) + share(slab, String(abi.FZ_CACHE_ALLOC))).toBeGreaterThan(0.27);
    expect(share(slab, String(abi.FZ_KFREE))).toBeGreaterThan(0.27);
    expect(share(slab, String(abi.FZ_VMALLOC))).toBe(0);
    expect(share(slab, "load")).toBeCloseTo(0.2, 1);
    // vmalloc-heavy: a third of its allocations are vmalloc, and they are freed with vfree
    expect(share(vm, String(abi.FZ_VMALLOC))).toBeGreaterThan(0.07);
    expect(Math.abs(share(vm, String(abi.FZ_VFREE)) - share(vm, String(abi.FZ_VMALLOC)))).toBeLessThan(0.01);
    // mixed: a bit of everything, large kmallocs included
    for (const code of [abi.FZ_KMALLOC, abi.FZ_KZALLOC, abi.FZ_CACHE_ALLOC, abi.FZ_KREALLOC, abi.FZ_VMALLOC, abi.FZ_MEMSET,
                        abi.FZ_MEMCPY, abi.FZ_TASK, abi.FZ_TICK]) expect(mixed[String(code)] ?? 0, `op ${code}`).toBeGreaterThan(0);
    expect(mixed[String(abi.FZ_TICK)]).toBe(Math.floor(n / 1000));
  });

  it("writes valid ordinary ops: on live objects, in bounds", () => {
    for (const profile of PROFILES) {
      const t = generateTape({ seed: 3, profile }, 100_000);
      const live = new Map<number, number>();
      const dv = new DataView(t.body.buffer, t.body.byteOffset, t.body.byteLength);
      const o = emptyOp();
      let bad = 0;
      for (let p = 0; p < t.body.length;) {
        p += readOp(t.body, dv, p, o);
        const size = live.get(o.slot);
        switch (o.code) {
          case abi.FZ_KMALLOC: case abi.FZ_KZALLOC: case abi.FZ_VMALLOC:
            if (size !== undefined) bad++;
            live.set(o.slot, o.size); break;
          case abi.FZ_CACHE_ALLOC:
            if (size !== undefined) bad++;
            live.set(o.slot, t.header.caches[o.cache].objectSize); break;
          case abi.FZ_KREALLOC: if (size === undefined) bad++; live.set(o.slot, o.size); break;
          case abi.FZ_KFREE: case abi.FZ_VFREE: if (size === undefined) bad++; live.delete(o.slot); break;
          case abi.FZ_MEMSET: if (size === undefined || o.off < 0 || o.off + o.size > size) bad++; break;
          case abi.FZ_MEMCPY: {
            const s2 = live.get(o.src);
            if (size === undefined || s2 === undefined || o.off + o.size > size || o.srcOff + o.size > s2) bad++;
            break;
          }
          default: {
            const n = accessSize(o.code);
            if (n && (size === undefined || o.off < 0 || o.off + n > size)) bad++;
          }
        }
      }
      expect(bad, profile).toBe(0);
    }
  });

  it("plants bugs at their rates, as scenarios", () => {
    const plant = parsePlant("oob=2e-3,underflow=1e-3,uaf=2e-3,double-free=1e-3,invalid-free=1e-3");
    const g = new Generator({ seed: 9, profile: "slab-churn", plant });
    const tr = new ScenarioTracker(g.sites);
    let op = 0;
    while (op < 200_000) {
      const { ops, bytes } = g.fillBuffer(20_000);
      tr.feed(g.bufferView(bytes), op);
      op += ops;
    }
    const counted = g.planted();
    for (const c of BUG_CLASSES) {
      const scs = tr.scenarios.filter((s) => s.cls === c);
      expect(scs.length, c).toBe(counted[c]);
      expect(scs.length / 200_000, c).toBeGreaterThan(plant[c]! * 0.8);
      expect(scs.length / 200_000, c).toBeLessThan(plant[c]! * 1.2);
      for (const s of scs) {
        expect(s.allocOp).toBeLessThan(s.bugOp);
        if (c === "oob") expect(s.off).toBeGreaterThanOrEqual(s.size);
        if (c === "oob") expect(s.off - s.size).toBeLessThan(16);
        if (c === "underflow") expect(s.off).toBeLessThan(0);
        if (c === "uaf") { expect(s.freeOp).toBeGreaterThan(s.allocOp); expect(s.bugOp - s.freeOp).toBeLessThanOrEqual(256); expect(s.off + s.width).toBeLessThanOrEqual(s.size); }
        if (c === "double-free") expect(s.freeOp).toBeGreaterThan(s.allocOp);
        if (c === "invalid-free") { expect(s.off).toBeGreaterThan(0); expect(s.off).toBeLessThan(s.size); }
        if (c === "oob" || c === "underflow" || c === "uaf") expect(s.write).toBe(s.k % 2 === 1);
      }
    }
    // reads only: every planted access is a load
    const ro = new ScenarioTracker(g.sites);
    const g2 = new Generator({ seed: 9, profile: "slab-churn", plant, plantWrites: false });
    const { bytes } = g2.fillBuffer(100_000);
    ro.feed(g2.bufferView(bytes), 0);
    expect(ro.scenarios.length).toBeGreaterThan(100);
    expect(ro.scenarios.every((s) => !s.write && s.k % 2 === 0)).toBe(true);
  });

  it("refuses bad options with the option's name", () => {
    expect(() => parsePlant("oob=2")).toThrow("--plant: rate for oob must be in [0, 0.5), got 2");
    expect(() => parsePlant("leak=1e-3")).toThrow("--plant: expected <class>=<rate>[,...] with class one of oob, underflow, uaf, double-free, invalid-free");
    expect(parsePlant("none")).toEqual({});
    expect(() => new Generator({ seed: -1 })).toThrow("seed must be a non-negative integer, got -1");
    expect(() => new Generator({ seed: 1, profile: "x" as Profile })).toThrow('unknown profile "x": expected slab-churn, vmalloc-heavy, mixed');
    expect(() => new Generator({ seed: 1, plant: { oob: 0.3, uaf: 0.3 } })).toThrow("planted-bug rates add up to 0.6; keep them below 0.5");
  });
});
