// `npm run bench -- kmemleak`: the kmemleak scan over 100k live objects.
//   guest: a wasm32 guest (bench/guest/leaky.c) with 100k list nodes rooted in
//   .bss and 10k leaked objects, scanned at its exit (4-byte words);
//   kernel: 100k kzalloc(32) objects chained from a registered global through
//   the host API and 10k unreferenced ones (8-byte words).
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createEngine } from "../host/index.js";
import { cc, findToolchain } from "../host/guest/cc.js";
import { fmt, nowNs, type Table } from "./common.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const N = 100_000;
const REPS = 5;

function best(fn: () => number): number {
  let b = Infinity;
  for (let i = 0; i < REPS; i++) b = Math.min(b, fn());
  return b;
}

export async function run(): Promise<Table[]> {
  const rows: Array<Array<string | number>> = [];
  // kernel-side objects through the host API
  {
    const e = await createEngine({ cmdline: "mem=256M kfence.sample_interval=0" });
    const g = e.registerGlobal("list_head", 8);
    let prev = 0n;
    for (let i = 0; i < N; i++) {
      const p = e.kzalloc(32);
      e.store(p, 8, prev);
      prev = p;
      if (i % 10 === 0) e.kzalloc(24);
    }
    e.store(g, 8, prev);
    let leaks = 0;
    const ms = best(() => { const t = nowNs(); leaks = e.kmemleakScan().length; return (nowNs() - t) / 1e6; });
    rows.push(["kernel objects (8-byte words)", N + N / 10, leaks, fmt(ms)]);
  }
  // a guest's heap, scanned at its exit
  try {
    findToolchain();
    const out = path.join(root, "build/bench/kmemleak");
    mkdirSync(out, { recursive: true });
    const wasm = path.join(out, "leaky.wasm");
    cc({ sources: [path.join(root, "bench/guest/leaky.c")], output: wasm, asan: true, abi: "user", cflags: ["-O2"], stdio: "pipe" });
    const bytes = readFileSync(wasm);
    let msBest = Infinity, leaks = 0, objects = 0;
    for (let i = 0; i < REPS; i++) {
      const e = await createEngine({ cmdline: "mem=256M kfence.sample_interval=0" });
      const scan = e.kmemleakScan.bind(e);
      e.kmemleakScan = (o) => {
        const t = nowNs();
        const r = scan(o);
        msBest = Math.min(msBest, (nowNs() - t) / 1e6);
        return r;
      };
      const r = e.runGuest(bytes, { args: [String(N)], name: "leaky", leaks: true });
      leaks = r.leaks?.length ?? -1;
      objects = N + N / 10;
    }
    rows.push(["wasm32 guest at exit (4-byte words)", objects, leaks, fmt(msBest)]);
  } catch { /* no toolchain: the kernel row only */ }
  return [{ title: "kmemleak scan (best of 5)", columns: ["heap", "objects", "leaks", "scan ms"], rows }];
}
