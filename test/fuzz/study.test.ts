// The KFENCE detection study: KFENCE sees the allocations the sampling model
// says it sees (one per interval of virtual time), and catches each planted
// bug class about as often as the model predicts; the per-bug detection
// chances follow KFENCE's placement (left or right edge, cache alignment).
import { describe, it, expect } from "vitest";
import { kfenceStudy, detectIfSampled, studyText, type StudyRow } from "../../host/fuzz/study.js";
import type { Scenario } from "../../host/fuzz/generator.js";

const sc = (s: Partial<Scenario>): Scenario => ({ cls: "oob", k: 0, slot: 0, size: 100, vmalloc: false, write: false, width: 1, off: 100,
  allocOp: 0, freeOp: -1, bugOp: 1, lastOp: 2, ...s });

/** KFENCE saw the allocations the model gives it, within 3%. */
function expectSampledByModel(r: StudyRow): void {
  expect(r.seen / r.model).toBeGreaterThan(0.97);
  expect(r.seen / r.model).toBeLessThan(1.03);
}
/** Every class planted often enough, caught at least `minDetected` times, and measured at 0.7x-1.4x the model. */
function expectCaughtByModel(r: StudyRow, minDetected: number): void {
  for (const [c, t] of Object.entries(r.classes)) {
    expect(t.planted, c).toBeGreaterThan(3000);
    expect(t.detected, c).toBeGreaterThan(minDetected);
    expect(t.measured / t.expected, c).toBeGreaterThan(0.7);
    expect(t.measured / t.expected, c).toBeLessThan(1.4);
  }
}

describe("KFENCE detection study", () => {
  it("works out a sampled bug's chance of being caught from KFENCE's placement", () => {
    expect(detectIfSampled(sc({ cls: "uaf" }), 8)).toBe(1);
    expect(detectIfSampled(sc({ cls: "double-free" }), 8)).toBe(1);
    // off-by-one read of a 96-byte object in an 8-aligned cache: right edge at the page end -> guard page; left: unseen
    expect(detectIfSampled(sc({ size: 96, off: 96, width: 1 }), 8)).toBe(0.5);
    // 100 bytes: the right edge is rounded down to 8, leaving 4 bytes of canary before the guard page
    expect(detectIfSampled(sc({ size: 100, off: 100, width: 1 }), 8)).toBe(0);
    expect(detectIfSampled(sc({ size: 100, off: 103, width: 2 }), 8)).toBe(0.5);
    // kmalloc-128 aligns to 128: a right-placed 100-byte object ends 28 bytes before the page end
    expect(detectIfSampled(sc({ size: 100, off: 100, width: 1 }), 128)).toBe(0);
    expect(detectIfSampled(sc({ size: 100, off: 127, width: 2 }), 128)).toBe(0.5);
    // a write lands on the canary, checked at free
    expect(detectIfSampled(sc({ size: 100, off: 100, width: 1, write: true }), 128)).toBe(1);
    // underflow: left edge -> guard page below; right edge -> canary (a read goes unseen)
    expect(detectIfSampled(sc({ cls: "underflow", off: -1 }), 8)).toBe(0.5);
    expect(detectIfSampled(sc({ cls: "underflow", off: -1, write: true }), 8)).toBe(1);
  });

  it("measures detection per bug class close to the sampling model", async () => {
    const rows = await kfenceStudy({ ops: 4_000_000, intervals: [1, 10], workers: 2, seed: 4, unitOps: 1_000_000 });
    expect(rows.map((r) => r.interval)).toEqual([1, 10]);
    const [r1, r10] = rows;
    for (const r of rows) expectSampledByModel(r);
    expect(r1.seen / r10.seen).toBeGreaterThan(9);
    expectCaughtByModel(r1, 50);
    const text = studyText(rows).split("\n");
    expect(text[0]).toBe("KFENCE detection study: KASAN off, virtual clock 1 ms per 100 ops, each bug class planted at 0.001 per op");
    expect(text[2]).toBe("interval  bug class              planted  detected  measured  expected  ratio");
    expect(text[4]).toMatch(/^1 ms {6}\(sampling\) KFENCE saw +\d+ +\d+ +3\.\d\d% +3\.\d\d% +1\.0\d$/);
  });

  it("on 2 CPUs, KFENCE samples both CPUs' allocations alike and the measures stay by the model", async () => {
    // KFENCE takes the allocation after each tick; with every tick on CPU 0 it sampled CPU 0's allocations, and
    // planted victims, on CPU 0 half the time against a fifth of the workload, were caught 2-3x the model
    const rows = await kfenceStudy({ ops: 4_000_000, intervals: [1], workers: 1, seed: 4, unitOps: 1_000_000, cpus: 2 });
    const [r] = rows;
    expectSampledByModel(r);
    expectCaughtByModel(r, 40);
    await expect(kfenceStudy({ ops: 1000, cpus: 3 })).rejects.toThrow("--cpus must be an integer from 1 to 2 (the command line has nr_cpus=2; add nr_cpus=3 to --cmdline for more)");
    await expect(kfenceStudy({ ops: 1000, segmentOps: 64 })).rejects.toThrow("--segment-ops is for units on several CPUs: give --cpus 2 or more");
  });
});
