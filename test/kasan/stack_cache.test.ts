// Generic KASAN's alloc and free tracks: kasan_save_stack() hashes the stack
// into the depot, and each CPU keeps a cache of the (path, stack) keys it
// saved, so a loop that allocates and frees from the same few places hashes
// each stack once. On several CPUs a key missing from the CPU's cache also
// sends a lockless kmalloc or kfree to the kernel lock (docs/smp.md).
import { describe, it, expect } from "vitest";
import { boot, expectReport, lines } from "../helpers.js";
import type { Engine } from "../../host/engine.js";

const SITES = 160;
type Kernel = Pick<Engine, "kmalloc" | "kfree" | "withFrames">;

const site = (i: number) => [{ name: `site_${i}`, offset: 0x10, size: 0x40 }];
function allocAt(k: Kernel, i: number): bigint { return k.withFrames(site(i), () => k.kmalloc(64)); }
function freeAt(k: Kernel, i: number, p: bigint): void { k.withFrames(site(i), () => k.kfree(p)); }
// a kmalloc + kfree pair from each of SITES call sites (a frame of its own on top of the stack);
// with `shift`, site i frees what site i - 1 allocated instead (the last object stays live), and
// the objects freed come back
function everySite(k: Kernel, shift = false): bigint[] {
  const freed: bigint[] = [];
  let last = 0n;
  for (let i = 0; i < SITES; i++) {
    const p = allocAt(k, i);
    const f = shift ? last : p;
    last = p;
    if (f === 0n) continue;
    freeAt(k, i, f);
    freed.push(f);
  }
  return freed;
}

describe("the saved-stack cache (generic KASAN)", () => {
  it("hashes each of a loop's stacks once per CPU, however many places it allocates and frees from", () => {
    const e = boot({ cmdline: "kasan=on kasan_multi_shot nr_cpus=2 kfence.sample_interval=0" });
    const misses = () => e.stats().stackDepot.cacheMisses;
    const start = misses();
    everySite(e);
    const cold = misses() - start;
    // a kmalloc track and a kfree track per site: 320 keys, which 256 single slots could not keep
    // (measured: 452 misses in the next two passes); 512 sets of two keep them all
    expect(cold).toBeGreaterThanOrEqual(2 * SITES);
    everySite(e);
    everySite(e);
    expect(misses() - start - cold).toBe(0);

    // CPU 1 has a cache of its own: the same stacks miss there once, then never
    const cpu1 = e.cpu(1);
    const before = misses();
    everySite(cpu1);
    expect(misses() - before).toBeGreaterThanOrEqual(2 * SITES);
    const warm = misses();
    everySite(cpu1);
    everySite(e);
    expect(misses()).toBe(warm);

    // every cached key gives back its own stack: objects made at one site and freed at the next
    const moved = everySite(e, true);
    expect(misses()).toBe(warm);
    expect(moved).toHaveLength(SITES - 1);
    moved.forEach((p, i) => {
      const text = lines(expectReport(e, "slab-use-after-free", () => e.load(p, 1)));
      const site = (after: string) => text.slice(text.findIndex((l) => l.startsWith(after))).find((l) => l.startsWith(" site_"));
      expect([site("Allocated by task"), site("Freed by task")]).toEqual([` site_${i}+0x10/0x40`, ` site_${i + 1}+0x10/0x40`]);
    });
    expect(e.selfCheck()).toEqual([]);
  });

  it("does not count without KASAN", () => {
    const e = boot({ cmdline: "kasan=off" });
    everySite(e);
    expect(e.stats().stackDepot.cacheMisses).toBe(0);
  });
});
