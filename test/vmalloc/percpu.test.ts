// The percpu allocator's chunks in vmalloc space (pcpu_get_vm_areas): one unit
// per CPU, pages populated on first use, zeroed copies per CPU, chunks given
// back when free (one empty chunk stays), all accessible to KASAN.
import { describe, it, expect } from "vitest";
import { boot, BUILDS, expectNoReport } from "../helpers.js";

const VMALLOC_END = 0xffffe90000000000n;
const UNIT = 128n * 1024n;

describe.each(BUILDS)("percpu (%s build)", (build) => {
  it("hands out aligned, zeroed per-CPU copies from a chunk at the top of vmalloc space", () => {
    const e = boot({ ram: 64, nrCpus: 2 }, build);
    const p = e.__alloc_percpu(100, 64);
    expect(p).not.toBe(0n);
    expect(p % 64n).toBe(0n);
    expect(p >= VMALLOC_END - 2n * UNIT && p < VMALLOC_END - UNIT).toBe(true);
    const vm = e.find_vm_area(p)!;
    expect(vm.caller).toBe("pcpu_get_vm_areas+0x0/0x1a70");
    expect(vm.size).toBe(2n * UNIT);                           // no guard page
    const c1 = e.per_cpu_ptr(p, 1);
    expect(c1 - p).toBe(UNIT);
    expectNoReport(e, () => {
      expect(e.readBytes(p, 100).every((x) => x === 0)).toBe(true);
      e.store(p, 8, 1n);
      e.store(c1, 8, 2n);
      expect(e.load(p, 8)).toBe(1n);
      expect(e.load(c1, 8)).toBe(2n);
    });
    expect(e.stats().vmalloc.percpuPages).toBe(2);             // page 0 of both units
    const q = e.__alloc_percpu(4096, 4096);
    expect(q % 4096n).toBe(0n);
    expect(q).not.toBe(p);
    e.free_percpu(p);
    const again = e.__alloc_percpu(100, 64);
    expect(again).toBe(p);                                      // first fit reuses the freed bits
    e.store(again, 8, 5n);
    e.free_percpu(again);
    expect(e.__alloc_percpu(8, 8)).toBe(p);
    expect(() => e.free_percpu(p + 4n)).toThrow(RangeError);
    expect(() => e.per_cpu_ptr(p, 2)).toThrow(/^per_cpu_ptr: cpu must be an integer from 0 to 1, got 2$/);
  });

  it("makes new chunks when one is full and gives them back when empty, keeping one", () => {
    const e = boot({ ram: 64, nrCpus: 2 }, build);
    const start = e.stats();
    const ptrs: bigint[] = [];
    for (let i = 0; i < 40; i++) ptrs.push(e.__alloc_percpu(8192, 8));   // 15 fit a 128 KiB unit
    expect(new Set(ptrs.map((p) => e.find_vm_area(p)!.addr)).size).toBe(3);
    expect(e.stats().vmalloc.areas).toBe(3);
    for (const p of ptrs) e.free_percpu(p);
    expect(e.stats().vmalloc.areas).toBe(1);                   // pcpu_balance_free keeps one empty chunk
    e.vm_unmap_aliases();
    const s = e.stats();
    expect(s.vmalloc.percpuPages).toBe(64);                    // the kept chunk stays populated
    expect(s.vmalloc.shadowPages - start.vmalloc.shadowPages).toBe(8);  // 1/8 of its 256 KiB
    expect(e.takeReports()).toEqual([]);
  });
});
