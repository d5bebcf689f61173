// The ported KASAN KUnit suite, on both core builds: every case that applies to
// generic mode passes (a report of the right kind at the right address for each
// KUNIT_EXPECT_KASAN_FAIL, nothing for the valid accesses around it), and the
// others are skipped with the kernel's reasons.
import { describe, it, expect } from "vitest";
import { runSuite } from "../../host/kunit/runner.js";
import { kasanSuite } from "../../host/kunit/kasan_test.js";

const GENERIC_SKIPS: Record<string, string> = {
  page_alloc_oob_right: "Test requires CONFIG_KASAN_GENERIC=n",
  kmalloc_uaf3: "Test requires CONFIG_KASAN_GENERIC=n",
  kasan_bitops_tags: "Test requires CONFIG_KASAN_GENERIC=n",
  vmalloc_helpers_tags: "Test requires CONFIG_KASAN_GENERIC=n",
  vmap_tags: "Test requires CONFIG_KASAN_SW_TAGS=y",
  vm_map_ram_tags: "Test requires CONFIG_KASAN_SW_TAGS=y",
  vmalloc_percpu: "Test requires CONFIG_KASAN_SW_TAGS=y",
  match_all_not_assigned: "Test requires CONFIG_KASAN_GENERIC=n",
  match_all_ptr_tag: "Test requires CONFIG_KASAN_GENERIC=n",
  match_all_mem_tag: "Test requires CONFIG_KASAN_GENERIC=n",
};

describe.each(["release", "debug"] as const)("KASAN KUnit suite, generic mode (%s build)", (build) => {
  const { ktap, results } = runSuite(kasanSuite, {}, undefined, { build });

  it("prints KTAP like the kernel's KUnit", () => {
    const l = ktap.split("\n");
    expect(l.slice(0, 6)).toEqual(["KTAP version 1", "1..1", "    KTAP version 1", "    # Subtest: kasan",
      "    # module: kasan_test", `    1..${kasanSuite.cases.length}`]);
    expect(l).toContain("    ok 1 kmalloc_oob_right");
    expect(l).toContain("    ok 8 page_alloc_oob_right # SKIP Test requires CONFIG_KASAN_GENERIC=n");
    expect(l.at(-2)).toBe("ok 1 kasan");
  });

  it.each(kasanSuite.cases.map((c) => c.name))("%s", (name) => {
    const r = results.find((x) => x.name === name)!;
    const skip = GENERIC_SKIPS[name];
    if (skip) {
      expect(r.status).toBe("skip");
      expect(r.reason).toBe(skip);
      return;
    }
    expect(r.failures).toEqual([]);
    expect(r.status).toBe("ok");
  });
});
