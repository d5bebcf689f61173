// KFENCE's cost on an allocation-heavy workload (hackbench-like: kmalloc and
// kfree of mixed sizes with small accesses, all inside wasm) with KFENCE off,
// at the default sample interval and at 1 ms, the virtual clock advancing
// 1 ms per 1000 allocations; and the is-KFENCE test kfree makes.
import { Engine } from "../host/engine.js";
import { nowNs, fmt, ratio, type Table } from "./common.js";

const OPS = 1_000_000;          // allocations per run
const ROUNDS = 7;               // runs per configuration, interleaved; the best counts

interface Config {
  name: string;
  cmdline: string;
  /** The workload advances the clock itself (tick every 1000 allocations)? */
  workloadTicks: boolean;
}

const CONFIGS: Config[] = [
  { name: "KFENCE off (sample_interval=0)", cmdline: "kfence.sample_interval=0", workloadTicks: true },
  { name: "sample_interval=100 (default)", cmdline: "kfence.sample_interval=100", workloadTicks: true },
  { name: "sample_interval=100, clock per allocation (alloc_tick_ns=1000)", cmdline: "kfence.sample_interval=100 kfence.alloc_tick_ns=1000", workloadTicks: false },
  { name: "sample_interval=1", cmdline: "kfence.sample_interval=1", workloadTicks: true },
];

function workload(kasan: boolean): Table {
  const engines = CONFIGS.map((c) => Engine.createSync({ cmdline: `kasan=${kasan ? "on" : "off"} ${c.cmdline}` }));
  const best = CONFIGS.map(() => Infinity);
  const perRun = CONFIGS.map(() => 0);
  const run = (i: number, n: number) => {
    const c = CONFIGS[i];
    return engines[i].exports.bench_kfence_workload(n, 0x1234567, c.workloadTicks ? 1000 : 0, 1_000_000n);
  };
  CONFIGS.forEach((_, i) => run(i, OPS / 4));          // warm up
  for (let round = 0; round < ROUNDS; round++) {
    CONFIGS.forEach((_, i) => {
      const before = engines[i].stats().kfence.allocations;
      const t = nowNs();
      run(i, OPS);
      best[i] = Math.min(best[i], (nowNs() - t) / OPS);
      perRun[i] = engines[i].stats().kfence.allocations - before;
    });
  }
  const rows = CONFIGS.map((c, i) => [c.name, fmt(best[i]), ratio(best[i] / best[0]), String(perRun[i])]);
  return {
    title: `kfence: ${OPS / 1e6}M kmalloc+kfree of 8..1024 bytes with 3 accesses each, KASAN ${kasan ? "generic" : "off"} (best of ${ROUNDS}, interleaved)`,
    columns: ["configuration", "ns/alloc+free", "ratio", "KFENCE objects/run"],
    rows,
    notes: kasan ? [] : ["target: <= 1.02x at the default interval (the kernel's \"performance-neutral\")"],
  };
}

function isKfenceCheck(): Table {
  const e = Engine.createSync({ kasan: false });
  const N = 50_000_000;
  const slab = e.kmalloc(64);
  const pool = e.kfence.poolStart;
  const MASK = (1 << 20) - 1;
  const time = (va: bigint) => {
    e.exports.bench_is_kfence(va, N / 10, MASK);
    let b = Infinity;
    for (let i = 0; i < 5; i++) {
      const t = nowNs();
      e.exports.bench_is_kfence(va, N, MASK);
      b = Math.min(b, (nowNs() - t) / N);
    }
    return b;
  };
  const miss = time(slab), hit = time(pool);
  return {
    title: "kfence: is_kfence_address() as kfree tests it (addr - pool_start < pool_size), in-wasm loop",
    columns: ["addresses", "ns/check", "M checks/s"],
    rows: [
      ["slab objects (not KFENCE's)", fmt(miss, 3), fmt(1000 / miss, 0)],
      ["pool addresses", fmt(hit, 3), fmt(1000 / hit, 0)],
    ],
    notes: ["each check includes the loop's address arithmetic and counter: an upper bound"],
  };
}

export async function run(): Promise<Table[]> {
  return [workload(false), workload(true), isKfenceCheck()];
}
