// Fuzz runs stay honest and bounded: a failed allocation leaves NULL in its
// slot (no false bugs through a stale pointer, and the oracle agrees), the
// output folder keeps to its byte budget, and a unit that overruns its time
// limit is stopped and listed.
import { describe, it, expect } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fuzz, summaryText } from "../../host/fuzz/runner.js";

describe("fuzz with fail_page_alloc", () => {
  // Before the fix a failed allocation kept the slot's old, freed pointer: this
  // run reported dozens of slab-use-after-free and double-free "bugs" at
  // ordinary sites.
  it("reports no bug when nothing is planted, and the oracle agrees with every verdict", async () => {
    const out = mkdtempSync(path.join(tmpdir(), "sf-fail-"));
    const opts = { ops: 1_000_000, unitOps: 500_000, workers: 2, seed: 1, profile: "mixed" as const, plant: {},
      cmdline: "fail_page_alloc=1,50,16777216,-1 ram=256", progress: false, handleSignals: false };
    const s = await fuzz({ ...opts, out });
    expect(s.allocFailures).toBeGreaterThan(5_000);
    expect(s.bugs).toEqual([]);
    expect(s.reports).toBe(s.allocWarnings);          // vmalloc's warn_alloc, nothing else
    expect(summaryText(s)).toContain(`allocations that failed: ${s.allocFailures} (the slot holds NULL); warn_alloc reports (not bugs): ${s.allocWarnings}\n`);
    const c = await fuzz({ ...opts, check: true });
    expect(c.checked).toBe(true);
    expect(c.disagreements).toEqual([]);
    expect(c.allocFailures).toBeGreaterThan(5_000);
    expect(c.bugs).toEqual([]);
  }, 120_000);
});
