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

// The same suite with every case on CPU 1's thread (engine.cpu(1)): the same
// verdicts, and every report names CPU 1.
describe("KASAN KUnit suite, generic mode, on CPU 1 (release build)", () => {
  const { results } = runSuite(kasanSuite, { cmdline: "nr_cpus=2" }, undefined, {}, { cpu: 1 });
  const onCpu0 = runSuite(kasanSuite, { cmdline: "nr_cpus=2" }).results;

  it("every case has CPU 0's verdict", () => {
    expect(results.map((r) => [r.name, r.status])).toEqual(onCpu0.map((r) => [r.name, r.status]));
    expect(results.filter((r) => r.status === "ok").length).toBeGreaterThan(40);
  });

  it("every report of a case names CPU 1 and the case's task", () => {
    const reports = results.flatMap((r) => r.reports).map((r) => r.text);
    expect(reports.length).toBeGreaterThan(40);
    // (an RCU callback runs in CPU 1's ksoftirqd)
    for (const text of reports) expect(text).toMatch(/^CPU: 1 UID: 0 PID: \d+ Comm: (kunit_try_catch|ksoftirqd\/1) /m);
  });
});
