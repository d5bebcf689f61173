// Generic KASAN reports, line by line, against the worked examples of the
// kernel's formats; and the reporting rules (report once, multi-shot, panic,
// kasan_disable_current, the quarantine).
import { describe, it, expect } from "vitest";
import { boot, BUILDS, lines, expectReport } from "../helpers.js";
import { EnginePanicError } from "../../host/engine.js";

const px = (v: bigint) => v.toString(16).padStart(16, "0");

describe.each(BUILDS)("generic KASAN report text (%s build)", (build) => {
  it("kmalloc(115), 1-byte write at offset 120: every section of the report", () => {
    const e = boot({ cmdline: "kasan_multi_shot" }, build);
    function kmalloc_oob_right() {
      const p = e.kmalloc(115);
      e.store(p + 120n, 1, 0x78);
      return p;
    }
    const p = kmalloc_oob_right();
    const [r] = e.takeReports();
    const l = lines(r);
    expect(r.kind).toBe("kasan");
    expect(r.type).toBe("slab-out-of-bounds");
    expect(r.address).toBe(p + 120n);
    expect(r.kasan!.object).toEqual({ address: p, cache: "kmalloc-128", objectSize: 128, region: 115, relation: "to the right", bytes: 5 });
    expect(l[0]).toBe("=".repeat(66));
    expect(l[1]).toMatch(/^BUG: KASAN: slab-out-of-bounds in kmalloc_oob_right\+0x[0-9a-f]+\/0x[0-9a-f]+$/);
    expect(l[2]).toBe(`Write of size 1 at addr ${px(p + 120n)} by task swapper/0/1`);
    expect(l[3]).toBe("");
    expect(l[4]).toBe("CPU: 0 UID: 0 PID: 1 Comm: swapper/0 Not tainted 6.12.0 #1");
    expect(l[5]).toMatch(/^Hardware name: /);
    expect(l.slice(6, 11)).toEqual(["Call Trace:", " <TASK>", " dump_stack_lvl+0x4d/0x70", " print_report+0xcd/0x620", " kasan_report+0xde/0x110"]);
    expect(l[11]).toMatch(/^ kmalloc_oob_right\+0x/);
    const alloc = l.indexOf("Allocated by task 1:");
    expect(l.slice(alloc + 1, alloc + 4)).toEqual([" kasan_save_stack+0x33/0x60", " kasan_save_track+0x14/0x30", " __kasan_kmalloc+0x8f/0xa0"]);
    expect(l[alloc + 4]).toMatch(/^ kmalloc_oob_right\+0x/);
    expect(l).not.toContain("Freed by task 1:");
    const obj = l.indexOf(`The buggy address belongs to the object at ${px(p)}`);
    expect(l.slice(obj, obj + 5)).toEqual([
      `The buggy address belongs to the object at ${px(p)}`,
      " which belongs to the cache kmalloc-128 of size 128",
      "The buggy address is located 5 bytes to the right of",
      ` allocated 115-byte region [${px(p)}, ${px(p + 115n)})`,
      "",
    ]);
    const page = l.indexOf("The buggy address belongs to the physical page:");
    expect(l[page + 1]).toBe(`page: refcount:1 mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x${((p - 0xffff888000000000n) >> 12n).toString(16)}`);
    expect(l).toContain("page_type: f5(slab)");
    expect(l).toContain("page dumped because: kasan: bad access detected");
    const mem = l.indexOf("Memory state around the buggy address:");
    const row = p & ~0x7fn;
    expect(l.slice(mem + 1, mem + 8)).toEqual([
      ` ${px(row - 256n)}: ${l[mem + 1].slice(19)}`,
      ` ${px(row - 128n)}: ${l[mem + 2].slice(19)}`,
      `>${px(row)}: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 03 fc`,
      " ".repeat(19 + 3 * 15) + "^",
      ` ${px(row + 128n)}: fc fc fc fc fc fc fc fc fc fc fc fc fc fc fc fc`,
      ` ${px(row + 256n)}: ${l[mem + 6].slice(19)}`,
      "=".repeat(66),
    ]);
    expect(l.length).toBe(mem + 8);
  });

  it("kmalloc(184) from kmalloc-192, 8-byte read at 184: 0 bytes to the right of the allocated region", () => {
    const e = boot({ cmdline: "kasan_multi_shot" }, build);
    const p = e.kmalloc(184);
    e.load(p + 184n, 8);
    const [r] = e.takeReports();
    const l = lines(r);
    expect(l).toContain(" which belongs to the cache kmalloc-192 of size 192");
    expect(l).toContain("The buggy address is located 0 bytes to the right of");
    expect(l).toContain(` allocated 184-byte region [${px(p)}, ${px(p + 184n)})`);
  });

  it("finds the first bad address the kernel's way (8-byte steps from the access)", () => {
    const e = boot({ cmdline: "kasan_multi_shot" }, build);
    const a = e.kmalloc(120);
    e.load(a + 119n, 8);                   // steps from 119 by 8: lands on 127, same granule
    expect(e.takeReports()[0].kasan!.firstBadAddress).toBe(a + 127n);
    const b = e.kmalloc(64);
    e.memmove(b, b + 4n, 64);              // all granules of [b+4, b+68) but the last are 0: stops at b+68
    const r = e.takeReports()[0];
    expect(r.kasan!.firstBadAddress).toBe(b + 68n);
    expect(lines(r)[2]).toBe(`Read of size 64 at addr ${px(b + 4n)} by task swapper/0/1`);
  });

  it("prints freed objects with both tracks and the freed region", () => {
    const e = boot({}, build);
    function kmalloc_uaf() {
      const p = e.kmalloc(10);
      e.kfree(p);
      e.load(p + 8n, 1);
      return p;
    }
    const p = kmalloc_uaf();
    const r = e.takeReports()[0];
    const l = lines(r);
    expect(r.type).toBe("slab-use-after-free");
    const freed = l.indexOf("Freed by task 1:");
    expect(l.slice(freed + 1, freed + 6)).toEqual([" kasan_save_stack+0x33/0x60", " kasan_save_track+0x14/0x30",
      " kasan_save_free_info+0x3b/0x60", " __kasan_slab_free+0x37/0x50", " kfree+0x94/0x190"]);
    expect(l[freed + 6]).toMatch(/^ kmalloc_uaf\+0x/);
    expect(l).toContain("The buggy address is located 8 bytes inside of");
    expect(l).toContain(` freed 16-byte region [${px(p)}, ${px(p + 16n)})`);
    expect(l).toContain(`>${px(p & ~0x7fn)}: ` + lines(r).find((x) => x.startsWith(`>${px(p & ~0x7fn)}`))!.slice(19));
    expect(r.kasan!.freeStack![4]).toBe("kfree+0x94/0x190");
  });

  it("prints double and invalid frees with Free of addr and no size", () => {
    const e = boot({ cmdline: "kasan_multi_shot" }, build);
    const p = e.kmalloc(32);
    e.kfree(p);
    e.kfree(p);
    const dbl = e.takeReports()[0];
    expect(lines(dbl)[1]).toMatch(/^BUG: KASAN: double-free in /);
    expect(lines(dbl)[2]).toBe(`Free of addr ${px(p)} by task swapper/0/1`);
    expect(lines(dbl)).toContain(" kasan_report_invalid_free+0xaa/0xc0");
    // the region word is only for slab-out-of-bounds and slab-use-after-free
    expect(lines(dbl)).toContain(` 32-byte region [${px(p)}, ${px(p + 32n)})`);
    const q = e.kmalloc(32);
    e.kfree(q + 4n);
    const inv = e.takeReports()[0];
    expect(inv.type).toBe("invalid-free");
    expect(lines(inv)[2]).toBe(`Free of addr ${px(q + 4n)} by task swapper/0/1`);
    expect(lines(inv)).toContain("The buggy address is located 4 bytes inside of");
  });

  it("stops after the stack dump for addresses without shadow", () => {
    const e = boot({ cmdline: "kasan_multi_shot" }, build);
    e.load(0x10n, 8);
    const [k, oops] = e.takeReports();
    expect(k.type).toBe("null-ptr-deref");
    const l = lines(k);
    expect(l.at(-1)).toBe("=".repeat(66));
    expect(l.at(-2)).toBe(" </TASK>");
    expect(oops.kind).toBe("oops");
    e.load(0x0000100000000000n, 4);
    expect(e.takeReports()[0].type).toBe("user-memory-access");
    e.load(0xffff000000001000n, 4);
    expect(e.takeReports()[0].type).toBe("wild-memory-access");
  });

  it("taints with B after the first report", () => {
    const e = boot({ cmdline: "kasan_multi_shot" }, build);
    const p = e.kmalloc(8);
    e.load(p + 8n, 1);
    e.load(p + 9n, 1);
    const [a, b] = e.takeReports();
    expect(lines(a)[4]).toContain(" Not tainted 6.12.0 #1");
    expect(lines(b)[4]).toBe("CPU: 0 UID: 0 PID: 1 Comm: swapper/0 Tainted: G    B              6.12.0 #1");
    expect(lines(b)[5]).toBe("Tainted: [B]=BAD_PAGE");
  });
});

describe("reporting rules", () => {
  it("reports only the first bug unless kasan_multi_shot", () => {
    const e = boot({});
    const p = e.kmalloc(8);
    e.load(p + 8n, 1);
    e.load(p + 9n, 1);
    e.kfree(p);
    e.kfree(p);
    expect(e.takeReports().map((r) => r.type)).toEqual(["slab-out-of-bounds"]);
    expect(e.stats().reports.suppressed).toBe(2);
    e.kasanMultiShot = true;
    e.load(p + 1n, 1);
    expect(e.takeReports().map((r) => r.type)).toEqual(["slab-use-after-free"]);
  });

  it("kasan.fault=panic stops the engine after the report", () => {
    const e = boot({ cmdline: "kasan.fault=panic" });
    const p = e.kmalloc(8);
    e.load(p + 8n, 1);
    const rs = e.takeReports();
    expect(rs.map((r) => r.kind)).toEqual(["kasan", "panic"]);
    expect(lines(rs[1])[0]).toBe("Kernel panic - not syncing: kasan.fault=panic set ...");
    expect(lines(rs[1]).at(-1)).toBe("---[ end Kernel panic - not syncing: kasan.fault=panic set ... ]---");
    expect(() => e.kmalloc(8)).toThrow(EnginePanicError);
    expect(() => e.load(p, 1)).toThrow(/Kernel panic - not syncing: kasan.fault=panic set/);
  });

  it("kasan.fault=panic_on_write panics on writes only", () => {
    const e = boot({ cmdline: "kasan.fault=panic_on_write kasan_multi_shot" });
    const p = e.kmalloc(8);
    e.load(p + 8n, 1);
    expect(e.takeReports().map((r) => r.kind)).toEqual(["kasan"]);
    e.store(p + 8n, 1, 0);
    expect(e.takeReports().map((r) => r.kind)).toEqual(["kasan", "panic"]);
    expect(e.panicked).toBe(true);
  });

  it("panic_on_warn panics after a report unless multi-shot", () => {
    const e = boot({ cmdline: "panic_on_warn" });
    const p = e.kmalloc(8);
    e.load(p + 8n, 1);
    const rs = e.takeReports();
    expect(rs.map((r) => r.kind)).toEqual(["kasan", "panic"]);
    expect(lines(rs[1])[0]).toBe("Kernel panic - not syncing: KASAN: panic_on_warn set ...");
  });

  it("kasan_disable_current() suppresses access reports but not bad frees", () => {
    const e = boot({ cmdline: "kasan_multi_shot" });
    const p = e.kmalloc(8);
    e.kasan_disable_current();
    e.load(p + 8n, 1);
    e.kfree(p);
    e.kfree(p);
    e.kasan_enable_current();
    expect(e.takeReports().map((r) => r.type)).toEqual(["double-free"]);
  });

  it("memset/memcpy over a bad range are reported and not performed", () => {
    const e = boot({ cmdline: "kasan_multi_shot" });
    const p = e.kzalloc(16);
    const q = e.kmalloc(64);
    e.memset(q, 0x55, 64);
    expect(e.memset(p, 0xff, 17)).toBe(false);
    expect(e.takeReports()[0].type).toBe("slab-out-of-bounds");
    expect(e.readBytes(p, 16).every((b) => b === 0)).toBe(true);
    expect(e.memcpy(p, q, 32)).toBe(false);
    expect(e.takeReports()[0].kasan!.isWrite).toBe(true);
    expect(e.readBytes(p, 16).every((b) => b === 0)).toBe(true);
    expect(e.memcpy(p, q, 16)).toBe(true);
    expect(e.readBytes(p, 16).every((b) => b === 0x55)).toBe(true);
  });

  it("keeps freed objects out of reuse while they are in the quarantine", () => {
    const e = boot({});
    const a = e.kmalloc(100);
    e.kfree(a);
    const b = e.kmalloc(100);
    expect(b).not.toBe(a);
    expect(e.stats().quarantine.objects).toBe(1);
    const noq = boot({ cmdline: "kasan.quarantine=0" });
    const c = noq.kmalloc(100);
    noq.kfree(c);
    expect(noq.kmalloc(100)).toBe(c);
  });

  it("a drained quarantine leaves a slab's freelist as one free at a time would: the last freed comes back first", () => {
    const e = boot({ cmdline: "kfence.sample_interval=0" });
    const c = e.kmem_cache_create("requeue", 128);
    const perSlab = e.slabinfo().find((s) => s.name === "requeue")!.objPerSlab;
    const first = Array.from({ length: perSlab }, () => e.kmem_cache_alloc(c));
    const second = e.kmem_cache_alloc(c);                  // the first slab is full; the CPU is on a second
    const order = [...first.filter((_, i) => i % 2 === 1), ...first.filter((_, i) => i % 2 === 0)];
    for (const p of order) e.kmem_cache_free(c, p);        // into the quarantine, in this order
    e.quarantineDrain();                                   // back to the slab, a run of one slab's objects
    for (let i = 1; i < perSlab; i++) e.kmem_cache_alloc(c);  // the rest of the second slab
    const again = Array.from({ length: perSlab }, () => e.kmem_cache_alloc(c));
    expect(again).toEqual([...order].reverse());
    expect(second).not.toBe(again[0]);
    expect(e.takeReports()).toEqual([]);
    expect(e.selfCheck()).toEqual([]);
  });

  it("kasan=off costs no shadow and reports nothing", () => {
    const e = boot({ kasan: false });
    const p = e.kmalloc(8);
    e.load(p + 8n, 1);
    e.kfree(p);
    e.load(p, 1);
    expect(e.takeReports()).toEqual([]);
    expect(e.stats().framesByUse.shadow).toBe(0);
  });

  it("a report the ring cannot hold is counted and said, never dropped silently", () => {
    const e = boot({ cmdline: "kasan_multi_shot" });
    const p = e.kmalloc(8);
    // 200 reports without the host draining the ring in between (raw exports, as a workload does)
    e.exports.set_current_stack(0);
    for (let i = 0; i < 200; i++) e.exports.mem_load1(p + 8n);
    e.takeReports();
    e.load(p + 8n, 1);
    expect(e.stats().reports.lost).toBe(200 + 1 - 128);
    expect(e.dmesg()).toContain("shadowfence: report ring overflowed: 73 report(s) lost");
  });
});
