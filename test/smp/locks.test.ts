// CPUs as threads over one memory (issue 14, groundwork): worker threads
// instantiate the core's module over a booted engine's shared memory and
// hammer one of assembly/locks.ts's spinlocks together with the calling
// thread. Each increments a shared counter non-atomically inside the lock, so
// a lock that lets two holders in loses increments and the count comes up short.
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { Engine } from "../../host/engine.js";

const root = new URL("../../build/", import.meta.url);

// The worker: instantiate over the memory it is given, wait for the start
// signal, run the torture loop on its own thread, report the counter it saw.
const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const { mod, memory, start, lock, iters } = workerData;
const env = { memory };
for (const imp of WebAssembly.Module.imports(mod)) if (imp.kind === "function") env[imp.name] = () => { throw new Error("cpu worker called " + imp.name); };
const x = new WebAssembly.Instance(mod, { env }).exports;
const flag = new Int32Array(start);
Atomics.add(flag, 1, 1);
while (Atomics.load(flag, 0) === 0) {}     // spin, so both threads start together
x.smp_lock_torture(lock, iters);
parentPort.postMessage(x.smp_torture_count());
`;

function runWorker(data: object): Promise<number> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, workerData: data });
    w.once("message", (n: number) => { resolve(n); void w.terminate(); });
    w.once("error", reject);
    w.once("exit", (code) => { if (code !== 0 && code !== 1) reject(new Error(`worker exited with ${code}`)); });
  });
}

describe("spinlocks on wasm atomics, threads over one memory", () => {
  it("the calling thread and a worker never hold zone->lock together", async () => {
    const mod = new WebAssembly.Module(readFileSync(new URL("core.wasm", root)));
    const e = Engine.createSync({ kasan: true }, { module: mod });
    const ZONE_LOCK = 0, ITERS = 1_000_000, WORKERS = 1;
    const start = new SharedArrayBuffer(8);
    const flag = new Int32Array(start);
    const done = Array.from({ length: WORKERS }, () => runWorker({ mod, memory: e.memory, start, lock: ZONE_LOCK, iters: ITERS }));
    while (Atomics.load(flag, 1) < WORKERS) await new Promise((r) => setTimeout(r, 5));
    Atomics.store(flag, 0, 1);
    e.exports.smp_lock_torture(ZONE_LOCK, ITERS);       // CPU 0's share, on this thread
    const seen = await Promise.all(done);
    expect(e.exports.smp_torture_count()).toBe((WORKERS + 1) * ITERS);
    for (const n of seen) expect(n).toBeGreaterThanOrEqual(ITERS);
    expect(e.exports.smp_lock_state(ZONE_LOCK)).toBe(0);
    // the booted engine is intact after three instances ran over its memory
    expect(e.selfCheck()).toEqual([]);
    const p = e.kmalloc(32);
    e.kfree(p);
    e.load(p, 1);
    expect(e.takeReports().map((r) => r.type)).toEqual(["slab-use-after-free"]);
  }, 120_000);

  it("a lock number out of range is refused, not a write past the lock table", () => {
    const e = Engine.createSync({});
    e.exports.smp_lock_torture(16, 5);
    e.exports.smp_lock_torture(-1, 5);
    expect(e.exports.smp_torture_count()).toBe(0);
    expect(e.exports.smp_lock_state(16)).toBe(0);
  });
});
