// SLAB (mm/slab.c of Linux 6.1, shadowfence.slab=slab) on its own terms:
// geometry derived here from the kernel's rules (cache_estimate(),
// calculate_slab_order(), the OBJFREELIST / OFF_SLAB / on-slab choice,
// colouring), the per-CPU and shared array caches (refill, flush, cache_reap),
// shrink and destroy, KASAN reports line by line, KFENCE objects handed out
// ahead of the array cache, and the boot parameters it refuses.
import { describe, it, expect } from "vitest";
import * as abi from "../../abi/abi.js";
import { boot, lines, expectNoReport } from "../helpers.js";
import { ConfigError } from "../../host/config.js";
import type { Engine, KmemCache } from "../../host/engine.js";

const PAGE = 4096;
const px = (v: bigint) => v.toString(16).padStart(16, "0");
const KMALLOC_SIZES = [32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192];

// ── the kernel's rules, written out for the test ─────────────────────────────
type Mgmt = "objfreelist" | "off-slab" | "on-slab";
interface Geometry { size: number; num: number; order: number; colour: number; mgmt: Mgmt }

/** calculate_alignment(): SLAB_HWCACHE_ALIGN halves the 64-byte line while the object fits twice. */
function alignment(objectSize: number, align: number, hwcache: boolean): number {
  if (hwcache) {
    let ralign = 64;
    while (objectSize <= ralign / 2) ralign /= 2;
    align = Math.max(align, ralign);
  }
  return Math.max(align, 8);
}

/**
 * __kmem_cache_create() without KASAN: the slot is the object rounded to a
 * word and to the alignment; then the first of OBJFREELIST (no ctor, no RCU,
 * the index array fits in an object), OFF_SLAB (when the slab has less room
 * left than the array needs), on-slab (one index byte per object in the slab).
 */
function geometry(objectSize: number, opts: { align?: number; hwcache?: boolean; ctor?: boolean; rcu?: boolean; maxOrder?: number } = {}): Geometry {
  const maxOrder = opts.maxOrder ?? 1;             // SLAB_MAX_ORDER_HI: more than 32 MiB of RAM
  const align = alignment(objectSize, opts.align ?? 0, opts.hwcache ?? false);
  const colourOff = Math.max(64, align);
  const roundUp = (v: number, a: number) => Math.ceil(v / a) * a;
  let size = roundUp(roundUp(objectSize, 8), align);
  if (size < 16) size = roundUp(16, align);
  // cache_estimate() + calculate_slab_order()
  const order = (mgmt: Mgmt): { num: number; order: number; left: number } => {
    let best = { num: 0, order: 0, left: 0 };
    for (let o = 0; o <= 10; o++) {
      const slab = PAGE << o;
      const unit = mgmt === "on-slab" ? size + 1 : size;
      const num = Math.floor(slab / unit);
      if (num === 0) continue;
      if (num > 255) break;
      if (mgmt === "off-slab") {
        const fc = KMALLOC_SIZES.find((k) => k >= num)!;       // the index array's kmalloc cache
        if (fc > objectSize / 2) continue;
      }
      best = { num, order: o, left: slab % unit };
      if (o >= maxOrder || best.left * 8 <= slab) break;
    }
    return best;
  };
  if (!opts.ctor && !opts.rcu) {
    const g = order("objfreelist");
    if (g.num && g.num <= objectSize) return { size, num: g.num, order: g.order, colour: Math.floor(g.left / colourOff), mgmt: "objfreelist" };
  }
  const off = order("off-slab");
  if (off.num && off.left < off.num) return { size, num: off.num, order: off.order, colour: Math.floor(off.left / colourOff), mgmt: "off-slab" };
  const on = order("on-slab");
  return { size, num: on.num, order: on.order, colour: Math.floor(on.left / colourOff), mgmt: "on-slab" };
}

const MGMT: Record<number, Mgmt> = { [abi.SLAB_MGMT_OBJFREELIST]: "objfreelist", [abi.SLAB_MGMT_OFF_SLAB]: "off-slab", [abi.SLAB_MGMT_ON_SLAB]: "on-slab" };
function engineGeometry(e: Engine, c: KmemCache): Geometry {
  const info = e.slabinfo().find((s) => s.name === c.name)!;
  return {
    size: info.objSize, num: info.objPerSlab, order: Math.log2(info.pagesPerSlab),
    colour: e.exports.slab_info(c.id, abi.SL_COLOUR), mgmt: MGMT[e.exports.slab_info(c.id, abi.SL_MGMT)],
  };
}

describe("SLAB geometry", () => {
  const SIZES = [16, 24, 100, 200, 500, 1000, 1024, 2000, 3000, 5000, 20000];

  it.each([
    ["plain", {}], ["with a constructor", { ctor: true }], ["SLAB_TYPESAFE_BY_RCU", { rcu: true }],
    ["SLAB_HWCACHE_ALIGN", { hwcache: true }], ["align 256", { align: 256 }],
  ] as const)("kmem_cache_create %s: size, objects, order, colour and freelist placement as mm/slab.c computes them", (_, opts) => {
    for (const maxOrder of [0, 1, 3]) {
      const e = boot({ cmdline: `shadowfence.slab=slab kasan=off kfence.sample_interval=0 slab_max_order=${maxOrder}` });
      for (const size of SIZES) {
        const flags = [("rcu" in opts) ? "SLAB_TYPESAFE_BY_RCU" : "", ("hwcache" in opts) ? "SLAB_HWCACHE_ALIGN" : ""].filter(Boolean).join("|");
        const c = e.kmem_cache_create(`c${size}`, size, { align: "align" in opts ? opts.align : 0, flags: flags || undefined,
          ctor: "ctor" in opts ? () => {} : undefined });
        expect(engineGeometry(e, c), `size ${size}, slab_max_order=${maxOrder}`).toEqual(geometry(size, { ...opts, maxOrder }));
      }
    }
  });

  it("worked examples: kmalloc caches, a colour-rich order-1 cache, OFF_SLAB only when the slab has no room", () => {
    const e = boot({ cmdline: "shadowfence.slab=slab kasan=off kfence.sample_interval=0" });
    const info = Object.fromEntries(e.slabinfo().map((s) => [s.name, [s.objSize, s.objPerSlab, s.pagesPerSlab]]));
    // kmalloc-32: 128 indexes do not fit in a 32-byte object and kmalloc-128 does not exist yet: on-slab, 4096 / 33
    expect(info["kmalloc-32"]).toEqual([32, 124, 1]);
    expect(info["kmalloc-96"]).toEqual([96, 42, 1]);
    expect(info["kmalloc-8k"]).toEqual([8192, 1, 2]);
    expect(info["kmalloc-8"]).toBeUndefined();            // KMALLOC_SHIFT_LOW is 5 under SLAB
    expect(e.cacheOf(e.kmalloc(8))).toBe("kmalloc-32");
    expect(e.cacheOf(e.kmalloc(17))).toBe("kmalloc-32");
    expect(e.cacheOf(e.kmalloc(33))).toBe("kmalloc-64");
    // 3000 bytes: order 0 wastes 1096 (over 1/8), order 1 = slab_max_order holds 2 and leaves 2192: 34 colours
    expect(geometry(3000)).toEqual({ size: 3000, num: 2, order: 1, colour: 34, mgmt: "objfreelist" });
    // an RCU cache of 1000: OFF_SLAB would do, but 96 bytes are left for a 4-byte array: on-slab
    expect(geometry(1000, { rcu: true })).toEqual({ size: 1000, num: 4, order: 0, colour: 1, mgmt: "on-slab" });
    expect(geometry(1024, { rcu: true })).toEqual({ size: 1024, num: 4, order: 0, colour: 0, mgmt: "off-slab" });
    const c = e.kmem_cache_create("rcu1024", 1024, { flags: "SLAB_TYPESAFE_BY_RCU" });
    expect(e.exports.slab_info(c.id, abi.SL_FREELIST_CACHE)).toBe(e.exports.kmalloc_cache_id(2));   // kmalloc-32
  });

  it("colours successive slabs: s_mem steps by colour_off, starting at colour 1, wrapping at colour", () => {
    const e = boot({ cmdline: "shadowfence.slab=slab kasan=off kfence.sample_interval=0" });
    const c = e.kmem_cache_create("colours", 2000);        // 2 objects, 96 bytes left: colour 1 (0 and 64)
    expect(e.exports.slab_info(c.id, abi.SL_COLOUR)).toBe(1);
    const big = e.kmem_cache_create("colours3000", 3000);  // 34 colours
    const starts: number[] = [];
    for (let i = 0; i < 4; i++) {
      // each new slab is taken whole into the array (2 objects); the first handed out is index 1
      const a = e.kmem_cache_alloc(big), b = e.kmem_cache_alloc(big);
      const lo = a < b ? a : b;
      starts.push(Number(lo & 0x1fffn));
      expect(Number((a > b ? a : b) - lo)).toBe(3000);
    }
    expect(starts).toEqual([64, 128, 192, 256]);
    const small = [e.kmem_cache_alloc(c), e.kmem_cache_alloc(c), e.kmem_cache_alloc(c), e.kmem_cache_alloc(c)];
    // colour 1: colour_next goes 1 -> 0 every slab, so every slab starts at offset 0
    expect(small.map((p) => Number(p & 0xfffn)).sort((x, y) => x - y)).toEqual([0, 0, 2000, 2000]);
  });

  it("with generic KASAN: 6.1's metadata placement and optimal redzone, then SLAB's order rules", () => {
    const e = boot({ cmdline: "shadowfence.slab=slab kfence.sample_interval=0" });
    const info = Object.fromEntries(e.slabinfo().map((s) => [s.name, [s.objSize, s.objPerSlab, s.pagesPerSlab]]));
    // kmalloc-128: 128 + alloc meta 16, optimal redzone 128 + 64 = 192 -> 192, aligned to 128: 256
    expect(info["kmalloc-128"]).toEqual([256, 16, 1]);
    // kmalloc-32: 32 + 16 = 48, optimal 48, aligned to 32: 64; 64 indexes fit in the object: OBJFREELIST
    expect(info["kmalloc-32"]).toEqual([64, 63, 1]);
    const small = e.kmem_cache_create("small12", 12);
    // 6.1: an object under 16 bytes keeps its free meta past the alloc meta: 16 + 16 + 16 = 48 (> optimal 28)
    expect(e.exports.cache_info(small.id, abi.KC_ALLOC_META)).toBe(16);
    expect(e.exports.cache_info(small.id, abi.KC_FREE_META)).toBe(32);
    expect(e.slabinfo().find((s) => s.name === "small12")!.objSize).toBe(48);
  });
});

// ── array caches ─────────────────────────────────────────────────────────────
const cpuAvail = (e: Engine, c: KmemCache, cpu = 0) => e.exports.slab_info(c.id, abi.SL_CPU_AVAIL + cpu);
const sharedAvail = (e: Engine, c: KmemCache) => e.exports.slab_info(c.id, abi.SL_SHARED_AVAIL);
const slabs = (e: Engine, c: KmemCache) => e.slabinfo().find((s) => s.name === c.name)!;

describe("SLAB array caches", () => {
  const fresh = () => {
    const e = boot({ cmdline: "shadowfence.slab=slab kasan=off kfence.sample_interval=0" });
    // 1000 bytes: 4 objects a slab; limit 54 (> 256 bytes), batchcount 27, shared 8 x 27 (2 CPUs)
    const c = e.kmem_cache_create("ac_test", 1000);
    return { e, c };
  };

  it("tunables as enable_cpucache() sets them, and /proc/slabinfo's SLAB columns", () => {
    const { e, c } = fresh();
    expect([abi.SL_LIMIT, abi.SL_BATCHCOUNT, abi.SL_SHARED, abi.SL_FREE_LIMIT].map((f) => e.exports.slab_info(c.id, f)))
      .toEqual([54, 27, 8, (1 + 2) * 27 + 4]);
    const limits = (sz: number) => { const x = e.kmem_cache_create(`t${sz}`, sz); return [e.exports.slab_info(x.id, abi.SL_LIMIT), e.exports.slab_info(x.id, abi.SL_SHARED)]; };
    expect([limits(200), limits(256), limits(257), limits(1025), limits(4097), limits(131073)])
      .toEqual([[120, 8], [120, 8], [54, 8], [24, 8], [8, 0], [1, 0]]);
    expect(boot({ cmdline: "shadowfence.slab=slab nr_cpus=1 kasan=off" }).slabinfoText())
      .toMatch(/^kmalloc-96 +0 +0 +96 +42 +1 : tunables  120   60    0 : slabdata      0      0      0$/m);
  });

  it("refill: a first, untouched refill takes BATCHREFILL_LIMIT at most; a new slab fills the array", () => {
    const { e, c } = fresh();
    const got: bigint[] = [e.kmem_cache_alloc(c)];
    // no free objects: cache_grow_begin() then alloc_block() takes the whole slab (4 < 16), one goes out
    expect([cpuAvail(e, c), slabs(e, c).numSlabs, slabs(e, c).activeObjs]).toEqual([3, 1, 4]);
    for (let i = 1; i < 100; i++) got.push(e.kmem_cache_alloc(c));
    expect([cpuAvail(e, c), slabs(e, c).numSlabs, slabs(e, c).activeObjs, e.exports.slab_info(c.id, abi.SL_FREE_OBJECTS)]).toEqual([0, 25, 100, 0]);
    expect(new Set(got).size).toBe(100);
  });

  it("flush: a full array moves batchcount objects to the shared array; frees stay 'active' until drained", () => {
    const { e, c } = fresh();
    const p: bigint[] = [];
    for (let i = 0; i < 100; i++) p.push(e.kmem_cache_alloc(c));
    for (let i = 0; i < 54; i++) e.kmem_cache_free(c, p[i]);
    expect([cpuAvail(e, c), sharedAvail(e, c)]).toEqual([54, 0]);
    e.kmem_cache_free(c, p[54]);                     // cache_flusharray(): 27 to the shared array
    expect([cpuAvail(e, c), sharedAvail(e, c)]).toEqual([28, 27]);
    for (let i = 55; i < 100; i++) e.kmem_cache_free(c, p[i]);
    expect([cpuAvail(e, c), sharedAvail(e, c)]).toEqual([46, 54]);
    // get_slabinfo(): num_objs - free_objects, and the arrays' objects are not free_objects
    expect([slabs(e, c).activeObjs, slabs(e, c).numObjs, slabs(e, c).sharedAvail]).toEqual([100, 100, 54]);
    expect(e.slabinfoText()).toMatch(/^ac_test +100 +100 +1000 +4 +1 : tunables   54   27    8 : slabdata     25     25     54$/m);
    // another CPU refills from the shared array: its untouched array takes 16 (BATCHREFILL_LIMIT)
    e.setTask({ pid: 1, cpu: 1 });
    const q = e.kmem_cache_alloc(c);
    expect([cpuAvail(e, c, 1), sharedAvail(e, c), cpuAvail(e, c, 0)]).toEqual([15, 38, 46]);
    expect(p).toContain(q);                          // the most recently flushed batch, LIFO
  });

  it("the LIFO order: the last object freed on a CPU is the next one it hands out", () => {
    const { e, c } = fresh();
    const a = e.kmem_cache_alloc(c), b = e.kmem_cache_alloc(c);
    e.kmem_cache_free(c, a);
    e.kmem_cache_free(c, b);
    expect(e.kmem_cache_alloc(c)).toBe(b);
    expect(e.kmem_cache_alloc(c)).toBe(a);
  });

  it("cache_reap every 2 s: a touched array is spared once, then loses (limit + 4) / 5 a round", () => {
    const { e, c } = fresh();
    const p: bigint[] = [];
    for (let i = 0; i < 100; i++) p.push(e.kmem_cache_alloc(c));
    for (const x of p) e.kmem_cache_free(c, x);
    expect(cpuAvail(e, c)).toBe(46);
    const toNextReap = () => Number(e.exports.slab_reap_next() - e.clockNs) / 1e6;
    e.tick(toNextReap());                            // round 1: touched by the allocations, only cleared
    expect(cpuAvail(e, c)).toBe(46);
    e.tick(toNextReap());
    expect(cpuAvail(e, c)).toBe(35);
    e.tick(toNextReap());
    expect(cpuAvail(e, c)).toBe(24);
    // a long idle time drains everything, and the node's part frees the empty slabs
    e.tick(120_000);
    expect([cpuAvail(e, c), sharedAvail(e, c), slabs(e, c).numSlabs, slabs(e, c).activeObjs]).toEqual([0, 0, 0, 0]);
    expect(e.selfCheck()).toEqual([]);
  });

  it("shrink drains every array and frees the empty slabs; destroy refuses a cache with a live object", () => {
    const { e, c } = fresh();
    const p: bigint[] = [];
    for (let i = 0; i < 40; i++) p.push(e.kmem_cache_alloc(c));
    for (const x of p.slice(1)) e.kmem_cache_free(c, x);
    e.kmem_cache_shrink(c);
    // p[0] keeps its slab; the 39 others went back to their slabs, and the empty ones to the buddy allocator
    expect([cpuAvail(e, c), sharedAvail(e, c), slabs(e, c).numSlabs, slabs(e, c).activeObjs]).toEqual([0, 0, 1, 1]);
    e.takeReports();
    expect(e.kmem_cache_destroy(c)).toBe(false);
    const warn = e.takeReports();
    expect(warn.map((r) => r.kind)).toEqual(["warn"]);
    e.kmem_cache_free(c, p[0]);
    const d = e.kmem_cache_create("ac_test2", 1000);
    expect(e.kmem_cache_destroy(d)).toBe(true);
    expect(e.selfCheck()).toEqual([]);
  });

  it("array caches come from a bounded 8 MiB pool: a full pool is kmem_cache_create's out of memory; destroy gives the arrays back", () => {
    const e = boot({ cmdline: "shadowfence.slab=slab nr_cpus=8 kasan=off kfence.sample_interval=0" });
    const made: KmemCache[] = [];
    let err: unknown;
    try {
      for (let i = 0; i < 2000; i++) made.push(e.kmem_cache_create(`pool${i}`, 64));
    } catch (x) { err = x; }
    // 8 CPUs x (16 + 120 x 4) bytes + the shared array (16 + 8 x 60 x 4): 5904 bytes a cache, 1420 in 8 MiB
    expect(made.length).toBeGreaterThan(1300);
    expect(made.length).toBeLessThan(1421);
    expect(String(err)).toBe(`RangeError: kmem_cache_create(pool${made.length}): out of memory`);
    expect(e.kmem_cache_destroy(made.pop()!)).toBe(true);
    const again = e.kmem_cache_create("again", 64);
    expect(e.kmem_cache_alloc(again)).not.toBe(0n);
    expect(e.selfCheck()).toEqual([]);
  });

  it("kmemleak walks SLAB's slabs: objects in an array cache are free, only the allocated ones are reported", () => {
    const e = boot({ cmdline: "shadowfence.slab=slab kfence.sample_interval=0" });
    const p: bigint[] = [];
    for (let i = 0; i < 50; i++) p.push(e.kmalloc(100));
    for (const x of p.slice(0, 30)) e.kfree(x);
    e.quarantineDrain();                              // out of the quarantine, into kmalloc-128's array
    expect(e.exports.slab_info(e.exports.kmalloc_cache_id(5), abi.SL_CPU_AVAIL)).toBeGreaterThanOrEqual(30);
    expect(e.kmemleakScan().map((r) => r.address).sort()).toEqual(p.slice(30).sort());
  });

  it("stays consistent under churn on two CPUs (the node's counters match its lists)", () => {
    const e = boot({ cmdline: "shadowfence.slab=slab kasan=off kfence.sample_interval=0" });
    const live: bigint[] = [];
    let seed = 7;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n; };
    for (let i = 0; i < 20000; i++) {
      if (i % 97 === 0) e.setTask({ pid: 1, cpu: rnd(2) });
      if (live.length && rnd(2)) e.kfree(live.splice(rnd(live.length), 1)[0]);
      else live.push(e.kmalloc(1 + rnd(3000)));
      if (i % 5000 === 0) e.tick(3000);
    }
    expect(e.selfCheck()).toEqual([]);
    for (const p of live) e.kfree(p);
    e.tick(600_000);
    expect(e.selfCheck()).toEqual([]);
    expect(e.stats().memory).toBeDefined();
  });
});

// ── KASAN reports ────────────────────────────────────────────────────────────
describe("KASAN reports under SLAB, line by line", () => {
  const setup = () => {
    const e = boot({ cmdline: "shadowfence.slab=slab kasan_multi_shot no_hash_pointers kfence.sample_interval=0" });
    const p = e.kmalloc(115);
    return { e, p };
  };
  const pageLines = (e: Engine, obj: bigint, active: number, freelist: bigint) => {
    const pfn = (obj - e.layout.pageOffset) >> 12n;
    const page = e.layout.vmemmapStart + pfn * 64n;
    const id = e.exports.kmem_cache_of(obj);
    return [
      "The buggy address belongs to the physical page:",
      `page:${px(page)} refcount:1 mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x${pfn.toString(16)}`,
      "flags: 0x4000000000000200(slab|zone=1)",
      new RegExp(`^raw: 4000000000000200 [0-9a-f]{16} [0-9a-f]{16} ${px(BigInt.asUintN(64, e.exports.cache_va(id)))}$`),
      `raw: ${px(freelist)} ${px(e.layout.pageOffset + (pfn << 12n))} ${px((1n << 32n) | BigInt(active))} 0000000000000000`,
      "page dumped because: kasan: bad access detected",
    ];
  };
  const expectSection = (got: string[], want: Array<string | RegExp>) => {
    const at = got.indexOf(want[0] as string);
    expect(at, `section starting ${String(want[0])}`).toBeGreaterThan(0);
    want.forEach((w, k) => {
      if (typeof w === "string") expect(got[at + k]).toBe(w);
      else expect(got[at + k]).toMatch(w);
    });
  };

  it("slab-out-of-bounds: the object, its kmalloc-128 cache, the SLAB page, the shadow", () => {
    const { e, p } = setup();
    e.store(p + 120n, 1, 0x78);
    const [r] = e.takeReports();
    const l = lines(r);
    expect(l[0]).toBe("=".repeat(66));
    expect(l[1]).toMatch(/^BUG: KASAN: slab-out-of-bounds in /);
    expect(l[2]).toBe(`Write of size 1 at addr ${px(p + 120n)} by task swapper/0/1`);
    expectSection(l, [
      `The buggy address belongs to the object at ${px(p)}`,
      " which belongs to the cache kmalloc-128 of size 128",
      "The buggy address is located 5 bytes to the right of",
      ` allocated 115-byte region [${px(p)}, ${px(p + 115n)})`,
      "",
      // the first refill took the whole new slab (16 objects): it is full, its OBJFREELIST freelist NULL
      ...pageLines(e, p, 16, 0n),
      "",
      "Memory state around the buggy address:",
      ` ${px(p - 0x100n)}: ${Array(16).fill("fc").join(" ")}`,
      ` ${px(p - 0x80n)}: ${Array(16).fill("fc").join(" ")}`,
      `>${px(p)}: ${[...Array(14).fill("00"), "03", "fc"].join(" ")}`,
      `${" ".repeat(64)}^`,
    ]);
    expect(l).toContain("Allocated by task 1:");
    expect(l).not.toContain("Freed by task 1:");
  });

  it("slab-use-after-free: freed through the quarantine; the same object and page lines", () => {
    const { e, p } = setup();
    e.kfree(p);
    e.load(p + 8n, 8);
    const [r] = e.takeReports();
    const l = lines(r);
    expect(l[1]).toMatch(/^BUG: KASAN: slab-use-after-free in /);
    expect(l[2]).toBe(`Read of size 8 at addr ${px(p + 8n)} by task swapper/0/1`);
    expect(l).toContain("Freed by task 1:");
    expectSection(l, [
      `The buggy address belongs to the object at ${px(p)}`,
      " which belongs to the cache kmalloc-128 of size 128",
      "The buggy address is located 8 bytes inside of",
      ` freed 128-byte region [${px(p)}, ${px(p + 128n)})`,
      "",
      ...pageLines(e, p, 16, 0n),
    ]);
    // the object is in the quarantine, not in the array cache
    expect(e.exports.slab_info(e.exports.kmem_cache_of(p), abi.SL_CPU_AVAIL)).toBe(15);
  });

  it("a coloured slab: objects start at s_mem; an access to the colour area is described with nearest_obj()'s unsigned arithmetic", () => {
    const e = boot({ cmdline: "shadowfence.slab=slab kasan_multi_shot no_hash_pointers kfence.sample_interval=0" });
    const c = e.kmem_cache_create("coloured", 3000);
    // generic KASAN: 3000 + 16 alloc meta, optimal redzone 128: 3128; order 1 holds 2, 1936 left: colour 30
    expect(e.exports.slab_info(c.id, abi.SL_COLOUR)).toBe(30);
    const a = e.kmem_cache_alloc(c);
    const b = e.kmem_cache_alloc(c);
    const lo = a < b ? a : b;
    const base = lo & ~0x1fffn;
    expect(lo - base).toBe(64n);                     // the first slab takes colour 1
    e.load(base + 8n, 1);                            // in the colour area, before s_mem
    const [r] = e.takeReports();
    const l = lines(r);
    expect(l[1]).toMatch(/^BUG: KASAN: slab-out-of-bounds in /);
    // nearest_obj(): x - (x - s_mem) % size in unsigned long; below s_mem that lands before the slab, as in 6.1
    const addr = base + 8n;
    expect(l).toContain(`The buggy address belongs to the object at ${px(addr - BigInt.asUintN(64, addr - lo) % 3128n)}`);
    expect(l).toContain(" which belongs to the cache coloured of size 3000");
    expect(l).toContain(`raw: 0000000000000000 ${px(lo)} 0000000100000002 0000000000000000`);
    expect(l).toContain("flags: 0x4000000000010200(slab|head|zone=1)");
  });

  it("double-free and invalid-free reports name the SLAB cache", () => {
    const { e, p } = setup();
    e.kfree(p + 1n);
    e.kfree(p);
    e.kfree(p);
    const rs = e.takeReports();
    expect(rs.map((r) => r.type)).toEqual(["invalid-free", "double-free"]);
    for (const r of rs) expect(lines(r)).toContain(" which belongs to the cache kmalloc-128 of size 128");
  });
});

// ── KFENCE ───────────────────────────────────────────────────────────────────
describe("KFENCE under SLAB", () => {
  it("kfence_alloc() runs before the array cache: a sampled allocation leaves the array alone", () => {
    const e = boot({ cmdline: "shadowfence.slab=slab kasan=off kfence.sample_interval=100" });
    // an array with objects in it
    const warm = [e.kmalloc(64), e.kmalloc(64), e.kmalloc(64)];
    for (const p of warm) e.kfree(p);
    const k64 = e.exports.kmalloc_cache_id(3);
    const before = e.exports.slab_info(k64, abi.SL_CPU_AVAIL);
    expect(before).toBeGreaterThan(0);
    e.tick(e.kfence.sampleInterval);
    const p = e.kmalloc(60);
    expect(e.kfence.isKfenceAddress(p)).toBe(true);
    expect(e.exports.slab_info(k64, abi.SL_CPU_AVAIL)).toBe(before);
    expect(e.cacheOf(p)).toBe("kmalloc-64");        // virt_to_cache() of a KFENCE object
    expect(e.ksize(p)).toBe(60);                    // kfence_ksize()
    e.kfree(p);                                     // __cache_free(): is_kfence_address() -> __kfence_free()
    expect(e.exports.slab_info(k64, abi.SL_CPU_AVAIL)).toBe(before);
    e.load(p, 1);
    const [r] = e.takeReports();
    expect(r.title).toMatch(/^BUG: KFENCE: use-after-free read in /);
    expect(r.text).toMatch(/cache=kmalloc-64/);
  });

  it("a kmem_cache_create cache's KFENCE object and its free through kmem_cache_free", () => {
    const e = boot({ cmdline: "shadowfence.slab=slab kfence.sample_interval=100" });
    const c = e.kmem_cache_create("kf_cache", 200);
    e.tick(e.kfence.sampleInterval);
    const p = e.kmem_cache_alloc(c);
    expect(e.kfence.isKfenceAddress(p)).toBe(true);
    expectNoReport(e, () => e.kmem_cache_free(c, p));
    expect(slabs(e, c).activeObjs).toBe(0);
    expect(e.kmem_cache_destroy(c)).toBe(true);
  });
});

// ── boot parameters ──────────────────────────────────────────────────────────
describe("SLAB's boot parameters", () => {
  it("slab_max_order needs SLAB; a bad allocator name is refused; the typed option works", () => {
    expect(() => boot({ cmdline: "slab_max_order=2" })).toThrow(ConfigError);
    expect(() => boot({ cmdline: "slab_max_order=2" })).toThrow(/slab_max_order needs shadowfence\.slab=slab/);
    expect(() => boot({ cmdline: "shadowfence.slab=slub slab_max_order=0" })).toThrow(/slab_max_order.*shadowfence\.slab=slab/);
    expect(() => boot({ cmdline: "shadowfence.slab=slob" })).toThrow('invalid value "slob" for shadowfence.slab: expected slub, slab');
    expect(() => boot({ cmdline: "shadowfence.slab=slab slab_max_order=11" })).toThrow(/slab_max_order: expected an integer from 0 to 10/);
    expect(() => boot({ slabAllocator: "slab", slabMaxOrder: 0 })).not.toThrow();
    const e = boot({ slabAllocator: "slab", kasan: false });
    expect(e.slabinfoText()).toMatch(/^kmalloc-32 .* : tunables  120   60    8 : slabdata/m);
    expect(boot({ kasan: false }).slabinfoText()).toMatch(/^kmalloc-8 .* : tunables    0    0    0 : slabdata/m);
  });

  it("sw_tags on arm64 works with SLAB, as 6.1's Kconfig allows", () => {
    const e = boot({ cmdline: "shadowfence.slab=slab arch=arm64 kasan.mode=sw_tags kasan_multi_shot kfence.sample_interval=0" });
    const p = e.kmalloc(64);
    e.kfree(p);
    e.load(p, 1);
    const [r] = e.takeReports();
    expect(r.type).toBe("slab-use-after-free");
    expect(lines(r)).toContain(" which belongs to the cache kmalloc-64 of size 64");
  });
});
