// `node dist/bench/against.js <other checkout> [label substring…]`: the hot-path benches (tlb, kasan kmalloc/kfree,
// kfence, modes) on another checkout's engine (its own built host and core: `npm run
// asbuild:release && npm run build:host` there) and on this one, in one process, rounds
// interleaved and alternating which goes first; best of ROUNDS (env, default 11) each.
// Prints a Markdown table: before (the other checkout), after (this one), after/before. Substrings
// after the checkout keep only the rows whose label contains one of them. NR_CPUS (env, e.g.
// "1,2,2t") measures both checkouts once per entry, side by side in the same rounds: nr_cpus=N on
// both, and "Nt" this checkout with CPU 1's thread started (the kernel lock live) against the other
// at nr_cpus=N.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Engine } from "../host/engine.js";
import { nowNs } from "./common.js";

type Exports = Record<string, (...args: any[]) => any>;
interface AnyEngine { exports: Exports; alloc_pages(order: number): bigint; cpu?(n: number): unknown; stopCpus?(): Promise<void> }
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
// SHRINK (env, default 1) divides every loop's operations: on a loaded machine many short rounds
// find an unpreempted run more often than a few long ones
const SHRINK = Number(process.env.SHRINK ?? 1);
if (!Number.isInteger(SHRINK) || SHRINK < 1 || SHRINK > 1000) {
  console.error(`SHRINK: an integer from 1 to 1000, got ${process.env.SHRINK}`);
  process.exit(2);
}
const Before = (await import(pathToFileURL(resolve(other, "dist/host/engine.js")).href)).Engine as EngineClass;
const After = Engine as unknown as EngineClass;

// the configurations to compare: [] = both checkouts' defaults; else nr_cpus and whether this checkout's CPU threads run
interface Variant { label: string; nrCpus?: number; threads?: boolean }
const variants: Variant[] = (process.env.NR_CPUS ?? "").split(",").filter((v) => v.trim() !== "").map((v) => {
  const m = /^\s*([1-8])(t?)\s*$/.exec(v);
  if (!m || (m[2] && m[1] === "1")) {
    console.error(`NR_CPUS: entries 1-8, or 2t-8t (CPU threads started), got ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return { label: `nr_cpus=${m[1]}${m[2] ? ", CPU 1 started" : ""}`, nrCpus: Number(m[1]), threads: m[2] === "t" };
});
if (variants.length === 0) variants.push({ label: "" });
// one run of the other checkout per nr_cpus: "2" and "2t" compare against the same one
const beforeCpus = [...new Set(variants.map((v) => v.nrCpus))];
// an engine as `v` asks: nr_cpus= on the command line, CPU threads started (this checkout only)
let started: AnyEngine[] = [];
function variant(E: EngineClass, v: Variant | undefined, opts: { kasan?: boolean; cmdline?: string }): AnyEngine {
  if (!v || v.nrCpus === undefined) return E.createSync(opts);
  const e = E.createSync({ ...opts, cmdline: `${opts.cmdline ?? ""} nr_cpus=${v.nrCpus}`.trim() });
  if (v.threads && E === After) { e.cpu!(1); started.push(e); }
  return e;
}

// per row: the other checkout's ns per beforeCpus entry, then this checkout's per variant
const rows: Array<[string, number[], number[]]> = [];
function measure(label: string, ops: number, make: (E: EngineClass, v?: Variant) => () => unknown): void {
  if (only.length > 0 && !only.some((s) => label.includes(s))) return;
  const runs = [...beforeCpus.map((n) => make(Before, n === undefined ? undefined : { label: "", nrCpus: n })), ...variants.map((v) => make(After, v))];
  runs.forEach((f) => f());                       // warm up
  const best = runs.map(() => Infinity);
  const order = runs.map((_, i) => i);
  for (let r = 0; r < ROUNDS; r++) {
    for (const i of r % 2 === 0 ? order : [...order].reverse()) {
      const t = nowNs();
      runs[i]();
      best[i] = Math.min(best[i], (nowNs() - t) / ops);
    }
  }
  rows.push([label, best.slice(0, beforeCpus.length), best.slice(beforeCpus.length)]);
  for (const e of started) void e.stopCpus!();
  started = [];
}

const N = 20_000_000 / SHRINK | 0, MASK = (1 << 18) - 1, WALKS = 2_000_000 / SHRINK | 0;   // tlb.ts's loops
const pages = (E: EngineClass, kasan: boolean, v?: Variant) => { const e = variant(E, v, { kasan }); return { x: e.exports, a: e.alloc_pages(6) }; };
measure("translation, TLB hit", N, (E, v) => { const { x, a } = pages(E, false, v); return () => x.bench_tlb_hits(a, N, MASK); });
measure("translation, page-table walk", WALKS, (E, v) => { const { x, a } = pages(E, false, v); return () => x.bench_walks(a, WALKS, MASK); });
measure("checked 8-byte load, kasan=off", N, (E, v) => { const { x, a } = pages(E, false, v); return () => x.bench_checked_load8(a, N, MASK); });
measure("checked 8-byte store, kasan=off", N, (E, v) => { const { x, a } = pages(E, false, v); return () => x.bench_checked_store8(a, N, MASK); });
measure("checked 8-byte load, generic KASAN", N, (E, v) => { const { x, a } = pages(E, true, v); return () => x.bench_checked_load8(a, N, MASK); });
measure("checked 8-byte store, generic KASAN", N, (E, v) => { const { x, a } = pages(E, true, v); return () => x.bench_checked_store8(a, N, MASK); });
const PAIRS = 2_000_000 / SHRINK | 0;                                        // kasan.ts's pairs, KFENCE off
for (const kasan of ["off", "generic"]) for (const size of [32, 256, 2048]) {
  measure(`kmalloc(${size}) + kfree, kasan=${kasan}`, PAIRS, (E, v) => {
    const e = variant(E, v, { cmdline: `${kasan === "off" ? "kasan=off" : "kasan.mode=generic"} kfence.sample_interval=0` });
    return () => e.exports.bench_kmalloc_kfree(PAIRS, size);
  });
}
const OPS = 1_000_000 / SHRINK | 0;                                          // kfence.ts's workload
for (const [name, cmd] of [["KFENCE off", "kfence.sample_interval=0"], ["sample_interval=100", "kfence.sample_interval=100"]]) {
  measure(`kfence workload, ${name}, kasan=off`, OPS, (E, v) => {
    const e = variant(E, v, { cmdline: `kasan=off ${cmd}` });
    return () => e.exports.bench_kfence_workload(OPS, 0x1234567, 1000, 1_000_000n);
  });
}
const ROUND_OPS = 1_000_000 / SHRINK | 0;                                    // modes.ts's round
for (const [label, cmd] of [["x86_64 kasan=off", "kasan=off"], ["x86_64 generic", "kasan.mode=generic"],
  ["arm64 kasan=off", "arch=arm64 kasan=off"], ["arm64 generic", "arch=arm64 kasan.mode=generic"],
  ["arm64 sw_tags", "arch=arm64 kasan.mode=sw_tags"]]) {
  measure(`modes round, ${label}`, ROUND_OPS, (E, v) => {
    const e = variant(E, v, { cmdline: `${cmd} kfence.sample_interval=0 mem=256M` });
    return () => e.exports.bench_modes_workload(ROUND_OPS, 12345);
  });
}

// columns per variant: before, after, after/before (the before column once per nr_cpus)
const heads: string[] = [];
variants.forEach((v, i) => {
  const pre = v.label ? `${v.label}: ` : "";
  if (variants.findIndex((w) => w.nrCpus === v.nrCpus) === i) heads.push(`${v.nrCpus === undefined ? "" : `nr_cpus=${v.nrCpus}: `}before ns`);
  heads.push(`${pre}after ns`, `${pre}after/before`);
});
console.log(`| operation | ${heads.join(" | ")} |`);
console.log(`|${"---|".repeat(1 + heads.length)}`);
for (const [label, before, after] of rows) {
  const cells: string[] = [];
  variants.forEach((v, i) => {
    const a = before[beforeCpus.indexOf(v.nrCpus)];
    if (variants.findIndex((w) => w.nrCpus === v.nrCpus) === i) cells.push(a.toFixed(2));
    cells.push(after[i].toFixed(2), `${(after[i] / a).toFixed(2)}x`);
  });
  console.log(`| ${label} | ${cells.join(" | ")} |`);
}
