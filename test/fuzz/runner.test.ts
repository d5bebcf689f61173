// `shadowfence fuzz` end to end: the same seed gives the same bugs on one
// worker and on two; each unique bug gets a shrunk reproducer tape that
// replays, from its file, to the same signature; the summary is written as
// text and JSON; --check runs the oracle in the workers; a report burst larger
// than the ring loses nothing; a panic ends its unit and is listed; Ctrl-C
// stops the run with a summary.
import { describe, it, expect } from "vitest";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as abi from "../../abi/abi.js";
import { boot } from "../helpers.js";
import { fuzz, summaryJson, summaryText } from "../../host/fuzz/runner.js";
import { decodeTape, OpWriter, type TapeHeader } from "../../host/fuzz/tape.js";
import { replay } from "../../host/fuzz/exec.js";

const PLANT = { oob: 2e-5, underflow: 2e-5, uaf: 2e-5, "double-free": 2e-5, "invalid-free": 2e-5 };
const root = fileURLToPath(new URL("../..", import.meta.url));

function comparable(s: Awaited<ReturnType<typeof fuzz>>) {
  const { timing, workers, ...rest } = summaryJson(s) as Record<string, unknown> & { timing: unknown; workers: number };
  void timing; void workers;
  return rest;
}

describe("fuzz runner", () => {
  it("finds the same bugs with the same seed on 1 and on 2 workers", async () => {
    const opts = { ops: 1_500_000, unitOps: 500_000, seed: 77, profile: "mixed" as const, plant: PLANT, minimise: false, progress: false, handleSignals: false };
    const one = await fuzz({ ...opts, workers: 1 });
    const two = await fuzz({ ...opts, workers: 2 });
    expect(one.ops).toBe(1_500_000);
    expect(one.units).toBe(3);
    expect(one.bugs.length).toBeGreaterThan(5);
    expect(comparable(two)).toEqual(comparable(one));
    // every unique bug has its first report's kernel text
    for (const b of one.bugs) expect(one.texts[b.signature].split("\n")).toContain(b.title);
    const other = await fuzz({ ...opts, workers: 2, seed: 78 });
    expect(comparable(other)).not.toEqual(comparable(one));
  });

  it("writes a shrunk reproducer per unique bug that replays to the same signature, and a summary", async () => {
    const out = mkdtempSync(path.join(tmpdir(), "sf-fuzz-"));
    const s = await fuzz({ ops: 600_000, unitOps: 300_000, seed: 5, profile: "slab-churn", plant: PLANT, workers: 2, out, progress: false, handleSignals: false });
    expect(s.bugs.length).toBeGreaterThan(5);
    for (const b of s.bugs) {
      expect(b.reproducer?.reproduced, b.signature).toBe(true);
      // an underflow off a slab's first object reads the slab page before it: the shortest
      // reproducer sets up that neighbour (9 ops for one of these bugs since pcp lists)
      expect(b.reproducer!.ops, b.signature).toBeLessThanOrEqual(9);
      expect(b.reproducer!.ops).toBeLessThan(b.reproducer!.prefixOps);
      const file = b.reproducer!.file!;
      expect(path.basename(file)).toBe(`bug-${String(b.id).padStart(3, "0")}.tape`);
      const tape = decodeTape(readFileSync(file), file);
      const r = replay(tape);
      expect(r.findings.map((f) => f.signature)).toContain(b.signature);
      const txt = readFileSync(file.replace(/\.tape$/, ".txt"), "utf8").split("\n");
      expect(txt[0]).toBe(b.signature);
      expect(txt[3]).toBe(b.title);
    }
    const json = JSON.parse(readFileSync(path.join(out, "summary.json"), "utf8"));
    expect(json.bugs.map((b: { signature: string }) => b.signature)).toEqual(s.bugs.map((b) => b.signature));
    expect(json.ops).toBe(600_000);
    const text = readFileSync(path.join(out, "summary.txt"), "utf8");
    expect(text).toBe(summaryText(s));
    expect(text).toContain(`reports: ${s.reports}, lost to a full report ring: 0; unique bugs: ${s.bugs.length}`);
    expect(text).toMatch(/\n {3}1 +\d+ +\d+:\d+ +bug-001\.tape \(\d of \d+ ops\)\n {7}KASAN: /);
  });

  it("runs the oracle in the workers with --check", async () => {
    const s = await fuzz({ ops: 400_000, unitOps: 200_000, seed: 3, profile: "mixed", plant: PLANT, check: true, workers: 2, minimise: false, progress: false, handleSignals: false, cmdline: "ram=256" });
    expect(s.checked).toBe(true);
    expect(s.disagreements).toEqual([]);
    expect(s.cmdline).toBe("ram=256 kasan_multi_shot kfence.sample_interval=0");
    expect(summaryText(s)).toContain("oracle: agreed with every verdict");
  });

  it("lists a panic (kasan.fault=panic) and the unit it ended", async () => {
    const s = await fuzz({ ops: 200_000, unitOps: 100_000, seed: 9, profile: "slab-churn", plant: { uaf: 1e-3 }, workers: 1, minimise: false, progress: false, handleSignals: false, cmdline: "kasan.fault=panic" });
    // each unit stops at its first report
    expect(s.panics.map((p) => p.unit)).toEqual([0, 1]);
    expect(s.panics[0].title).toBe("Kernel panic - not syncing: kasan.fault=panic set ...");
    expect(s.bugs.reduce((a, b) => a + b.count, 0)).toBe(2);
    for (const p of s.panics) expect(s.bugs.some((b) => b.first.unit === p.unit && b.first.op === p.op - 1)).toBe(true);
    expect(s.bugs.every((b) => b.type.startsWith("KASAN: slab-use-after-free"))).toBe(true);
    expect(s.ops).toBeLessThan(200_000);
  });

  it("loses no report when one chunk raises more than the ring holds", () => {
    const e = boot({ cmdline: "kasan_multi_shot kfence.sample_interval=0" });
    const h: TapeHeader = { slots: 2, cmdline: "", profile: "test", seed: 0, unit: 0, caches: [], tasks: [],
      sites: [{ name: "alloc_site", offset: 1, size: 16 }, { name: "double_free_site", offset: 2, size: 16 }] };
    const w = new OpWriter();
    w.sized(abi.FZ_KMALLOC, 0, 0, 32);
    w.free(abi.FZ_KFREE, 0, 0);
    for (let i = 0; i < 1000; i++) w.free(abi.FZ_KFREE, 1, 0, true);      // 1000 double frees, 8x the ring
    const r = replay({ header: h, body: w.bytes().slice(), ops: w.ops }, { engine: e, format: () => false });
    expect(r.findings.length).toBe(1000);
    expect(r.findings.every((f, i) => f.op === i + 2 && f.signature === "KASAN: double-free | double_free_site | alloc_site")).toBe(true);
    expect(r.reportsLost).toBe(0);
    expect(e.stats().reports.total).toBe(1000);
  });

  it("stops cleanly on Ctrl-C and still prints the summary", async () => {
    const out = mkdtempSync(path.join(tmpdir(), "sf-int-"));
    const child = spawn(process.execPath, [path.join(root, "dist/host/cli.js"), "fuzz", "--seconds", "60", "--workers", "1",
      "--profile", "slab-churn", "--plant", "uaf=1e-5", "--out", out, "--no-progress", "--no-minimise"], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    child.stdout.on("data", (d) => (stdout += d));
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 2500));
    child.kill("SIGINT");
    const code = await new Promise<number | null>((r) => child.on("exit", r));
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^shadowfence fuzz: profile slab-churn, seed 1, 1 worker\(s\), \d+ unit\(s\) of up to \d+ ops \(interrupted\)\n/);
    expect(existsSync(path.join(out, "summary.json"))).toBe(true);
    expect(JSON.parse(readFileSync(path.join(out, "summary.json"), "utf8")).interrupted).toBe(true);
    expect(readdirSync(out).filter((f) => f.endsWith(".tape")).length).toBeGreaterThan(0);
  });
  it("removes only its own SIGINT listeners: an embedding application's stay", async () => {
    const appHandler = () => {};
    process.on("SIGINT", appHandler);
    try {
      const before = process.listeners("SIGINT");
      // planted bugs, so the run goes through the shrinking phase and its second listener too
      const s = await fuzz({ ops: 200_000, unitOps: 200_000, seed: 5, profile: "slab-churn", plant: PLANT, workers: 1, progress: false });
      expect(s.bugs.length).toBeGreaterThan(0);
      expect(process.listeners("SIGINT")).toEqual(before);
      expect(process.listeners("SIGINT")).toContain(appHandler);
    } finally {
      process.off("SIGINT", appHandler);
    }
  });
});
