// CPU threads (host/smp/cpus.ts, issue 14 groundwork): CPU 0 on this thread,
// CPUs 1..N-1 on worker threads over the engine's shared memory, running the
// core's exports one at a time or as a gang that starts together.
import { describe, it, expect, afterEach } from "vitest";
import { Engine } from "../../host/engine.js";
import { compileCore } from "../../host/instance.js";
import { CpuThreads } from "../../host/smp/cpus.js";
import type { EngineOptions } from "../../host/config.js";
import { Generator } from "../../host/fuzz/generator.js";
import { TapeExecutor } from "../../host/fuzz/exec.js";
import * as abi from "../../abi/abi.js";

const ZONE_LOCK = 0;
let started: CpuThreads[] = [];
afterEach(async () => { await Promise.all(started.map((t) => t.stop())); started = []; });

async function machine(nrCpus: number, build: "release" | "debug" = "release", opts: EngineOptions = { kasan: true }) {
  const mod = await compileCore(build);
  const e = await Engine.create(opts, { module: mod });
  const cpus = await CpuThreads.start(mod, e.memory, e.exports as unknown as WebAssembly.Exports, nrCpus);
  started.push(cpus);
  return { e, cpus };
}

describe("CPU threads over one memory", () => {
  it.each(["release", "debug"] as const)("%s: two CPUs take zone->lock together and lose no increment; each sees the other's writes", async (build) => {
    const { e, cpus } = await machine(2, build);
    expect(cpus.nrCpus).toBe(2);
    const N = build === "release" ? 500_000 : 100_000;
    await cpus.all([{ cpu: 0, fn: "smp_lock_torture", args: [ZONE_LOCK, N] }, { cpu: 1, fn: "smp_lock_torture", args: [ZONE_LOCK, N] }]);
    expect(await cpus.run({ cpu: 1, fn: "smp_torture_count" })).toBe(2 * N);
    expect(await cpus.run({ cpu: 0, fn: "smp_torture_count" })).toBe(2 * N);
    expect(await cpus.run({ cpu: 1, fn: "smp_lock_state", args: [ZONE_LOCK] })).toBe(0);
    expect(e.selfCheck()).toEqual([]);
  }, 120_000);

  it("bad input is a one-line error naming what is accepted", async () => {
    const mod = await compileCore("release");
    const e = await Engine.create({}, { module: mod });
    const x = e.exports as unknown as WebAssembly.Exports;
    for (const n of [0, 9, 1.5, NaN, "2"]) {
      await expect(CpuThreads.start(mod, e.memory, x, n as number)).rejects.toThrow(`invalid value ${String(n)} for nr_cpus: expected an integer from 1 to 8`);
    }
    const plainMod = await compileCore("plain");
    const plain = await Engine.create({}, { module: plainMod });
    await expect(CpuThreads.start(plainMod, plain.memory, plain.exports as unknown as WebAssembly.Exports, 2)).rejects.toThrow(/need the shared-memory core.*one CPU/);
    const { cpus } = await machine(2);
    await expect(cpus.run({ cpu: 2, fn: "smp_torture_count" })).rejects.toThrow("CPU 2 does not exist: this machine has CPUs 0-1");
    await expect(cpus.run({ cpu: -1, fn: "smp_torture_count" })).rejects.toThrow("CPU -1 does not exist");
    await expect(cpus.run({ cpu: 1, fn: "no_such_export" })).rejects.toThrow('the core has no function "no_such_export" to run on CPU 1');
    await expect(cpus.run({ cpu: 1, fn: "smp_lock_state", args: [{} as unknown as number] })).rejects.toThrow("arguments must be numbers or bigints");
    await expect(cpus.all([{ cpu: 1, fn: "smp_torture_count" }, { cpu: 1, fn: "smp_torture_count" }])).rejects.toThrow("one job per CPU");
    await cpus.stop();
    await expect(cpus.run({ cpu: 1, fn: "smp_torture_count" })).rejects.toThrow("the CPU threads were stopped");
  }, 120_000);

  it("a CPU whose job fails lets the others out of the fuzz rounds' barriers instead of leaving them waiting", async () => {
    const { e, cpus } = await machine(2);
    const gen = new Generator({ seed: 1, profile: "slab-churn", cpus: 2 }, e);
    new TapeExecutor(e, gen.header);
    expect(e.exports.fuzz_rounds_begin(2, 64, 100_000)).toBe(64);
    e.exports.fuzz_rounds_arm();
    // CPU 1's job throws before its first barrier (a bigint where the export takes a number), while CPU 0
    // runs its part of segment 0 and waits there for CPU 1
    await expect(cpus.all([{ cpu: 0, fn: "fuzz_rounds", args: [1000, 0] }, { cpu: 1, fn: "fuzz_rounds", args: [1000n, 0] }]))
      .rejects.toThrow(/^CPU 1: .*BigInt/);
    expect(e.exports.fuzz_rounds_info(abi.FZI_SEGMENT)).toBe(0);
  }, 60_000);

  it.each([
    ["generic KASAN, x86_64", { kasan: true }],
    ["sw_tags, arm64", { kasan: true, arch: "arm64", kasanMode: "sw_tags" }],
  ] as Array<[string, EngineOptions]>)("%s: CPUs 1-3 start with CPU 0's boot state and read the shadow CPU 0 writes", async (_, opts) => {
    const { e, cpus } = await machine(4, "release", opts);
    for (const cpu of [1, 2, 3]) expect(await cpus.run({ cpu, fn: "smp_processor_id" })).toBe(cpu);
    const p = e.kmalloc(13);
    const probes = [0n, 8n, 16n, 24n].map((d) => p + d);
    const shadow = (cpu: number) => Promise.all(probes.map((a) => cpus.run({ cpu, fn: "smp_probe_shadow", args: [a] })));
    const live = probes.map((a) => e.shadowByte(a));
    expect(new Set(live).size, "object, partial granule and redzone differ").toBeGreaterThan(1);
    for (const cpu of [0, 1, 3]) expect(await shadow(cpu), `CPU ${cpu}`).toEqual(live);
    e.kfree(p);
    const freed = probes.map((a) => e.shadowByte(a));
    expect(freed).not.toEqual(live);
    expect(await shadow(2)).toEqual(freed);
  }, 120_000);

  it("smp_secondary_start refuses CPU 0, CPUs past 7, and a memory with no published boot state", async () => {
    const mod = await compileCore("release");
    const e = await Engine.create({ kasan: true }, { module: mod });
    const second = new WebAssembly.Instance(mod, { env: { memory: e.memory, abort() {}, sf_ctor() {}, sf_wall_ns: () => 0, sf_futex_wait() {}, sf_guest_reports() {} } }).exports as unknown as typeof e.exports;
    expect(second.smp_secondary_start(1)).toBe(-1);                   // nothing published yet
    expect(second.smp_probe_shadow(e.kmalloc(8))).toBe(-1);           // still the defaults: KASAN off
    e.exports.smp_boot_state_save();
    expect(second.smp_secondary_start(0)).toBe(-1);
    expect(second.smp_secondary_start(8)).toBe(-1);
    expect(second.smp_processor_id()).toBe(0);
    expect(second.smp_secondary_start(5)).toBe(0);
    expect(second.smp_processor_id()).toBe(5);
  });

  it("kernel functions run on CPU 1 under the kernel lock, and CPU 0 sees what they did", async () => {
    const { e, cpus } = await machine(2);
    const slabs = () => e.slabinfo().find((s) => s.name === "kmalloc-64")!.activeObjs;
    const before = slabs();
    const p = BigInt.asUintN(64, BigInt(await cpus.run({ cpu: 1, fn: "kmalloc", args: [64n, 0] }) as bigint));
    expect(p).not.toBe(0n);
    expect(await cpus.run({ cpu: 1, fn: "smp_lock_state", args: [11] })).toBe(0);   // released after the call
    expect(slabs()).toBe(before + 1);
    expect(e.shadowByte(p)).toBe(0);
    await cpus.run({ cpu: 1, fn: "kfree", args: [p] });
    expect(e.shadowByte(p)).not.toBe(0);
    expect(e.selfCheck()).toEqual([]);
    // a trap inside the kernel on CPU 1 (vmap reading its page list from past the end of memory)
    // is that call's error, and the kernel lock is free again
    await expect(cpus.run({ cpu: 1, fn: "vmap", args: [0xfffffff0, 1] })).rejects.toThrow(/^CPU 1: .*out of bounds/);
    expect(await cpus.run({ cpu: 1, fn: "smp_lock_state", args: [11] })).toBe(0);
    expect(await cpus.run({ cpu: 0, fn: "kmalloc", args: [8n, 0] })).not.toBe(0n);
  }, 120_000);
});
