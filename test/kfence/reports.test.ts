// KFENCE reports, whole text line by line (6.12): every error type, the
// object section and tracks, the corrupted-bytes notation with and without
// no_hash_pointers, frame skipping on the free path, RCU and zombie states.
import { describe, it, expect } from "vitest";
import { boot, BUILDS, expectReport } from "../helpers.js";
import { kfenceObject, kfenceIndex, expectLines, frames, ptr, SEP, HW } from "./util.js";
import { secUsec } from "../../host/report/kfence.js";

const CPU_CLEAN = "CPU: 0 UID: 0 PID: 1 Comm: swapper/0 Not tainted 6.12.0 #1";
const CPU_B = "CPU: 0 UID: 0 PID: 1 Comm: swapper/0 Tainted: G    B              6.12.0 #1";
const TAINT_B = "Tainted: [B]=BAD_PAGE";

function at(ns: bigint, now: bigint): string {
  return `at ${secUsec(ns)}s (${secUsec(now - ns)}s ago):`;
}

describe.each(BUILDS)("KFENCE report text (%s build)", (build) => {
  const multi = (cmdline = "") => boot({ cmdline: `kasan_multi_shot ${cmdline}` }, build);

  it("out-of-bounds read right of an object: distance from the object start", () => {
    const e = multi();
    const p = kfenceObject(e, 32, "right");
    const t0 = e.clockNs;
    const n = kfenceIndex(e, p);
    function read_past_the_end(): void { e.load(p + 32n, 1); }
    const r = expectReport(e, "out-of-bounds read", read_past_the_end);
    expect(r.kind).toBe("kfence");
    expect(r.address).toBe(p + 32n);
    expect(r.isWrite).toBe(false);
    expect(r.performed).toBe(true);
    expectLines(r.text, [
      SEP,
      /^BUG: KFENCE: out-of-bounds read in read_past_the_end\+0x[0-9a-f]+\/0x[0-9a-f]+$/,
      "",
      `Out-of-bounds read at ${ptr(e, p + 32n)} (32B right of kfence-#${n}):`,
      frames("read_past_the_end"),
      "",
      `kfence-#${n}: ${ptr(e, p)}-${ptr(e, p + 31n)}, size=32, cache=kmalloc-32`,
      "",
      `allocated by task 1 on cpu 0 ${at(t0, t0)}`,
      frames("kfenceObject"),
      "",
      CPU_CLEAN,
      HW,
      SEP,
    ]);
    const d = r.extra!.kfence as { side: string; distance: number; object: { index: number; start: bigint } };
    expect(d.side).toBe("right");
    expect(d.distance).toBe(32);
    expect(d.object.index).toBe(n);
    expect(d.object.start).toBe(p);
    // the guard page stays open after the report: the access went through
    expect(e.load(p + 40n, 1)).toBe(0);
    expect(e.takeReports()).toEqual([]);
  });

  it("out-of-bounds write left of an object, the 'ago' time on the engine clock", () => {
    const e = multi();
    const p = kfenceObject(e, 64, "left");
    const t0 = e.clockNs;
    e.tick(2500);
    const n = kfenceIndex(e, p);
    function write_before_start(): void { e.store(p - 3n, 1, 7); }
    const r = expectReport(e, "out-of-bounds write", write_before_start);
    expectLines(r.text, [
      SEP,
      /^BUG: KFENCE: out-of-bounds write in write_before_start\+/,
      "",
      `Out-of-bounds write at ${ptr(e, p - 3n)} (3B left of kfence-#${n}):`,
      frames("write_before_start"),
      "",
      `kfence-#${n}: ${ptr(e, p)}-${ptr(e, p + 63n)}, size=64, cache=kmalloc-64`,
      "",
      `allocated by task 1 on cpu 0 ${at(t0, t0 + 2_500_000_000n)}`,
      frames("kfenceObject"),
      "",
      CPU_CLEAN,
      HW,
      SEP,
    ]);
    expect(r.text).toContain("(2.500000s ago):");
  });

  it("use-after-free read and write: freed-by section, taint on the second report", () => {
    const e = multi();
    const p = kfenceObject(e, 48);
    const t0 = e.clockNs;
    const n = kfenceIndex(e, p);
    function free_it(): void { e.kfree(p); }
    free_it();
    function read_freed(): void { e.load(p + 8n, 8); }
    const r = expectReport(e, "use-after-free read", read_freed);
    expectLines(r.text, [
      SEP,
      /^BUG: KFENCE: use-after-free read in read_freed\+/,
      "",
      `Use-after-free read at ${ptr(e, p + 8n)} (in kfence-#${n}):`,
      frames("read_freed"),
      "",
      `kfence-#${n}: ${ptr(e, p)}-${ptr(e, p + 47n)}, size=48, cache=kmalloc-64`,
      "",
      `allocated by task 1 on cpu 0 ${at(t0, t0)}`,
      frames("kfenceObject"),
      "",
      `freed by task 1 on cpu 0 ${at(t0, t0)}`,
      frames("free_it"),
      "",
      CPU_CLEAN,
      HW,
      SEP,
    ]);
    // a second object: the next report carries the taint of the first
    const q = kfenceObject(e, 48);
    e.kfree(q);
    function write_freed(): void { e.store(q, 4, 1); }
    const w = expectReport(e, "use-after-free write", write_freed);
    expect(w.text.split("\n").slice(-4)).toEqual([CPU_B, TAINT_B, HW, SEP]);
  });

  it("invalid read of a pool page that belongs to no object (no object section)", () => {
    const e = multi();
    const a = e.kfence.poolStart + 10n;
    function read_pool_start(): void { e.load(a, 1); }
    const r = expectReport(e, "invalid read", read_pool_start);
    expectLines(r.text, [
      SEP, /^BUG: KFENCE: invalid read in read_pool_start\+/, "", `Invalid read at ${ptr(e, a)}:`, frames("read_pool_start"),
      "", CPU_CLEAN, HW, SEP,
    ]);
    expect(e.kfence.statsData().totalBugs).toBe(1);
  });

  it("a guard page between two objects blames the nearer allocated neighbour", () => {
    // same seed, same layout: a fresh engine for each access (the first one opens the page)
    const setup = () => { const e = multi(); return { e, a: kfenceObject(e, 32), b: kfenceObject(e, 32) }; };
    const { e, a, b } = setup();
    const ia = kfenceIndex(e, a), ib = kfenceIndex(e, b);
    expect(ib).toBe(ia + 1);
    const guard = e.kfence.poolStart + BigInt(2 * ia + 3) * 4096n;
    function touch_guard_start(): void { e.load(guard, 1); }
    expect(expectReport(e, "out-of-bounds read", touch_guard_start).text).toContain(`(${guard - a}B right of kfence-#${ia}):`);
    const s2 = setup();
    expect(s2.a).toBe(a);
    function touch_guard_end(): void { s2.e.load(guard + 4095n, 1); }
    expect(expectReport(s2.e, "out-of-bounds read", touch_guard_end).text).toContain(`(${b - guard - 4095n}B left of kfence-#${ib}):`);
    // a freed neighbour is never blamed
    const s3 = setup();
    s3.e.kfree(s3.a);
    function touch_after_free(): void { s3.e.load(guard, 1); }
    expect(expectReport(s3.e, "out-of-bounds read", touch_after_free).text).toContain(`(${b - guard}B left of kfence-#${ib}):`);
  });

  it("invalid free of an address inside the object: the caller of kfree in the title", () => {
    const e = multi();
    const p = kfenceObject(e, 32);
    const t0 = e.clockNs;
    const n = kfenceIndex(e, p);
    function free_inside(): void { e.kfree(p + 1n); }
    const r = expectReport(e, "invalid free", free_inside);
    expect(r.performed).toBe(false);
    expectLines(r.text, [
      SEP,
      /^BUG: KFENCE: invalid free in free_inside\+/,
      "",
      `Invalid free of ${ptr(e, p + 1n)} (in kfence-#${n}):`,
      frames("free_inside"),
      "",
      `kfence-#${n}: ${ptr(e, p)}-${ptr(e, p + 31n)}, size=32, cache=kmalloc-32`,
      "",
      `allocated by task 1 on cpu 0 ${at(t0, t0)}`,
      frames("kfenceObject"),
      "",
      CPU_CLEAN,
      HW,
      SEP,
    ]);
    // the object is still allocated and frees normally
    e.kfree(p);
    expect(e.takeReports()).toEqual([]);
  });

  it("double free (kmem_cache_free): reported as an invalid free with both tracks", () => {
    const e = multi();
    const c = e.kmem_cache_create("kf_test_cache", 40);
    const p = kfenceObject(e, 40, "any", c);
    const n = kfenceIndex(e, p);
    function first_free(): void { e.kmem_cache_free(c, p); }
    first_free();
    function second_free(): void { e.kmem_cache_free(c, p); }
    const r = expectReport(e, "invalid free", second_free);
    const l = r.text.split("\n");
    expect(l[1]).toMatch(/^BUG: KFENCE: invalid free in second_free\+/);
    expect(l[3]).toBe(`Invalid free of ${ptr(e, p)} (in kfence-#${n}):`);
    expect(l).toContain(`kfence-#${n}: ${ptr(e, p)}-${ptr(e, p + 39n)}, size=40, cache=kf_test_cache`);
    const freed = l.findIndex((x) => x.startsWith("freed by task 1 on cpu 0 at "));
    expect(l[freed + 1]).toMatch(/^ first_free\+/);
  });

  it("memory corruption right of a left-aligned object: 16 bytes, '!' for the changed one", () => {
    const e = multi();
    const p = kfenceObject(e, 32, "left");
    const t0 = e.clockNs;
    const n = kfenceIndex(e, p);
    e.store(p + 32n, 1, 42);
    function free_corrupted(): void { e.kfree(p); }
    const r = expectReport(e, "memory corruption", free_corrupted);
    expect(r.address).toBe(p + 32n);
    expectLines(r.text, [
      SEP,
      /^BUG: KFENCE: memory corruption in free_corrupted\+/,
      "",
      `Corrupted memory at ${ptr(e, p + 32n)} [ ! . . . . . . . . . . . . . . . ] (in kfence-#${n}):`,
      frames("free_corrupted"),
      "",
      `kfence-#${n}: ${ptr(e, p)}-${ptr(e, p + 31n)}, size=32, cache=kmalloc-32`,
      "",
      `allocated by task 1 on cpu 0 ${at(t0, t0)}`,
      frames("kfenceObject"),
      "",
      `freed by task 1 on cpu 0 ${at(t0, t0)}`,
      frames("free_corrupted"),
      "",
      CPU_CLEAN,
      HW,
      SEP,
    ]);
  });

  it("memory corruption left of a right-aligned object stops at the object: [ ! ]", () => {
    const e = multi();
    const p = kfenceObject(e, 32, "right");
    e.store(p - 1n, 1, 0x42);
    function free_it(): void { e.kfree(p); }
    const r = expectReport(e, "memory corruption", free_it);
    expect(r.text.split("\n")[3]).toBe(`Corrupted memory at ${ptr(e, p - 1n)} [ ! ] (in kfence-#${kfenceIndex(e, p)}):`);
  });

  it("both sides corrupted: one report per side, left first; the gap of an aligned object", () => {
    const e = multi();
    // 73 bytes in kmalloc-96 (32-byte aligned): a right-side object leaves a 23-byte gap
    const p = kfenceObject(e, 73, "right");
    expect(p & 0xfffn).toBe(0xfa0n);
    e.store(p - 16n, 1, 0);
    e.store(p + 73n + 20n, 1, 0xee);
    function free_it(): void { e.kfree(p); }
    free_it();
    const rs = e.takeReports();
    expect(rs.map((r) => r.type)).toEqual(["memory corruption", "memory corruption"]);
    expect(rs[0].text.split("\n")[3]).toBe(`Corrupted memory at ${ptr(e, p - 16n)} [ ! . . . . . . . . . . . . . . . ] (in kfence-#${kfenceIndex(e, p)}):`);
    // 3 bytes left to the page end
    expect(rs[1].text.split("\n")[3]).toBe(`Corrupted memory at ${ptr(e, p + 93n)} [ ! . . ] (in kfence-#${kfenceIndex(e, p)}):`);
    expect(e.kfence.statsData().totalBugs).toBe(2);
  });

  it("no_hash_pointers: corrupted bytes in hex, and a fault's footer in show_regs() shape", () => {
    const e = multi("no_hash_pointers");
    const p = kfenceObject(e, 73, "left");
    e.writeBytes(p + 73n, [0x01, 0xab, 0x02]);   // canaries there: 0xab 0xa8 0xa9
    function free_it(): void { e.kfree(p); }
    const r = expectReport(e, "memory corruption", free_it);
    // canary of address A is 0xaa ^ (A & 7): p is page-aligned, so p+74 expects 0xa8
    expect(r.text.split("\n")[3]).toBe(`Corrupted memory at ${ptr(e, p + 73n)} [ 0x01 0xab 0x02 . . . . . . . . . . . . . ] (in kfence-#${kfenceIndex(e, p)}):`);
    // a fault with no_hash_pointers: registers' place taken by RIP and the trace
    function read_freed(): void { e.load(p, 1); }
    const u = expectReport(e, "use-after-free read", read_freed);
    const l = u.text.split("\n");
    const cpu = l.findIndex((x) => x.startsWith("CPU: 0 UID: 0 PID: 1"));
    expect(l[cpu + 1]).toBe(TAINT_B);
    expect(l[cpu + 2]).toBe(HW);
    expect(l[cpu + 3]).toMatch(/^RIP: 0010:read_freed\+0x[0-9a-f]+\/0x[0-9a-f]+$/);
    expect(l.slice(cpu + 4, cpu + 6)).toEqual(["Call Trace:", " <TASK>"]);
    expect(l[cpu + 6]).toMatch(/^ read_freed\+/);
    expect(l.slice(-2)).toEqual([" </TASK>", SEP]);
  });

  it("krealloc: the allocation track starts at krealloc_noprof (allocator frames skipped)", () => {
    const e = multi();
    const small = e.kmalloc(16);
    e.tick(e.kfence.sampleInterval);
    function grow(): bigint { return e.krealloc(small, 200); }
    const p = grow();
    expect(e.kfence.isKfenceAddress(p)).toBe(true);
    e.kfree(p);
    function use_it(): void { e.load(p, 1); }
    const r = expectReport(e, "use-after-free read", use_it);
    const l = r.text.split("\n");
    const alloc = l.findIndex((x) => x.startsWith("allocated by task"));
    expect(l[alloc + 1]).toBe(" krealloc_noprof+0xf1/0x150");
    expect(l[alloc + 2]).toMatch(/^ grow\+/);
  });

  it("SLAB_TYPESAFE_BY_RCU: 'rcu freeing' until the grace period, then a use-after-free", () => {
    const e = multi();
    const c = e.kmem_cache_create("rcu_cache", 32, { flags: "SLAB_TYPESAFE_BY_RCU" });
    const p = kfenceObject(e, 32, "right", c);
    function free_under_rcu(): void { e.kmem_cache_free(c, p); }
    free_under_rcu();
    expect(e.load(p, 1)).toBeTypeOf("number");   // still readable: no grace period yet
    expect(e.takeReports()).toEqual([]);
    function read_past(): void { e.load(p + 32n, 1); }
    const r = expectReport(e, "out-of-bounds read", read_past);
    const l = r.text.split("\n");
    const f = l.findIndex((x) => x.startsWith("rcu freeing by task 1 on cpu 0 at "));
    expect(f).toBeGreaterThan(0);
    expect(l[f + 1]).toMatch(/^ free_under_rcu\+/);
    e.rcu_barrier();
    function read_after_gp(): void { e.load(p, 1); }
    const u = expectReport(e, "use-after-free read", read_after_gp);
    const ul = u.text.split("\n");
    const uf = ul.findIndex((x) => x.startsWith("freed by task 1 on cpu 0 at "));
    expect(ul[uf + 1]).toMatch(/^ free_under_rcu\+/);
    // freeing again within a grace period is an invalid free
    const q = kfenceObject(e, 32, "any", c);
    e.kmem_cache_free(c, q);
    function free_again(): void { e.kmem_cache_free(c, q); }
    expectReport(e, "invalid free", free_again);
  });

  it("zombie objects of a destroyed cache: cache=<destroyed>, freed by kmem_cache_destroy", () => {
    const e = multi();
    const c = e.kmem_cache_create("short_lived", 24);
    const p = kfenceObject(e, 24, "any", c);
    function destroy(): boolean { return e.kmem_cache_destroy(c); }
    expect(destroy()).toBe(true);
    expect(e.takeReports()).toEqual([]);
    expect(e.kfence.statsData()).toMatchObject({ zombieAllocations: 1, currentlyAllocated: 1 });
    function late_free(): void { e.kfree(p); }
    const r = expectReport(e, "invalid free", late_free);
    const l = r.text.split("\n");
    expect(l).toContain(`kfence-#${kfenceIndex(e, p)}: ${ptr(e, p)}-${ptr(e, p + 23n)}, size=24, cache=<destroyed>`);
    const f = l.findIndex((x) => x.startsWith("freed by task"));
    expect(l[f + 1]).toBe(" kmem_cache_destroy+0xd5/0x170");
    expect(l[f + 2]).toMatch(/^ destroy\+/);
  });

  it("panic_on_warn panics after a KFENCE report", () => {
    const e = boot({ cmdline: "panic_on_warn" }, build);
    const p = kfenceObject(e, 32);
    e.kfree(p);
    function read_freed(): void { e.load(p, 1); }
    read_freed();
    const [k, panic] = e.takeReports();
    expect(k.type).toBe("use-after-free read");
    expect(panic.kind).toBe("panic");
    expect(panic.title).toBe("Kernel panic - not syncing: KFENCE: panic_on_warn set ...");
  });

  it("a sampled kmem_cache descriptor: using the destroyed cache faults in the allocator", () => {
    const e = multi();
    e.tick(e.kfence.sampleInterval);
    const c = e.kmem_cache_create("gone", 64);
    const desc = BigInt.asUintN(64, e.exports.cache_va(c.id));
    expect(e.kfence.isKfenceAddress(desc)).toBe(true);
    expect(e.kmem_cache_destroy(c)).toBe(true);
    function alloc_from_destroyed(): bigint { return e.kmem_cache_alloc(c); }
    const r = expectReport(e, "use-after-free read", alloc_from_destroyed);
    const l = r.text.split("\n");
    expect(l[1]).toBe("BUG: KFENCE: use-after-free read in kmem_cache_alloc_noprof+0x10c/0x2f0");
    expect(l[3]).toBe(`Use-after-free read at ${ptr(e, desc)} (in kfence-#${kfenceIndex(e, desc)}):`);
    expect(l[5]).toMatch(/^ alloc_from_destroyed\+/);
    expect(l).toContain(`kfence-#${kfenceIndex(e, desc)}: ${ptr(e, desc)}-${ptr(e, desc + 255n)}, size=256, cache=kmem_cache`);
  });
});
