// The shadowfence command as a user runs it: the demo's reports in both KASAN
// modes, KUnit suites as KTAP with the exit status CI relies on, and clear
// errors for bad input.
import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [`${root}/dist/host/cli.js`, ...args], { encoding: "utf8", cwd: root });
const titles = (out: string) => out.split("\n").filter((l) => /^BUG: |^Unable to handle|^BUG kmalloc/.test(l))
  .map((l) => l.replace(/\+0x[0-9a-f]+\/0x[0-9a-f]+/, "+0x?/0x?").replace(/address: [0-9a-f]+/, "address: ?"));

describe("shadowfence command", () => {
  it("demo: generic KASAN and KFENCE reports, an oops, in order", () => {
    const r = cli("demo");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^\[ *[0-9.]+\] kasan: KernelAddressSanitizer initialized$/m);
    // booted with no_hash_pointers: lib/vsprintf.c's notice follows the Memory: line
    const boot = r.stdout.split("\n").map((l) => l.replace(/^\[ *[0-9.]+\] /, ""));
    const at = boot.findIndex((l) => l.startsWith("Memory: "));
    expect(boot.slice(at + 1, at + 5)).toEqual(["*".repeat(58), "**   NOTICE NOTICE NOTICE NOTICE NOTICE NOTICE NOTICE   **",
      "**" + " ".repeat(54) + "**", "** This system shows unhashed kernel memory addresses   **"]);
    expect(boot[at + 13]).toBe("*".repeat(58));
    expect(titles(r.stdout)).toEqual([
      "BUG: KASAN: slab-out-of-bounds in write_past_object_end+0x?/0x?",
      "BUG: KASAN: slab-use-after-free in use_after_free_read+0x?/0x?",
      "BUG: KASAN: double-free in double_free+0x?/0x?",
      "BUG: KASAN: global-out-of-bounds in global_out_of_bounds+0x?/0x?",
      "BUG: KASAN: stack-out-of-bounds in stack_out_of_bounds+0x?/0x?",
      "BUG: KASAN: vmalloc-out-of-bounds in write_past_vmap_area_end+0x?/0x?",
      "BUG: KASAN: null-ptr-deref in read_field_of_null+0x?/0x?",
      "BUG: kernel NULL pointer dereference, address: ?",
      "BUG: KFENCE: out-of-bounds read in kfence_out_of_bounds_read+0x?/0x?",
      "BUG: KFENCE: use-after-free read in kfence_use_after_free_read+0x?/0x?",
      "BUG: KFENCE: memory corruption in kfence_memory_corruption+0x?/0x?",
      "BUG: KASAN: slab-use-after-free in use_after_free_across_cpus+0x?/0x?",
    ]);
    expect(r.stdout).not.toContain("(no report");
    // the last case runs on two CPUs: CPU 0 reads what CPU 1's kworker freed
    const across = r.stdout.slice(r.stdout.indexOf("BUG: KASAN: slab-use-after-free in use_after_free_across_cpus"));
    expect(across).toMatch(/^CPU: 0 UID: 0 PID: 1 Comm: swapper\/0 /m);
    expect(across).toMatch(/^Freed by task 41:\n(?: \S+\n)*? kfree\+0x[0-9a-f]+\/0x[0-9a-f]+\n release_on_other_cpu\+0x[0-9a-f]+\/0x[0-9a-f]+\n process_one_work\+/m);
    expect(across).toMatch(/^Last potentially related work creation:\n/m);
    const single = cli("demo", "--cmdline", "nr_cpus=1");
    expect(titles(single.stdout).at(-1)).toBe("BUG: KFENCE: memory corruption in kfence_memory_corruption+0x?/0x?");
  });

  it("demo on arm64 with sw_tags: tag-based reports, and says what tags cannot see", () => {
    const r = cli("demo", "--cmdline", "arch=arm64 kasan.mode=sw_tags");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("kasan: KernelAddressSanitizer initialized (sw-tags, stacktrace=on)");
    expect(r.stdout).toMatch(/^Pointer tag: \[[0-9a-f]{2}\], memory tag: \[fe\]$/m);
    // kmalloc(115) + 120 stays inside the object's last 16-byte granule; globals are generic-only
    expect(r.stdout.match(/^\(no report: this configuration does not detect it\)$/gm)?.length).toBe(2);
    expect(titles(r.stdout)).toContain("BUG: KASAN: slab-use-after-free in use_after_free_read+0x?/0x?");
  });

  it("kunit: KTAP on stdout, exit status 0 when every case passes or skips", () => {
    const r = cli("kunit", "kasan", "kmalloc_oob_right", "kmalloc_oob_16");
    expect(r.status).toBe(0);
    expect(r.stdout.split("\n")).toEqual(expect.arrayContaining([
      "KTAP version 1", "    # Subtest: kasan", "    1..2", "    ok 1 kmalloc_oob_right", "    ok 2 kmalloc_oob_16", "ok 1 kasan",
    ]));
    const tags = cli("kunit", "kasan", "kmalloc_oob_16", "--cmdline", "arch=arm64 kasan.mode=sw_tags");
    expect(tags.stdout).toContain("    ok 1 kmalloc_oob_16 # SKIP Test requires CONFIG_KASAN_GENERIC=y");
  });

  it("kunit --reports: each report inside its subtest, before the case's ok line", () => {
    const r = cli("kunit", "kfence", "test_double_free", "test_invalid_access", "--reports");
    expect(r.status).toBe(0);
    const l = r.stdout.split("\n");
    const bugs = l.flatMap((x, i) => (x.startsWith("BUG: KFENCE: ") ? [i] : []));
    const ok1 = l.indexOf("    ok 1 test_double_free"), ok2 = l.indexOf("    ok 2 test_invalid_access");
    expect(bugs.length).toBe(2);
    expect(l.indexOf("    1..2")).toBeLessThan(bugs[0]);
    expect(bugs[0]).toBeLessThan(ok1);
    expect(l[bugs[0]]).toMatch(/^BUG: KFENCE: invalid free in test_double_free\+/);
    expect([ok1 < bugs[1], bugs[1] < ok2]).toEqual([true, true]);
    // the suite boots with no_hash_pointers: the fault ends in show_regs()
    const tail = l.slice(bugs[1], ok2);
    expect(tail).toEqual(expect.arrayContaining([expect.stringMatching(/^RIP: 0010:test_invalid_access\+/), "Call Trace:"]));
    // kunit_info() lines and reports in the order they happened
    const c = cli("kunit", "kfence", "test_corruption", "--reports").stdout.split("\n");
    const order = c.filter((x) => /^    # test_corruption: test_alloc: |^BUG: KFENCE: |^    ok 1 /.test(x)).map((x) => x.replace(/\+0x.*| cache=0$/, ""));
    expect(order).toEqual([
      "    # test_corruption: test_alloc: size=32, gfp=cc0, policy=left,", "BUG: KFENCE: memory corruption in test_corruption",
      "    # test_corruption: test_alloc: size=32, gfp=cc0, policy=right,", "BUG: KFENCE: memory corruption in test_corruption",
      "    ok 1 test_corruption"]);
  });

  it("bad input: a clear message and exit status 2", () => {
    const suite = cli("kunit", "nosuch");
    expect(suite.status).toBe(2);
    expect(suite.stderr).toMatch(/^shadowfence: unknown KUnit suite "nosuch": expected one of kasan, kfence, vmalloc/);
    const kcase = cli("kunit", "kasan", "no_such_case");
    expect(kcase.status).toBe(2);
    expect(kcase.stderr).toContain('suite kasan has no case "no_such_case"');
    const param = cli("demo", "--cmdline", "kasan.mode=sw_tags");
    expect(param.status).toBe(2);
    expect(param.stderr).toContain("kasan.mode=sw_tags needs arch=arm64");
    const bench = cli("bench", "nope");
    expect(bench.status).toBe(2);
    expect(bench.stderr).toMatch(/unknown benchmark "nope": expected one of/);
  });

  it("npm run bench -- <suite> --loops N: the option reaches the suite", () => {
    const run = (...args: string[]) => spawnSync(process.execPath, [`${root}/dist/bench/index.js`, ...args], { encoding: "utf8", cwd: root });
    const r = run("vmalloc", "--loops", "20");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^fix_size_alloc_test +20 /m);
    expect(r.stdout).toContain("Summary: random_size_alloc_test passed: 3 failed: 0 repeat: 3 loops: 20");
    const bad = run("vmalloc", "--loops", "0");
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain("argument '0' is invalid");
    const unknown = run("nope");
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/^unknown suite "nope": expected one of tlb, kasan/);
    const cpus = run("kasan", "--cpus", "2");
    expect(cpus.status).toBe(2);
    expect(cpus.stderr).toBe("--cpus applies to vmalloc only, not kasan\n");
  });

  it("shadowfence bench vmalloc --cpus 2: every test on both CPUs at once, the Sequential, 2 cpus table", () => {
    const r = cli("bench", "vmalloc", "--cpus", "2", "--loops", "20");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("vmalloc: lib/test_vmalloc.c, Sequential, 2 cpus (every test on all CPUs at once), ms per test (median of 3), ram=512 nr_cpus=2 ");
    expect(r.stdout).toMatch(/^test +loops +baseline ms +KASAN ms +x baseline +KASAN\+vmalloc ms +x baseline +x KASAN +shadow pages\/MiB$/m);
    expect(r.stdout).toMatch(/^fix_size_alloc_test +20 /m);
    // both CPUs' runs of every repeat are counted, as the module's summary counts each thread's
    expect(r.stdout).toContain("Summary: random_size_alloc_test passed: 6 failed: 0 repeat: 3 loops: 20 threads: 2");
    expect(r.stdout).toContain("Summary: align_shift_alloc_test passed: 0 failed: 6 repeat: 3 loops: - threads: 2 (expected to fail, as in the kernel)");
    expect(r.stdout).toContain("Summary: pcpu_alloc_test passed: 6 failed: 0 repeat: 3 loops: - threads: 2");
  }, 120_000);
});
