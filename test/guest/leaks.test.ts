// kmemleak at guest exit: planted leaks reported with their allocation stacks
// in kmemleak's text; objects reachable from .bss, the live stack or another
// object (interior pointers too) never; the CLI's --no-leaks and --leaks-exit-code.
import { describe, it, expect, beforeAll } from "vitest";
import { readFileSync } from "node:fs";
import { execFileSync, spawnSync } from "node:child_process";
import { createEngine } from "../../host/index.js";
import { guestWasm, haveToolchain } from "./build.js";

const toolchain = haveToolchain();
let wasm: Uint8Array;

async function run(arg: string, leaks = true) {
  const e = await createEngine({ cmdline: "kasan_multi_shot no_hash_pointers" });
  const r = e.runGuest(wasm, { args: [arg], name: "leaks", leaks });
  return { e, r };
}

describe.skipIf(!toolchain)("kmemleak at guest exit", () => {
  beforeAll(() => { wasm = readFileSync(guestWasm({ src: "test/guest/c/leaks.c" })); });

  it("reports both planted leaks with kmemleak's text and the guest's allocation stack", async () => {
    const { r } = await run("leak");
    expect(r.status).toBe("exit");
    expect(r.reports).toEqual([]);
    expect(r.leaks!.length).toBe(2);
    for (const l of r.leaks!) {
      expect(l.size).toBe(40);
      expect(l.comm).toBe("leaks");
      expect(l.pid).toBe(100);
      const lines = l.text.split("\n");
      expect(lines[0]).toBe(`unreferenced object 0x${l.address.toString(16)} (size 40):`);
      expect(lines[1]).toMatch(/^  comm "leaks", pid 100, jiffies \d+$/);
      expect(lines[2]).toBe("  hex dump (first 32 bytes):");
      expect(lines[3]).toBe("    4c 53 53 53 53 53 53 53 53 53 53 53 53 53 53 53  LSSSSSSSSSSSSSSS");
      expect(lines[4]).toBe("    53 53 53 53 53 53 53 53 53 53 53 53 53 53 53 53  SSSSSSSSSSSSSSSS");
      expect(lines[5]).toMatch(/^  backtrace \(crc [0-9a-f]+\):$/);
      const frames = lines.slice(6).map((x) => x.replace(/^    \[<[0-9a-f]{16}>\] /, ""));
      expect(frames.slice(0, 4).map((f) => f.split("+")[0])).toEqual(["__kmalloc_noprof", "leak_session", "drop_session", "main"]);
    }
    // two call sites of drop_session in main: two different stacks
    expect(r.leaks![0].backtrace[3]).not.toBe(r.leaks![1].backtrace[3]);
  });

  it("never reports objects reachable from .bss, another object, an interior pointer or the live stack", async () => {
    for (const arg of ["clean", "freed", "stack"]) {
      const { r } = await run(arg);
      expect(r.status, arg).toBe("exit");
      expect(r.leaks, arg).toEqual([]);
    }
  });

  it("kasan=off (no allocation track): the guest's leaks are still found, as the objects it left", async () => {
    const e = await createEngine({ cmdline: "kasan=off no_hash_pointers" });
    const pre = e.kzalloc(40);                        // an embedder's object from before the guest: not the guest's leak
    const r = e.runGuest(wasm, { args: ["leak"], name: "leaks", leaks: true });
    // without KASAN's shadow the requested size is unknown: the cache's object size (kmalloc-64)
    expect(r.leaks!.map((l) => l.size)).toEqual([64, 64]);
    expect(r.leaks!.map((l) => l.address)).not.toContain(pre);
    expect(r.leaks![0].text).toContain("  hex dump (first 32 bytes):\n    4c 53 53 53");
    const clean = (await createEngine({ cmdline: "kasan=off" })).runGuest(wasm, { args: ["clean"], name: "leaks", leaks: true });
    expect(clean.leaks).toEqual([]);
  });

  it("is off unless asked in the library; the scan leaves the engine sane", async () => {
    const { e, r } = await run("leak", false);
    expect(r.leaks).toBeUndefined();
    expect(e.selfCheck()).toEqual([]);
    // an embedder's scan afterwards sees the guest's leaks too (8-byte words in kernel objects, none here)
    const all = e.kmemleakScan();
    expect(all.filter((l) => l.pid === 100 && l.size === 40).length).toBe(2);
    expect(e.kmemleakText()).toContain("unreferenced object 0x");
    expect(e.dmesg()).toMatch(/kmemleak: \d+ new suspected memory leaks \(see \/sys\/kernel\/debug\/kmemleak\)/);
  });

  it("CLI: leaks on stderr by default, --no-leaks silent, --leaks-exit-code sets the status", () => {
    const prog = guestWasm({ src: "test/guest/c/leaks.c" });
    const cli = ["dist/host/cli.js", "run"];
    const on = spawnSync("node", [...cli, prog, "leak"], { encoding: "utf8" });
    expect(on.status).toBe(0);
    expect(on.stderr.match(/^unreferenced object 0x/gm)?.length).toBe(2);
    expect(on.stderr).toContain("kmemleak: 2 new suspected memory leaks (see /sys/kernel/debug/kmemleak)");
    const off = spawnSync("node", [...cli, "--no-leaks", prog, "leak"], { encoding: "utf8" });
    expect(off.status).toBe(0);
    expect(off.stderr).not.toContain("unreferenced object");
    const code = spawnSync("node", [...cli, "--leaks-exit-code", "23", prog, "leak"], { encoding: "utf8" });
    expect(code.status).toBe(23);
    const clean = spawnSync("node", [...cli, "--leaks-exit-code", "23", prog, "clean"], { encoding: "utf8" });
    expect(clean.status).toBe(0);
    expect(clean.stderr).toBe("");
    const js = spawnSync("node", [...cli, "--format", "json", "--leaks-exit-code", "23", prog, "leak"], { encoding: "utf8" });
    const events = js.stderr.trim().split("\n").map((l) => JSON.parse(l));
    expect(events.map((x) => x.event)).toEqual(["leak", "leak", "exit"]);
    expect(events[0]).toMatchObject({ size: 40, pid: 100, comm: "leaks" });
    expect(events[0].backtrace[1]).toMatch(/^leak_session\+0x/);
    expect(events[2]).toMatchObject({ exitCode: 23, status: "exit", leaks: 2 });
    expect(js.status).toBe(23);
    const bad = spawnSync("node", [...cli, "--leaks-exit-code", "x", prog], { encoding: "utf8" });
    expect(bad.status).toBe(2);
    void execFileSync;
  });
});

describe("kmemleak through the library", () => {
  it("refuses bad arguments with one line", async () => {
    const e = await createEngine({});
    expect(() => e.kmemleakScan({ roots: [{ lin: -1, len: 8, width: 8 }] })).toThrow(/kmemleakScan: roots\[0\]\.lin must be an integer/);
    expect(() => e.kmemleakScan({ roots: [{ lin: 0, len: 8, width: 2 as 4 }] })).toThrow("kmemleakScan: roots[0] must be { lin, len, width: 4 | 8 }");
    expect(() => e.kmemleakScan({ roots: [{ lin: 16, len: 2 ** 40, width: 4 }] })).toThrow(/roots\[0\]\.len/);
    expect(() => e.kmemleakScan({ onlyPid: 1.5 })).toThrow(/onlyPid/);
    expect(e.selfCheck()).toEqual([]);
  });

  it("finds an unreferenced kernel object, not one held by a global (interior pointer) or by another object", async () => {
    const e = await createEngine({ cmdline: "no_hash_pointers" });
    expect(e.kmemleakScan()).toEqual([]);           // boot leaves nothing unreferenced
    const g = e.registerGlobal("holder", 8);
    const a = e.kzalloc(100), b = e.kzalloc(40), c = e.kzalloc(64);
    e.store(g, 8, a + 8n);
    e.store(a + 16n, 8, b);
    e.writeBytes(c, new TextEncoder().encode("leaked string here, more than 32"));
    const leaks = e.kmemleakScan();
    expect(leaks.map((l) => l.address)).toEqual([c]);
    expect(leaks[0].text.split("\n").slice(0, 5)).toEqual([
      `unreferenced object 0x${c.toString(16)} (size 64):`,
      leaks[0].text.split("\n")[1],
      "  hex dump (first 32 bytes):",
      "    6c 65 61 6b 65 64 20 73 74 72 69 6e 67 20 68 65  leaked string he",
      "    72 65 2c 20 6d 6f 72 65 20 74 68 61 6e 20 33 32  re, more than 32",
    ]);
    e.kfree(c);
    e.store(g, 8, 0);
    expect(e.kmemleakScan().map((l) => l.address).sort()).toEqual([a, b].sort());
  });
});
