// The KFENCE pool as the machine sees it: memblock frames, 4 KiB PTEs in the
// direct map, guard pages non-present, the TLB flushed on protect, LRU reuse,
// debugfs text, and KASAN leaving KFENCE objects alone.
import { describe, it, expect } from "vitest";
import { boot, BUILDS, expectReport, expectNoReport } from "../helpers.js";
import { kfenceObject, kfenceIndex, hex, ptr } from "./util.js";
import * as abi from "../../abi/abi.js";

const PAGE = 4096n;

describe.each(BUILDS)("KFENCE pool (%s build)", (build) => {
  it("boots a (num_objects + 1) * 2-page pool from memblock, 4 KiB-mapped, guards non-present", () => {
    const e = boot({}, build);
    const start = e.kfence.poolStart, size = e.kfence.poolSize;
    expect(size).toBe(2097152n);
    expect(e.exports.kfence_init_failed()).toBe(abi.KFENCE_INIT_OK);
    expect(e.dmesg()).toContain(`kfence: initialized - using 2097152 bytes for 255 objects at ${hex(start)}-${hex(start + size)}\n`);
    expect(e.stats().framesByUse.kfence).toBe(512);
    expect(e.stats().pageTableSplits).toBeGreaterThanOrEqual(1);
    const x = e.exports;
    for (let page = 0n; page < size / PAGE; page++) {
      const va = start + page * PAGE;
      const pa = x.pt_translate(va);
      const guard = page < 2n || (page & 1n) === 1n;
      if (guard) {
        expect(pa, `page ${page} is a guard page`).toBe(-1n);
        // the PTE exists (4 KiB mapping), only the present bit is clear
        expect(x.walk_levels()).toBe(5);
        expect(x.walk_entry(4) & 1n).toBe(0n);
        expect(x.walk_entry(4) & 0x000ffffffffff000n).toBe(va - 0xffff888000000000n);
      } else {
        expect(pa & ((1n << 62n) - 1n)).toBe(va - 0xffff888000000000n);
        expect(x.walk_levels()).toBe(5);
      }
    }
    expect(e.kfence.isKfenceAddress(start)).toBe(true);
    expect(e.kfence.isKfenceAddress(start - 1n)).toBe(false);
    expect(e.kfence.isKfenceAddress(start + size)).toBe(false);
  });

  it("a pool larger than RAM: boot goes on without KFENCE and says why (kfence_init_failed, KFENCE_INIT_*)", () => {
    const e = boot({ cmdline: "kfence.num_objects=8000", ram: 64 }, build);
    expect(e.exports.kfence_init_failed()).toBe(abi.KFENCE_INIT_NO_POOL);
    const lines = e.dmesg().split("\n").filter((l) => l.includes("kfence:"));
    expect(lines).toEqual(["[    0.000000] kfence: failed to allocate pool"]);
    expect(e.kfence.enabled).toBe(false);
    expect(e.stats().framesByUse.kfence).toBe(0);
  });

  it("stale TLB: a write fills the TLB, kfree protects and flushes, the next read faults", () => {
    const e = boot({}, build);
    const p = kfenceObject(e, 64);
    e.store(p, 8, 0x1122334455667788n);
    expect(e.load(p, 8)).toBe(0x1122334455667788n);
    e.kfree(p);
    expect(e.exports.tlb_check_coherent()).toBe(0);
    function read_after_free(): void { e.load(p, 8); }
    const r = expectReport(e, "use-after-free read", read_after_free);
    expect(r.address).toBe(p);
    // reported, then unprotected: the access went through and saw the old data
    expect(e.exports.pt_translate(p)).not.toBe(-1n);
  });

  it("reuses objects least recently freed first (the freelist is a FIFO)", () => {
    const e = boot({ cmdline: "kfence.num_objects=4" }, build);
    const objs = [0, 1, 2, 3].map(() => kfenceObject(e, 32));
    expect(objs.map((p) => kfenceIndex(e, p))).toEqual([0, 1, 2, 3]);
    e.kfree(objs[2]);
    e.kfree(objs[0]);
    e.kfree(objs[3]);
    expect([kfenceObject(e, 32), kfenceObject(e, 32), kfenceObject(e, 32)].map((p) => kfenceIndex(e, p))).toEqual([2, 0, 3]);
    // a reused page is present again, and its old protection is gone
    expect(e.exports.pt_translate(e.kfence.poolStart + 2n * PAGE)).not.toBe(-1n);
  });

  it("places objects at the left or right page edge (object size, cache alignment)", () => {
    const e = boot({}, build);
    const left = kfenceObject(e, 100, "left");
    expect(left & (PAGE - 1n)).toBe(0n);
    const right = kfenceObject(e, 100, "right");
    // kmalloc-128 is 128-byte aligned: page end - 100, aligned down
    expect(right & (PAGE - 1n)).toBe(0xf80n);
    const c = e.kmem_cache_create("odd", 13, { align: 8 });
    const r2 = kfenceObject(e, 13, "right", c);
    expect(r2 & (PAGE - 1n)).toBe(0xff0n);
    expect(e.ksize(r2)).toBe(13);
  });

  it("fills the page around the object with the canary 0xaa ^ (addr & 7)", () => {
    const e = boot({ kasan: false }, build);
    const p = kfenceObject(e, 20, "left");
    const page = e.readBytes(p & ~(PAGE - 1n), 4096);
    for (let i = 24; i < 4096; i++) expect(page[i], `byte ${i}`).toBe(0xaa ^ (i & 7));
    // the word holding the object's end gets the pattern too (as set_canary() writes it)
    expect(Array.from(page.subarray(20, 24))).toEqual([0xae, 0xaf, 0xac, 0xad]);
  });

  it("KASAN and KFENCE together: KASAN neither poisons nor checks KFENCE objects", () => {
    const e = boot({ cmdline: "kasan_multi_shot" }, build);
    expect(e.options.kasan).toBe(true);
    const p = kfenceObject(e, 13, "left");
    // no redzone in the shadow, before or after the object
    for (let off = -16n; off < 64n; off += 8n) expect(e.shadowByte(p + off), `shadow at ${off}`).toBe(0);
    // an overflow into the canary is not KASAN's: nothing until kfree
    expectNoReport(e, () => e.store(p + 13n, 1, 0));
    expectNoReport(e, () => e.memset(p, 0x41, 13));
    const r = expectReport(e, "memory corruption", () => e.kfree(p));
    expect(r.kind).toBe("kfence");
    // freed: still no poison in the shadow, the fault is KFENCE's
    expect(e.shadowByte(p)).toBe(0);
    expect(expectReport(e, "use-after-free read", () => e.load(p, 1)).kind).toBe("kfence");
    // explicit (un)poisoning of KFENCE memory is ignored: kfree_sensitive unpoisons ksize() bytes
    const q = kfenceObject(e, 13);
    e.kfree_sensitive(q);
    for (let off = 0n; off < 32n; off += 8n) expect(e.shadowByte(q + off)).toBe(0);
    expect(e.takeReports()).toEqual([]);
    // the same engine's slab objects still get KASAN reports
    const s = e.kmalloc(13);
    expect(e.kfence.isKfenceAddress(s)).toBe(false);
    expect(expectReport(e, "slab-out-of-bounds", () => e.load(s + 13n, 1)).kind).toBe("kasan");
  });

  it("KFENCE with KASAN off, and with software tag-based KASAN on arm64", () => {
    const off = boot({ kasan: false }, build);
    const p = kfenceObject(off, 32, "right");
    expect(expectReport(off, "out-of-bounds read", () => off.load(p + 32n, 1)).kind).toBe("kfence");
    const tags = boot({ cmdline: "arch=arm64 kasan.mode=sw_tags kasan_multi_shot" }, build);
    const q = kfenceObject(tags, 32);
    expect(q >> 56n).toBe(0xffn);           // KFENCE objects are untagged (match-all)
    tags.kfree(q);
    const r = expectReport(tags, "use-after-free read", () => tags.load(q, 1));
    expect(r.kind).toBe("kfence");
  });

  it("kfree of a guard page is not KFENCE's: the non-slab path handles it", () => {
    const e = boot({ kasan: false }, build);
    const guard = e.kfence.poolStart + 3n * PAGE + 8n;
    e.kfree(guard);
    const reports = e.takeReports();
    expect(reports.filter((r) => r.kind === "kfence")).toEqual([]);
    expect(e.kfence.statsData().totalBugs).toBe(0);
    // nothing was freed: the guard page is still a guard page, its frame still KFENCE's
    expect(e.exports.pt_translate(guard)).toBe(-1n);
    expect(e.stats().framesByUse.kfence).toBe(512);
  });

  it("/sys/kernel/debug/kfence/objects: every slot, tracks with 'ago', separators", () => {
    const e = boot({ cmdline: "kfence.num_objects=3" }, build);
    const a = kfenceObject(e, 32);
    const ta = e.clockNs;
    function free_a(): void { e.kfree(a); }
    free_a();
    const b = kfenceObject(e, 200, "any");
    const tb = e.clockNs;
    e.tick(1234);
    const now = e.clockNs;
    const sec = (ns: bigint) => `${ns / 1000000000n}.${((ns % 1000000000n) / 1000n).toString().padStart(6, "0")}`;
    const l = e.kfence.objects().split("\n");
    const sep = "-".repeat(33);
    let i = 0;
    expect(l[i++]).toBe(`kfence-#0: ${ptr(e, a)}-${ptr(e, a + 31n)}, size=32, cache=kmalloc-32`);
    expect(l[i++]).toBe("");
    expect(l[i++]).toBe(`allocated by task 1 on cpu 0 at ${sec(ta)}s (${sec(now - ta)}s ago):`);
    expect(l[i++]).toMatch(/^ kfenceObject\+/);
    while (l[i].startsWith(" ")) i++;
    expect(l[i++]).toBe("");
    expect(l[i++]).toBe(`freed by task 1 on cpu 0 at ${sec(ta)}s (${sec(now - ta)}s ago):`);
    expect(l[i++]).toMatch(/^ free_a\+/);
    while (l[i].startsWith(" ")) i++;
    expect(l[i++]).toBe(sep);
    expect(l[i++]).toBe(`kfence-#1: ${ptr(e, b)}-${ptr(e, b + 199n)}, size=200, cache=kmalloc-256`);
    expect(l[i++]).toBe("");
    expect(l[i++]).toBe(`allocated by task 1 on cpu 0 at ${sec(tb)}s (${sec(now - tb)}s ago):`);
    while (l[i].startsWith(" ")) i++;
    expect(l.slice(i)).toEqual([sep, "kfence-#2 unused", sep, ""]);
    const data = e.kfence.objectsData();
    expect(data.map((o) => o.state)).toEqual(["freed", "allocated", "unused"]);
    expect(data[1]).toMatchObject({ index: 1, start: b, size: 200, cache: "kmalloc-256" });
  });

  it("kfence.check_on_panic: live objects' canaries are checked when the kernel panics", () => {
    const e = boot({ cmdline: "kfence.check_on_panic=1 kasan.fault=panic" }, build);
    const p = kfenceObject(e, 32, "left");
    e.store(p + 40n, 1, 0);                 // corrupt a live object's canary
    const s = e.kmalloc(16);
    e.load(s + 16n, 1);                      // a KASAN bug, then kasan.fault=panic
    const kinds = e.takeReports().map((r) => `${r.kind}:${r.type}`);
    expect(kinds).toEqual(["kasan:slab-out-of-bounds", "panic:panic", "kfence:memory corruption"]);
    const r = e.reports().at(-1)!;
    expect(r.text.split("\n")[1]).toBe("BUG: KFENCE: memory corruption in notifier_call_chain+0x58/0xe0");
    expect(r.text.split("\n")[3]).toBe(`Corrupted memory at ${ptr(e, p + 40n)} [ ! . . . . . . . . . . . . . . . ] (in kfence-#${kfenceIndex(e, p)}):`);
  });

  it("a wild write into KFENCE's metadata is caught when followed: WARN, KFENCE off, no trap", () => {
    const e = boot({ kasan: false }, build);
    const p = kfenceObject(e, 32);
    const i = kfenceIndex(e, p);
    // struct kfence_metadata sits in direct-mapped frames like any other memory
    const meta = 0xffff888000000000n + BigInt(e.exports.kfence_meta_base() - 0x1000000 + i * abi.KF_META_SIZE);
    e.store(meta + BigInt(abi.KF_M_ADDR), 8, 0x4141414141414141n);
    e.store(meta + BigInt(abi.KF_M_UNPROTECTED), 8, 0x4242424242424242n);
    e.kfree(p);
    const [w] = e.takeReports();
    expect(w.kind).toBe("warn");
    expect(w.text).toMatch(/WARNING: CPU: 0 PID: 1 at mm\/kfence\/core.c:\d+ kfence_protect\+/);
    expect(e.kfence.enabled).toBe(false);
    // disabled: a pool fault is unprotected without a report, and no sample is taken
    e.load(e.kfence.poolStart + 5n, 1);
    e.tick(1000);
    expect(e.kfence.isKfenceAddress(e.kmalloc(32))).toBe(false);
    expect(e.takeReports()).toEqual([]);
  });

  it("kmem_cache_free of a KFENCE object with the wrong cache: the WARN, then KFENCE frees it", () => {
    const e = boot({}, build);
    const a = e.kmem_cache_create("cache_a", 48), b = e.kmem_cache_create("cache_b", 48);
    const p = kfenceObject(e, 48, "any", a);
    e.kmem_cache_free(b, p);
    const [w] = e.takeReports();
    expect(w.kind).toBe("warn");
    expect(w.text).toContain("cache_from_obj: Wrong slab cache. cache_b but object is from cache_a");
    expect(e.kfence.objectsData()[kfenceIndex(e, p)].state).toBe("freed");
    // a guard page is no slab page at all
    e.kmem_cache_free(a, e.kfence.poolStart + PAGE);
    expect(e.takeReports().map((r) => r.type)).toEqual(["free-non-slab"]);
  });
});
