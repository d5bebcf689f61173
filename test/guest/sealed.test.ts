// The sealed guest: every memory instruction of every guest function is
// checked by the load-time rewriter, whatever built it (clang with or without
// ASan, wasi-libc, a hand-written module); endless guests stop at their time
// limit; malformed modules are one GuestError; guest names are data. After
// every case the engine is healthy: its self-check is clean, it still reports
// a use-after-free made through the host API, and a clean guest still runs
// with the same output.
import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { writeFileSync, mkdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { wat } from "./wat.js";
import fc from "fast-check";
import * as abi from "../../abi/abi.js";
import { boot } from "../helpers.js";
import { guestBytes, haveToolchain } from "./build.js";
import { GuestError, EXIT_TIMEOUT } from "../../host/guest/runner.js";
import { sanitizeName } from "../../host/args.js";
import { parseWasm } from "../../host/guest/wasm.js";
import type { Engine } from "../../host/engine.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const BASE = 0x1400000;            // GUEST_LINK_BASE: where the hand-written guests put their data
const hex = (n: number) => "0x" + n.toString(16);

/** A minimal WASI command: $main runs `body`, then exits with 0 (or what the body passes to $exit). */
function guest(body: string, extra = "", names = true): Uint8Array {
  return wat(`(module
    (import "env" "memory" (memory 300))
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    ${extra}
    (global $__stack_pointer (mut i32) (i32.const ${BASE + 0x10000}))
    (data (i32.const ${BASE}) "sealed guest data")
    (func $main ${body})
    (func $_start (export "_start") (call $main)))`, names);
}

// The core's largest data segment: constant tables (the snapshot shows any write to them)
const CORE_TABLE = parseWasm(readFileSync(path.join(root, "build/core.wasm"))).data
  .filter((d) => !d.passive && d.offset !== undefined).sort((a, b) => b.size - a.size)[0].offset!;

/** Engine memory a guest must never touch (linear addresses below PHYS_BASE; see assembly/statics.ts). */
function targets(e: Engine): Record<string, { lin: number; check: (u8: Uint8Array) => void }> {
  const statics = e.exports.tlb_base();            // STATICS_BASE
  const cacheTable = statics + 0x68000;            // CACHE_TABLE: u32 linear address per kmem_cache
  const hot = statics + 0x70000;                   // HOT_TABLE
  const dv = (u8: Uint8Array) => new DataView(u8.buffer);
  return {
    "the kmem_cache table": { lin: cacheTable, check: (u8) => expect(dv(u8).getUint32(cacheTable, true)).toBeGreaterThan(abi.PHYS_BASE) },
    "the core's static data": { lin: CORE_TABLE, check: () => {} },
    "the KASAN-mode word": { lin: hot + 8, check: (u8) => expect(dv(u8).getInt32(hot + 8, true)).toBe(e.options.kasan ? 1 : 0) },
    "the guest delta": { lin: hot + 64, check: (u8) => expect(dv(u8).getBigUint64(hot + 64, true)).toBe(0xffff888000000000n - BigInt(abi.PHYS_BASE)) },
  };
}

function snapshot(e: Engine, lin: number, n = 64): Uint8Array {
  return e.u8view().slice(lin, lin + n);
}

/** The engine after a guest: invariants hold, KASAN still reports, a clean guest runs as before. */
function expectHealthy(e: Engine, what = ""): void {
  expect(e.selfCheck(), what).toEqual([]);
  e.takeReports();
  const p = e.kmalloc(48);
  e.kfree(p);
  e.load(p + 8n, 8);
  const uaf = e.takeReports();
  if (e.options.kasan) expect(uaf.map((r) => r.type), what).toEqual(["slab-use-after-free"]);
  if (haveToolchain()) {
    const r = e.runGuest(guestBytes({ src: "examples/clean.c" }), { name: "clean" });
    expect([r.status, r.exitCode, r.stdout, r.reports.length], what).toEqual(["exit", 0, "shadowfence guest:9 19\n", 0]);
  }
  expect(e.selfCheck(), what).toEqual([]);
}

/** Run, and fail on anything but a GuestResult or a GuestError (a raw RuntimeError/TypeError escaping). */
function run(e: Engine, bytes: Uint8Array, opts: Parameters<Engine["runGuest"]>[1] = {}) {
  try {
    return e.runGuest(bytes, { name: "sealed", ...opts });
  } catch (err) {
    expect(err, String(err)).toBeInstanceOf(GuestError);
    expect((err as Error).message).not.toContain("\n");
    return undefined;
  }
}

describe.each(["", "kasan=off"])("sealed guests (%s)", (cmdline) => {
  const kasan = cmdline === "";

  it.skipIf(!haveToolchain())("an overflow inside wasi-libc (sprintf) is KASAN's slab-out-of-bounds, then the kernel's behaviour", () => {
    for (const asan of [true, false]) {
      const e = boot({ cmdline: `kasan_multi_shot ${cmdline}` });
      const r = e.runGuest(guestBytes({ src: "test/guest/c/sealed.c", asan }), { name: "sealed", args: ["sprintf"] });
      if (kasan) {
        // printf's internals copy the padding 256 bytes at a time: libc's memcpy is the shim's
        // memory.copy, the engine's checked __asan_memmove, reported as the kernel's memcpy is
        // (kasan_check_range, __asan_memmove, then the caller) and skipped
        const k = r.reports[0];
        expect(k.kind).toBe("kasan");
        expect(k.title).toMatch(/^BUG: KASAN: slab-out-of-bounds in sn_write\+0x[0-9a-f]+\/0x[0-9a-f]+$/);
        expect(k.text.split("\n")[2]).toMatch(/^Write of size 256 at addr ffff888[0-9a-f]+ by task sealed\/100$/);
        const stack = k.text.split("\n");
        const trace = stack.slice(stack.indexOf(" <TASK>") + 1, stack.indexOf(" </TASK>")).map((l) => l.trim().replace(/\+.*/, ""));
        expect(trace.slice(3, 9)).toEqual(["kasan_check_range", "__asan_memmove", "sn_write", "__fwritex", "printf_core", "vfprintf"]);
        expect(trace).toEqual(expect.arrayContaining(["vsprintf", "sprintf", "main"]));
        expect(k.text).toContain("which belongs to the cache kmalloc-16 of size 16");
      }
      // each later chunk is reported and skipped too, until one reaches memory of the
      // engine's own: the oops stops the guest there
      expect([r.status, r.exitCode, r.stdout]).toEqual(["stopped", 139, ""]);
      const oops = r.reports.filter((x) => x.kind === "oops");
      expect(oops).toHaveLength(1);
      expect(oops[0].title).toMatch(/^BUG: unable to handle page fault for address: ffff888[0-9a-f]+$/);
      expect(oops[0].text).toMatch(/\n sn_write\+0x[0-9a-f]+\/0x[0-9a-f]+\n __fwritex\+/);
      expect(r.selfCheck).toEqual([]);
      expectHealthy(e, `asan=${asan}`);
    }
  });

  it.skipIf(!haveToolchain())("libc's word-at-a-time reads past a terminator are not reported (read_word_at_a_time)", () => {
    const e = boot({ cmdline: `kasan_multi_shot ${cmdline}` });
    const r = e.runGuest(guestBytes({ src: "test/guest/c/sealed.c", asan: false }), { name: "sealed", args: ["strlen"] });
    expect([r.status, r.stdout, r.reports]).toEqual(["exit", "len 4\n", []]);
  });

  it("hand-written stores, fills and copies at engine memory are reported, not performed, and stop the guest", () => {
    const e = boot({ cmdline: `kasan_multi_shot ${cmdline}` });
    for (const [what, t] of Object.entries(targets(e))) {
      const attacks: Record<string, string> = {
        "i32.store": `(i32.store (i32.const ${t.lin}) (i32.const 0x41414141))`,
        "i64.store with an offset": `(i64.store offset=16 (i32.const ${t.lin - 16}) (i64.const -1))`,
        "v128.store": `(v128.store (i32.const ${t.lin}) (v128.const i64x2 -1 -1))`,
        "i32.atomic.rmw.add": `(drop (i32.atomic.rmw.add (i32.const ${t.lin & ~3}) (i32.const 5)))`,
        "memory.fill": `(memory.fill (i32.const ${t.lin}) (i32.const 0) (i32.const 0x10000))`,
        "memory.copy": `(memory.copy (i32.const ${t.lin}) (i32.const ${BASE}) (i32.const 16))`,
        "a store after a load from engine memory": `(i32.store (i32.const ${BASE}) (i32.load (i32.const ${t.lin})))`,
        "a store in a function that calls one __asan_ hook":
          `(call $asan_load4 (i32.const ${BASE})) (i32.store (i32.const ${t.lin}) (i32.const 0x41414141))`,
      };
      for (const [how, body] of Object.entries(attacks)) {
        const label = `${how} at ${what}`;
        const before = snapshot(e, t.lin);
        const r = run(e, guest(body, `(import "env" "__asan_load4" (func $asan_load4 (param i32)))`))!;
        expect([r.status, r.exitCode], label).toEqual(["stopped", 139]);
        expect(r.reports.map((x) => x.kind), label).toEqual(kasan ? ["kasan", "oops"] : ["oops"]);
        if (kasan) expect(r.reports[0].title, label).toMatch(/^BUG: KASAN: wild-memory-access in main\+0x[0-9a-f]+\/0x[0-9a-f]+$/);
        expect(r.reports[r.reports.length - 1].title, label).toMatch(/^BUG: unable to handle page fault for address: /);
        expect(snapshot(e, t.lin), label).toEqual(before);
        t.check(e.u8view());
        expect(r.selfCheck, label).toEqual([]);
      }
    }
    expectHealthy(e);
  });

  it.skipIf(!haveToolchain())("the shim's own stores are checked: posix_memalign's result aimed at the engine stops the guest (reported in its caller)", () => {
    const e = boot({ cmdline: `kasan_multi_shot ${cmdline}` });
    for (const [what, t] of Object.entries(targets(e))) {
      const before = snapshot(e, t.lin);
      const r = e.runGuest(guestBytes({ src: "test/guest/c/sealed.c", asan: true }), { name: "sealed", args: ["memalign", t.lin.toString(16)] });
      expect([r.status, r.exitCode, r.stdout], what).toEqual(["stopped", 139, ""]);
      if (kasan) expect(r.reports[0].title, what).toMatch(/^BUG: KASAN: wild-memory-access in main\+/);
      expect(snapshot(e, t.lin), what).toEqual(before);
      t.check(e.u8view());
    }
    expectHealthy(e);
  });

  it("the guest's own ring, ssp and site words are out of its reach, also through a local a hook checked", () => {
    const e = boot({ cmdline: `kasan_multi_shot ${cmdline}` });
    // the image ends at BASE + 0x10000, so the control region is the next 256 KiB-aligned block:
    // the ring, then the ssp and site words
    const ring = 0x1440000, ssp = ring + 0x40000;
    const asan = `(import "env" "__asan_load4" (func $asan_load4 (param i32))) (import "env" "__asan_load1" (func $asan_load1 (param i32)))`;
    const attacks: Record<string, string> = {
      "a store into the ring": `(i32.store (i32.const ${ring + 0x100}) (i32.const -1))`,
      "a store to the ssp word": `(i32.store (i32.const ${ssp}) (i32.const 0))`,
      "a store to the site word after a hook": `(call $asan_load4 (i32.const ${BASE})) (i32.store (i32.const ${ssp + 4}) (i32.const -1))`,
      "a checked local used with a large offset": `(local $x i32) (call $asan_load4 (local.tee $x (i32.const ${BASE})))
        (i32.store offset=${ssp - BASE} (local.get $x) (i32.const 0))`,
      "a checked local reassigned before the store": `(local $x i32) (call $asan_load4 (local.tee $x (i32.const ${BASE})))
        (local.set $x (i32.const ${ssp})) (i32.store (local.get $x) (i32.const 0))`,
      "a local checked for 1 byte stored 8 bytes": `(local $x i32) (call $asan_load1 (local.tee $x (i32.const ${ring - 1})))
        (i64.store (local.get $x) (i64.const -1))`,
    };
    for (const [what, body] of Object.entries(attacks)) {
      const r = run(e, guest(body, asan))!;
      expect([r.status, r.exitCode], what).toEqual(["stopped", 139]);
      expect(r.reports[r.reports.length - 1].title, what).toMatch(/^BUG: unable to handle page fault for address: /);
      expect(r.selfCheck, what).toEqual([]);
    }
    // and a store the hook did check goes ahead without a second report
    const ok = run(e, guest(`(local $x i32) (call $asan_load4 (local.tee $x (i32.const ${BASE + 64})))
      (i32.store (local.get $x) (i32.const 7)) (call $exit (i32.load (local.get $x)))`, asan))!;
    expect([ok.status, ok.exitCode, ok.reports]).toEqual(["exit", 7, []]);
    expectHealthy(e);
  });

  it("memory.grow answers -1 and does not grow the engine's memory", () => {
    const e = boot({ cmdline: `kasan_multi_shot ${cmdline}` });
    const size = e.memory.buffer.byteLength;
    const r = run(e, guest(`(call $exit (i32.add (memory.grow (i32.const 1)) (i32.const 5)))`))!;
    expect([r.status, r.exitCode]).toEqual(["exit", 4]);
    expect(e.memory.buffer.byteLength).toBe(size);
    expectHealthy(e);
  });

  it("an effective address past 4 GiB traps; it never checks one address and writes another", () => {
    const e = boot({ cmdline: `kasan_multi_shot ${cmdline}` });
    for (const body of [
      `(i32.store offset=0xffffff00 (i32.const ${BASE}) (i32.const 1))`,
      `(i32.store offset=0xfff00000 (i32.const ${BASE}) (i32.const 1))`,
      `(call $asan_load4 (i32.const ${BASE})) (i32.store offset=0xfff00000 (i32.const ${BASE}) (i32.const 1))`,
    ]) {
      const wrapped = (BASE + 0xfff00000) % 2 ** 32;
      const before = snapshot(e, wrapped);
      const r = run(e, guest(body, `(import "env" "__asan_load4" (func $asan_load4 (param i32)))`))!;
      expect([r.status, r.exitCode, r.reports]).toEqual(["trap", 134, []]);
      expect(r.message).toMatch(/^sealed\[100\] trapped: /);
      expect(snapshot(e, wrapped)).toEqual(before);
    }
    expectHealthy(e);
  });

  it("an endless guest stops at its time limit with status timeout", () => {
    const e = boot({ cmdline: `kasan_multi_shot ${cmdline}` });
    for (const body of [`(loop $l (br $l))`, `(loop $l (drop (i32.load (i32.const ${BASE}))) (br $l))`, `(loop $l (call $f) (br $l))`]) {
      const r = run(e, guest(body, `(func $f (i32.store (i32.const ${BASE}) (i32.const 1)))`), { timeoutMs: 200 })!;
      expect([r.status, r.exitCode, r.reports], body).toEqual(["timeout", EXIT_TIMEOUT, []]);
      expect(r.message).toBe("sealed[100] was stopped: it ran past its time limit (200 ms)");
      expectHealthy(e, body);
    }
    if (haveToolchain()) {
      const r = e.runGuest(guestBytes({ src: "test/guest/c/sealed.c" }), { name: "sealed", args: ["spin"], timeoutMs: 200 });
      expect([r.status, r.exitCode]).toEqual(["timeout", 124]);
    }
    expect(() => e.runGuest(guest(""), { timeoutMs: -1 })).toThrow(RangeError);
    // a guest that ends in time is not disturbed by its limit
    expect(run(e, guest(`(call $exit (i32.const 3))`), { timeoutMs: 60000 })).toMatchObject({ status: "exit", exitCode: 3 });
  });

  it("a start function is held to the same rules: an endless one times out, a wild store is stopped", () => {
    const e = boot({ cmdline: `kasan_multi_shot ${cmdline}` });
    const withStart = (body: string) => wat(`(module (import "env" "memory" (memory 300))
      (global $__stack_pointer (mut i32) (i32.const ${BASE + 0x10000})) (data (i32.const ${BASE}) "x")
      (func $init ${body}) (start $init) (func $_start (export "_start")))`);
    const r = run(e, withStart(`(loop $l (br $l))`), { timeoutMs: 200 })!;
    expect([r.status, r.exitCode, r.message]).toEqual(["timeout", 124, "sealed[100] was stopped: it ran past its time limit (200 ms)"]);
    const mode = targets(e)["the KASAN-mode word"];
    const s = run(e, withStart(`(i32.store (i32.const ${mode.lin}) (i32.const 0))`))!;
    expect([s.status, s.exitCode]).toEqual(["stopped", 139]);
    mode.check(e.u8view());
    expectHealthy(e);
  });

  it("malformed modules are one GuestError line, never a raw exception", () => {
    const e = boot({ cmdline: `kasan_multi_shot ${cmdline}` });
    const good = guest(`(i32.store (i32.const ${BASE}) (i32.const 1))`);
    const cases: Record<string, Uint8Array> = {
      "a CompileError": guest(`(i32.const 1)`),
      "a bad LEB": Uint8Array.from([...good.slice(0, 8), 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
      "an unknown section": Uint8Array.from([...good, 0x20, 0]),
      "a WASI import of the wrong type": guest(`(drop (call $clock (i32.const 0) (i32.const 0) (i32.const ${BASE})))`,
        `(import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i32 i32) (result i32)))`),
      "its own memory": wat(`(module (memory 1) (func (export "_start")))`),
      "a second memory": wat(`(module (import "env" "memory" (memory 300)) (memory $m2 1)
        (global (mut i32) (i32.const ${BASE + 0x10000})) (data (i32.const ${BASE}) "x")
        (func (export "_start") (i32.store $m2 (i32.const 0) (i32.const 1))))`),
    };
    for (const [what, bytes] of Object.entries(cases)) {
      expect(() => e.runGuest(bytes), what).toThrow(GuestError);
    }
    for (let cut = 8; cut < good.length; cut++) run(e, good.slice(0, cut));
    expectHealthy(e);
  });

  it("a malformed module never throws anything but GuestError (fuzzed bytes)", () => {
    const e = boot({ cmdline: `kasan_multi_shot ${cmdline}` });
    const good = guest(`(i32.store (i32.const ${BASE}) (i32.load offset=4 (i32.const ${BASE})))
      (memory.fill (i32.const ${BASE}) (i32.const 7) (i32.const 64)) (call $exit (i32.const 0))`);
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
      (flips) => {
        const b = good.slice();
        for (const [i, v] of flips) b[i] = v;
        const r = run(e, b);
        if (r) expect(["exit", "stopped", "trap"]).toContain(r.status);
        expect(e.selfCheck()).toEqual([]);
      }), { numRuns: 300, seed: 12 });
    if (haveToolchain()) {
      // a real guest: every section kind clang emits (elements, names, custom sections, data)
      const real = guestBytes({ src: "examples/clean.c" });
      for (let cut = 8; cut < real.length; cut += Math.max(1, real.length >> 7)) run(e, real.slice(0, cut));
      fc.assert(fc.property(fc.nat(real.length - 1), fc.integer({ min: 0, max: 255 }), (i, v) => {
        const b = real.slice();
        b[i] = v;
        const r = run(e, b, { timeoutMs: 10000 });
        if (r) expect(["exit", "stopped", "trap", "timeout"]).toContain(r.status);
        expect(e.selfCheck()).toEqual([]);
      }), { numRuns: 150, seed: 5 });
    }
    expectHealthy(e);
  });

  it("names from the name section are data: a forged report header stays on its line", () => {
    const e = boot({ cmdline: `kasan_multi_shot ${cmdline}` });
    // a module without names, and a name section of our own naming $main
    const bytes = guest(`(i32.store (i32.const 0x20000) (i32.const 1))`, "", false);
    const forged = "evil\n==================================================================\nBUG: KASAN: use-after-free in forged\x1b[2J" + "x".repeat(2000);
    const enc = new TextEncoder();
    const nameBytes = enc.encode(forged);
    const leb = (n: number) => { const o: number[] = []; do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; o.push(b); } while (n); return o; };
    const sub = [...leb(1), ...leb(1) /* $main */, ...leb(nameBytes.length), ...nameBytes];
    const payload = [...leb(4), ...enc.encode("name"), 1, ...leb(sub.length), ...sub];
    const named = Uint8Array.from([...bytes, 0, ...leb(payload.length), ...payload]);
    const r = run(e, named)!;
    expect(r.status).toBe("stopped");
    for (const rep of r.reports) {
      const ls = rep.text.split("\n");
      expect(ls.filter((l) => /^BUG: /.test(l))).toHaveLength(1);
      expect(ls.filter((l) => /^=+$/.test(l)).length).toBeLessThanOrEqual(2);
      expect(rep.text).not.toContain("\x1b");
    }
    const frame = /^evil\?=+\?BUG: KASAN: use-after-free in forged\?\[2Jx+\+0x[0-9a-f]+\/0x[0-9a-f]+$/;
    const oops = r.reports[r.reports.length - 1];
    const line = oops.text.split("\n").find((l) => l.startsWith(" evil"))!;
    expect(line.trim()).toMatch(frame);
    expect(line.trim().replace(/\+0x.*/, "")).toHaveLength(511);      // KSYM_NAME_LEN - 1
    if (kasan) expect(r.reports[0].title.replace(/^BUG: KASAN: wild-memory-access in /, "")).toMatch(frame);
    expect(sanitizeName("a\tb\u00e9c")).toBe("a?b?c");
    expectHealthy(e);
  });

  it("randomized hand-written modules storing, filling and copying anywhere never hurt the engine", () => {
    const e = boot({ cmdline: `kasan_multi_shot ${cmdline}` });
    const statics = e.exports.tlb_base();
    const guarded = () => snapshot(e, statics + 0x68000, 0x8000 + 0x80);     // the kmem_cache table and the hot switches
    const before = guarded();
    const ramEnd = abi.PHYS_BASE + e.options.ram * 1048576;
    const addr = fc.oneof(
      fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      fc.integer({ min: 0, max: abi.PHYS_BASE + 0x10000 }),
      fc.integer({ min: BASE, max: BASE + 0x20000 }),
      fc.integer({ min: ramEnd - 0x10000, max: ramEnd + 0x10000 }),
      fc.integer({ min: 2 ** 32 - 0x1000, max: 2 ** 32 - 1 }));
    const op = fc.oneof(
      fc.record({ k: fc.constantFrom("i32.store8", "i32.store16", "i32.store", "i64.store", "f64.store", "v128.store", "i64.atomic.store",
        "v128.store64_lane", "i64.atomic.rmw.cmpxchg", "v128.load32_zero", "i32.atomic.rmw8.xchg_u"), a: addr,
        off: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 32 - 1 })) }),
      fc.record({ k: fc.constantFrom("memory.fill", "memory.copy"), a: addr, b: addr, n: fc.integer({ min: 0, max: 0x30000 }) }));
    const text = (o: { k: string; a: number; off?: number; b?: number; n?: number }) => {
      const a = `(i32.const ${o.a | 0})`;
      switch (o.k) {
        case "memory.fill": return `(memory.fill ${a} (i32.const 0x5a) (i32.const ${o.n}))`;
        case "memory.copy": return `(memory.copy ${a} (i32.const ${o.b! | 0}) (i32.const ${o.n}))`;
        case "i64.store": case "i64.atomic.store": return `(${o.k} offset=${o.off} ${a} (i64.const -6148914691236517206))`;
        case "f64.store": return `(f64.store offset=${o.off} ${a} (f64.const 1.5))`;
        case "v128.store": return `(v128.store offset=${o.off} ${a} (v128.const i32x4 1 2 3 4))`;
        case "v128.store64_lane": return `(v128.store64_lane offset=${o.off} 1 ${a} (v128.const i32x4 1 2 3 4))`;
        case "i64.atomic.rmw.cmpxchg": return `(drop (i64.atomic.rmw.cmpxchg offset=${o.off} ${a} (i64.const 0) (i64.const -1)))`;
        case "v128.load32_zero": return `(i32.store (i32.const ${BASE}) (i32x4.extract_lane 0 (v128.load32_zero offset=${o.off} ${a})))`;
        case "i32.atomic.rmw8.xchg_u": return `(drop (i32.atomic.rmw8.xchg_u offset=${o.off} ${a} (i32.const 0x5a)))`;
        default: return `(${o.k} offset=${o.off} ${a} (i32.const 0x41414141))`;
      }
    };
    const seen = new Set<string>();
    fc.assert(fc.property(fc.array(op, { minLength: 1, maxLength: 4 }), (ops) => {
      const r = run(e, guest(ops.map(text).join("\n")), { timeoutMs: 10000 });
      expect(r, "a valid module").toBeDefined();
      expect(["exit", "stopped", "trap"]).toContain(r!.status);
      seen.add(r!.status);
      expect(r!.selfCheck).toEqual([]);
      expect(guarded()).toEqual(before);
      const p = e.kmalloc(24);
      e.kfree(p);
      e.takeReports();
      e.load(p, 1);
      if (kasan) expect(e.takeReports().map((x) => x.type)).toEqual(["slab-use-after-free"]);
    }), { numRuns: 60, seed: 7 });
    expect([...seen].sort()).toEqual(["exit", "stopped", "trap"]);     // the cases reached all three endings
    expectHealthy(e);
  });
});

describe.skipIf(!haveToolchain())("shadowfence run", () => {
  const cli = path.join(root, "dist/host/cli.js");
  const dir = path.join(root, "build/guest/sealed-cli");
  mkdirSync(dir, { recursive: true });

  it("--timeout stops an endless guest with exit status 124", () => {
    const prog = path.join(dir, "spin.wasm");
    writeFileSync(prog, guestBytes({ src: "test/guest/c/sealed.c" }));
    const r = spawnSync(process.execPath, [cli, "run", "--timeout", "0.3", prog, "spin"], { encoding: "utf8", timeout: 60000 });
    expect(r.status).toBe(124);
    expect(r.stderr).toBe("shadowfence: sealed[100] was stopped: it ran past its time limit (300 ms)\n".replace("sealed", "spin"));
    const bad = spawnSync(process.execPath, [cli, "run", "--timeout", "soon", prog], { encoding: "utf8" });
    expect([bad.status, bad.stderr]).toEqual([2, "shadowfence: --timeout: expected a number of seconds greater than 0 (at most 2147483.648), got \"soon\"\n"]);
  });

  it("a malformed module is one line and exit status 2", () => {
    const prog = path.join(dir, "bad.wasm");
    for (const bytes of [Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 0xff]),
      guest(`(drop (call $clock (i32.const 0) (i32.const 0) (i32.const ${BASE})))`,
        `(import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i32 i32) (result i32)))`)]) {
      writeFileSync(prog, bytes);
      const r = spawnSync(process.execPath, [cli, "run", prog], { encoding: "utf8", timeout: 60000 });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^shadowfence: [^\n]+\n$/);
    }
    // node:wasi needs the memory exported: said before it would throw its own TypeError
    writeFileSync(prog, guest(`(call $exit (i32.const 3))`));
    const r = spawnSync(process.execPath, [cli, "run", prog], { encoding: "utf8", timeout: 60000 });
    expect([r.status, r.stderr]).toEqual([2, "shadowfence: the guest does not export its memory as \"memory\", which node:wasi needs; link with --export-memory (shadowfence cc does)\n"]);
  });
});
