// Software tag-based KASAN (arch=arm64 kasan.mode=sw_tags): the ported KUnit
// cases, a report line by line, the tag rules (random tag per allocation,
// 0xfe for freed memory and redzones, 0xff matches everything), the measured
// miss rate of stale and neighbouring pointers against the 1/254 collision
// probability, and generic and sw_tags agreeing where both must report.
import { describe, it, expect } from "vitest";
import { boot, BUILDS, lines, expectNoReport } from "../helpers.js";
import { runSuite } from "../../host/kunit/runner.js";
import { kasanSuite } from "../../host/kunit/kasan_test.js";
import type { Engine, Report } from "../../host/engine.js";

const SW_TAGS = "arch=arm64 kasan.mode=sw_tags";
const px = (v: bigint) => v.toString(16).padStart(16, "0");
const tagOf = (p: bigint) => Number(p >> 56n);
const untag = (p: bigint) => p | 0xff00000000000000n;

// kasan_test_c.c's generic-only cases and the kernel's reasons
const SW_TAGS_SKIPS: Record<string, string> = {
  kmalloc_oob_16: "Test requires CONFIG_KASAN_GENERIC=y",
  kmalloc_uaf_memset: "Test requires CONFIG_KASAN_GENERIC=y",
  kasan_global_oob_right: "Test requires CONFIG_KASAN_GENERIC=y",
  kasan_global_oob_left: "Test requires CONFIG_KASAN_GENERIC=y",
  kasan_alloca_oob_left: "Test requires CONFIG_KASAN_GENERIC=y",
  kasan_alloca_oob_right: "Test requires CONFIG_KASAN_GENERIC=y",
  kasan_bitops_generic: "Test requires CONFIG_KASAN_GENERIC=y",
};

describe.each(BUILDS)("KASAN KUnit suite, sw_tags on arm64 (%s build)", (build) => {
  const { ktap, results } = runSuite(kasanSuite, { cmdline: SW_TAGS }, undefined, { build });

  it("runs every case that applies to tag modes and skips the generic-only ones", () => {
    const l = ktap.split("\n");
    expect(l).toContain("    ok 15 kmalloc_oob_16 # SKIP Test requires CONFIG_KASAN_GENERIC=y");
    expect(l.at(-2)).toBe("ok 1 kasan");
    expect(l).toContain(`# kasan: pass:${kasanSuite.cases.length - 7} fail:0 skip:7 total:${kasanSuite.cases.length}`);
  });

  it.each(kasanSuite.cases.map((c) => c.name))("%s", (name) => {
    const r = results.find((x) => x.name === name)!;
    if (SW_TAGS_SKIPS[name]) {
      expect(r.status).toBe("skip");
      expect(r.reason).toBe(SW_TAGS_SKIPS[name]);
      return;
    }
    expect(r.failures).toEqual([]);
    expect(r.status).toBe("ok");
  });

  it("tag-specific cases produce tag-mode reports", () => {
    const byName = (n: string) => results.find((x) => x.name === n)!.reports;
    // kmalloc_uaf3: the stack ring names the second object's free
    expect(byName("kmalloc_uaf3").map((r) => r.type)).toEqual(["slab-use-after-free"]);
    // page_alloc_oob_right: the next page has its own tag, no slab object
    expect(byName("page_alloc_oob_right")[0].type).toBe("invalid-access");
    for (const rep of byName("match_all_mem_tag")) expect(rep.text).toMatch(/^Pointer tag: \[[0-9a-f]{2}\], memory tag: \[[0-9a-f]{2}\]$/m);
    expect(byName("match_all_ptr_tag")).toEqual([]);
  });
});

describe.each(BUILDS)("sw_tags reports (%s build)", (build) => {
  it("kmalloc(107), 1-byte write at offset 112: every line of the report", () => {
    const e = boot({ cmdline: `${SW_TAGS} kasan_multi_shot` }, build);
    e.kmalloc(128);                                   // a neighbour before, with its own tag
    function kmalloc_oob_right() {
      const p = e.kmalloc(107);
      e.store(p + 112n, 1, 0x79);
      return p;
    }
    const p = kmalloc_oob_right();
    const obj = untag(p);
    const [r] = e.takeReports();
    const l = lines(r);
    expect(r.type).toBe("slab-out-of-bounds");
    expect(r.address).toBe(p + 112n);
    expect(r.kasan!.pointerTag).toBe(tagOf(p));
    expect(r.kasan!.memoryTag).toBe(0xfe);
    expect(l[0]).toBe("=".repeat(66));
    expect(l[1]).toMatch(/^BUG: KASAN: slab-out-of-bounds in kmalloc_oob_right\+0x[0-9a-f]*[048c]\/0x[0-9a-f]*[048c]$/);
    expect(l[2]).toBe(`Write of size 1 at addr ${px(p + 112n)} by task swapper/0/1`);
    expect(l[3]).toBe(`Pointer tag: [${px(p).slice(0, 2)}], memory tag: [fe]`);
    expect(l[4]).toBe("");
    expect(l[5]).toBe("CPU: 0 UID: 0 PID: 1 Comm: swapper/0 Not tainted 6.12.0 #1");
    expect(l[6]).toBe("Hardware name: shadowfence wasm machine (DT)");
    // arm64: dump_stack starts in the unwinder; the inline check traps (BRK)
    expect(l.slice(7, 19)).toEqual(["Call trace:", " dump_backtrace+0x98/0x118", " show_stack+0x18/0x24",
      " dump_stack_lvl+0x4c/0x70", " print_report+0xcc/0x620", " kasan_report+0xdc/0x110", " kasan_handler+0x34/0x68",
      " brk_handler+0x64/0xc8", " do_debug_exception+0x88/0x130", " el1_dbg+0x4c/0x70", " el1h_64_sync_handler+0x44/0xa8",
      " el1h_64_sync+0x64/0x68"]);
    expect(l[19]).toMatch(/^ kmalloc_oob_right\+0x[0-9a-f]*[048c]\/0x/);
    const alloc = l.indexOf("Allocated by task 1:");
    // tags.c: kasan_save_alloc_info -> save_stack_info -> kasan_save_stack
    expect(l.slice(alloc + 1, alloc + 5)).toEqual([" kasan_save_stack+0x30/0x60", " save_stack_info+0x38/0x118",
      " kasan_save_alloc_info+0x14/0x20", " __kasan_kmalloc+0x8c/0xa0"]);
    expect(l[alloc + 5]).toMatch(/^ kmalloc_oob_right\+0x/);
    expect(l).not.toContain("Freed by task 1:");
    const o = l.indexOf(`The buggy address belongs to the object at ${px(obj)}`);
    // kasan_get_alloc_size(): granules up to the first 0xfe; no "allocated" word in tag modes
    expect(l.slice(o, o + 5)).toEqual([
      `The buggy address belongs to the object at ${px(obj)}`,
      " which belongs to the cache kmalloc-128 of size 128",
      "The buggy address is located 0 bytes to the right of",
      ` 112-byte region [${px(obj)}, ${px(obj + 112n)})`,
      "",
    ]);
    const mem = l.indexOf("Memory state around the buggy address:");
    const row = (obj + 112n) & ~0xffn;
    const g = Number((obj + 112n - row) / 16n);
    const marked = l[mem + 3];
    expect(marked.startsWith(`>${px(row)}: `)).toBe(true);
    const cells = marked.slice(19).split(" ");
    expect(cells.length).toBe(16);
    const first = Number((obj - row) / 16n);
    expect(cells.slice(first, first + 7)).toEqual(Array(7).fill(px(p).slice(0, 2)));
    expect(cells[g]).toBe("fe");
    expect(l[mem + 4]).toBe(" ".repeat(19 + 3 * g) + "^");
    expect([1, 2, 5, 6].map((i) => l[mem + i].slice(19).split(" ").length)).toEqual([16, 16, 16, 16]);
    expect([1, 2, 5, 6].map((i) => BigInt("0x" + l[mem + i].slice(1, 17)))).toEqual([row - 512n, row - 256n, row + 256n, row + 512n]);
    expect(l[mem + 7]).toBe("=".repeat(66));
    expect(l.length).toBe(mem + 8);
  });

  it("a use-after-free names the free from the stack ring; a stale tag on reused memory is invalid-access", () => {
    const e = boot({ cmdline: `${SW_TAGS} kasan_multi_shot` }, build);
    function uaf() {
      const p = e.kmalloc(64);
      e.kfree(p);
      e.load(p + 8n, 8);
      return p;
    }
    const p = uaf();
    const [r] = e.takeReports();
    expect(r.type).toBe("slab-use-after-free");
    const l = lines(r);
    const freed = l.indexOf("Freed by task 1:");
    expect(l.slice(freed + 1, freed + 6)).toEqual([" kasan_save_stack+0x30/0x60", " save_stack_info+0x38/0x118",
      " kasan_save_free_info+0x38/0x60", " __kasan_slab_free+0x34/0x50", " kfree+0x94/0x190"]);
    // the freed object's granules are 0xfe: alloc size falls back to the object size
    expect(l).toContain("The buggy address is located 8 bytes inside of");
    expect(l).toContain(` 64-byte region [${px(untag(p))}, ${px(untag(p) + 64n)})`);
    // reuse the slot with a new tag; the old pointer no longer matches any ring entry of this life
    let q = 0n;
    for (let i = 0; i < 64 && untag(q) !== untag(p); i++) q = e.kmalloc(64);
    expect(untag(q)).toBe(untag(p));
    expect(tagOf(q)).not.toBe(tagOf(p));                // (1 in 254 seeds would collide; not the default one)
    e.load(p, 1);
    const [s] = e.takeReports();
    expect(s.type).toBe("slab-use-after-free");         // the old free entry still carries p's tag
    expect(s.kasan!.memoryTag).toBe(tagOf(q));
  });

  it("pointer tags: a random tag per allocation, 0xff matches all, arithmetic keeps the tag", () => {
    const e = boot({ cmdline: `${SW_TAGS} kasan_multi_shot` }, build);
    const tags = new Set<number>();
    for (let i = 0; i < 300; i++) {
      const p = e.kmalloc(32);
      expect(tagOf(p)).toBeLessThanOrEqual(0xfd);       // KASAN_TAG_MAX; 0xfe/0xff never handed out
      tags.add(tagOf(p));
      expect(e.shadowByte(p)).toBe(tagOf(p));
      expect(e.shadowByte(p + 16n)).toBe(tagOf(p));
    }
    expect(tags.size).toBeGreaterThan(150);
    const p = e.kmalloc(40);
    expectNoReport(e, () => {
      e.store(p + 39n, 1, 1);                            // p + n keeps the tag in the top byte
      e.load(untag(p) + 200n, 8);                        // a 0xff pointer is never checked
    });
    e.kfree(p);
    expect(e.shadowByte(p)).toBe(0xfe);                  // KASAN_TAG_INVALID
    const pages = e.alloc_pages(0);
    expect(tagOf(pages)).toBeLessThanOrEqual(0xfd);
    expect(e.shadowByte(pages + 4095n)).toBe(tagOf(pages));
    const v = e.vmalloc(5000);
    expect(tagOf(v)).toBeLessThanOrEqual(0xfd);
    expect(e.shadowByte(v + 4999n)).toBe(tagOf(v));
    expect(e.shadowByte(v + 5008n)).toBe(0xfe);
  });

  it("kasan.seed makes the tags reproducible", () => {
    const run = (seed: number) => {
      const e = boot({ cmdline: `${SW_TAGS} kasan.seed=${seed}` }, build);
      return Array.from({ length: 32 }, () => tagOf(e.kmalloc(24)));
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
  });
});

// ── detection probability ───────────────────────────────────────────────────
// A stale pointer (the slot freed and reallocated) or a neighbouring one (one
// object's pointer walking into the next) is caught unless the two random
// tags collide: 1/254 with tags uniform over 0x00..0xfd.
describe("sw_tags detection against the collision probability", () => {
  const TRIALS = 6000;
  const P = 1 / 254;
  // |misses - n p| within 4.5 standard deviations (a false failure about once in 150 000 runs)
  const within = (misses: number, n: number) => {
    const sd = Math.sqrt(n * P * (1 - P));
    expect(Math.abs(misses - n * P), `${misses} misses in ${n} trials, expected ${(n * P).toFixed(1)}`).toBeLessThan(4.5 * sd);
  };

  it("stale pointers after free and reuse", () => {
    const e = boot({ cmdline: `${SW_TAGS} kasan_multi_shot kasan.seed=11` });
    let misses = 0, caught = 0, collisions = 0;
    for (let i = 0; i < TRIALS; i++) {
      const stale = e.kmalloc(48);
      e.kfree(stale);
      const fresh = e.kmalloc(48);                       // SLUB hands the same slot back
      expect(untag(fresh)).toBe(untag(stale));
      e.load(stale + 4n, 4);
      const reps = e.takeReports();
      if (reps.length === 0) misses++;
      else caught++;
      if (tagOf(fresh) === tagOf(stale)) collisions++;
      e.kfree(fresh);
    }
    expect(misses).toBe(collisions);                     // a miss is exactly a tag collision
    expect(caught + misses).toBe(TRIALS);
    within(misses, TRIALS);
  });

  it("neighbouring objects", () => {
    const e = boot({ cmdline: `${SW_TAGS} kasan_multi_shot kasan.seed=12` });
    let misses = 0, collisions = 0, n = 0;
    const live: bigint[] = [];
    for (let i = 0; i < TRIALS + 1; i++) live.push(e.kmalloc(64));
    for (let i = 0; i < TRIALS; i++) {
      const a = live[i], b = live[i + 1];
      if (untag(b) !== untag(a) + 64n) continue;         // slab boundary: not neighbours
      n++;
      e.load(a + 64n, 1);                               // a's pointer, b's first byte
      if (e.takeReports().length === 0) misses++;
      if (tagOf(a) === tagOf(b)) collisions++;
    }
    expect(n).toBeGreaterThan(TRIALS * 0.9);
    expect(misses).toBe(collisions);
    within(misses, n);
  });
});

// ── generic and sw_tags agree where both must report ────────────────────────
interface Scenario {
  name: string;
  /** Runs the bug; returns the (untagged) address the access line names and the first bad byte. */
  run(e: Engine): [bigint, bigint];
  types: { generic: string; sw_tags: string };
}
const SCENARIOS: Scenario[] = [
  {
    name: "write into the object's rounded-up tail",
    run: (e) => { const p = e.kmalloc(80); e.store(p + 88n, 1, 0); return [untag(p) + 88n, untag(p) + 88n]; },
    types: { generic: "slab-out-of-bounds", sw_tags: "slab-out-of-bounds" },
  },
  {
    // generic: the slot's redzone; sw_tags: the next object, whose tag matches no ring entry
    name: "write just past a kmalloc-96 object",
    run: (e) => { const p = e.kmalloc(96); e.store(p + 96n, 1, 0); return [untag(p) + 96n, untag(p) + 96n]; },
    types: { generic: "slab-out-of-bounds", sw_tags: "invalid-access" },
  },
  {
    name: "read after kfree",
    run: (e) => { const p = e.kmalloc(200); e.kfree(p); e.load(p + 16n, 8); return [untag(p) + 16n, untag(p) + 16n]; },
    types: { generic: "slab-use-after-free", sw_tags: "slab-use-after-free" },
  },
  {
    name: "double kfree",
    run: (e) => { const p = e.kmalloc(32); e.kfree(p); e.kfree(p); return [untag(p), untag(p)]; },
    types: { generic: "double-free", sw_tags: "double-free" },
  },
  {
    name: "kfree of a pointer inside an object",
    run: (e) => { const p = e.kmalloc(64); e.kfree(p + 16n); return [untag(p) + 16n, untag(p) + 16n]; },
    types: { generic: "invalid-free", sw_tags: "invalid-free" },
  },
  {
    name: "kmem_cache object used after kmem_cache_free",
    run: (e) => {
      const c = e.kmem_cache_create("agree_cache", 100);
      const p = e.kmem_cache_alloc(c);
      e.kmem_cache_free(c, p);
      e.store(p, 4, 1);
      return [untag(p), untag(p)];
    },
    types: { generic: "slab-use-after-free", sw_tags: "slab-use-after-free" },
  },
  {
    name: "memset running past a large kmalloc",
    run: (e) => { const p = e.kmalloc(20000); e.memset(p, 0, 20000 + 32); return [untag(p), untag(p) + 20000n]; },
    types: { generic: "slab-out-of-bounds", sw_tags: "invalid-access" },
  },
  {
    name: "vmalloc read past the area's last granule",
    run: (e) => { const v = e.vmalloc(3000); e.load(v + 3008n, 1); return [untag(v) + 3008n, untag(v) + 3008n]; },
    types: { generic: "vmalloc-out-of-bounds", sw_tags: "invalid-access" },
  },
  {
    name: "page read after __free_pages",
    run: (e) => { const p = e.alloc_pages(1); e.__free_pages(p, 1); e.load(p + 100n, 1); return [untag(p) + 100n, untag(p) + 100n]; },
    types: { generic: "use-after-free", sw_tags: "invalid-access" },
  },
];

describe.each(BUILDS)("generic and sw_tags agree (%s build)", (build) => {
  it.each(SCENARIOS.map((s) => [s.name, s] as const))("%s", (_name, s) => {
    const seen: Record<string, Report> = {};
    for (const mode of ["generic", "sw_tags"] as const) {
      // kasan.seed=3: tags of neighbouring objects differ in these short runs
      const e = boot({ cmdline: `arch=arm64 kasan.mode=${mode} kasan_multi_shot kasan.seed=3` }, build);
      const [access, firstBad] = s.run(e);
      const reps = e.takeReports().filter((r) => r.kind === "kasan");
      expect(reps.length, `${mode}: ${reps.map((r) => r.title).join("; ")}`).toBeGreaterThan(0);
      expect(reps[0].type).toBe(s.types[mode]);
      expect(untag(reps[0].address)).toBe(access);
      expect(untag(reps[0].kasan!.firstBadAddress)).toBe(firstBad);
      seen[mode] = reps[0];
    }
    expect(seen.generic.kasan!.isWrite).toBe(seen.sw_tags.kasan!.isWrite);
  });
});

// ── what sw_tags must not report ────────────────────────────────────────────
describe("sw_tags: no false reports, and shadow nobody populated", () => {
  it("a million fuzz operations with no planted bug report nothing", async () => {
    const { fuzz } = await import("../../host/fuzz/index.js");
    for (const profile of ["slab-churn", "vmalloc-heavy", "mixed"] as const) {
      const s = await fuzz({ ops: 1 << 20, workers: 1, profile, seed: 5, cmdline: SW_TAGS, plant: {}, progress: false, handleSignals: false });
      expect(s.reports, `${profile}: ${s.bugs.map((b) => b.signature).join("; ")}`).toBe(0);
      expect(s.panics).toEqual([]);
    }
  });

  it.each(BUILDS)("shadow starts at 0xff (KASAN_SHADOW_INIT); an unpopulated vmalloc shadow faults (%s build)", (build) => {
    const e = boot({ cmdline: `${SW_TAGS} kasan_multi_shot` }, build);
    // a global in the kernel image: memory nobody tagged, reached by an untagged pointer
    const g = e.registerGlobal("sw_tags_global", 40);
    expect(e.shadowByte(g)).toBe(0xff);
    expectNoReport(e, () => e.load(g + 8n, 8));
    // a tagged pointer into vmalloc space whose shadow page was never populated:
    // the check's shadow load faults (an oops), there is no KASAN report
    const v = e.vmalloc(4096);
    const far = v + (1n << 30n);
    expect(e.shadowByte(far)).toBe(-1);
    e.load(far, 4);
    const reps = e.takeReports();
    expect(reps.map((r) => r.kind)).toEqual(["oops"]);
    expect(lines(reps[0])[0]).toMatch(/^Unable to handle kernel paging request at virtual address ffff7[0-9a-f]{11}$/);
  });
});
