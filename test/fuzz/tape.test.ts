// The tape format: written and read back byte for byte; every kind of damage
// (truncation, a bad magic, a flipped byte, an impossible op) is a TapeError
// that says what is wrong and where; the interpreter refuses what slips past
// the reader (raw bytes fed to the core) without trapping.
import { describe, it, expect } from "vitest";
import * as abi from "../../abi/abi.js";
import { boot, BUILDS } from "../helpers.js";
import { encodeTape, decodeTape, validateOps, OpWriter, TapeError, pruneTape, opOffsets, readOp, emptyOp,
         describeOp, type Tape, type TapeHeader } from "../../host/fuzz/tape.js";
import { TapeExecutor, replay } from "../../host/fuzz/exec.js";
import { generateTape } from "../../host/fuzz/generator.js";

const header = (): TapeHeader => ({
  slots: 4, cmdline: "kasan_multi_shot", profile: "test", seed: 7, unit: 3,
  caches: [{ name: "fuzz_obj_40", objectSize: 40, align: 0, flags: 0 }],
  tasks: ["sf-fuzz/0"],
  sites: [{ name: "site_alloc", offset: 0x10, size: 0x80 }, { name: "site_oob", offset: 0x2b, size: 0x100 }],
});

function small(): Tape {
  const w = new OpWriter();
  w.sized(abi.FZ_KMALLOC, 0, 0, 13);
  w.cacheAlloc(0, 1, 0);
  w.access(abi.FZ_STORE1, 1, 0, 13, true);           // off-by-one write
  w.memcpy(1, 1, 0, 0, 0, 8);
  w.tick(1000);
  w.task(0, 1);
  w.kfreeAt(1, 0, 3);
  w.free(abi.FZ_KFREE, 0, 0);
  return { header: header(), body: w.bytes().slice(), ops: w.ops };
}

describe("tape format", () => {
  it("round-trips header, tables and ops", () => {
    const t = small();
    const file = encodeTape(t);
    expect(Array.from(file.subarray(0, 8))).toEqual([...Buffer.from("SFTAPE\0"), 1]);
    const back = decodeTape(file);
    expect(back.header).toEqual(t.header);
    expect(back.ops).toBe(8);
    expect(Array.from(back.body)).toEqual(Array.from(t.body));
    const o = emptyOp();
    const offs = opOffsets(back.body);
    const dv = new DataView(back.body.buffer);
    const text = offs.slice(0, -1).map((p) => { readOp(back.body, dv, p, o); return describeOp(o, back.header); });
    expect(text).toEqual([
      "kmalloc(slot 0, 13) @site_alloc", "kmem_cache_alloc(slot 1, fuzz_obj_40) @site_alloc",
      "store1(slot 0 + 13) @site_oob [planted]", "memcpy(slot 1 + 0, slot 0 + 0, 8) @site_oob", "tick 1000us",
      "task 0 cpu 1", "kfree(slot 0 + 3) @site_oob", "kfree(slot 0) @site_alloc",
    ]);
  });

  it("says what is wrong with a damaged tape, and where", () => {
    const file = encodeTape(small());
    const err = (b: Uint8Array) => { try { decodeTape(b, "t.tape"); } catch (e) { expect(e).toBeInstanceOf(TapeError); return (e as Error).message; } return "no error"; };
    expect(err(file.subarray(0, 20))).toBe("t.tape: truncated: 20 bytes, a tape header alone is 48");
    expect(err(file.subarray(0, file.length - 3))).toBe(`t.tape: truncated: the header says ${small().body.length} op bytes, the file holds ${small().body.length - 3}`);
    const bad = file.slice(); bad[0] = 0x58;
    expect(err(bad)).toBe('t.tape: not a shadowfence tape (bad magic "XFTAPE\\u0000")');
    const ver = file.slice(); ver[7] = 9;
    expect(err(ver)).toBe("t.tape: tape format version 9, this shadowfence reads version 1");
    const flip = file.slice(); flip[flip.length - 1] ^= 0x40;
    expect(err(flip)).toMatch(/^t\.tape: corrupt: checksum 0x[0-9a-f]{8} does not match the header's 0x[0-9a-f]{8}$/);
    const extra = new Uint8Array(file.length + 2); extra.set(file);
    expect(err(extra)).toBe("t.tape: 2 bytes of trailing garbage after the ops");
  });

  it("refuses ops that do not fit the tape's tables, naming the op", () => {
    const h = header();
    const check = (f: (w: OpWriter) => void) => {
      const w = new OpWriter(); f(w);
      try { validateOps(w.bytes(), h, "t"); } catch (e) { return (e as Error).message; }
      return "valid";
    };
    expect(check((w) => w.sized(abi.FZ_KMALLOC, 0, 4, 8))).toBe("t: op 0 (byte 0): slot 4, the tape has 4");
    expect(check((w) => { w.tick(1); w.access(abi.FZ_LOAD8, 2, 0, 0); })).toBe("t: op 1 (byte 5): site 2, the tape has 2");
    expect(check((w) => w.cacheAlloc(0, 0, 1))).toBe("t: op 0 (byte 0): cache 1, the tape has 1");
    expect(check((w) => w.sized(abi.FZ_VMALLOC, 0, 0, 0))).toBe(`t: op 0 (byte 0): vmalloc of 0 bytes (1..${abi.FZ_MAX_SIZE})`);
    expect(check((w) => w.task(3, 0))).toBe("t: op 0 (byte 0): task 3, the tape has 1 tasks");
    expect(check((w) => { w.raw(new Uint8Array([99]), 1); })).toBe("t: op 0 (byte 0): unknown opcode 99");
    expect(check((w) => { w.raw(new Uint8Array([abi.FZ_KMALLOC, 0, 0]), 1); })).toBe("t: op 0 (byte 0): kmalloc needs 9 bytes, the tape ends after 3");
    expect(check((w) => w.memcpy(0, 0, 0, 9, 0, 1))).toBe("t: op 0 (byte 0): memcpy source slot 9, the tape has 4");
  });

  it("checks the op count and the header's own tables", () => {
    const t = small();
    const file = encodeTape({ ...t, ops: 9 });
    expect(() => decodeTape(file, "t")).toThrow("t: the header says 9 ops, the tape holds 8");
    expect(() => encodeTape({ ...t, header: { ...t.header, sites: [{ name: "9bad name", offset: 0, size: 16 }] } }))
      .not.toThrow();   // the writer writes; the reader refuses
    const f2 = encodeTape({ ...t, header: { ...t.header, sites: [{ name: "9bad name", offset: 0, size: 16 }, t.header.sites[1]] } });
    expect(() => decodeTape(f2, "t")).toThrow('t: site 0: bad function name "9bad name"');
    const f3 = encodeTape({ ...t, header: { ...t.header, caches: [{ name: "c", objectSize: 40, align: 0, flags: abi.SLAB_TYPESAFE_BY_RCU }] } });
    expect(() => decodeTape(f3, "t")).toThrow("t: cache 0 (c): flags 0x80000 (only SLAB_HWCACHE_ALIGN is allowed)");
  });

  it("prunes the sites and caches a reproducer does not use, renumbering its ops", () => {
    const t = generateTape({ seed: 5, profile: "slab-churn" }, 40);
    const p = pruneTape(t);
    expect(p.header.sites.length).toBeLessThan(t.header.sites.length);
    const names = (x: Tape) => {
      const o = emptyOp(), dv = new DataView(x.body.buffer, x.body.byteOffset);
      return opOffsets(x.body).slice(0, -1).map((q) => { readOp(x.body, dv, q, o); return describeOp(o, x.header); });
    };
    expect(names(p)).toEqual(names(t));
    expect(decodeTape(encodeTape(p)).ops).toBe(40);
  });
});

describe.each(BUILDS)("tape interpreter (%s build)", (build) => {
  it("runs a tape: the planted off-by-one is reported at its site, the interior free refused", () => {
    const e = boot({ cmdline: "kasan_multi_shot kfence.sample_interval=0" }, build);
    const r = replay(small(), { engine: e });
    expect(r.ops).toBe(8);
    expect(r.findings.map((f) => [f.op, f.signature])).toEqual([
      [2, "KASAN: slab-out-of-bounds Write | site_oob | site_alloc"],
      [6, "KASAN: invalid-free | site_oob | site_alloc"],
    ]);
    const oob = r.reports[0].text.split("\n");
    expect(oob[1]).toBe("BUG: KASAN: slab-out-of-bounds in site_oob+0x2b/0x100");
    expect(oob[2]).toMatch(/^Write of size 1 at addr ffff888[0-9a-f]{9} by task sf-fuzz\/0\/1000$/);
    expect(oob.slice(11, 16)).toEqual([" site_oob+0x2b/0x100", " fuzz_tape_run+0x1c4/0x9a0", " kthread+0x289/0x360",
      " ret_from_fork+0x2f/0x70", " ret_from_fork_asm+0x19/0x30"]);
    expect(r.reports[0].text).toContain(" site_alloc+0x10/0x80\n");
    expect(r.reports[0].text).toContain("The buggy address is located 0 bytes to the right of\n allocated 13-byte region");
    // the task op moved it to CPU 1; the free ran there
    expect(r.reports[1].text).toContain("CPU: 1 UID: 0 PID: 1000 Comm: sf-fuzz/0");
    expect(r.status.slice(0, abi.FZS_COUNT)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(e.selfCheck()).toEqual([]);
  });

  it("refuses raw op bytes the reader would have refused, without trapping", () => {
    const e = boot({ cmdline: "kasan_multi_shot" }, build);
    const x = new TapeExecutor(e, header());
    expect(() => x.run(new Uint8Array([99, 0, 0]), 1, 0)).toThrow("op 0 (byte 0): the interpreter refused it (bad opcode or length)");
    const w = new OpWriter();
    w.sized(abi.FZ_KMALLOC, 0, 7, 8);                 // slot 7 of 4
    expect(() => x.run(w.bytes(), 1, 0)).toThrow("op 0 (byte 0): the interpreter refused it (field out of range)");
    const w2 = new OpWriter();
    w2.sized(abi.FZ_KMALLOC, 0, 0, abi.FZ_MAX_SIZE + 1);
    expect(() => x.run(w2.bytes(), 1, 0)).toThrow("field out of range");
    const w3 = new OpWriter();
    w3.raw(new Uint8Array([abi.FZ_KMALLOC, 0, 0, 0]), 1);    // cut short
    expect(() => x.run(w3.bytes(), 1, 0)).toThrow("bad opcode or length");
    // the engine is fine afterwards
    const w4 = new OpWriter();
    w4.sized(abi.FZ_KMALLOC, 0, 0, 8); w4.access(abi.FZ_LOAD8, 0, 0, 0);
    expect(x.run(w4.bytes(), 2, 0).ops).toBe(2);
    expect(e.selfCheck()).toEqual([]);
    // a header that names too many slots is the host's error, named
    expect(() => new TapeExecutor(e, { ...header(), slots: abi.FZ_MAX_SLOTS + 1 })).toThrow(`tape: slots must be 1..${abi.FZ_MAX_SLOTS}, got ${abi.FZ_MAX_SLOTS + 1}`);
  });
});
