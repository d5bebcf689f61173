// `node dist/bench/against.js <other checkout> [label substring…]`: the hot-path benches (tlb, kasan kmalloc/kfree,
// kfence, modes) on another checkout's engine (its own built host and core: `npm run
// asbuild:release && npm run build:host` there) and on this one, in one process, rounds
// interleaved and alternating which goes first; best of ROUNDS (env, default 11) each.
// Prints a Markdown table: before (the other checkout), after (this one), after/before. Substrings
// after the checkout keep only the rows whose label contains one of them.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Engine } from "../host/engine.js";
import { nowNs } from "./common.js";

type Exports = Record<string, (...args: any[]) => any>;
interface AnyEngine { exports: Exports; alloc_pages(order: number): bigint }
interface EngineClass { createSync(opts: object): AnyEngine }

const other = process.argv[2];
if (!other) {
  console.error("usage: node dist/bench/against.js <other checkout, built>");
  process.exit(2);
}
const only = process.argv.slice(3);
const ROUNDS = Number(process.env.ROUNDS ?? 11);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) {
  console.error(`ROUNDS: a positive integer, got ${process.env.ROUNDS}`);
  process.exit(2);
}
const Before = (await import(pathToFileURL(resolve(other, "dist/host/engine.js")).href)).Engine as EngineClass;
const After = Engine as unknown as EngineClass;

const rows: Array<[string, number, number]> = [];
function measure(label: string, ops: number, make: (E: EngineClass) => () => unknown): void {
  if (only.length > 0 && !only.some((s) => label.includes(s))) return;
  const runs = [make(Before), make(After)];
  runs.forEach((f) => f());                       // warm up
  const best = [Infinity, Infinity];
  for (let r = 0; r < ROUNDS; r++) {
    for (const i of r % 2 === 0 ? [0, 1] : [1, 0]) {
      const t = nowNs();
      runs[i]();
      best[i] = Math.min(best[i], (nowNs() - t) / ops);
    }
  }
  rows.push([label, best[0], best[1]]);
}

const N = 20_000_000, MASK = (1 << 18) - 1, WALKS = 2_000_000;   // tlb.ts's loops
const pages = (E: EngineClass, kasan: boolean) => { const e = E.createSync({ kasan }); return { x: e.exports, a: e.alloc_pages(6) }; };
measure("translation, TLB hit", N, (E) => { const { x, a } = pages(E, false); return () => x.bench_tlb_hits(a, N, MASK); });
measure("translation, page-table walk", WALKS, (E) => { const { x, a } = pages(E, false); return () => x.bench_walks(a, WALKS, MASK); });
measure("checked 8-byte load, kasan=off", N, (E) => { const { x, a } = pages(E, false); return () => x.bench_checked_load8(a, N, MASK); });
measure("checked 8-byte store, kasan=off", N, (E) => { const { x, a } = pages(E, false); return () => x.bench_checked_store8(a, N, MASK); });
measure("checked 8-byte load, generic KASAN", N, (E) => { const { x, a } = pages(E, true); return () => x.bench_checked_load8(a, N, MASK); });
measure("checked 8-byte store, generic KASAN", N, (E) => { const { x, a } = pages(E, true); return () => x.bench_checked_store8(a, N, MASK); });
const PAIRS = 2_000_000;                                          // kasan.ts's pairs, KFENCE off
for (const kasan of ["off", "generic"]) for (const size of [32, 256, 2048]) {
  measure(`kmalloc(${size}) + kfree, kasan=${kasan}`, PAIRS, (E) => {
    const e = E.createSync({ cmdline: `${kasan === "off" ? "kasan=off" : "kasan.mode=generic"} kfence.sample_interval=0` });
    return () => e.exports.bench_kmalloc_kfree(PAIRS, size);
  });
}
const OPS = 1_000_000;                                            // kfence.ts's workload
for (const [name, cmd] of [["KFENCE off", "kfence.sample_interval=0"], ["sample_interval=100", "kfence.sample_interval=100"]]) {
  measure(`kfence workload, ${name}, kasan=off`, OPS, (E) => {
    const e = E.createSync({ cmdline: `kasan=off ${cmd}` });
    return () => e.exports.bench_kfence_workload(OPS, 0x1234567, 1000, 1_000_000n);
  });
}
const ROUND_OPS = 1_000_000;                                      // modes.ts's round
for (const [label, cmd] of [["x86_64 kasan=off", "kasan=off"], ["x86_64 generic", "kasan.mode=generic"],
  ["arm64 kasan=off", "arch=arm64 kasan=off"], ["arm64 generic", "arch=arm64 kasan.mode=generic"],
  ["arm64 sw_tags", "arch=arm64 kasan.mode=sw_tags"]]) {
  measure(`modes round, ${label}`, ROUND_OPS, (E) => {
    const e = E.createSync({ cmdline: `${cmd} kfence.sample_interval=0 mem=256M` });
    return () => e.exports.bench_modes_workload(ROUND_OPS, 12345);
  });
}

console.log(`| operation | before ns | after ns | after/before |`);
console.log(`|---|---|---|---|`);
for (const [label, a, b] of rows) console.log(`| ${label} | ${a.toFixed(2)} | ${b.toFixed(2)} | ${(b / a).toFixed(2)}x |`);
