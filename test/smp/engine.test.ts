// The engine on several CPUs (issue 14): engine.cpu(n) runs the kernel methods
// on CPU n's thread, engine.onCpus runs in-kernel jobs on several CPUs at
// once; reports name the CPU and task that did it; bad input names the range.
import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";
import { Engine, EnginePanicError } from "../../host/engine.js";
import { parkedCpuThreads } from "../../host/smp/cpus.js";
import { compileCore } from "../../host/instance.js";
import { Generator } from "../../host/fuzz/generator.js";
import { TapeExecutor } from "../../host/fuzz/exec.js";
import { smpBoot } from "./engines.js";

const boot = smpBoot();
const KASAN = "kasan=on nr_cpus=2 kfence.sample_interval=0";
const root = fileURLToPath(new URL("../..", import.meta.url));
const line = (text: string, re: RegExp) => text.split("\n").find((l) => re.test(l));

describe("engine.cpu(n)", () => {
  it("a use-after-free on CPU 0 of an object CPU 1's task allocated and freed names both tasks", () => {
    const e = boot(KASAN);
    const c1 = e.cpu(1);
    expect(c1.thisCpu).toBe(1);
    expect(c1.current).toEqual({ pid: 0, comm: "swapper/1", cpu: 1 });
    c1.setTask({ pid: 77, comm: "worker1" });
    e.setTask({ pid: 55, comm: "main0" });
    const p = c1.kmalloc(64);
    c1.kfree(p);
    expect(c1.takeReports()).toEqual([]);
    e.load(p, 1);
    const [r] = e.takeReports();
    expect(r.kind).toBe("kasan");
    const lines = r.text.split("\n");
    expect(lines[1]).toMatch(/^BUG: KASAN: slab-use-after-free in /);
    expect(lines[2]).toBe(`Read of size 1 at addr ${p.toString(16)} by task main0/55`);
    expect(line(r.text, /^CPU: /)).toMatch(/^CPU: 0 UID: 0 PID: 55 Comm: main0 /);
    expect(lines).toContain("Allocated by task 77:");
    expect(lines).toContain("Freed by task 77:");
    // the free track is CPU 1's call: kfree, then this test's function
    const freed = lines.slice(lines.indexOf("Freed by task 77:"));
    expect(freed.find((l) => l.startsWith(" kfree+"))).toBeDefined();
    expect(e.selfCheck()).toEqual([]);
  });

  it("the reverse: CPU 1 reads what CPU 0 freed; its report says CPU: 1 and its task", () => {
    const e = boot(KASAN);
    const c1 = e.cpu(1);
    c1.setTask({ pid: 91, comm: "reader" });
    const p = e.kmalloc(40);
    e.kfree(p);
    c1.store(p + 8n, 4, 7);
    const reports = c1.takeReports();
    expect(reports).toHaveLength(1);
    const text = reports[0].text;
    expect(line(text, /^Write of size/)).toBe(`Write of size 4 at addr ${(p + 8n).toString(16)} by task reader/91`);
    expect(line(text, /^CPU: /)).toMatch(/^CPU: 1 UID: 0 PID: 91 Comm: reader /);
    expect(text).toContain("Freed by task 1:");
  });

  it("KFENCE's report says on which CPU the object was allocated and freed", () => {
    const e = boot("kasan=off nr_cpus=2 kfence.sample_interval=1");
    const c1 = e.cpu(1);
    c1.setTask({ pid: 300, comm: "kf1" });
    let p = 0n;
    for (let i = 0; i < 200 && !p; i++) {
      e.tick(2);
      const q = c1.kmalloc(32);
      if (e.kfence.isKfenceAddress(q)) p = q;
      else c1.kfree(q);
    }
    expect(p, "a KFENCE allocation on CPU 1").not.toBe(0n);
    c1.kfree(p);
    e.load(p, 1);
    const [r] = e.takeReports();
    expect(r.text).toMatch(/^BUG: KFENCE: use-after-free read in /m);
    expect(r.text).toMatch(/^allocated by task 300 on cpu 1 at /m);
    expect(r.text).toMatch(/^freed by task 300 on cpu 1 at /m);
    expect(line(r.text, /^CPU: /)).toMatch(/^CPU: 0 UID: 0 PID: 1 /);
  });

  it("a panic on CPU 1 panics the machine: CPU 0's next call is refused", () => {
    const e = boot("kasan=on kasan.fault=panic nr_cpus=2 kfence.sample_interval=0");
    const c1 = e.cpu(1);
    const p = c1.kmalloc(16);
    c1.kfree(p);
    c1.load(p, 1);
    const rs = e.takeReports();
    expect(rs.map((r) => r.kind)).toEqual(["kasan", "panic"]);
    expect(line(rs[0].text, /^CPU: /)).toMatch(/^CPU: 1 /);
    expect(rs[1].text.split("\n")[0]).toBe("Kernel panic - not syncing: kasan.fault=panic set ...");
    expect(() => e.kmalloc(8)).toThrow(EnginePanicError);
    expect(() => c1.kmalloc(8)).toThrow(EnginePanicError);
  });

  it("stopCpus lets a running job end, then refuses CPU 1; CPU 0 goes on", async () => {
    const e = boot(KASAN);
    e.cpu(1).kmalloc(8);                            // CPU 1's thread runs
    const job = e.onCpus([{ cpu: 1, churn: { seed: 5, ops: 200_000 } }]);
    await new Promise((r) => setTimeout(r, 0));     // the job is posted
    const stopped = e.stopCpus();
    expect(await job).toEqual([{ cpu: 1, rc: 0 }]);
    await stopped;
    expect(() => e.cpu(1).kmalloc(8)).toThrow("the CPU threads were stopped");
    expect(() => e.cpu(1).runGuest(new Uint8Array(8))).toThrow("the CPU threads were stopped");
    const p = e.kmalloc(8);
    e.kfree(p);
    expect(e.selfCheck()).toEqual([]);
  });

  it("a script that awaits stopCpus right after a call on CPU 1 goes on to its end (the thread's late start message kept it from exiting early)", () => {
    // its own process: nothing else may keep the event loop alive while stopCpus() waits for the thread to end
    const script = `
      const { Engine } = await import(${JSON.stringify(pathToFileURL(path.join(root, "dist/host/engine.js")).href)});
      for (let i = 0; i < 2; i++) {
        const e = Engine.createSync({ cmdline: "nr_cpus=2" });
        const p = e.cpu(1).kmalloc(64);
        e.cpu(1).kfree(p);
        await e.stopCpus();
        console.log("stopped " + i);
      }`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
    expect([r.status, r.stdout, r.stderr]).toEqual([0, "stopped 0\nstopped 1\n", ""]);
  });

  it("a stopped engine's CPU threads serve the next engine: its own memory, its own tasks", async () => {
    const a = boot(`${KASAN} nr_cpus=3`);
    await a.smpInit();
    const pa = a.cpu(2).kmalloc(64);
    await a.stopCpus();
    const idle = parkedCpuThreads();
    expect(idle).toBeGreaterThanOrEqual(2);
    const b = boot(KASAN);
    const c1 = b.cpu(1);                              // takes a parked thread instead of starting one
    expect(parkedCpuThreads()).toBe(idle - 1);
    c1.setTask({ pid: 78, comm: "reused" });
    const p = c1.kmalloc(64);
    c1.kfree(p);
    b.load(p, 1);
    const [r] = b.takeReports();
    expect(r.title).toMatch(/^BUG: KASAN: slab-use-after-free in /);
    expect(r.text.split("\n")).toContain("Freed by task 78:");
    expect(b.selfCheck()).toEqual([]);
    // the first engine still has its own memory (its CPU 0 goes on alone)
    a.kfree(pa);
    expect(a.selfCheck()).toEqual([]);
  });

  it("bad input names the accepted range", async () => {
    const e = boot(KASAN);
    expect(() => e.cpu(2)).toThrow("cpu(): CPU 2 does not exist: this machine has CPUs 0-1 (nr_cpus=2)");
    expect(() => e.cpu(-1)).toThrow("cpu(): CPU -1 does not exist");
    expect(() => e.cpu(1.5)).toThrow("cpu(): CPU 1.5 does not exist");
    expect(() => e.cpu("1" as unknown as number)).toThrow('cpu(): CPU "1" does not exist: this machine has CPUs 0-1 (nr_cpus=2)');
    expect(() => e.cpu(1).setTask({ pid: 5, cpu: 0 })).toThrow("setTask on CPU 1: the task runs on CPU 1, not 0");
    // a guest runs on CPU 1 as on CPU 0 (test/smp/guest.test.ts); a bad module is the same one-line error there
    expect(() => e.cpu(1).runGuest(new Uint8Array(8))).toThrow(/^not a valid guest module: not a WebAssembly module/);
    expect(e.cpu(1).kmalloc(8)).not.toBe(0n);
    expect(e.cpu(0)).toBe(e);
    const one = boot("nr_cpus=1");
    expect(() => one.cpu(1)).toThrow("cpu(): CPU 1 does not exist: this machine has CPU 0 only (nr_cpus=1)");
    for (const bad of ["nr_cpus=9", "nr_cpus=0", "nr_cpus=two"]) {
      expect(() => Engine.createSync({ cmdline: bad })).toThrow(/nr_cpus.*1 to 8|1 to 8.*nr_cpus/);
    }
    const plain = await Engine.create({ cmdline: KASAN }, { module: await compileCore("plain") });
    expect(() => plain.cpu(1)).toThrow("this engine runs one CPU: CPU threads need shared memory");
    expect(plain.dmesg()).toContain("smp: Brought up 1 node, 1 CPU\n");
    expect(e.dmesg()).toMatch(/smpboot: x86: Booting SMP configuration:\n.*\.\.\.\. node {2}#0, CPUs: {6}#1\n.*smp: Brought up 1 node, 2 CPUs\n/);
    await expect(e.onCpus([{ cpu: 0, churn: { seed: 1, ops: 10 } }, { cpu: 0, churn: { seed: 2, ops: 10 } }])).rejects.toThrow("onCpus: one job per CPU");
    await expect(e.onCpus([{ cpu: 3, churn: { seed: 1, ops: 10 } }])).rejects.toThrow("onCpus: job 0: CPU 3 does not exist");
    // a job that names two kinds of work runs neither
    await expect(e.onCpus([{ cpu: 1, churn: { seed: 1, ops: 10 }, kmalloc_kfree: { size: 64, pairs: 1 } } as never])).rejects.toThrow(
      "onCpus: job 0 (CPU 1) names churn and kmalloc_kfree: one kind of work a job");
    await expect(e.onCpus([{ cpu: 1, test_vmalloc: { test: "no_such_test" } }])).rejects.toThrow(/no test_vmalloc test "no_such_test"; the tests: fix_size_alloc_test, /);
    await expect(e.onCpus([{ cpu: 1, churn: { seed: 1, ops: -5 } }])).rejects.toThrow("onCpus: job 0 (CPU 1): ops must be an integer from 1 to 100000000, got -5");
    await expect(e.onCpus([{ cpu: 1 } as never])).rejects.toThrow("names no work");
    // fuzz rounds meet at barriers inside the core: only with the rounds set up, and on every one of their CPUs
    await expect(e.onCpus([{ cpu: 0, fuzz: { segments: 1, log: false } }, { cpu: 1, fuzz: { segments: 1, log: false } }])).rejects.toThrow(
      "onCpus: fuzz jobs run the rounds fuzz_rounds_begin set up (host/fuzz/smp.ts); none is set up");
    new TapeExecutor(e, new Generator({ seed: 1, profile: "slab-churn", cpus: 2 }, e).header);
    expect(e.exports.fuzz_rounds_begin(2, 64, 1000)).toBe(64);
    for (const jobs of [[{ cpu: 1, fuzz: { segments: 1, log: false } }], [{ cpu: 0, fuzz: { segments: 1, log: false } }, { cpu: 1, churn: { seed: 1, ops: 10 } }]]) {
      await expect(e.onCpus(jobs)).rejects.toThrow("onCpus: the fuzz rounds run on CPUs 0-1: one fuzz job on each of them and no other job");
    }
    await expect(e.onCpus([{ cpu: 0, fuzz: { segments: 0, log: false } }, { cpu: 1, fuzz: { segments: 1, log: false } }])).rejects.toThrow(
      "onCpus: job 0 (CPU 0): segments must be an integer from 1 to 2147483647, got 0");
    await expect(e.onCpus([])).rejects.toThrow("a non-empty array of jobs");
  });
});

describe("engine.onCpus: CPUs at the same time", () => {
  it.each([
    ["two CPUs, release core", 2, "release", 1_000_000],
    // more CPU threads than the test machine's cores: the kernel lock's waiters sleep, so this ends
    ["four CPUs, debug core (its invariant checks on)", 4, "debug", 20_000],
  ] as const)("stress, %s: churning kmalloc/krealloc/kfree/vmalloc/vfree/vmap, the machine holds, vmalloc shadow returns, nothing is reported", async (_, nr, build, ops) => {
    const e = boot(`kasan=on nr_cpus=${nr} kfence.sample_interval=100`, {}, build);
    e.vm_unmap_aliases();
    const shadow0 = e.stats().vmalloc.shadowPages;
    const cpus = Array.from({ length: nr }, (_, cpu) => cpu);
    const res = await e.onCpus(cpus.map((cpu) => ({ cpu, churn: { seed: 11 + cpu, ops } })));
    expect(res).toEqual(cpus.map((cpu) => ({ cpu, rc: 0 })));
    expect(e.takeReports()).toEqual([]);
    expect(e.stats().reports.lost).toBe(0);
    // kmalloc and kfree also ran on SLUB's lockless path, alongside the other CPUs' locked work
    expect(e.stats().slab.locklessAllocs).toBeGreaterThan(ops / 20);
    expect(e.stats().slab.locklessFrees).toBeGreaterThan(ops / 20);
    expect(e.selfCheck()).toEqual([]);
    e.vm_unmap_aliases();
    expect(e.stats().vmalloc.shadowPages).toBe(shadow0);
  }, 120_000);

  it("no report is lost: every planted out-of-bounds read on either CPU comes out once, each from its CPU", async () => {
    const e = boot("kasan=on kasan_multi_shot nr_cpus=2 kfence.sample_interval=0");
    const res = await e.onCpus([{ cpu: 0, churn: { seed: 3, ops: 4000, oobEvery: 200 } }, { cpu: 1, churn: { seed: 4, ops: 4000, oobEvery: 200 } }]);
    expect(res.map((r) => r.rc)).toEqual([20, 20]);
    const reports = e.takeReports();
    expect(reports).toHaveLength(40);
    for (const r of reports) expect(r.text).toMatch(/^BUG: KASAN: slab-out-of-bounds in smp_churn_thread\+0xd6\/0x3c0$/m);
    const cpus = reports.map((r) => /^CPU: (\d) /m.exec(r.text)![1]);
    expect(cpus.filter((c) => c === "0")).toHaveLength(20);
    expect(cpus.filter((c) => c === "1")).toHaveLength(20);
    expect(e.selfCheck()).toEqual([]);
  }, 120_000);

  it("the populate race: both CPUs run test_vmalloc's fix_size and random_size tests, whose areas share shadow pages", async () => {
    const e = boot("kasan=on kasan.vmalloc=on nr_cpus=2 kfence.sample_interval=0 ram=256");
    e.vm_unmap_aliases();
    const before = e.stats();
    for (const test of ["fix_size_alloc_test", "random_size_alloc_test", "fix_align_alloc_test"]) {
      const res = await e.onCpus([{ cpu: 0, test_vmalloc: { test, loops: 3000, seed: 1 } }, { cpu: 1, test_vmalloc: { test, loops: 3000, seed: 2 } }]);
      expect(res, test).toEqual([{ cpu: 0, rc: 0 }, { cpu: 1, rc: 0 }]);
    }
    expect(e.takeReports()).toEqual([]);
    expect(e.selfCheck()).toEqual([]);
    e.vm_unmap_aliases();
    const after = e.stats();
    expect(after.vmalloc.shadowPages).toBe(before.vmalloc.shadowPages);
  }, 120_000);
});
