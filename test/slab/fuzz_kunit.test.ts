// Everything else under SLAB: the KASAN and KFENCE KUnit suites (with the
// cases the kernel's suite marked SLUB-only skipped for its reason), the fuzz
// profiles against the differential oracle, the fuzz runner with and without
// KASAN, and the demo through syzkaller's report rules.
import { describe, it, expect } from "vitest";
import { runSuite } from "../../host/kunit/runner.js";
import { kasanSuite } from "../../host/kunit/kasan_test.js";
import { GENERIC_SKIPS as SLUB_GENERIC_SKIPS } from "../kasan/skips.js";
import { kfenceSuite } from "../../host/kunit/kfence_test.js";
import { checkStream } from "../../host/fuzz/check.js";
import { fuzz } from "../../host/fuzz/runner.js";
import { parseLog, symbolProblems, foreignFrames } from "../report/syzkaller_rules.js";
import { EXPECTED_DEMO_TITLES } from "../report/expected_titles.js";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const SLAB = "shadowfence.slab=slab";

// kasan_test.c while SLAB was in the tree: the page_alloc fallback cases need SLUB
const SLUB_ONLY = ["kmalloc_large_oob_right", "kmalloc_large_uaf", "kmalloc_large_invalid_free", "krealloc_large_more_oob",
  "krealloc_large_less_oob", "mempool_kmalloc_large_uaf", "mempool_kmalloc_large_double_free", "mempool_kmalloc_large_invalid_free"];
const GENERIC_SKIPS: Record<string, string> = {
  ...Object.fromEntries(SLUB_ONLY.map((n) => [n, "Test requires CONFIG_SLUB=y"])),
  kmem_cache_rcu_uaf: "Test requires CONFIG_SLUB_RCU_DEBUG=y",
  ...SLUB_GENERIC_SKIPS,
};

describe("KASAN KUnit suite under SLAB, generic mode", () => {
  const { results } = runSuite(kasanSuite, { cmdline: SLAB });
  it.each(kasanSuite.cases.map((c) => c.name))("%s", (name) => {
    const r = results.find((x) => x.name === name)!;
    const skip = GENERIC_SKIPS[name];
    if (skip) {
      expect([r.status, r.reason]).toEqual(["skip", skip]);
      return;
    }
    expect(r.failures).toEqual([]);
    expect(r.status).toBe("ok");
  });
  it("the same suite under SLUB runs the SLUB-only cases", () => {
    const slub = runSuite(kasanSuite, {}, SLUB_ONLY).results;
    expect(slub.map((r) => r.status)).toEqual(SLUB_ONLY.map(() => "ok"));
  });
});

describe("KASAN KUnit suite under SLAB, sw_tags on arm64", () => {
  const { results } = runSuite(kasanSuite, { cmdline: `${SLAB} arch=arm64 kasan.mode=sw_tags` });
  it("every case passes or skips for a config reason", () => {
    const bad = results.filter((r) => r.status !== "ok" && !(r.status === "skip" && /^Test requires CONFIG_/.test(r.reason ?? "")));
    expect(bad.map((r) => `${r.name}: ${r.failures.join("; ")}`)).toEqual([]);
    expect(results.filter((r) => r.status === "ok").length).toBeGreaterThan(50);
  });
});

describe("KFENCE KUnit suite under SLAB", () => {
  it.each([[SLAB], [`${SLAB} init_on_free=1`]])("%s: every case passes (init_on_free's only with init_on_free=1)", (cmdline) => {
    const { results } = runSuite(kfenceSuite, { cmdline });
    const initOnFree = cmdline.includes("init_on_free");
    for (const r of results) {
      if (!initOnFree && r.name.startsWith("test_init_on_free")) {
        expect(r.status, r.name).toBe("skip");
        continue;
      }
      expect(r.failures, r.name).toEqual([]);
      expect(r.status, r.name).toBe("ok");
    }
  });
});

describe("fuzzing under SLAB", () => {
  const PLANT = { oob: 1e-4, underflow: 1e-4, uaf: 1e-4, "double-free": 1e-4, "invalid-free": 1e-4 };
  it.each([["slab-churn", 21], ["mixed", 22], ["vmalloc-heavy", 23]] as const)("the oracle agrees with every verdict on %s", (profile, seed) => {
    const r = checkStream({ seed, profile, plant: PLANT, plantWrites: false }, 400_000, `ram=256 ${SLAB}`);
    expect(r.disagreement && `op ${r.disagreement.op}: ${r.disagreement.what}: expected ${r.disagreement.expected}, got ${r.disagreement.got}`).toBeUndefined();
    expect(r.ops).toBe(400_000);
    expect(r.reports).toBeGreaterThan(400_000 * 4e-4);
    expect(r.certain / r.ops).toBeGreaterThan(0.9999);
  });

  it("the runner finds the planted bugs, same seed same bugs as one worker; KASAN off keeps the allocator sound", async () => {
    const opts = { ops: 400_000, unitOps: 200_000, seed: 77, profile: "mixed" as const, plant: { uaf: 1e-4, oob: 1e-4, "double-free": 1e-4 },
      minimise: false, progress: false, handleSignals: false, cmdline: SLAB };
    const two = await fuzz({ ...opts, workers: 2 });
    const one = await fuzz({ ...opts, workers: 1 });
    const sigs = (s: typeof one) => s.bugs.map((b) => `${b.signature} x${b.count}`).sort();
    expect(sigs(two)).toEqual(sigs(one));
    expect(one.bugs.map((b) => b.signature.split(" | ")[0]).sort()).toEqual(expect.arrayContaining(["KASAN: double-free", "KASAN: slab-use-after-free Read"]));
    const off = await fuzz({ ...opts, workers: 1, cmdline: `${SLAB} kasan=off` });
    expect(off.ops).toBe(400_000);
  });
});

describe("the demo under SLAB", () => {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  it.each([["--slab"], ["--cmdline", SLAB]])("shadowfence demo %s: every report parses with the titles SLUB's has, and SLAB's page dump", (...args) => {
    const r = spawnSync(process.execPath, [`${root}/dist/host/cli.js`, "demo", ...args], { encoding: "utf8", cwd: root });
    expect(r.status).toBe(0);
    const reps = parseLog(r.stdout);
    expect(reps.filter((x) => x.corrupted || x.unknownFormat).map((x) => x.title)).toEqual([]);
    expect(symbolProblems(r.stdout)).toEqual([]);
    expect(reps.flatMap((x) => foreignFrames(x.text))).toEqual([]);
    expect(reps.map((x) => x.title)).toEqual(EXPECTED_DEMO_TITLES.x86_64);
    expect(r.stdout).toMatch(/^flags: 0x4000000000000200\(slab\|zone=1\)$/m);
    expect(r.stdout).toContain("which belongs to the cache kmalloc-128 of size 128");
    expect(r.stdout).not.toContain("page_type: f5(slab)");
  });
});
