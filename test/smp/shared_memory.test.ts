// SMP groundwork (issue 14): the Node builds run over a shared
// WebAssembly.Memory (so several CPUs can share one RAM); the plain build is
// the browser's fallback where SharedArrayBuffer is unavailable. Both behave
// the same for one CPU.
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { Engine } from "../../host/engine.js";
import { coreBuildShared } from "../../host/platform.js";
import { coreBuildShared as webCoreBuildShared } from "../../host/web/platform.js";
import { instantiateCore } from "../../host/core_memory.js";

const root = new URL("../../build/", import.meta.url);
const exportsOf = (file: string) => WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(new URL(file, root)))).map((e) => `${e.kind} ${e.name}`).sort();

function uafReport(e: Engine) {
  const p = e.kmalloc(24);
  e.kfree(p);
  e.load(p + 8n, 4);
  const [r] = e.takeReports();
  return { title: r.title.replace(/0x[0-9a-f]+/g, "ADDR"), lines: r.text.split("\n").filter((l) => /^(BUG|Read of|The buggy|Allocated|Freed)/.test(l)) };
}

describe("shared-memory core", () => {
  it.each(["release", "debug"] as const)("the %s build boots on a shared memory", (build) => {
    const e = Engine.createSync({}, { build });
    expect(e.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(coreBuildShared(build)).toBe(true);
  });

  it("the plain build boots on an ordinary memory, and the browser bundle only ships plain", () => {
    const e = Engine.createSync({}, { build: "plain" });
    expect(e.memory.buffer).toBeInstanceOf(ArrayBuffer);
    expect(e.memory.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    expect(webCoreBuildShared("release")).toBe(false);
  });

  it("the plain build exports what the release build exports", () => {
    expect(exportsOf("core.plain.wasm")).toEqual(exportsOf("core.wasm"));
  });

  it("dmesg says nr_cpus CPUs were brought up on shared memory, one on the plain build", () => {
    const lines = (build: "release" | "plain") => Engine.createSync({ nrCpus: 4 }, { build }).dmesg().split("\n").map((l) => l.replace(/^\[[^\]]*\] /, ""));
    const shared = lines("release");
    const at = shared.indexOf("smp: Bringing up secondary CPUs ...");
    expect(at).toBeGreaterThan(0);
    expect(shared.slice(at + 1, at + 4)).toEqual(["smpboot: x86: Booting SMP configuration:", ".... node  #0, CPUs:      #1 #2 #3", "smp: Brought up 1 node, 4 CPUs"]);
    const plain = lines("plain");
    const p = plain.indexOf("smp: Bringing up secondary CPUs ...");
    expect(plain[p + 1]).toBe("smp: Brought up 1 node, 1 CPU");
  });

  it("a module handed in without its build is instantiated on the memory kind it imports", () => {
    for (const [file, shared] of [["core.wasm", true], ["core.plain.wasm", false]] as const) {
      const mod = new WebAssembly.Module(readFileSync(new URL(file, root)));
      const e = Engine.createSync({ kasan: true }, { module: mod });
      expect(e.memory.buffer instanceof SharedArrayBuffer, file).toBe(shared);
      expect(e.selfCheck()).toEqual([]);
    }
  });

  it("a module that is no core is the engine's LinkError, not retried forever", () => {
    // imports env.memory of at most 1 page: a 2-page memory of neither kind links
    const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 2, 16, 1, 3, 101, 110, 118, 6, 109, 101, 109, 111, 114, 121, 2, 1, 1, 1]);
    const mod = new WebAssembly.Module(bytes);
    expect(() => instantiateCore(mod, 2, {})).toThrow(WebAssembly.LinkError);
  });

  it("one CPU reports the same on the shared and the plain core", () => {
    const shared = uafReport(Engine.createSync({ kasan: true }, { build: "release" }));
    const plain = uafReport(Engine.createSync({ kasan: true }, { build: "plain" }));
    expect(shared.title).toMatch(/^BUG: KASAN: slab-use-after-free in uafReport\+ADDR\/ADDR$/);
    expect(shared.lines.length).toBe(7);
    expect(shared).toEqual(plain);
  });
});
