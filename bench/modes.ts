// KASAN modes side by side: the same allocation-and-access workload under
// kasan=off, generic and sw_tags (arm64), time ratios from one run, and the
// memory each mode costs for the same live objects (slab + shadow).
import { Engine } from "../host/engine.js";
import { nsPerOp, fmt, ratio, type Table } from "./common.js";

interface Mode { label: string; cmdline: string }
const MODES: Mode[] = [
  { label: "x86_64 kasan=off", cmdline: "kasan=off" },
  { label: "x86_64 generic", cmdline: "kasan.mode=generic" },
  { label: "arm64 kasan=off", cmdline: "arch=arm64 kasan=off" },
  { label: "arm64 generic", cmdline: "arch=arm64 kasan.mode=generic" },
  { label: "arm64 sw_tags", cmdline: "arch=arm64 kasan.mode=sw_tags" },
];
// KFENCE off: it would move a few objects out of the slabs being compared
const COMMON = "kfence.sample_interval=0 mem=256M";

export async function run(): Promise<Table[]> {
  const ROUNDS = 1_000_000;
  const LIVE = 100_000;
  const time: Array<{ m: Mode; ns: number }> = [];
  const mem: Array<{ m: Mode; requested: number; slab: number; shadow: number; ram: number }> = [];
  for (const m of MODES) {
    const e = await Engine.create({ cmdline: `${m.cmdline} ${COMMON}` });
    time.push({ m, ns: nsPerOp(ROUNDS, () => e.exports.bench_modes_workload(ROUNDS, 12345)) });
    const before = e.stats().framesByUse.slab;
    const requested = Number(e.exports.bench_modes_fill(LIVE, 777));
    const s = e.stats();
    mem.push({ m, requested, slab: (s.framesByUse.slab - before) * 4096, shadow: s.memory.shadowBytes, ram: s.memory.ramBytes });
  }
  const offNs = (arch: string) => time.find((t) => t.m.label === `${arch} kasan=off`)!.ns;
  const offSlab = (arch: string) => mem.find((t) => t.m.label === `${arch} kasan=off`)!.slab;
  const arch = (m: Mode) => m.label.split(" ")[0];
  const MiB = (b: number) => fmt(b / 1048576, 1);
  return [{
    title: `modes: ${ROUNDS / 1e6}M rounds of free + kmalloc (8..1024 B) + write and read the object 8 bytes at a time (best of 5, in wasm)`,
    columns: ["mode", "ns/round", "M rounds/s", "vs kasan=off"],
    rows: time.map((t) => [t.m.label, fmt(t.ns), fmt(1000 / t.ns, 2), ratio(t.ns / offNs(arch(t.m)))]),
    notes: ["the same loop is compiled once per mode (ModeOff/ModeGeneric/ModeTags), as a kernel is built for one mode"],
  }, {
    title: `modes: memory for ${LIVE / 1000}k live kmalloc objects of the same size mix (256 MiB machine)`,
    columns: ["mode", "requested MiB", "slab MiB", "slab vs kasan=off", "shadow MiB", "shadow/RAM"],
    rows: mem.map((r) => [r.m.label, MiB(r.requested), MiB(r.slab), `+${fmt((r.slab / offSlab(arch(r.m)) - 1) * 100, 0)}%`,
      MiB(r.shadow), r.shadow ? `1/${fmt(r.ram / r.shadow, 1)}` : "-"]),
    notes: [
      "slab: frames the fill took from the buddy for slabs (redzones, KASAN metadata, granule rounding)",
      "the kernel's measured slab overhead on one board: +260% generic, +20% sw_tags",
    ],
  }];
}
