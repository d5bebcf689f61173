// Programs shadowfence cc did not build: plain clang-16 (no -fsanitize, its own
// memory, wasi-libc's dlmalloc) linked at the guest base. Every access is
// checked by the seal and the allocator is redirected to the engine's heap by
// name, so heap bugs come out as KASAN reports with the program's own names.
import { describe, it, expect, beforeAll } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createEngine } from "../../host/index.js";
import { GuestError } from "../../host/guest/runner.js";
import { haveToolchain, OUT } from "./build.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const toolchain = haveToolchain();
const SRC = path.join(root, "test/guest/c/unmodified.c");

function clang(out: string, extra: string[]): Uint8Array {
  mkdirSync(OUT, { recursive: true });
  // as from a shell: npm's PATH has binaryen's wasm-opt, which clang would run after an optimised link, stripping the names
  const PATH = (process.env.PATH ?? "").split(path.delimiter).filter((d) => !d.includes("node_modules")).join(path.delimiter);
  const r = spawnSync("clang-16", ["--target=wasm32-wasi", "--sysroot=/usr", "-O1", SRC, "-o", out, ...extra], { encoding: "utf8", env: { ...process.env, PATH } });
  if (r.status !== 0) throw new Error(`clang-16 failed: ${r.stderr}`);
  return readFileSync(out);
}

async function run(wasm: Uint8Array, arg: string) {
  const e = await createEngine({ cmdline: "kasan_multi_shot" });
  return e.runGuest(wasm, { args: [arg], name: "unmodified", leaks: true });
}

const frames = (stack: string[]) => stack.filter((f) => !/^(?:kasan_|__kasan_|kfree|kasan_save)/.test(f)).map((f) => f.split("+")[0]);

describe.skipIf(!toolchain)("a plain clang build (no -fsanitize)", () => {
  let wasm: Uint8Array;
  beforeAll(() => { wasm = clang(path.join(OUT, "unmodified-plain.wasm"), ["-Wl,--global-base=20971520"]); });

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
    expect(nul.status).toBe("stopped");
    expect(nul.exitCode).toBe(139);
    for (const r of [inv, nul]) expect(r.selfCheck).toEqual([]);
  });

  it("refuses clang's default layout with the flag to link with, and a stripped binary with what is missing", async () => {
    const plain = clang(path.join(OUT, "unmodified-default.wasm"), []);
    const e = await createEngine({});
    expect(() => e.runGuest(plain)).toThrow(GuestError);
    expect(() => e.runGuest(plain)).toThrow(/-Wl,--global-base=20971520/);
    const stripped = clang(path.join(OUT, "unmodified-stripped.wasm"), ["-Wl,--global-base=20971520", "-Wl,--strip-all"]);
    expect(() => e.runGuest(stripped)).toThrow(/^the guest has no name section, so the runner cannot find its allocator \(malloc, free\)/);
    expect(e.selfCheck()).toEqual([]);
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
  beforeAll(() => {
    mkdirSync(OUT, { recursive: true });
    const out = path.join(OUT, "unmodified-rust.wasm");
    const r = spawnSync("/usr/bin/rustc", ["--target", "wasm32-wasi", "-O", path.join(root, "test/guest/rust/unmodified.rs"), "-o", out,
      "-C", "linker=wasm-ld-16", "-C", "link-arg=--global-base=20971520"], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`rustc failed: ${r.stderr}`);
    wasm = readFileSync(out);
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
    expect(o.reports[0].title).toMatch(/^BUG: KASAN: slab-out-of-bounds in _ZN\d+unmodified14write_past_end17h[0-9a-f]{16}E\+/);
    expect(o.reports[0].kasan!.allocStack.map(fn)).toContainEqual(expect.stringMatching(/unmodified11make_buffer/));
    const u = await run(wasm, "uaf");
    expect(u.reports.map((x) => x.type)).toEqual(["slab-use-after-free"]);
    expect(u.reports[0].title).toMatch(/in _ZN\d+unmodified15read_after_free17h/);
    expect(u.reports[0].kasan!.freeStack!.map(fn)).toContainEqual(expect.stringMatching(/unmodified15read_after_free/));
    const d = await run(wasm, "double");
    expect(d.reports.map((x) => x.type)).toEqual(["double-free"]);
    expect(d.reports[0].text).toMatch(/\n _ZN\d+unmodified10free_twice17h[0-9a-f]{16}E\+0x/);
    for (const r of [o, u, d]) { expect(r.status).toBe("exit"); expect(r.selfCheck).toEqual([]); }
  });
});
