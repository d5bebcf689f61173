// Every report the engine prints, read by syzkaller's rules (the reader in
// ./syzkaller_rules.ts): the demo on both architectures, the KUnit suites in
// both modes, the example guests, fuzz reproducers and a script calling the
// API from its top level. None may be corrupted, each title is the expected
// one, every %pS is consistent (one size per symbol, offsets inside it), and
// no stack shows a frame of the simulator itself.
import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseLog, symbolProblems, foreignFrames, type ParsedReport } from "./syzkaller_rules.js";
import { EXPECTED_KUNIT_TITLES, EXPECTED_DEMO_TITLES } from "./expected_titles.js";
import { runSuite } from "../../host/kunit/runner.js";
import { KUNIT_SUITES } from "../../host/kunit/suites.js";
import { boot } from "../helpers.js";
import { guestBytes, haveToolchain } from "../guest/build.js";
import { decodeTape } from "../../host/fuzz/tape.js";
import { replay } from "../../host/fuzz/exec.js";
import { moduleInitName } from "../../host/stackdepot.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [`${root}/dist/host/cli.js`, ...args], { encoding: "utf8", cwd: root });
const SW_TAGS = "arch=arm64 kasan.mode=sw_tags";

/** What every source must satisfy; returns the parsed reports. */
function expectClean(log: string, what: string, opts: { kernelNames?: boolean } = {}): ParsedReport[] {
  const reps = parseLog(log);
  expect(reps.filter((r) => r.corrupted).map((r) => `${r.title}: ${r.corrupted}`), `${what}: corrupted reports`).toEqual([]);
  expect(reps.filter((r) => r.unknownFormat).map((r) => r.title), `${what}: reports of no known kind`).toEqual([]);
  expect(symbolProblems(log), `${what}: %pS`).toEqual([]);
  if (opts.kernelNames !== false) {
    expect(reps.flatMap((r) => foreignFrames(r.text)), `${what}: frames no kernel has`).toEqual([]);
  }
  return reps;
}

describe("the rules themselves", () => {
  const kasan = (stack: string) => [
    "==================================================================",
    "BUG: KASAN: slab-out-of-bounds in kmalloc_oob_right+0x2c5/0x340",
    "Write of size 1 at addr ffff888003b4e378 by task kunit_try_catch/97",
    "",
    "CPU: 0 PID: 97 Comm: kunit_try_catch Tainted: G    B            N 6.6.0 #1",
    stack,
    "==================================================================",
  ].join("\n");

  it("title: the first frame not skipped (the BUG line's function, else the Call Trace's)", () => {
    const trace = "Call Trace:\n <TASK>\n dump_stack_lvl+0x4d/0x70\n kasan_report+0xd7/0x110\n kmalloc_oob_right+0x2c5/0x340\n" +
      " kunit_try_run_case+0x1b0/0x490\n </TASK>";
    expect(parseLog(kasan(trace))).toMatchObject([{ title: "KASAN: slab-out-of-bounds Write in kunit_try_run_case", corrupted: undefined }]);
    const own = kasan(trace).replace(/kmalloc_oob_right/g, "write_past_object_end");
    expect(parseLog(own)[0].title).toBe("KASAN: slab-out-of-bounds Write in write_past_object_end");
  });

  it("corrupted: a fault's KFENCE report without a Call Trace; a Call Trace without frames", () => {
    // mm/kfence/report.c's footer when pointers are hashed: dump_stack_print_info() only
    const kfence = ["BUG: KFENCE: use-after-free read in test_use_after_free_read+0xb3/0x143", "",
      "Use-after-free read at 0x000000004f7f1e8a (in kfence-#79):", " test_use_after_free_read+0xb3/0x143",
      " kunit_try_run_case+0x51/0x90", "", "kfence-#79: 0x00000000d3ad8e1b-0x00000000a9d2d0d8, size=32, cache=kmalloc-32", "",
      "allocated by task 95 on cpu 0 at 1.013240s (0.000000s ago):", " test_alloc+0xf0/0x6b0", "",
      "CPU: 0 UID: 0 PID: 95 Comm: kunit_try_catch Tainted: G    B            N 6.12.0 #1",
      "Hardware name: QEMU Standard PC (i440FX + PIIX, 1996)"].join("\n");
    expect(parseLog(kfence)).toMatchObject([{ title: "KFENCE: use-after-free read in test_use_after_free_read", corrupted: "no stack trace in report" }]);
    const regs = kfence + "\nRIP: 0010:test_use_after_free_read+0xb3/0x143\nCall Trace:\n <TASK>\n kunit_try_run_case+0x51/0x90\n </TASK>";
    expect(parseLog(regs)[0].corrupted).toBeUndefined();
    expect(parseLog(kasan("Call Trace:\n <TASK>\n </TASK>\n\n"))[0].corrupted).toBe("no frames in a stack trace");
  });

  it("symbols: an offset past the size, two sizes for one function", () => {
    expect(symbolProblems(" demo_global_array+0xd/0xa [shadowfence_demo]")).toEqual(["offset past the end of the symbol: demo_global_array+0xd/0xa [shadowfence_demo]"]);
    expect(symbolProblems(" f+0x1/0x10\n f+0x2/0x20")).toEqual(["f has 2 sizes: 0x10, 0x20"]);
    expect(foreignFrames(" expectOob+0x1f/0x285\n kmalloc_oob_right+0x2c5/0x340\n kasan_bitops_modify.constprop.0+0x1/0x2")).toEqual(["expectOob"]);
  });
});

describe("shadowfence demo", () => {
  for (const [arch, cmdline] of [["x86_64", ""], ["arm64", SW_TAGS]] as const) {
    it(`${arch}: every report parses, with the expected title`, () => {
      const r = cli("demo", ...(cmdline ? ["--cmdline", cmdline] : []));
      expect(r.status).toBe(0);
      const reps = expectClean(r.stdout, `demo ${arch}`);
      expect(reps.map((x) => x.title)).toEqual(EXPECTED_DEMO_TITLES[arch]);
    });
  }
});

describe("KUnit suites with --reports", () => {
  const runs = [["kasan", ""], ["kasan", SW_TAGS], ["kfence", ""], ["kfence", SW_TAGS], ["vmalloc", ""], ["vmalloc", SW_TAGS]] as const;
  for (const [name, cmdline] of runs) {
    const key = `${name}${cmdline ? " sw_tags" : ""}`;
    it(`${key}: every report parses with the expected title, inside its subtest`, async () => {
      const suite = await KUNIT_SUITES[name]();
      const { ktap, results } = runSuite(suite, { cmdline }, undefined, {}, { reports: true });
      expectClean(ktap, key);
      // the case's own reports, each parsed alone, against the table
      const got: Record<string, string[]> = {};
      for (const c of results) {
        const titles = c.reports.flatMap((rep) => parseLog(rep.text).map((p) => p.title));
        if (titles.length) got[c.name] = titles;
      }
      expect(got).toEqual(EXPECTED_KUNIT_TITLES[key]);
      // and in the console: between the previous case's verdict and this case's "ok N"
      const lines = ktap.split("\n");
      results.forEach((c, i) => {
        const okAt = lines.findIndex((l) => new RegExp(`^    (?:not )?ok ${i + 1} ${c.name}(?: |$)`).test(l));
        const prevAt = i === 0 ? lines.findIndex((l) => /^    1\.\.\d+$/.test(l)) : lines.findIndex((l) => new RegExp(`^    (?:not )?ok ${i} `).test(l));
        expect(okAt, c.name).toBeGreaterThan(prevAt);
        const between = lines.slice(prevAt + 1, okAt).join("\n");
        expect(parseLog(between).map((p) => p.title), c.name).toEqual(got[c.name] ?? []);
      });
    }, 120_000);
  }
});

describe.skipIf(!haveToolchain())("guests", () => {
  const EXAMPLES: Record<string, string[]> = {
    clean: [],
    double_free: ["KASAN: invalid-free in release_buffer"],
    global_overflow: ["KASAN: global-out-of-bounds Read in bump"],
    heap_overflow: ["KASAN: slab-out-of-bounds Write in fill_name"],
    heap_underflow: ["KASAN: slab-out-of-bounds Read in sum_window"],
    invalid_free: ["KASAN: invalid-free in drop_tail"],
    stack_overflow: ["KASAN: stack-out-of-bounds Write in parse_tag"],
    use_after_free: ["KASAN: slab-use-after-free Read in report_session"],
    wordfreq: Array(4).fill("KASAN: slab-out-of-bounds Write in long_word_copy"),
  };

  it("examples/: each guest's reports parse, titled by its own function", () => {
    const names = readdirSync(path.join(root, "examples")).filter((f) => f.endsWith(".c")).map((f) => f.slice(0, -2)).sort();
    expect(names).toEqual(Object.keys(EXAMPLES).sort());
    for (const name of names) {
      const r = boot({ cmdline: "kasan_multi_shot" }).runGuest(guestBytes({ src: `examples/${name}.c` }), { name, args: [] });
      const reps = expectClean(r.reports.map((x) => x.text).join("\n"), name, { kernelNames: false });
      expect(reps.map((x) => x.title), name).toEqual(EXAMPLES[name]);
    }
  }, 120_000);

  it("a guest's KFENCE fault with no_hash_pointers parses; hashed, it has no trace, as the kernel's", () => {
    const src = { src: "test/guest/c/kfence.c" };
    for (const [cmdline, corrupted] of [["no_hash_pointers", undefined], ["", "no stack trace in report"]] as const) {
      const e = boot({ cmdline: `kfence.sample_interval=1 kasan_multi_shot ${cmdline}` });
      e.tick(10);
      const r = e.runGuest(guestBytes(src), { name: "kfence" });
      const faults = parseLog(r.reports.map((x) => x.text).join("\n")).filter((p) => p.title.startsWith("KFENCE:"));
      expect(faults.map((f) => f.title), cmdline || "hashed").toEqual(["KFENCE: out-of-bounds write in scribble"]);
      for (const f of faults) expect(f.corrupted, f.title).toBe(corrupted);
    }
  });
});

describe("fuzz reproducers", () => {
  it("replays of every reproducer parse (generic KASAN; KFENCE alone with no_hash_pointers)", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sf-syz-"));
    try {
      let total = 0;
      const titles = new Set<string>();
      const configs = [
        ["", "3", "oob=1e-4,underflow=1e-4,uaf=1e-4,double-free=5e-5,invalid-free=5e-5"],
        ["kasan=off kfence.sample_interval=1 no_hash_pointers", "5", "oob=1e-3,underflow=1e-3,uaf=1e-3,double-free=1e-4,invalid-free=1e-4"],
      ] as const;
      for (const [cmdline, seed, plant] of configs) {
        const out = path.join(dir, seed);
        const f = cli("fuzz", "--ops", "300000", "--workers", "1", "--seed", seed, "--profile", "mixed", "--out", out,
          "--no-progress", "--no-minimise", "--plant", plant, ...(cmdline ? ["--cmdline", cmdline] : []));
        expect(f.status, f.stderr).toBe(0);
        const tapes = readdirSync(out).filter((t) => t.endsWith(".tape"));
        expect(tapes.length).toBeGreaterThan(3);
        for (const t of tapes) {
          const rep = replay(decodeTape(readFileSync(path.join(out, t)), t), { cmdline });
          const log = rep.reports.map((x) => x.text).join("\n");
          const reps = parseLog(log);
          expect(reps.filter((x) => x.corrupted).map((x) => x.title), t).toEqual([]);
          // SLUB's object_err() line has no syzkaller format: its first line is the title, as for the kernel's
          expect(reps.filter((x) => x.unknownFormat && !/^BUG kmalloc-\d+ .*: Freechain corrupt$/.test(x.title)).map((x) => x.title), t).toEqual([]);
          expect(reps.every((x) => /^(KASAN|KFENCE|BUG|WARNING|kernel BUG)/.test(x.title)), t).toBe(true);
          expect(symbolProblems(log), t).toEqual([]);
          total += reps.length;
          for (const x of reps) titles.add(x.title.split(" in ")[0]);
        }
      }
      expect(total).toBeGreaterThan(1000);
      // KASAN's, KFENCE's faults and corruption, and the oopses all took part
      expect([...titles]).toEqual(expect.arrayContaining(["KASAN: slab-out-of-bounds Write", "KASAN: slab-use-after-free Read",
        "KASAN: invalid-free", "KASAN: vmalloc-out-of-bounds Read", "BUG: unable to handle kernel paging request",
        "KFENCE: out-of-bounds write", "KFENCE: use-after-free write", "KFENCE: memory corruption"]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe("a script calling the API from its top level", () => {
  it("the name scheme: the file's base name as a C identifier, plus _init", () => {
    expect(moduleInitName("/home/me/my-test.mjs")).toBe("my_test_init");
    expect(moduleInitName("file:///srv/9lives.cjs")).toBe("_9lives_init");
    expect(moduleInitName("[eval1]")).toBe("eval1_init");   // node -e
    expect(moduleInitName("C:\\work\\probe.js")).toBe("probe_init");
  });

  it("gets its file's name as its function (my-test.mjs -> my_test_init)", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sf-anon-"));
    try {
      const file = path.join(dir, "my-test.mjs");
      writeFileSync(file, [
        `import { createEngine } from ${JSON.stringify(path.join(root, "dist/host/index.js"))};`,
        `const e = await createEngine({ cmdline: "kasan_multi_shot" });`,
        `const p = e.kmalloc(115);`,
        `e.store(p + 120n, 1, 0x78);`,
        `[0].forEach(() => e.load(p + 116n, 1));   // an anonymous callback: the closure is not a frame`,
        `for (const r of e.takeReports()) console.log(r.text + "\\n");`,
      ].join("\n"));
      const r = spawnSync(process.execPath, [file], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      const reps = expectClean(r.stdout, "script");
      expect(reps.map((x) => x.title)).toEqual(["KASAN: slab-out-of-bounds Write in my_test_init", "KASAN: slab-out-of-bounds Read in my_test_init"]);
      expect(r.stdout).toMatch(/^BUG: KASAN: slab-out-of-bounds in my_test_init\+0x[0-9a-f]+\/0x[0-9a-f]+$/m);
      expect(r.stdout).not.toContain(" in 0x0");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
