// Programs shadowfence cc did not build: plain clang-16 (no -fsanitize, its own
// memory, wasi-libc's dlmalloc) and Debian's rustc, linked as their toolchain
// links them (wasm-ld's default layout: data at 1024, or rustc's stack first).
// The runner relocates them by PHYS_BASE at load time, checks every access and
// redirects the allocator to the engine's heap by name, so heap bugs come out
// as KASAN reports with the program's own names and its own pointer values.
import { describe, it, expect, beforeAll } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createEngine } from "../../host/index.js";
import { GuestError } from "../../host/guest/runner.js";
import { parseWasm, globalValue } from "../../host/guest/wasm.js";
import { haveToolchain, OUT } from "./build.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const toolchain = haveToolchain();
const SRC = path.join(root, "test/guest/c/unmodified.c");

function clang(out: string, extra: string[], opt = "-O2"): Uint8Array {
  mkdirSync(OUT, { recursive: true });
  // as from a shell: npm's PATH has binaryen's wasm-opt, which clang would run after an optimised link, stripping the names
  const PATH = (process.env.PATH ?? "").split(path.delimiter).filter((d) => !d.includes("node_modules")).join(path.delimiter);
  const r = spawnSync("clang-16", ["--target=wasm32-wasi", "--sysroot=/usr", opt, SRC, "-o", out, ...extra], { encoding: "utf8", env: { ...process.env, PATH } });
  if (r.status !== 0) throw new Error(`clang-16 failed: ${r.stderr}`);
  return readFileSync(out);
}

async function run(wasm: Uint8Array, arg: string, more: { args?: string[]; env?: Record<string, string>; stdin?: string; cmdline?: string } = {}) {
  const e = await createEngine({ cmdline: more.cmdline ?? "kasan_multi_shot" });
  return e.runGuest(wasm, { args: [arg, ...(more.args ?? [])], env: more.env, stdin: more.stdin, name: "unmodified", leaks: true });
}

const frames = (stack: string[]) => stack.filter((f) => !/^(?:kasan_|__kasan_|kfree|kasan_save)/.test(f)).map((f) => f.split("+")[0]);

describe.skipIf(!toolchain)("a plain clang -O2 build (no -fsanitize), linked with wasm-ld's default layout", () => {
  let wasm: Uint8Array;
  beforeAll(() => { wasm = clang(path.join(OUT, "unmodified-plain.wasm"), []); });

  it("runs clean without a report or a leak", async () => {
    const r = await run(wasm, "clean");
    expect(r.status).toBe("exit");
    expect(r.stdout).toBe("ok\n");
    expect(r.reports).toEqual([]);
    expect(r.leaks).toEqual([]);
    expect(r.selfCheck).toEqual([]);
    expect(r.uninstrumented).toBe("shadowfence: unmodified has no ASan instrumentation: every heap, NULL and wild access is checked at load time, " +
      "but stack and global out-of-bounds need the compiler's redzones and are not seen");
  });

  it("run --dmesg says what an uninstrumented build cannot see; the CLI runs it", () => {
    const r = spawnSync("node", [path.join(root, "dist/host/cli.js"), "run", "--dmesg", path.join(OUT, "unmodified-plain.wasm"), "overflow"], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("ok\n");
    expect(r.stderr).toContain("shadowfence: unmodified-plai has no ASan instrumentation");
    expect(r.stderr).toMatch(/^BUG: KASAN: slab-out-of-bounds in write_past_end\+/m);
  });

  it("heap overflow: slab-out-of-bounds in the program's own function, allocated in make_buffer", async () => {
    const r = await run(wasm, "overflow");
    expect(r.reports.map((x) => x.title)).toEqual([expect.stringMatching(/^BUG: KASAN: slab-out-of-bounds in write_past_end\+0x[0-9a-f]+\/0x[0-9a-f]+$/)]);
    const k = r.reports[0].kasan!;
    expect(r.reports[0].text).toContain("Write of size 1 at addr");
    expect(r.reports[0].text).toContain("allocated 16-byte region");
    expect(frames(k.allocStack).slice(0, 2)).toEqual(["make_buffer", "main"]);
  });

  it("use-after-free: slab-use-after-free with the allocation and free stacks", async () => {
    const r = await run(wasm, "uaf");
    expect(r.reports.map((x) => x.type)).toEqual(["slab-use-after-free"]);
    expect(r.reports[0].title).toMatch(/in read_after_free\+/);
    expect(frames(r.reports[0].kasan!.allocStack).slice(0, 3)).toEqual(["make_buffer", "read_after_free", "main"]);
    expect(frames(r.reports[0].kasan!.freeStack!).slice(0, 2)).toEqual(["read_after_free", "main"]);
  });

  it("double free: double-free reported at the second free, refused", async () => {
    const r = await run(wasm, "double");
    expect(r.reports.map((x) => x.type)).toEqual(["double-free"]);
    expect(r.reports[0].title).toMatch(/^BUG: KASAN: double-free in free_twice\+/);
    expect(r.status).toBe("exit");
    expect(r.selfCheck).toEqual([]);
  });

  it("invalid free of a global and a NULL read: invalid-free (refused), then null-ptr-deref and the oops that stops it", async () => {
    const inv = await run(wasm, "invalid");
    expect(inv.reports.map((x) => x.title)).toEqual([expect.stringMatching(/^BUG: KASAN: invalid-free in free_global\+/)]);
    expect(inv.status).toBe("exit");
    const nul = await run(wasm, "null");
    expect(nul.reports.map((x) => x.title)).toEqual([expect.stringMatching(/^BUG: KASAN: null-ptr-deref in read_null\+/),
      "BUG: kernel NULL pointer dereference, address: 0000000000000000"]);
    expect(nul.reports[0].text).toContain("Read of size 1 at addr 0000000000000000 by task unmodified/100");
    expect(nul.reports[0].extra?.guestAddress).toBe("0x0");
    expect(nul.status).toBe("stopped");
    expect(nul.exitCode).toBe(139);
    for (const r of [inv, nul]) expect(r.selfCheck).toEqual([]);
  });

  it("reports the program's own pointer: the kernel address is PAGE_OFFSET + what its printf(\"%p\") printed", async () => {
    const r = await run(wasm, "where");
    const printed = BigInt(r.stdout.split("\n")[0]);
    expect(printed > 0x1000n && printed < 0x100000000n).toBe(true);
    const at = printed + 16n;              // b[16], just past the 16-byte object
    expect(r.reports.map((x) => x.address)).toEqual([0xffff888000000000n + at]);
    expect(r.reports[0].extra?.guestAddress).toBe("0x" + at.toString(16));
    expect(r.reports[0].text).toContain(`Write of size 1 at addr ${(0xffff888000000000n + at).toString(16)} by task unmodified/100`);
    expect(r.reports[0].text).toContain(`allocated 16-byte region [${(0xffff888000000000n + printed).toString(16)}, ${(0xffff888000000000n + at).toString(16)})`);
  });

  it("posix_memalign is the engine's: aligned, EINVAL for a bad alignment, its object's end redzoned", async () => {
    const r = await run(wasm, "memalign");
    expect(r.stdout).toBe("posix_memalign(64, 40) = 0\naligned 1\nposix_memalign(3, 8) = 28\nok\n");
    expect(r.reports.map((x) => x.title)).toEqual([expect.stringMatching(/^BUG: KASAN: slab-out-of-bounds in write_aligned\+/)]);
    expect(r.reports[0].text).toContain("allocated 40-byte region");
    expect(frames(r.reports[0].kasan!.allocStack).slice(0, 2)).toEqual(["aligned_buffer", "main"]);
    expect(r.leaks).toEqual([]);
  });

  it("leaks: the object only a dead pointer held is reported, the one a global holds is not", async () => {
    const r = await run(wasm, "leak");
    expect(r.reports).toEqual([]);
    expect(r.leaks!.map((l) => l.size)).toEqual([40]);
    const l = r.leaks![0];
    expect(l.text).toMatch(/^unreferenced object 0xffff888[0-9a-f]{9} \(size 40\):\n  comm "unmodified", pid 100, jiffies \d+\n/);
    expect(BigInt(l.guestAddress!) + 0xffff888000000000n).toBe(l.address);
    expect(l.backtrace.map((f) => f.split("+")[0]).slice(1, 3)).toEqual(["make_buffer", "main"]);
  });

  it("WASI through the relocation: argv, environ, stdin (fd_read's iovecs) and stdout", async () => {
    const env = await run(wasm, "env", { args: ["second"], env: { GREETING: "hello" } });
    expect(env.stdout).toBe("hello second\nok\n");
    const echo = await run(wasm, "echo", { stdin: "a\nbb\n" });
    expect(echo.stdout).toBe("[a\n][bb\n]\nok\n");
    for (const r of [env, echo]) { expect(r.reports).toEqual([]); expect(r.leaks).toEqual([]); expect(r.selfCheck).toEqual([]); }
  });

  it("the CLI runs it on node:wasi: a file in a --dir preopen written and read back", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sf-unmodified-"));
    try {
      const file = path.join(dir, "out.txt");
      const r = spawnSync("node", [path.join(root, "dist/host/cli.js"), "run", "--dir", dir, "--", path.join(OUT, "unmodified-plain.wasm"), "file", file], { encoding: "utf8" });
      expect(r.stderr).toBe("");
      expect(r.stdout).toBe("written 42\nok\n");
      expect(r.status).toBe(0);
      expect(readFileSync(file, "utf8")).toBe("written 42\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("kasan=off: the NULL page is still refused, and frame 0 goes back reserved", async () => {
    const nul = await run(wasm, "null", { cmdline: "kasan=off" });
    expect(nul.reports.map((x) => x.title)).toEqual(["BUG: kernel NULL pointer dereference, address: 0000000000000000"]);
    expect(nul.status).toBe("stopped");
    const clean = await run(wasm, "clean", { cmdline: "kasan=off" });
    expect(clean.stdout).toBe("ok\n");
    for (const r of [nul, clean]) expect(r.selfCheck).toEqual([]);
  });

  it("one engine runs it again and again (frame 0 and the image are given back each time)", async () => {
    const e = await createEngine({ cmdline: "kasan_multi_shot" });
    for (const arg of ["clean", "overflow", "null", "clean"]) {
      const r = e.runGuest(wasm, { args: [arg], name: "unmodified" });
      expect(r.selfCheck).toEqual([]);
      if (arg === "clean") expect(r.stdout).toBe("ok\n");
    }
  });

  it("a --global-base=20971520 link still runs as before (no relocation)", async () => {
    const based = clang(path.join(OUT, "unmodified-based.wasm"), ["-Wl,--global-base=20971520"], "-O1");
    const o = await run(based, "overflow");
    expect(o.reports.map((x) => x.title)).toEqual([expect.stringMatching(/^BUG: KASAN: slab-out-of-bounds in write_past_end\+/)]);
    expect(BigInt(o.reports[0].extra!.guestAddress!)).toBe(o.reports[0].address - 0xffff888000000000n + 0x1000000n);
    const c = await run(based, "clean");
    expect(c.stdout).toBe("ok\n");
    expect(c.leaks).toEqual([]);
  });

  it("refuses a stripped binary with what is missing, and arm64 (its low frames are the buddy's first) with the flag to link with", async () => {
    const e = await createEngine({});
    const stripped = clang(path.join(OUT, "unmodified-stripped.wasm"), ["-Wl,--strip-all"]);
    expect(() => e.runGuest(stripped)).toThrow(/^the guest has no name section, so the runner cannot find its allocator \(malloc, free\)/);
    expect(e.selfCheck()).toEqual([]);
    const arm = await createEngine({ arch: "arm64" });
    expect(() => arm.runGuest(wasm)).toThrow(GuestError);
    expect(() => arm.runGuest(wasm)).toThrow(/^the frames the guest's own addresses need \(0x400-0x[0-9a-f]+, physical 0x400\) are in use \(pfn 0x[0-9a-f]+\): on arm64 the buddy hands out the lowest frames first; link it with --global-base=20971520/);
    expect(arm.selfCheck()).toEqual([]);
    void existsSync;
  });
});

/** Debian's rustc with the wasm32-wasi std; under CI a missing one is an error, as for clang. */
function haveRust(): boolean {
  const ok = existsSync("/usr/bin/rustc") && spawnSync("sh", ["-c", "ls /usr/lib/rustlib/wasm32-wasi/lib/libstd-*.rlib"]).status === 0;
  if (!ok && process.env.CI) throw new Error("Debian's rustc and libstd-rust-dev-wasm32 are missing (npm test's pretest installs them)");
  return ok;
}
const rust = haveRust();

describe.skipIf(!rust || !toolchain)("a Rust program built by Debian's rustc", () => {
  let wasm: Uint8Array;
  const rustc = (out: string, extra: string[]) => {
    mkdirSync(OUT, { recursive: true });
    const r = spawnSync("/usr/bin/rustc", ["--target", "wasm32-wasi", "-O", path.join(root, "test/guest/rust/unmodified.rs"), "-o", out,
      "-C", "linker=wasm-ld-16", ...extra], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`rustc failed: ${r.stderr}`);
    return readFileSync(out);
  };
  beforeAll(() => {
    wasm = rustc(path.join(OUT, "unmodified-rust.wasm"), []);
  });
  const fn = (f: string) => f.split("+")[0];

  it("runs clean: no report, no leak (std's own objects are reachable from its statics)", async () => {
    const r = await run(wasm, "clean");
    expect(r.status).toBe("exit");
    expect(r.stdout).toBe("ok 4950\n");
    expect(r.reports).toEqual([]);
    expect(r.leaks).toEqual([]);
    expect(r.selfCheck).toEqual([]);
  });

  it("heap overflow, use-after-free and double free: each reported with the program's own functions", async () => {
    const o = await run(wasm, "overflow");
    expect(o.reports.map((x) => x.type)).toEqual(["slab-out-of-bounds"]);
    expect(o.reports[0].title).toMatch(/^BUG: KASAN: slab-out-of-bounds in unmodified::write_past_end\+0x[0-9a-f]+\/0x[0-9a-f]+$/);
    expect(o.reports[0].text).toContain("allocated 16-byte region");
    expect(o.reports[0].kasan!.allocStack.map(fn)).toContain("unmodified::make_buffer");
    expect(o.reports[0].kasan!.allocStack.map(fn)).toContain("unmodified::main");
    const u = await run(wasm, "uaf");
    expect(u.reports.map((x) => x.type)).toEqual(["slab-use-after-free"]);
    expect(u.reports[0].title).toMatch(/^BUG: KASAN: slab-use-after-free in unmodified::read_after_free\+/);
    expect(u.reports[0].kasan!.freeStack!.map(fn)).toContain("unmodified::read_after_free");
    const d = await run(wasm, "double");
    expect(d.reports.map((x) => x.type)).toEqual(["double-free"]);
    expect(d.reports[0].text).toMatch(/\n unmodified::free_twice\+0x[0-9a-f]+\/0x[0-9a-f]+\n/);
    expect(d.reports[0].kasan!.freeStack!.map(fn)).toContain("unmodified::free_twice");
    for (const r of [o, u, d]) { expect(r.status).toBe("exit"); expect(r.selfCheck).toEqual([]); expect(r.leaks).toEqual([]); }
  });

  it("its stack stays where rustc put it, below the data: the lowest page is the NULL page", async () => {
    const m = parseWasm(wasm);
    const sp = globalValue(m, "__stack_pointer")!;
    expect(Math.min(...m.data.map((d) => d.offset!))).toBeGreaterThanOrEqual(sp);     // stack first
    const r = await run(wasm, "clean");
    expect(r.stdout).toBe("ok 4950\n");
    expect(r.reports).toEqual([]);
  });

  it("a --global-base link still runs (its stack moved above its data, as before)", async () => {
    const based = rustc(path.join(OUT, "unmodified-rust-based.wasm"), ["-C", "link-arg=--global-base=20971520"]);
    const o = await run(based, "overflow");
    expect(o.reports.map((x) => x.title)).toEqual([expect.stringMatching(/^BUG: KASAN: slab-out-of-bounds in unmodified::write_past_end\+/)]);
    const c = await run(based, "clean");
    expect(c.stdout).toBe("ok 4950\n");
    expect(c.leaks).toEqual([]);
  });
});
