// SMP groundwork: what the shared-memory core (the Node release build, ready
// for several CPUs over one RAM) costs one CPU, against the plain build
// (ordinary memory, the browser's) in the same run, interleaved best of 5.
import { Engine } from "../host/engine.js";
import { fmt, nowNs, ratio, type Table } from "./common.js";

interface Case { name: string; ops: number; run: (e: Engine, buf: bigint) => unknown }

export async function run(): Promise<Table[]> {
  const N = 20_000_000, PAIRS = 2_000_000;
  const MASK = (1 << 18) - 1;          // 256 KiB working set: all TLB hits
  const cases: Case[] = [
    { name: "checked 8-byte load (TLB hit)", ops: N, run: (e, a) => e.exports.bench_checked_load8(a, N, MASK) },
    { name: "checked 8-byte store (TLB hit)", ops: N, run: (e, a) => e.exports.bench_checked_store8(a, N, MASK) },
    { name: "kmalloc(64)+kfree", ops: PAIRS, run: (e) => e.exports.bench_kmalloc_kfree(PAIRS, 64) },
  ];
  const rows: Array<Array<string | number>> = [];
  for (const kasan of [false, true]) {
    const shared = await Engine.create({ kasan }, { build: "release" });
    const plain = await Engine.create({ kasan }, { build: "plain" });
    const bufs = [shared.alloc_pages(6), plain.alloc_pages(6)];
    for (const c of cases) {
      const best = [Infinity, Infinity];
      [shared, plain].forEach((e, i) => c.run(e, bufs[i]));          // warm up
      for (let rep = 0; rep < 5; rep++) {
        [shared, plain].forEach((e, i) => {
          const t = nowNs();
          c.run(e, bufs[i]);
          best[i] = Math.min(best[i], (nowNs() - t) / c.ops);
        });
      }
      rows.push([`${c.name}, kasan=${kasan ? "on" : "off"}`, fmt(best[1]), fmt(best[0]), ratio(best[0] / best[1])]);
    }
  }
  return [await lockTable(), {
    title: "smp: one CPU on the shared-memory core (release) against the plain core (same run, interleaved best of 5)",
    columns: ["operation", "plain ns/op", "shared ns/op", "shared/plain"],
    rows,
    notes: ["target (issue 14): the single-CPU fast paths within 5% of the plain core"],
  }];
}

/**
 * One shared lock taken by 1 and by 2 CPUs (threads) at once: the price of a
 * machine-wide lock such as zone->lock when two CPUs contend for it, which is
 * what SLUB's and the page allocator's per-CPU paths avoid.
 */
export async function lockTable(): Promise<Table> {
  const { compileCore } = await import("../host/instance.js");
  const { CpuThreads } = await import("../host/smp/cpus.js");
  const mod = await compileCore("release");
  const e = await Engine.create({}, { module: mod });
  const cpus = await CpuThreads.start(mod, e.memory, e.exports as unknown as WebAssembly.Exports, 2);
  const N = 2_000_000, ZONE_LOCK = 0;
  let one = Infinity, two = Infinity;
  try {
    for (let rep = 0; rep < 5; rep++) {
      let t = nowNs();
      await cpus.run({ cpu: 0, fn: "smp_lock_torture", args: [ZONE_LOCK, N] });
      one = Math.min(one, (nowNs() - t) / N);
      t = nowNs();
      await cpus.all([0, 1].map((cpu) => ({ cpu, fn: "smp_lock_torture", args: [ZONE_LOCK, N] })));
      two = Math.min(two, (nowNs() - t) / (2 * N));
    }
  } finally {
    await cpus.stop();
  }
  return {
    title: "smp: one spinlock (lock, increment a shared word, unlock), best of 5",
    columns: ["CPUs", "ns per round", "M rounds/s (all CPUs)", "vs 1 CPU"],
    rows: [["1", fmt(one), fmt(1000 / one, 1), "1.00x"], ["2, same lock", fmt(two), fmt(1000 / two, 1), ratio(one / two)]],
    notes: ["2 CPUs on one lock move its line between cores on every round: the common paths need per-CPU state, not a shared lock"],
  };
}
