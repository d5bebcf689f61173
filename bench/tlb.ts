// TLB and checked-access figures: translations per second on hits and on
// walks, and checked 8-byte loads against raw wasm loads over the same buffer.
import { Engine } from "../host/engine.js";
import { nsPerOp, fmt, ratio, type Table } from "./common.js";

export async function run(): Promise<Table[]> {
  const N = 20_000_000;
  const MASK = (1 << 18) - 1;          // 256 KiB working set: 64 pages, all TLB hits
  const off = await Engine.create({ kasan: false });
  const gen = await Engine.create({ kasan: true });
  const a = off.alloc_pages(6), b = gen.alloc_pages(6);
  const x = off.exports, y = gen.exports;
  const raw = nsPerOp(N, () => x.bench_raw_load8(a, N, MASK));
  const hit = nsPerOp(N, () => x.bench_tlb_hits(a, N, MASK));
  const walks = 2_000_000;
  const walk = nsPerOp(walks, () => x.bench_walks(a, walks, MASK));
  const ldOff = nsPerOp(N, () => x.bench_checked_load8(a, N, MASK));
  const stOff = nsPerOp(N, () => x.bench_checked_store8(a, N, MASK));
  const ldGen = nsPerOp(N, () => y.bench_checked_load8(b, N, MASK));
  const stGen = nsPerOp(N, () => y.bench_checked_store8(b, N, MASK));
  const mops = (ns: number) => fmt(1000 / ns, 0);
  return [{
    title: "tlb: translations and checked 8-byte accesses (256 KiB working set, best of 5, in-wasm loops)",
    columns: ["operation", "ns/op", "M ops/s", "ratio"],
    rows: [
      ["raw wasm 8-byte load", fmt(raw), mops(raw), "1.00x raw"],
      ["translation, TLB hit", fmt(hit), mops(hit), ""],
      ["translation, page-table walk", fmt(walk), mops(walk), ratio(walk / hit) + " hit"],
      ["checked 8-byte load (TLB hit, kasan=off)", fmt(ldOff), mops(ldOff), ratio(ldOff / raw) + " raw"],
      ["checked 8-byte store (TLB hit, kasan=off)", fmt(stOff), mops(stOff), ratio(stOff / raw) + " raw"],
      ["checked 8-byte load, generic KASAN", fmt(ldGen), mops(ldGen), ratio(ldGen / ldOff) + " off"],
      ["checked 8-byte store, generic KASAN", fmt(stGen), mops(stGen), ratio(stGen / stOff) + " off"],
    ],
    notes: ["target: a TLB-hit checked load within 3x of a raw load"],
  }];
}
