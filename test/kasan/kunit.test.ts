// The ported KASAN KUnit suite, on both core builds: every case that applies to
// generic mode passes (a report of the right kind at the right address for each
// KUNIT_EXPECT_KASAN_FAIL, nothing for the valid accesses around it), and the
// others are skipped with the kernel's reasons.
import { describe, it, expect } from "vitest";
import { runSuite } from "../../host/kunit/runner.js";
import { kasanSuite } from "../../host/kunit/kasan_test.js";
import { GENERIC_SKIPS } from "./skips.js";

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
