// `shadowfence kunit vmalloc`: the vmalloc cases of the KASAN KUnit suite in
// KTAP, skipped with the kernel's messages where the configuration does not apply.
import { describe, it, expect } from "vitest";
import { runSuite } from "../../host/kunit/runner.js";
import { kasanVmallocSuite as vmallocSuite } from "../../host/kunit/kasan_test.js";

const HEAD = ["KTAP version 1", "1..1", "    KTAP version 1", "    # Subtest: kasan", "    # module: kasan_test", "    1..5"];

describe("kunit vmalloc", () => {
  it("generic KASAN: vmalloc_oob runs, the tag-based cases skip", () => {
    const { ktap, results } = runSuite(vmallocSuite);
    expect(ktap.split("\n")).toEqual([
      ...HEAD,
      "    ok 1 vmalloc_helpers_tags # SKIP Test requires CONFIG_KASAN_GENERIC=n",
      "    ok 2 vmalloc_oob",
      "    ok 3 vmap_tags # SKIP Test requires CONFIG_KASAN_SW_TAGS=y",
      "    ok 4 vm_map_ram_tags # SKIP Test requires CONFIG_KASAN_SW_TAGS=y",
      "    ok 5 vmalloc_percpu # SKIP Test requires CONFIG_KASAN_SW_TAGS=y",
      "# kasan: pass:1 fail:0 skip:4 total:5",
      "# Totals: pass:1 fail:0 skip:4 total:5",
      "ok 1 kasan",
      "",
    ]);
    // vmalloc_oob saw its two reports, both naming the mapping its case created
    const oob = results[1].reports.filter((r) => r.kind === "kasan");
    expect(oob.map((r) => r.type)).toEqual(["vmalloc-out-of-bounds", "vmalloc-out-of-bounds"]);
    for (const r of oob) {
      expect(r.title).toMatch(/^BUG: KASAN: vmalloc-out-of-bounds in vmalloc_oob\+0x/);
      expect(r.text).toMatch(/\n \[[0-9a-f]{16}, [0-9a-f]{16}\) created by:\n vmalloc_oob\+0x[0-9a-f]+\/0x[0-9a-f]+\n/);
      expect(r.comm).toBe("kunit_try_catch");
    }
  });

  it("software tags (arm64): every case runs and passes", () => {
    const { ktap } = runSuite(vmallocSuite, { cmdline: "arch=arm64 kasan.mode=sw_tags" });
    expect(ktap.split("\n").slice(6, 14)).toEqual([
      "    ok 1 vmalloc_helpers_tags",
      "    ok 2 vmalloc_oob",
      "    ok 3 vmap_tags",
      "    ok 4 vm_map_ram_tags",
      "    ok 5 vmalloc_percpu",
      "# kasan: pass:5 fail:0 skip:0 total:5",
      "# Totals: pass:5 fail:0 skip:0 total:5",
      "ok 1 kasan",
    ]);
  });

  it("software tags (arm64) on CPU 1's thread: every case passes, its reports name CPU 1", () => {
    const { ktap, results } = runSuite(vmallocSuite, { cmdline: "arch=arm64 kasan.mode=sw_tags" }, undefined, {}, { cpu: 1 });
    expect(ktap.split("\n").slice(11, 13)).toEqual(["# kasan: pass:5 fail:0 skip:0 total:5", "# Totals: pass:5 fail:0 skip:0 total:5"]);
    const texts = results.flatMap((r) => r.reports).filter((r) => r.kind === "kasan").map((r) => r.text);
    const onCpu0 = runSuite(vmallocSuite, { cmdline: "arch=arm64 kasan.mode=sw_tags" }).results.flatMap((r) => r.reports).filter((r) => r.kind === "kasan");
    expect(texts.length).toBe(onCpu0.length);
    expect(texts.length).toBeGreaterThan(0);
    for (const t of texts) expect(t).toMatch(/^CPU: 1 UID: 0 PID: \d+ Comm: kunit_try_catch /m);
  });

  it("kasan.vmalloc=off: the cases that need it skip as without CONFIG_KASAN_VMALLOC", () => {
    const { ktap } = runSuite(vmallocSuite, { cmdline: "kasan.vmalloc=off" }, ["vmalloc_oob"]);
    expect(ktap.split("\n")).toContain("    ok 1 vmalloc_oob # SKIP Test requires CONFIG_KASAN_VMALLOC=y");
  });

  it("kasan=off: kasan_suite_init refuses and no case runs, as KUnit prints it", () => {
    const { ktap, results, ok } = runSuite(vmallocSuite, { cmdline: "kasan=off" });
    expect(ok).toBe(false);
    expect(results).toEqual([]);
    expect(ktap.split("\n")).toEqual([
      ...HEAD,
      "[    0.000000] kasan: test: Can't run KASAN tests with KASAN disabled",
      "    # kasan:     # failed to initialize (-1)",
      "not ok 1 kasan",
      "",
    ]);
  });
});
