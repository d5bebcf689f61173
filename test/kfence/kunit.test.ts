// The ported mm/kfence/kfence_test.c through the KUnit runner, on both core
// builds: KTAP shape, every case's verdict, and the reports each case saw
// (type, direction, address relative to the object, the test function).
import { describe, it, expect } from "vitest";
import { BUILDS } from "../helpers.js";
import { runSuite, type CaseResult } from "../../host/kunit/runner.js";
import { kfenceSuite } from "../../host/kunit/kfence_test.js";
import type { KfenceDetails } from "../../host/report/kfence.js";

const CASES = [
  "test_out_of_bounds_read", "test_out_of_bounds_read-memcache",
  "test_out_of_bounds_write", "test_out_of_bounds_write-memcache",
  "test_use_after_free_read", "test_use_after_free_read-memcache",
  "test_double_free", "test_double_free-memcache",
  "test_invalid_addr_free", "test_invalid_addr_free-memcache",
  "test_corruption", "test_corruption-memcache",
  "test_free_bulk", "test_free_bulk-memcache",
  "test_init_on_free", "test_init_on_free-memcache",
  "test_kmalloc_aligned_oob_read", "test_kmalloc_aligned_oob_write", "test_shrink_memcache",
  "test_memcache_ctor", "test_invalid_access", "test_gfpzero", "test_memcache_typesafe_by_rcu",
  "test_krealloc", "test_memcache_alloc_bulk",
];

// What each case must have reported: type, then the offset from the object's start (or the pool)
type Seen = { type: string; side?: string; distance?: number; objectOffset?: number; fn: string };
function seen(r: CaseResult): Seen[] {
  return r.reports.filter((x) => x.kind === "kfence").map((x) => {
    const d = x.extra!.kfence as KfenceDetails;
    const s: Seen = { type: x.type, fn: d.ip.split("+")[0] };
    if (d.side) { s.side = d.side; s.distance = d.distance; }
    if (d.object) s.objectOffset = Number(x.address - d.object.start);
    return s;
  });
}

describe.each(BUILDS)("KUnit kfence suite (%s build)", (build) => {
  const { ktap, results } = runSuite(kfenceSuite, {}, undefined, { build });
  const byName = new Map(results.map((r) => [r.name, r]));

  it("runs every case of kfence_test.c, in order, as KTAP", () => {
    expect(results.map((r) => r.name)).toEqual(CASES);
    const l = ktap.split("\n");
    expect(l.slice(0, 6)).toEqual(["KTAP version 1", "1..1", "    KTAP version 1", "    # Subtest: kfence",
      "    # module: kfence_test", "    1..25"]);
    expect(l).toContain("    # test_out_of_bounds_read: test_alloc: size=32, gfp=cc0, policy=left, cache=0");
    expect(l).toContain("    # test_free_bulk-memcache: setup_test_cache: size=243, ctor=ctor_set_x");
    expect(l).toContain("    ok 15 test_init_on_free # SKIP Test requires: IS_ENABLED(CONFIG_INIT_ON_FREE_DEFAULT_ON)");
    expect(l.slice(-4)).toEqual(["# kfence: pass:23 fail:0 skip:2 total:25", "# Totals: pass:23 fail:0 skip:2 total:25", "ok 1 kfence", ""]);
  });

  it("every case passes (init_on_free ones need init_on_free=1)", () => {
    for (const r of results) {
      if (r.name.startsWith("test_init_on_free")) expect(r.status).toBe("skip");
      else expect(r.status, `${r.name}: ${r.failures.join("; ")}`).toBe("ok");
    }
    const ion = runSuite(kfenceSuite, { cmdline: "init_on_free=1" }, ["test_init_on_free", "test_init_on_free-memcache"], { build });
    expect(ion.results.map((r) => [r.status, r.failures])).toEqual([["ok", []], ["ok", []]]);
    expect(seen(ion.results[0])[0]).toMatchObject({ type: "use-after-free read", fn: "test_init_on_free", objectOffset: 0 });
  });

  it("out-of-bounds cases hit the guard pages on both sides", () => {
    for (const name of ["test_out_of_bounds_read", "test_out_of_bounds_read-memcache"]) {
      expect(seen(byName.get(name)!)).toEqual([
        { type: "out-of-bounds read", fn: "test_out_of_bounds_read", side: "left", distance: 1, objectOffset: -1 },
        { type: "out-of-bounds read", fn: "test_out_of_bounds_read", side: "right", distance: 32, objectOffset: 32 },
      ]);
    }
    expect(seen(byName.get("test_out_of_bounds_write")!)).toEqual([
      { type: "out-of-bounds write", fn: "test_out_of_bounds_write", side: "left", distance: 1, objectOffset: -1 },
    ]);
    expect(seen(byName.get("test_kmalloc_aligned_oob_read")!)).toEqual([
      { type: "out-of-bounds read", fn: "test_kmalloc_aligned_oob_read", side: "right", distance: 105, objectOffset: 105 },
    ]);
  });

  it("free-path cases name the test (allocator frames skipped)", () => {
    expect(seen(byName.get("test_double_free-memcache")!)).toEqual([{ type: "invalid free", fn: "test_double_free", objectOffset: 0 }]);
    expect(seen(byName.get("test_invalid_addr_free")!)).toEqual([{ type: "invalid free", fn: "test_invalid_addr_free", objectOffset: 1 }]);
    expect(seen(byName.get("test_corruption")!)).toEqual([
      { type: "memory corruption", fn: "test_corruption", objectOffset: 32 },
      { type: "memory corruption", fn: "test_corruption", objectOffset: -1 },
    ]);
    expect(seen(byName.get("test_kmalloc_aligned_oob_write")!)).toEqual([
      { type: "memory corruption", fn: "test_kmalloc_aligned_oob_write", objectOffset: 73 },
    ]);
  });

  it("use-after-free cases, the invalid access, and the quiet ones", () => {
    for (const name of ["test_use_after_free_read", "test_memcache_typesafe_by_rcu", "test_krealloc"]) {
      expect(seen(byName.get(name)!)).toEqual([{ type: "use-after-free read", fn: name, objectOffset: 0 }]);
    }
    expect(seen(byName.get("test_invalid_access")!)).toEqual([{ type: "invalid read", fn: "test_invalid_access" }]);
    for (const name of ["test_free_bulk", "test_free_bulk-memcache", "test_shrink_memcache", "test_memcache_ctor",
      "test_gfpzero", "test_memcache_alloc_bulk"]) {
      expect(byName.get(name)!.reports, name).toEqual([]);
    }
  });
});

// The suite on CPU 1's thread (engine.cpu(1)): the same verdicts and reports,
// KFENCE's "on cpu 1" and the CPU line naming it (the memcache ctor runs back
// on the calling thread through the core's sf_ctor).
describe("KUnit kfence suite on CPU 1", () => {
  const { results } = runSuite(kfenceSuite, {}, undefined, {}, { cpu: 1 });
  const onCpu0 = runSuite(kfenceSuite).results;

  it("every case has CPU 0's verdict and the same reports", () => {
    expect(results.map((r) => [r.name, r.status, r.failures])).toEqual(onCpu0.map((r) => [r.name, r.status, r.failures]));
    expect(results.map(seen)).toEqual(onCpu0.map(seen));
  });

  it("the reports say CPU 1", () => {
    const texts = results.flatMap((r) => r.reports).filter((r) => r.kind === "kfence").map((r) => r.text);
    expect(texts.length).toBeGreaterThan(20);
    for (const t of texts) expect(t).toMatch(/^CPU: 1 UID: 0 PID: \d+ Comm: (kunit_try_catch|ksoftirqd\/1) /m);
    // every object track (test_invalid_access has no object) was made on CPU 1
    const tracks = texts.flatMap((t) => t.match(/^(allocated|freed) by task \d+ on cpu \d+ at /gm) ?? []);
    expect(tracks.length).toBeGreaterThan(20);
    for (const l of tracks) expect(l).toMatch(/ on cpu 1 at $/);
  });
});
