// The guest runner: exit codes, WASI (args, env, stdin), uninstrumented
// guests, the kernel ABI flavour, call stacks from the shadow call stack, the
// refusals a guest that cannot run gets, the command line.
import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import binaryen from "binaryen";   // only to assemble the small malformed modules below
import { boot, BUILDS, lines } from "../helpers.js";
import { guestBytes, guestWasm, haveToolchain } from "./build.js";
import { GuestError, GUEST_LINK_BASE } from "../../host/guest/runner.js";
import { parseWasm, callSites } from "../../host/guest/wasm.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const EXIT = { src: "test/guest/c/exit_code.c" };

function wat(text: string): Uint8Array {
  const m = binaryen.parseText(text);
  const b = m.emitBinary();
  m.dispose();
  return b;
}

describe.skipIf(!haveToolchain()).each(BUILDS)("runner (%s core)", (build) => {
  it("preserves the exit code of return, exit() and reports a trap", () => {
    const e = boot({}, build);
    const bytes = guestBytes(EXIT);
    expect(e.runGuest(bytes, { args: ["7"] })).toMatchObject({ status: "exit", exitCode: 7 });
    expect(e.runGuest(bytes, { args: ["exit", "42"] })).toMatchObject({ status: "exit", exitCode: 42, stdout: "exit(42)\n" });
    const trap = e.runGuest(bytes, { args: ["abort"], name: "exit_code" });
    expect(trap).toMatchObject({ status: "trap", exitCode: 134 });
    expect(trap.message).toMatch(/^exit_code\[100\] trapped: /);
    expect(trap.selfCheck).toEqual([]);
  });

  it("passes environment and stdin", () => {
    const e = boot({}, build);
    const bytes = guestBytes(EXIT);
    expect(e.runGuest(bytes, { args: ["env"], env: { GREETING: "hello guest" } }).stdout).toBe("hello guest\n");
    expect(e.runGuest(bytes, { args: ["stdin"], stdin: "line one\nline two\n" }).stdout).toBe("read:line one\n");
  });

  it("runs a guest built without instrumentation on the engine's allocator", () => {
    const e = boot({}, build);
    const allocs = e.stats().slab.allocs;
    const r = e.runGuest(guestBytes({ src: "examples/clean.c", asan: false }), { name: "clean" });
    expect([r.status, r.exitCode, r.stdout, r.reports]).toEqual(["exit", 0, "shadowfence guest:9 19\n", []]);
    expect(e.stats().slab.allocs - allocs).toBeGreaterThanOrEqual(3);
    // no clang checks, but every access is checked by the load-time rewriter: its overflow is found all the same
    const o = e.runGuest(guestBytes({ src: "examples/heap_overflow.c", asan: false }), { name: "plain" });
    expect(o.exitCode).toBe(0);
    expect(o.reports.map((x) => x.title.replace(/\+.*/, ""))).toEqual(["BUG: KASAN: slab-out-of-bounds in fill_name"]);
    expect(lines(o.reports[0])[2]).toMatch(/^Write of size 1 at addr ffff888[0-9a-f]+ by task plain\/100$/);
    expect(o.selfCheck).toEqual([]);
  });

  it("supports the kernel ABI (-fsanitize=kernel-address, _noabort hooks, wrapped mem*)", () => {
    const e = boot({ cmdline: "kasan_multi_shot" }, build);
    const bytes = guestBytes({ src: "examples/use_after_free.c", abi: "kernel" });
    const imports = WebAssembly.Module.imports(new WebAssembly.Module(bytes as BufferSource)).map((i) => i.name);
    expect(imports).toContain("__asan_load4_noabort");
    const r = e.runGuest(bytes, { name: "uaf" });
    expect(r.reports.map((x) => x.title.replace(/\+.*/, ""))).toEqual(["BUG: KASAN: slab-use-after-free in report_session"]);
    expect(e.runGuest(guestBytes({ src: "examples/clean.c", abi: "kernel" })).reports).toEqual([]);
  });

  it("names call sites by their byte offset just past the call in the original function", () => {
    const e = boot({}, build);
    const bytes = guestBytes({ src: "examples/heap_overflow.c" });
    const r = e.runGuest(bytes, { name: "heap_overflow" });
    const m = parseWasm(bytes);
    const idx = (n: string) => [...m.funcNames].find(([, name]) => name === n)![0];
    const main = idx("__original_main");
    const body = m.bodies[main - m.funcImports];
    const mallocCall = callSites(m, main).find((c) => c.callee === idx("__wrap_malloc"))!;
    expect(r.reports[0].kasan!.allocStack![3]).toBe(`main+0x${mallocCall.end.toString(16)}/0x${(body.end - body.start).toString(16)}`);
    const fill = idx("fill_name");
    const store = callSites(m, fill).filter((c) => m.imports.filter((i) => i.kind === 0)[c.callee]?.name === "__asan_store1");
    expect(store).toHaveLength(1);
    expect(r.reports[0].kasan!.ip).toBe(`fill_name+0x${store[0].end.toString(16)}/0x${(m.bodies[fill - m.funcImports].end - m.bodies[fill - m.funcImports].start).toString(16)}`);
  });

  it("keeps the innermost frames of a deep call stack", () => {
    const e = boot({}, build);
    const r = e.runGuest(guestBytes(EXIT), { args: ["deep", "3000"] });
    expect(r.exitCode).toBe(0);
    const rep = r.reports[0];
    expect(rep.title).toMatch(/^BUG: KASAN: slab-out-of-bounds in deep\+/);
    const alloc = rep.kasan!.allocStack!;
    expect(alloc.length).toBe(3 + 56);        // KASAN's frames, then the 56 innermost guest frames
    expect(alloc.slice(3).every((f) => f.startsWith("deep+"))).toBe(true);
  });

  it("refuses what it cannot run, saying what to do", () => {
    const e = boot({}, build);
    // an instrumented build calls its hooks with its raw pointers, so it cannot be relocated (an uninstrumented one is: unmodified.test.ts)
    const low = wat(`(module (import "env" "memory" (memory 300)) (import "env" "__asan_load4" (func $h (param i32))) (data (i32.const 1024) "x")
      (global $__stack_pointer (mut i32) (i32.const 70000)) (func (export "_start") (call $h (i32.const 1024))))`);
    expect(() => e.runGuest(low)).toThrow(new GuestError(`the guest is linked at 0x400, inside the engine's own tables (below 0x1001000); link it with --global-base=${GUEST_LINK_BASE} (shadowfence cc does; a plain clang build: -Wl,--global-base=${GUEST_LINK_BASE}; Rust: -C link-arg=--global-base=${GUEST_LINK_BASE})`));
    const inline = wat(`(module (import "env" "memory" (memory 300)) (import "env" "__asan_report_load4" (func (param i32))) (func (export "_start")))`);
    expect(() => e.runGuest(inline)).toThrow(/inline ASan checks \(it imports __asan_report_load4\); build with -mllvm -asan-instrumentation-with-call-threshold=0/);
    const unknown = wat(`(module (import "env" "memory" (memory 300)) (import "env" "frobnicate" (func)) (func (export "_start")))`);
    expect(() => e.runGuest(unknown)).toThrow(/imports env\.frobnicate, which the engine does not provide/);
    const noStart = wat(`(module (import "env" "memory" (memory 300)) (func (export "main")))`);
    expect(() => e.runGuest(noStart)).toThrow(/no _start export/);
    expect(() => e.runGuest(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]))).toThrow(/not a WebAssembly module/);
    expect(() => boot({ cmdline: "arch=arm64 kasan.mode=sw_tags" }, build).runGuest(guestBytes(EXIT))).toThrow(/kasan.mode=sw_tags/);
    // nothing was claimed by the refusals
    expect(e.runGuest(guestBytes(EXIT), { args: ["3"] }).exitCode).toBe(3);
  });

  it("fails clearly when the frames the guest is linked at are taken, and runs once they are free", () => {
    const e = boot({ cmdline: "ram=32" }, build);
    const blocks: bigint[] = [];
    for (let p = e.alloc_pages(10); p !== 0n; p = e.alloc_pages(10)) blocks.push(p);
    expect(() => e.runGuest(guestBytes(EXIT))).toThrow(/the frames the guest is linked at \(0x1400000-0x[0-9a-f]+\) are in use/);
    for (const p of blocks) e.__free_pages(p, 10);
    expect(e.runGuest(guestBytes(EXIT), { args: ["5"] }).exitCode).toBe(5);
    expect(e.selfCheck()).toEqual([]);
  });

  it("kasan.fault=panic: the report, the panic, and the guest stops with the engine", () => {
    const e = boot({ cmdline: "kasan.fault=panic" }, build);
    const r = e.runGuest(guestBytes({ src: "examples/heap_overflow.c" }), { name: "heap_overflow" });
    expect([r.status, r.exitCode, r.stdout]).toEqual(["panic", 139, ""]);
    expect(r.reports.map((x) => x.kind)).toEqual(["kasan", "panic"]);
    expect(r.reports[1].title).toBe("Kernel panic - not syncing: kasan.fault=panic set ...");
    expect(r.message).toBe("heap_overflow[100] was stopped: the engine panicked");
    expect(() => e.kmalloc(8)).toThrow(/Kernel panic/);
  });

  it("runs on arm64 with generic KASAN", () => {
    const r = boot({ cmdline: "arch=arm64" }, build).runGuest(guestBytes({ src: "examples/heap_overflow.c" }), { name: "heap_overflow" });
    expect(r.reports[0].title).toMatch(/^BUG: KASAN: slab-out-of-bounds in fill_name\+/);
    expect(r.reports[0].address >> 48n).toBe(0xffffn);
    expect(r.reports[0].text).toContain("Call trace:");
  });
});

describe.skipIf(!haveToolchain())("command line", () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, [`${root}/dist/host/cli.js`, ...args], { encoding: "utf8", cwd: root });

  it("shadowfence run: guest output on stdout, kernel reports on stderr, the guest's exit code", () => {
    const r = cli("run", guestWasm({ src: "examples/use_after_free.c" }));
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("refs=0\n");
    expect(r.stderr).toMatch(/^={66}\nBUG: KASAN: slab-use-after-free in report_session\+0x[0-9a-f]+\/0x[0-9a-f]+\nRead of size 4 at addr [0-9a-f]{16} by task use_after_free\/100\n/);
    expect(r.stderr.trimEnd().endsWith("=".repeat(66))).toBe(true);
    expect(cli("run", guestWasm(EXIT), "--", "9").status).toBe(9);
    expect(cli("run", guestWasm(EXIT), "exit", "12").status).toBe(12);
  });

  it("shadowfence run: our options after the program go to the guest, with one line saying so", () => {
    const wasm = guestWasm(EXIT);
    const r = cli("run", wasm, "--cmdline", "kasan=off", "3");
    // the guest got all three: atoi("--cmdline") is 0, so it returned 0 rather than 3
    expect(r.status).toBe(0);
    expect(r.stderr).toBe("shadowfence: --cmdline went to the guest (arguments after the program are its own); " +
      "to give shadowfence an option, put it before the program: shadowfence run --cmdline ... exit_code.wasm\n");
    const two = cli("run", wasm, "--format=json", "--dmesg");
    expect(two.stderr.split("\n").filter(Boolean)).toEqual([expect.stringMatching(/^shadowfence: --format=json --dmesg went to the guest /)]);
    // after "--" the user meant it: no word; before the program they are shadowfence's own
    expect(cli("run", wasm, "--", "--cmdline").stderr).toBe("");
    const ours = cli("run", "--cmdline", "kasan=off", wasm, "5");
    expect([ours.status, ours.stderr]).toEqual([5, ""]);
  });

  it("shadowfence run --format json: one JSON object per report, then the exit", () => {
    const r = cli("run", "--format", "json", "--cmdline", "kasan_multi_shot", guestWasm({ src: "test/guest/c/hostile.c" }), "write", "8");
    expect(r.status).toBe(139);
    const events = r.stderr.trim().split("\n").map((l) => JSON.parse(l));
    expect(events.map((x) => [x.event, x.kind, x.type])).toEqual([
      ["report", "kasan", "null-ptr-deref"], ["report", "oops", "page fault"], ["exit", undefined, undefined]]);
    expect(events[0]).toMatchObject({ address: "0x8", guestAddress: "0x8", size: 4, isWrite: true, comm: "hostile", pid: 100 });
    expect(events[0].function).toMatch(/^poke\+0x/);
    expect(events[2]).toMatchObject({ exitCode: 139, status: "stopped", reports: 2, selfCheck: [] });
  });

  it("shadowfence cc builds a guest, and names the Debian packages when the toolchain is missing", () => {
    const out = `${root}/build/guest/cli-cc.wasm`;
    const ok = cli("cc", "examples/clean.c", "-o", out, "-O1");
    expect([ok.status, ok.stderr]).toEqual([0, ""]);
    expect(readFileSync(out).subarray(0, 4)).toEqual(Buffer.from([0, 0x61, 0x73, 0x6d]));
    // clang runs any wasm-opt on PATH at -O1+, which would strip the names reports need
    const o2 = `${root}/build/guest/cli-cc-O2.wasm`;
    const withOpt = spawnSync(process.execPath, [`${root}/dist/host/cli.js`, "cc", "examples/heap_overflow.c", "-O2", "-o", o2],
      { encoding: "utf8", cwd: root, env: { ...process.env, PATH: `${root}/node_modules/.bin:${process.env.PATH}` } });
    expect(withOpt.status).toBe(0);
    expect([...parseWasm(readFileSync(o2)).funcNames.values()]).toContain("fill_name");
    const missing = spawnSync(process.execPath, [`${root}/dist/host/cli.js`, "cc", "examples/clean.c", "-o", out],
      { encoding: "utf8", cwd: root, env: { ...process.env, SHADOWFENCE_CLANG: "/nonexistent/clang-16" } });
    expect(missing.status).toBe(127);
    expect(missing.stderr).toContain("sudo apt-get install clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32");
  });
});
