// Guests on other CPUs (issue 14): engine.cpu(n).runGuest runs a C guest as a
// task on CPU n. Its reports name CPU n, its objects come from CPU n's slabs,
// CPU n's thread keeps working after it, and what cannot be done while a guest
// holds the kernel lock is a one-line error, not a hang.
import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { guestBytes, guestWasm, haveToolchain } from "../guest/build.js";
import { smpBoot, NO_PFN, KMALLOC_64, cpuSlab } from "./engines.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

const boot = smpBoot();
const KASAN = "kasan=on nr_cpus=2 kfence.sample_interval=0";
const lineOf = (text: string, re: RegExp) => text.split("\n").find((l) => re.test(l));
/** A report's lines with the heap addresses and the CPU line's CPU number masked: what must not depend on the CPU. */
const masked = (text: string) => text.split("\n").map((l) => l.replace(/ffff[0-9a-f]{12}/g, "ADDR").replace(/^CPU: \d+ /, "CPU: N "));

describe.skipIf(!haveToolchain())("engine.cpu(n).runGuest", () => {
  it("runs the guest as a task on CPU 1: the report's CPU line says 1, and the rest reads as on CPU 0", () => {
    const uaf = guestBytes({ src: "examples/use_after_free.c" });
    const on0 = boot(KASAN).runGuest(uaf, { name: "uaf" });
    const e = boot(`${KASAN} kasan_multi_shot`);
    const c1 = e.cpu(1);
    c1.setTask({ pid: 40, comm: "before" });
    const cpu0Task = e.current;
    const on1 = c1.runGuest(uaf, { name: "uaf" });
    expect([on1.status, on1.exitCode, on1.stdout]).toEqual([on0.status, on0.exitCode, on0.stdout]);
    expect(on1.reports.map((r) => r.title)).toEqual(on0.reports.map((r) => r.title));
    expect(on1.reports).toHaveLength(1);
    const text = on1.reports[0].text;
    expect(text.split("\n")[1]).toMatch(/^BUG: KASAN: slab-use-after-free in report_session\+/);
    expect(text.split("\n")[2]).toMatch(/^Read of size 4 at addr ffff888[0-9a-f]+ by task uaf\/100$/);
    expect(lineOf(text, /^CPU: /)).toMatch(/^CPU: 1 UID: 0 PID: 100 Comm: uaf /);
    expect(lineOf(on0.reports[0].text, /^CPU: /)).toMatch(/^CPU: 0 UID: 0 PID: 100 Comm: uaf /);
    expect(masked(text)).toEqual(masked(on0.reports[0].text));
    expect(on1.selfCheck).toEqual([]);
    // CPU 1's task is its own again, and CPU 1's thread goes on where it was
    expect(c1.current).toEqual({ pid: 40, comm: "before", cpu: 1 });
    expect(e.current).toEqual(cpu0Task);
    expect(e.takeReports().map((x) => x.text)).toEqual([text]);
    const p = c1.kmalloc(24);
    c1.kfree(p);
    e.load(p, 4);
    const [r] = e.takeReports();
    expect(r.text.split("\n")).toContain("Freed by task 40:");
    expect(e.selfCheck()).toEqual([]);
  });

  it("every example gives on CPU 1 what it gives on CPU 0: status, output, and each report line by line", () => {
    const examples: Array<[string, string[]]> = [["clean", []], ["heap_overflow", []], ["heap_underflow", []], ["use_after_free", []],
      ["double_free", []], ["invalid_free", []], ["stack_overflow", []], ["global_overflow", []], ["wordfreq", ["--sample", "-n", "3"]]];
    // what may differ between the CPUs: the CPU line's number, and where CPU 1's slabs and stacks are
    const mask = (text: string) => masked(text).map((l) => l.replace(/pfn:0x[0-9a-f]+/, "pfn:N").replace(/^raw: .*/, "raw: ..."));
    let compared = 0;
    for (const [name, args] of examples) {
      const bytes = guestBytes({ src: `examples/${name}.c` });
      const on0 = boot(KASAN).runGuest(bytes, { name, args });
      const e = boot(KASAN);
      const on1 = e.cpu(1).runGuest(bytes, { name, args });
      expect([name, on1.status, on1.exitCode, on1.stdout, on1.stderr]).toEqual([name, on0.status, on0.exitCode, on0.stdout, on0.stderr]);
      expect(on1.reports.length, name).toBe(on0.reports.length);
      on1.reports.forEach((r, i) => {
        expect(lineOf(r.text, /^CPU: /) ?? "CPU: 1 (no CPU line)", name).toMatch(/^CPU: 1 /);
        expect(mask(r.text), name).toEqual(mask(on0.reports[i].text));
        compared++;
      });
      expect(on1.selfCheck, name).toEqual([]);
    }
    expect(compared).toBeGreaterThanOrEqual(7);       // every buggy example reports
  });

  it("takes the guest's objects from CPU 1's cpu slab", () => {
    const e = boot("kasan=off nr_cpus=2 kfence.sample_interval=0");
    const c1 = e.cpu(1);
    const id = e.exports.kmalloc_cache_id(KMALLOC_64);
    const cpu0Slab = cpuSlab(e, id, 0);
    expect(cpuSlab(e, id, 1)).toBe(NO_PFN);            // CPU 1 has not allocated yet
    const before = e.stats().slab.allocs;
    const r = c1.runGuest(guestBytes({ src: "examples/clean.c" }), { name: "clean" });
    expect([r.status, r.exitCode, r.stdout, r.reports]).toEqual(["exit", 0, "shadowfence guest:9 19\n", []]);
    expect(e.stats().slab.allocs - before).toBeGreaterThanOrEqual(3);
    // malloc(40) came from kmalloc-64 on CPU 1: CPU 1 now has a cpu slab there, CPU 0's is the one it had
    expect(cpuSlab(e, id, 1)).not.toBe(NO_PFN);
    expect(cpuSlab(e, id, 0)).toBe(cpu0Slab);
    expect(r.selfCheck).toEqual([]);
  });

  it("refuses what would wait for the guest's kernel lock, in one line", async () => {
    const e = boot(KASAN);
    const c1 = e.cpu(1);
    const bytes = guestBytes({ src: "test/guest/c/exit_code.c" });
    const seen: string[] = [];
    // the guest's first write to stdout runs `what` (inside the run, which holds the kernel lock)
    const stdout = (what: () => unknown) => {
      let done = false;
      return () => {
        if (done) return;
        done = true;
        try { what(); seen.push("ran"); } catch (err) { seen.push((err as Error).message); }
      };
    };
    // CPU 0's guest: CPU 1's thread would wait for the lock the run holds
    e.runGuest(bytes, { args: ["exit", "0"], stdout: stdout(() => e.cpu(1).kmalloc(8)) });
    // a second guest, on either CPU
    c1.runGuest(bytes, { args: ["exit", "0"], stdout: stdout(() => c1.runGuest(bytes)) });
    e.runGuest(bytes, { args: ["exit", "0"], stdout: stdout(() => c1.runGuest(bytes)) });
    // ... but calls on the guest's own CPU run (inside a CPU 1 call the engine is CPU 1)
    c1.runGuest(bytes, { args: ["exit", "0"], stdout: stdout(() => c1.kfree(c1.kmalloc(8))) });
    c1.runGuest(bytes, { args: ["exit", "0"], stdout: stdout(() => e.kfree(e.kmalloc(8))) });
    expect(seen).toEqual([
      "CPU 1 cannot take calls while a guest runs on CPU 0 (its run holds the kernel lock)",
      "runGuest: a guest is running on CPU 1 (one guest at a time)",
      "CPU 1 cannot take calls while a guest runs on CPU 0 (its run holds the kernel lock)",
      "ran",
      "ran",
    ]);
    let jobs: Promise<unknown> | undefined;
    c1.runGuest(bytes, { args: ["exit", "0"], stdout: () => { jobs ??= e.onCpus([{ cpu: 0, churn: { seed: 1, ops: 10 } }]); } });
    await expect(jobs).rejects.toThrow("onCpus: a guest is running on CPU 1; its run holds the kernel lock");
    // a CPU with a job running takes no guest
    const job = e.onCpus([{ cpu: 1, churn: { seed: 1, ops: 200000 } }]);
    await new Promise((r) => setTimeout(r, 0));          // onCpus has handed the job to CPU 1 (its reply comes in a later turn)
    expect(() => c1.runGuest(bytes)).toThrow("runGuest: CPU 1 is busy running a job");
    await job;
    expect(c1.runGuest(bytes, { args: ["7"] })).toMatchObject({ status: "exit", exitCode: 7 });
    expect(e.selfCheck()).toEqual([]);
  });

  it("shadowfence run --cpu N runs the guest on CPU N; a CPU the machine lacks is a one-line error", () => {
    const cli = (...args: string[]) => spawnSync(process.execPath, [`${root}/dist/host/cli.js`, ...args], { encoding: "utf8", cwd: root });
    const prog = guestWasm({ src: "examples/use_after_free.c" });
    const r = cli("run", "--cmdline", "nr_cpus=4", "--cpu", "3", prog);
    expect([r.status, r.stdout]).toEqual([0, "refs=0\n"]);
    expect(r.stderr.split("\n")[1]).toMatch(/^BUG: KASAN: slab-use-after-free in report_session\+/);
    expect(lineOf(r.stderr, /^CPU: /)).toMatch(/^CPU: 3 UID: 0 PID: 100 Comm: use_after_free /);
    const bad = (args: string[], want: string) => {
      const x = cli("run", ...args, prog);
      expect([x.status, x.stdout, x.stderr]).toEqual([2, "", `shadowfence: ${want}\n`]);
    };
    bad(["--cmdline", "nr_cpus=2", "--cpu", "2"], "--cpu: CPU 2 does not exist: this machine has CPUs 0-1 (nr_cpus=2)");
    bad(["--cmdline", "nr_cpus=1", "--cpu", "1"], "--cpu: CPU 1 does not exist: this machine has CPU 0 only (nr_cpus=1)");
    bad(["--cpu", "-1"], '--cpu: expected a CPU number (0 to nr_cpus-1), got "-1"');
    bad(["--cpu", "one"], '--cpu: expected a CPU number (0 to nr_cpus-1), got "one"');
  });
});
