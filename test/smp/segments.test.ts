// A second instance of the core over a booted engine's memory (how CPUs 1..N
// will start) must not write the memory: the cores are built with
// zeroFilledMemory, so the only active data segments left are read-only
// tables whose bytes are already there. Without it, instantiating re-zeroed
// buffers boot had filled (slub.ts's KMALLOC_IDS, the config, the counters).
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { Engine } from "../../host/engine.js";
import * as abi from "../../abi/abi.js";

const root = new URL("../../build/", import.meta.url);

function secondInstance(mod: WebAssembly.Module, memory: WebAssembly.Memory): WebAssembly.Instance {
  const env: Record<string, unknown> = { memory };
  for (const imp of WebAssembly.Module.imports(mod)) {
    if (imp.kind === "function") env[imp.name] = () => { throw new Error(`second instance called ${imp.name}`); };
  }
  return new WebAssembly.Instance(mod, { env } as WebAssembly.Imports);
}

describe("instantiating the core over a booted memory", () => {
  it.each(["core.wasm", "core.debug.wasm"])("%s: a second instance leaves every byte as it was", (file) => {
    const mod = new WebAssembly.Module(readFileSync(new URL(file, root)));
    const e = Engine.createSync({ kasan: true }, { module: mod });
    const objs = [8, 64, 192, 4096].map((n) => e.kmalloc(n));
    const before = new Uint8Array(e.memory.buffer.slice(0, abi.PHYS_BASE));
    secondInstance(mod, e.memory);
    const after = new Uint8Array(e.memory.buffer.slice(0, abi.PHYS_BASE));
    const firstDiff = before.findIndex((b, i) => b !== after[i]);
    expect(firstDiff, `byte ${firstDiff} changed`).toBe(-1);
    // and the engine carries on: kmalloc's caches, frees, a report
    for (const p of objs) e.kfree(p);
    const p = e.kmalloc(64);
    expect(e.cacheOf(p)).toBe("kmalloc-64");          // slub.ts's KMALLOC_IDS, written at boot
    e.kfree(p);
    e.load(p, 8);
    expect(e.takeReports().map((r) => r.type)).toEqual(["slab-use-after-free"]);
    expect(e.selfCheck()).toEqual([]);
  });
});
