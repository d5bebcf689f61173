// A default wasm-ld layout (data at 1024, its own memory) runs relocated by
// PHYS_BASE: its pointers cannot reach the engine's tables (an address that
// would is past 4 GiB once moved: the access traps), its NULL page below the
// data is refused with the kernel's report, and WASI translates its pointers.
import { describe, it, expect } from "vitest";
import { wat } from "./wat.js";
import fc from "fast-check";
import * as abi from "../../abi/abi.js";
import { boot } from "../helpers.js";

/** A plain link's shape: its own memory, data at wasm-ld's default 1024, the stack above it. */
function plain(body: string): Uint8Array {
  return wat(`(module
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
    (memory 2)
    (export "memory" (memory 0))
    (global $__stack_pointer (mut i32) (i32.const 70000))
    (data (i32.const 1024) "relocated data")
    (func $main ${body})
    (func $_start (export "_start") (call $main)))`);
}

/** The guest pointer that would be linear address lin if the move wrapped. */
const wrapped = (lin: number) => ((lin - abi.PHYS_BASE) >>> 0) | 0;


describe.each(["", "kasan=off"])("a relocated guest (%s)", (cmdline) => {
  const kasan = cmdline === "";
  const fresh = () => boot({ cmdline: `kasan_multi_shot ${cmdline}` });

  it("finds its data at its own addresses and sees the memory its addresses can reach", () => {
    const e = fresh();
    const r = e.runGuest(plain("(call $exit (i32.load8_u (i32.const 1025)))"));
    expect([r.status, r.exitCode]).toEqual(["exit", "e".charCodeAt(0)]);
    const size = e.runGuest(plain("(call $exit (memory.size))"));
    expect(size.exitCode).toBe(e.memory.buffer.byteLength / 65536 - abi.PHYS_BASE / 65536);
    expect(e.selfCheck()).toEqual([]);
  });

  it("its NULL page (below the data, in the frame it shares) is a NULL dereference: reported, not performed, the guest stopped", () => {
    for (const [addr, op] of [[0, "i32.store"], [1020, "i32.store"], [1023, "i32.store8"]] as const) {
      const e = fresh();
      const r = e.runGuest(plain(`(${op} (i32.const ${addr}) (i32.const -1))`));
      expect(r.status).toBe("stopped");
      expect(r.exitCode).toBe(139);
      const titles = r.reports.map((x) => x.title);
      expect(titles[titles.length - 1]).toBe(`BUG: kernel NULL pointer dereference, address: ${addr.toString(16).padStart(16, "0")}`);
      if (kasan) expect(r.reports[0].type).toBe("null-ptr-deref");
      expect(e.u8view().slice(abi.PHYS_BASE, abi.PHYS_BASE + 4096).every((b) => b === 0), "frame 0 given back zeroed").toBe(true);
      expect(e.selfCheck()).toEqual([]);
    }
  });

  it("a wild pointer past RAM is reported at PAGE_OFFSET + its own value, then the fault stops the guest", () => {
    const e = fresh();
    const r = e.runGuest(plain("(i32.store (i32.const 0x80000000) (i32.const -1))"));
    expect(r.status).toBe("stopped");
    const titles = r.reports.map((x) => x.title);
    if (kasan) {
      expect(r.reports[0].type).toBe("wild-memory-access");
      expect(r.reports[0].text).toContain("Write of size 4 at addr ffff888080000000 by task guest/100");
    }
    expect(titles[titles.length - 1]).toBe("BUG: unable to handle page fault for address: ffff888080000000");
    expect(e.selfCheck()).toEqual([]);
  });

  it("a pointer that would wrap into the engine's tables traps instead: stores, offsets, SIMD, fill and copy", () => {
    const e = fresh();
    // the core's static data and the kmem_cache table (assembly/statics.ts), and the last bytes below RAM
    const targets = [0x1000, e.exports.tlb_base() + 0x68000, abi.PHYS_BASE - 16];
    for (const lin of targets) {
      const g = wrapped(lin);
      const before = e.u8view().slice(lin, lin + 16);
      for (const body of [
        `(i32.store (i32.const ${g}) (i32.const -1))`,
        `(i64.store offset=8 (i32.const ${wrapped(lin - 8)}) (i64.const -1))`,
        `(v128.store (i32.const ${g}) (v128.const i32x4 -1 -1 -1 -1))`,
        `(memory.fill (i32.const ${g}) (i32.const 255) (i32.const 16))`,
        `(memory.copy (i32.const ${g}) (i32.const 1024) (i32.const 16))`,
        `(drop (i32.load offset=4294967295 (i32.const 1)))`,
      ]) {
        const r = e.runGuest(plain(body));
        expect(r.status, body).toBe("trap");
        expect(r.reports, body).toEqual([]);
        expect(e.u8view().slice(lin, lin + 16), body).toEqual(before);
      }
    }
    expect(e.selfCheck()).toEqual([]);
  });

  it("randomized stores, atomics, fills and copies at any address never reach the engine's tables", () => {
    const e = fresh();
    const statics = e.exports.tlb_base();
    const guarded = () => e.u8view().slice(statics + 0x68000, statics + 0x68000 + 0x8080);   // the kmem_cache table and the hot switches
    const before = guarded();
    const addr = fc.oneof(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 0x12000 }),
      fc.integer({ min: 2 ** 32 - abi.PHYS_BASE, max: 2 ** 32 - 1 }));
    const op = fc.oneof(
      fc.record({ k: fc.constantFrom("i32.store", "i64.store", "v128.store", "i64.atomic.store", "i32.atomic.rmw8.xchg_u"), a: addr,
        off: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 32 - 1 })) }),
      fc.record({ k: fc.constantFrom("memory.fill", "memory.copy"), a: addr, b: addr, n: fc.integer({ min: 0, max: 0x30000 }) }));
    const text = (o: { k: string; a: number; off?: number; b?: number; n?: number }) => {
      const a = `(i32.const ${o.a | 0})`;
      if (o.k === "memory.fill") return `(memory.fill ${a} (i32.const 0x5a) (i32.const ${o.n}))`;
      if (o.k === "memory.copy") return `(memory.copy ${a} (i32.const ${o.b! | 0}) (i32.const ${o.n}))`;
      if (o.k === "i64.store" || o.k === "i64.atomic.store") return `(${o.k} offset=${o.off} ${a} (i64.const -1))`;
      if (o.k === "v128.store") return `(v128.store offset=${o.off} ${a} (v128.const i32x4 1 2 3 4))`;
      if (o.k === "i32.atomic.rmw8.xchg_u") return `(drop (i32.atomic.rmw8.xchg_u offset=${o.off} ${a} (i32.const 0x5a)))`;
      return `(i32.store offset=${o.off} ${a} (i32.const 0x41414141))`;
    };
    const seen = new Set<string>();
    fc.assert(fc.property(fc.array(op, { minLength: 1, maxLength: 4 }), (ops) => {
      const r = e.runGuest(plain(ops.map(text).join("\n")), { timeoutMs: 10000 });
      expect(["exit", "stopped", "trap"]).toContain(r.status);
      seen.add(r.status);
      expect(r.selfCheck).toEqual([]);
      expect(Buffer.from(guarded()).equals(Buffer.from(before))).toBe(true);
    }), { numRuns: 60, seed: 16 });
    expect([...seen].sort()).toEqual(["exit", "stopped", "trap"]);
  });

  it("WASI gets its pointers translated: a write of its data, EFAULT for the NULL page and wrapped pointers, EINVAL past the iovec scratch", () => {
    const e = fresh();
    const iov = (count: number, at = 2048) => `(i32.store (i32.const ${at}) (i32.const 1024)) (i32.store (i32.const ${at + 4}) (i32.const 14))
      (call $exit (call $write (i32.const 1) (i32.const ${at}) (i32.const ${count}) (i32.const 4000)))`;
    const ok = e.runGuest(plain(`(i32.store (i32.const 2048) (i32.const 1024)) (i32.store (i32.const 2052) (i32.const 14))
      (drop (call $write (i32.const 1) (i32.const 2048) (i32.const 1) (i32.const 4000))) (call $exit (i32.load (i32.const 4000)))`));
    expect([ok.stdout, ok.exitCode]).toEqual(["relocated data", 14]);
    expect(e.runGuest(plain("(call $exit (call $random (i32.const 0) (i32.const 8)))")).exitCode).toBe(21);
    expect(e.runGuest(plain(`(call $exit (call $random (i32.const ${wrapped(0x1000)}) (i32.const 8)))`)).exitCode).toBe(21);
    expect(e.runGuest(plain(`(call $exit (call $write (i32.const 1) (i32.const ${wrapped(0x1000)}) (i32.const 1) (i32.const 4000)))`)).exitCode).toBe(21);
    expect(e.runGuest(plain(iov(511))).exitCode).toBe(28);
    const nwrittenNull = e.runGuest(plain(`(i32.store (i32.const 2048) (i32.const 1024)) (i32.store (i32.const 2052) (i32.const 14))
      (call $exit (call $write (i32.const 1) (i32.const 2048) (i32.const 1) (i32.const 8)))`));
    expect([nwrittenNull.exitCode, nwrittenNull.stdout]).toEqual([21, ""]);
    expect(e.selfCheck()).toEqual([]);
  });
});
