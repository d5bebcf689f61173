// Fuzz runs stay honest and bounded: a failed allocation leaves NULL in its
// slot (no false bugs through a stale pointer, and the oracle agrees), the
// output folder keeps to its byte budget, and a unit that overruns its time
// limit is stopped and listed.
import { describe, it, expect } from "vitest";
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { fuzz, summaryText, writeSummary } from "../../host/fuzz/runner.js";
import { decodeReference, replayReference } from "../../host/fuzz/reference.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

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

const HEAVY = { oob: 2e-3, uaf: 2e-3, "double-free": 1e-3, "invalid-free": 1e-3, underflow: 1e-3 };

function folderBytes(dir: string): number {
  return readdirSync(dir).reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);
}

describe("fuzz output budget", () => {
  it("keeps a run that plants thousands of bugs within --max-output, and says what it stored by reference", async () => {
    const out = mkdtempSync(path.join(tmpdir(), "sf-budget-"));
    const s = await fuzz({ ops: 1_000_000, unitOps: 500_000, workers: 2, seed: 1, profile: "slab-churn", plant: HEAVY, minimise: false,
      out, maxOutputBytes: 256 << 10, maxReproducerBytes: 16 << 10, progress: false, handleSignals: false });
    const planted = Object.values(s.planted).reduce((a, b) => a + b, 0);
    expect(planted).toBeGreaterThan(5000);
    expect(s.bugs.length).toBeGreaterThan(20);
    const o = s.output;
    expect(folderBytes(out)).toBe(o.bytes + o.summaryBytes);
    expect(o.bytes + o.summaryBytes).toBeLessThanOrEqual(256 << 10);
    expect(o.tapes + o.references + o.notWritten).toBe(s.bugs.length);
    expect(o.references).toBeGreaterThan(0);
    for (const b of s.bugs) {
      const r = b.reproducer!;
      if (r.stored === "tape") expect(statSync(r.file!).size).toBeLessThanOrEqual(16 << 10);
      if (r.stored === "reference") expect(r.file!.endsWith(".ref")).toBe(true);
      if (r.stored === "none") expect(r.file).toBeUndefined();
    }
    const text = readFileSync(path.join(out, "summary.txt"), "utf8");
    expect(text).toContain(`reproducers: ${o.tapes} as tapes, ${o.references} by reference (over 16384 bytes, or past the output budget), ${o.notWritten} not written`);
    const byRef = s.bugs.find((b) => b.reproducer!.stored === "reference")!;
    expect(text).toContain(`${path.basename(byRef.reproducer!.file!)} (by reference: unit ${byRef.first.unit}, ops 0..${byRef.first.op}; unshrunk, a ${byRef.reproducer!.tapeBytes}-byte tape)`);
    // a summary that would pass what the budget has left lists the first bugs and says how many it leaves out
    const small = mkdtempSync(path.join(tmpdir(), "sf-budget-"));
    const room = 6000 + 300 * 5;
    expect(writeSummary(s, small, room)).toBe(folderBytes(small));
    expect(folderBytes(small)).toBeLessThanOrEqual(room);
    const cut = JSON.parse(readFileSync(path.join(small, "summary.json"), "utf8")) as { bugs: unknown[]; bugsNotListed: number };
    expect(cut.bugs.length).toBeGreaterThan(0);
    expect(cut.bugs.length).toBeLessThan(s.bugs.length);
    expect(cut.bugsNotListed).toBe(s.bugs.length - cut.bugs.length);
    expect(readFileSync(path.join(small, "summary.txt"), "utf8")).toContain(`... ${cut.bugsNotListed} more unique bug(s) not listed: the summary would pass the 262144-byte output budget (--max-output)`);
    expect(s.bugs.length, "the run's own summary keeps every bug").toBeGreaterThan(cut.bugs.length);
    // a tiny budget: reproducers stop being written, the summary still is, and says so
    const tiny = mkdtempSync(path.join(tmpdir(), "sf-budget-"));
    const t = await fuzz({ ops: 500_000, unitOps: 500_000, workers: 1, seed: 1, profile: "slab-churn", plant: HEAVY, minimise: false,
      out: tiny, maxOutputBytes: 64 << 10, maxReproducerBytes: 1 << 20, progress: false, handleSignals: false });
    expect(t.output.notWritten).toBeGreaterThan(0);
    expect(folderBytes(tiny)).toBeLessThanOrEqual(64 << 10);
    expect(readFileSync(path.join(tiny, "summary.txt"), "utf8")).toContain(`${t.output.notWritten} not written (the 65536-byte output budget was spent)`);
  }, 120_000);

  it("replays a reproducer stored by reference to its signature", async () => {
    const out = mkdtempSync(path.join(tmpdir(), "sf-ref-"));
    const s = await fuzz({ ops: 200_000, unitOps: 200_000, workers: 1, seed: 5, profile: "mixed", plant: HEAVY, minimise: false,
      out, maxReproducerBytes: 1, progress: false, handleSignals: false });
    const b = s.bugs[s.bugs.length - 1];
    expect(b.reproducer!.stored).toBe("reference");
    const ref = decodeReference(readFileSync(b.reproducer!.file!), "ref");
    expect(ref).toMatchObject({ seed: 5, unit: b.first.unit, profile: "mixed", ops: b.first.op + 1, signature: b.signature });
    const r = replayReference(ref, { format: (f) => f.signature === b.signature });
    const hit = r.findings.find((f) => f.signature === b.signature)!;
    expect(hit.op).toBe(b.first.op);
    expect(r.reports.find((x) => x.seq === hit.raw.seq)!.text).toBe(s.texts[b.signature]);
    // the CLI takes the reference too
    const cli = spawnSync(process.execPath, [path.join(root, "dist/host/cli.js"), "replay", b.reproducer!.file!], { encoding: "utf8", stdio: ["ignore", "ignore", "pipe"] });
    expect(cli.status).toBe(0);
    expect(cli.stderr).toContain(`the reference's bug is reproduced at op ${b.first.op}: ${b.signature}\n`);
    // hostile references: one clear line each
    const bad = (o: object) => { try { decodeReference(new TextEncoder().encode(JSON.stringify({ ...ref, ...o })), "r.ref"); return "ok"; } catch (e) { return (e as Error).message; } };
    expect(bad({ ops: 0 })).toBe("r.ref: field ops: expected at least 1");
    expect(bad({ ops: 2 ** 40 })).toBe("r.ref: field ops: expected an integer from 0 to 4294967295");
    expect(bad({ profile: "nope" })).toBe("r.ref: field profile: expected slab-churn, vmalloc-heavy, mixed");
    expect(bad({ plant: { rce: 1 } })).toBe("r.ref: field plant.rce: expected a class: oob, underflow, uaf, double-free, invalid-free");
    expect(bad({ format: "x" })).toBe('r.ref: field format: expected "shadowfence-tape-reference"');
    expect(() => decodeReference(new TextEncoder().encode("{ nope"), "r.ref")).toThrow(/^r\.ref: not a tape reference/);
  }, 120_000);
});

describe("fuzz unit time limit", () => {
  it("stops a unit that overruns it, lists it as timed out, and runs the rest", async () => {
    const s = await fuzz({ ops: 3_000_000, unitOps: 1_000_000, workers: 2, seed: 1, profile: "mixed", plant: {},
      unitTimeoutMs: 1, progress: false, handleSignals: false });
    expect(s.timedOut.map((t) => t.unit)).toEqual([0, 1, 2]);
    expect(s.units).toBe(0);
    expect(s.ops).toBe(0);
    expect(summaryText(s)).toContain("timed out: 3 unit(s) stopped at the 0.001 s limit (--unit-timeout), not counted above: 0, 1, 2\n");
    // the pool's fresh workers still run units
    const ok = await fuzz({ ops: 1_000_000, unitOps: 500_000, workers: 1, seed: 1, profile: "mixed", plant: {}, unitTimeoutMs: 60_000,
      progress: false, handleSignals: false });
    expect(ok.timedOut).toEqual([]);
    expect(ok.ops).toBe(1_000_000);
  }, 120_000);
});

describe("fuzz option errors", () => {
  it("refuses a bad command line and bad budgets before starting workers", async () => {
    const base = { ops: 1000, workers: 1, progress: false, handleSignals: false };
    await expect(fuzz({ ...base, cmdline: "kasan.fault=sometimes" })).rejects.toThrow(/^invalid value "sometimes" for kasan\.fault: /);
    await expect(fuzz({ ...base, maxOutputBytes: 1024 })).rejects.toThrow("--max-output must be at least 64K, got 1024");
    await expect(fuzz({ ...base, maxReproducerBytes: 0 })).rejects.toThrow("--max-reproducer must be a positive number of bytes, got 0");
    await expect(fuzz({ ...base, unitTimeoutMs: 0 })).rejects.toThrow("--unit-timeout must be positive, got 0");
  });
});
