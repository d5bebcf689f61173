// SLAB (mm/slab.c of 6.1, shadowfence.slab=slab) against SLUB in one run:
// kmalloc+kfree pairs and the `modes` round (free + kmalloc + write and read
// the object) with KASAN off and generic, and the slab memory 100k live
// objects take under each.
import { Engine } from "../host/engine.js";
import { nsPerOp, fmt, ratio, type Table } from "./common.js";

// KFENCE off: it would move a few objects out of the slabs being compared
const COMMON = "kfence.sample_interval=0 mem=256M";
const ALLOCATORS = ["slub", "slab"] as const;
const KASAN = [["off", "kasan=off"], ["generic", "kasan.mode=generic"]] as const;

export async function run(): Promise<Table[]> {
  const PAIRS = 2_000_000;
  const ROUNDS = 1_000_000;
  const LIVE = 100_000;
  const SIZES = [32, 128, 1024, 4096];
  const pairs: Record<string, number> = {};
  const rounds: Record<string, number> = {};
  const mem: Record<string, { slab: number; requested: number }> = {};
  const key = (a: string, k: string, extra = "") => `${a} ${k} ${extra}`;
  // interleaved: each configuration's engine is made once, the allocators alternate per measurement
  const engines = new Map<string, Engine>();
  for (const [k, cmd] of KASAN) for (const a of ALLOCATORS) {
    engines.set(key(a, k), await Engine.create({ cmdline: `${cmd} shadowfence.slab=${a} ${COMMON}` }));
  }
  for (const [k] of KASAN) {
    for (const size of SIZES) for (const a of ALLOCATORS) {
      const e = engines.get(key(a, k))!;
      pairs[key(a, k, String(size))] = nsPerOp(PAIRS, () => e.exports.bench_kmalloc_kfree(PAIRS, size));
    }
    for (const a of ALLOCATORS) {
      const e = engines.get(key(a, k))!;
      rounds[key(a, k)] = nsPerOp(ROUNDS, () => e.exports.bench_modes_workload(ROUNDS, 12345));
    }
  }
  for (const [k, cmd] of KASAN) for (const a of ALLOCATORS) {
    const e = await Engine.create({ cmdline: `${cmd} shadowfence.slab=${a} ${COMMON}` });
    const before = e.stats().framesByUse.slab;
    const requested = Number(e.exports.bench_modes_fill(LIVE, 777));
    mem[key(a, k)] = { slab: (e.stats().framesByUse.slab - before) * 4096, requested };
  }
  const MiB = (b: number) => fmt(b / 1048576, 1);
  return [{
    title: `slab: ${PAIRS / 1e6}M kmalloc(size) + kfree pairs, SLUB against SLAB (best of 5, in wasm, KFENCE off)`,
    columns: ["KASAN", "size", "SLUB ns/pair", "SLAB ns/pair", "SLAB vs SLUB"],
    rows: KASAN.flatMap(([k]) => SIZES.map((size) => {
      const u = pairs[key("slub", k, String(size))], b = pairs[key("slab", k, String(size))];
      return [k, size, fmt(u), fmt(b), ratio(b / u)];
    })),
    notes: ["SLAB under KASAN: the freed object goes through the quarantine, then ___cache_free() into the per-CPU array"],
  }, {
    title: `slab: the modes round, ${ROUNDS / 1e6}M rounds of free + kmalloc (8..1024 B) + write and read the object 8 bytes at a time`,
    columns: ["KASAN", "SLUB ns/round", "SLAB ns/round", "SLAB vs SLUB"],
    rows: KASAN.map(([k]) => [k, fmt(rounds[key("slub", k)]), fmt(rounds[key("slab", k)]), ratio(rounds[key("slab", k)] / rounds[key("slub", k)])]),
  }, {
    title: `slab: memory for ${LIVE / 1000}k live kmalloc objects of the modes mix (256 MiB machine)`,
    columns: ["KASAN", "requested MiB", "SLUB slab MiB", "SLAB slab MiB", "SLAB vs SLUB"],
    rows: KASAN.map(([k]) => {
      const u = mem[key("slub", k)], b = mem[key("slab", k)];
      return [k, MiB(u.requested), MiB(u.slab), MiB(b.slab), `${b.slab >= u.slab ? "+" : ""}${fmt((b.slab / u.slab - 1) * 100, 1)}%`];
    }),
    notes: [
      "slab: frames the fill took from the buddy allocator for slabs (SLAB's on-slab freelists and colour included);",
      "SLAB's array caches live in engine memory outside the simulated RAM and are not counted",
    ],
  }];
}
