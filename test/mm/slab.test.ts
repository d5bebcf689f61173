// The SLUB-style allocator on its own terms: kmalloc cache selection and
// geometry (what /proc/slabinfo shows), kmem_cache_create/destroy/bulk,
// krealloc/ksize/kcalloc/kzalloc, large kmalloc, init_on_free,
// SLAB_TYPESAFE_BY_RCU, and the kernel's complaints when a caller gets it
// wrong: a busy destroy, a corrupted freelist, the naive double-free check.
import { describe, it, expect } from "vitest";
import { boot, BUILDS, lines, expectNoReport } from "../helpers.js";

const px = (v: bigint) => v.toString(16).padStart(16, "0");

describe.each(BUILDS)("slab allocator (%s build)", (build) => {
  it("kmalloc picks the kernel's caches, kmalloc-8 ... kmalloc-8k with 96 and 192", () => {
    const e = boot({ cmdline: "kasan=off" }, build);
    const want: Array<[number, string]> = [
      [1, "kmalloc-8"], [8, "kmalloc-8"], [9, "kmalloc-16"], [17, "kmalloc-32"], [33, "kmalloc-64"], [64, "kmalloc-64"],
      [65, "kmalloc-96"], [96, "kmalloc-96"], [97, "kmalloc-128"], [129, "kmalloc-192"], [192, "kmalloc-192"],
      [193, "kmalloc-256"], [257, "kmalloc-512"], [513, "kmalloc-1k"], [1025, "kmalloc-2k"], [2049, "kmalloc-4k"],
      [4097, "kmalloc-8k"], [8192, "kmalloc-8k"],
    ];
    for (const [size, cache] of want) {
      const p = e.kmalloc(size);
      expect(e.cacheOf(p), `kmalloc(${size})`).toBe(cache);
      expect(e.ksize(p)).toBe(Number(cache.replace("kmalloc-", "").replace("k", "")) * (cache.endsWith("k") ? 1024 : 1));
    }
    // every size in between: the smallest class that holds it
    const classes = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192];
    const wrong: string[] = [];
    for (let size = 1; size <= 8192; size++) {
      const p = e.kmalloc(size);
      const got = e.ksize(p), want = classes.find((c) => c >= size);
      if (got !== want) wrong.push(`ksize(kmalloc(${size})) = ${got}, not ${want}`);
      e.kfree(p);
    }
    expect(wrong).toEqual([]);
    // above KMALLOC_MAX_CACHE_SIZE: whole pages from the buddy allocator
    const big = e.kmalloc(8193);
    expect(e.cacheOf(big)).toBeUndefined();
    expect(e.ksize(big)).toBe(16384);
    expect(big % 4096n).toBe(0n);
  });

  it("slab geometry as /proc/slabinfo shows it, without and with generic KASAN", () => {
    const geometry = (cmdline: string) => Object.fromEntries(boot({ cmdline }, build).slabinfo()
      .map((s) => [s.name, [s.objSize, s.objPerSlab, s.pagesPerSlab]]));
    // 2 CPUs: slub_min_objects = 4 * (fls(2) + 1) = 12 decides the order
    expect(geometry("kasan=off")).toMatchObject({
      "kmalloc-8": [8, 512, 1], "kmalloc-96": [96, 42, 1], "kmalloc-192": [192, 21, 1], "kmalloc-1k": [1024, 16, 4],
      "kmalloc-8k": [8192, 4, 8],
    });
    // generic KASAN: alloc metadata after the object and a redzone up to
    // optimal_redzone(), then the kmalloc cache's power-of-two alignment
    expect(geometry("kasan.mode=generic")).toMatchObject({
      "kmalloc-8": [32, 128, 1], "kmalloc-96": [128, 32, 1], "kmalloc-128": [256, 16, 1], "kmalloc-1k": [2048, 16, 8],
      "kmalloc-8k": [16384, 2, 8],
    });
    const text = boot({ cmdline: "kasan=off" }, build).slabinfoText().split("\n");
    expect(text[0]).toBe("slabinfo - version: 2.1");
    expect(text[1]).toMatch(/^# name {12}<active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables/);
    expect(text).toContain("kmalloc-96             0      0     96   42    1 : tunables    0    0    0 : slabdata      0      0      0");
  });

  it("kmem_cache_create: alignment, SLAB_HWCACHE_ALIGN, constructors, counts", () => {
    const e = boot({ cmdline: "kasan=off" }, build);
    const hw = e.kmem_cache_create("hw_cache", 100, { flags: "SLAB_HWCACHE_ALIGN" });
    const al = e.kmem_cache_create("aligned_cache", 40, { align: 256 });
    const seen: bigint[] = [];
    const ct = e.kmem_cache_create("ctor_cache", 24, { ctor: (a) => seen.push(a) });
    const a = e.kmem_cache_alloc(hw), b = e.kmem_cache_alloc(al);
    expect(a % 64n).toBe(0n);
    expect(b % 256n).toBe(0n);
    expect(e.cacheOf(a)).toBe("hw_cache");
    const c = e.kmem_cache_alloc(ct);
    // the constructor ran once per object of the new slab, not per allocation
    const info = e.slabinfo().find((s) => s.name === "ctor_cache")!;
    expect(seen.length).toBe(info.objPerSlab);
    expect(seen).toContain(c);
    e.kmem_cache_alloc(ct);
    expect(seen.length).toBe(info.objPerSlab);
    expect(info.activeObjs).toBe(1);
    expect(() => e.kmem_cache_create("", 10)).toThrow(/name must be a non-empty string/);
    expect(() => e.kmem_cache_create("x", 0)).toThrow(/size must be/);
  });

  it("kmem_cache_destroy with live objects keeps the cache and prints the kernel's WARN", () => {
    const e = boot({ cmdline: "kasan=off" }, build);
    const cache = e.kmem_cache_create("test_cache", 200);
    const p = e.kmem_cache_alloc(cache);
    function destroy_busy_cache() { return e.kmem_cache_destroy(cache); }
    expect(destroy_busy_cache()).toBe(false);
    const [r] = e.takeReports();
    expect(r.kind).toBe("warn");
    expect(r.type).toBe("kmem_cache_destroy");
    const l = lines(r);
    expect(l[0]).toBe("------------[ cut here ]------------");
    expect(l[1]).toMatch(/^kmem_cache_destroy test_cache: Slab cache still has objects when called from destroy_busy_cache\+0x[0-9a-f]+\/0x[0-9a-f]+$/);
    expect(l[2]).toBe("WARNING: CPU: 0 PID: 1 at mm/slab_common.c:532 kmem_cache_destroy+0x16b/0x170");
    expect(l[3]).toBe("Modules linked in:");
    expect(l[4]).toBe("CPU: 0 UID: 0 PID: 1 Comm: swapper/0 Tainted: G        W          6.12.0 #1");
    expect(l[5]).toBe("Tainted: [W]=WARN");
    expect(l).toContain("RIP: 0010:kmem_cache_destroy+0x16b/0x170");
    expect(l.at(-1)).toBe("---[ end trace 0000000000000000 ]---");
    // still usable; destroyed for good once empty
    const q = e.kmem_cache_alloc(cache);
    e.kmem_cache_free(cache, p);
    e.kmem_cache_free(cache, q);
    expect(e.kmem_cache_destroy(cache)).toBe(true);
    expect(e.slabinfo().some((s) => s.name === "test_cache")).toBe(false);
  });

  it("a WARN on arm64 shows pc : on the 4-byte grid, not x86's RIP line", () => {
    const e = boot({ cmdline: "arch=arm64 kasan=off" }, build);
    const cache = e.kmem_cache_create("test_cache", 200);
    e.kmem_cache_alloc(cache);
    expect(e.kmem_cache_destroy(cache)).toBe(false);
    const l = lines(e.takeReports()[0]);
    expect(l[2]).toBe("WARNING: CPU: 0 PID: 1 at mm/slab_common.c:532 kmem_cache_destroy+0x168/0x170");
    expect(l).toContain("pc : kmem_cache_destroy+0x168/0x170");
    expect(l.some((x) => x.startsWith("RIP:"))).toBe(false);
    expect(l).toContain("Call trace:");
  });

  it("bulk allocation and free", () => {
    const e = boot({ cmdline: "kasan=off" }, build);
    const cache = e.kmem_cache_create("bulk_cache", 72);
    const objs = e.kmem_cache_alloc_bulk(cache, 40);
    expect(objs.length).toBe(40);
    expect(new Set(objs).size).toBe(40);
    for (const o of objs) expect(e.cacheOf(o)).toBe("bulk_cache");
    expect(e.slabinfo().find((s) => s.name === "bulk_cache")!.activeObjs).toBe(40);
    e.kmem_cache_free_bulk(cache, objs);
    expect(e.slabinfo().find((s) => s.name === "bulk_cache")!.activeObjs).toBe(0);
    expect(e.kmem_cache_destroy(cache)).toBe(true);
  });

  it("kzalloc, kcalloc (overflow is NULL), krealloc and kfree_sensitive", () => {
    const e = boot({ cmdline: "kasan.mode=generic kasan_multi_shot" }, build);
    const z = e.kzalloc(300);
    expect([...e.readBytes(z, 300)].every((b) => b === 0)).toBe(true);
    // n * size past SIZE_MAX (size_t): NULL before kmalloc is asked
    expect(e.kcalloc(2n ** 32n, 2n ** 32n)).toBe(0n);
    expect(e.kcalloc(2n ** 63n, 2)).toBe(0n);
    const arr = e.kcalloc(10, 24);
    expect(e.cacheOf(arr)).toBe("kmalloc-256");
    // grow: a new object with the contents; the old one is freed
    const p = e.kmalloc(40);
    e.writeBytes(p, new Uint8Array(40).fill(0x5a));
    const q = e.krealloc(p, 500);
    expect(q).not.toBe(p);
    expect([...e.readBytes(q, 40)].every((b) => b === 0x5a)).toBe(true);
    function read_old() { return e.load(p, 1); }
    read_old();
    expect(e.takeReports().map((r) => r.type)).toEqual(["slab-use-after-free"]);
    // shrink within ksize: same object, the tail poisoned
    const s = e.krealloc(q, 100);
    expect(s).toBe(q);
    expectNoReport(e, () => e.load(s + 99n, 1));
    e.load(s + 100n, 1);
    expect(e.takeReports().map((r) => r.type)).toEqual(["slab-out-of-bounds"]);
    // kfree_sensitive zeroes before freeing (KASAN's free metadata then takes the first 16 bytes)
    const k = e.kmalloc(64);
    e.writeBytes(k, new Uint8Array(64).fill(0x77));
    e.kfree_sensitive(k);
    expect([...e.peek(k + 16n, 48)!].every((b) => b === 0)).toBe(true);
  });

  it("large kmalloc comes from the buddy allocator and goes back on kfree", () => {
    const e = boot({ cmdline: "kasan=off" }, build);
    const before = e.stats().framesFree;
    const p = e.kmalloc(40000);                      // order 4
    expect(e.stats().framesFree).toBe(before - 16);
    expect(e.ksize(p)).toBe(65536);
    e.kfree(p);
    expect(e.stats().framesFree).toBe(before);
  });

  it("init_on_free zeroes freed objects, init_on_alloc new ones", () => {
    const e = boot({ cmdline: "kasan=off init_on_free=1" }, build);
    const p = e.kmalloc(128);
    e.writeBytes(p, new Uint8Array(128).fill(0xee));
    e.kfree(p);
    // the free pointer lives in the middle of the object; everything else is zero
    const bytes = e.peek(p, 128)!;
    expect([...bytes.subarray(0, 64), ...bytes.subarray(72)].every((b) => b === 0)).toBe(true);
    const f = boot({ cmdline: "kasan=off init_on_alloc=1" }, build);
    const a = f.kmalloc(128);
    f.writeBytes(a, new Uint8Array(128).fill(0xee));
    f.kfree(a);
    const b = f.kmalloc(128);
    expect(b).toBe(a);
    expect([...f.readBytes(b, 128)].every((x) => x === 0)).toBe(true);
  });

  it("SLAB_TYPESAFE_BY_RCU: freed objects stay type-stable memory until the grace period", () => {
    const e = boot({ cmdline: "kasan=off" }, build);
    const cache = e.kmem_cache_create("rcu_cache", 64, { flags: "SLAB_TYPESAFE_BY_RCU" });
    const objs = e.kmem_cache_alloc_bulk(cache, 5);
    const slabFrames = e.stats().framesByUse.slab;
    e.kmem_cache_free_bulk(cache, objs);
    expect(e.kmem_cache_destroy(cache)).toBe(true);    // rcu_barrier() inside
    expect(e.stats().framesByUse.slab).toBeLessThan(slabFrames);
  });

  it("a corrupted free pointer (kasan=off) is reported as SLUB does and the freelist isolated", () => {
    const e = boot({ cmdline: "kasan=off no_hash_pointers" }, build);
    const victim = e.kmalloc(128);
    const keep = e.kmalloc(128);
    e.kfree(victim);
    e.store(victim + 64n, 8, 0x4141414141414141n);    // a use-after-free write over the free pointer
    function alloc_after_corruption() { return e.kmalloc(128); }
    // popping victim reads its next pointer first: the garbage is caught there,
    // the CPU's freelist from victim on is leaked, and a fresh slab serves the
    // call. The slab is the CPU's cpu slab: struct slab shows it all in use
    // with an empty freelist of its own (its free objects are the CPU's)
    const next = alloc_after_corruption();
    expect(next).not.toBe(0n);
    expect(next & ~0xfffn).not.toBe(victim & ~0xfffn);
    expect(e.cacheOf(next)).toBe("kmalloc-128");
    expectNoReport(e, () => e.kfree(alloc_after_corruption()));
    const [r] = e.reports().filter((x) => x.type === "slub-freechain-corrupt");
    expect(r).toBeDefined();
    const l = lines(r);
    const slabVa = victim & ~0xfffn;
    const pfn = (slabVa - 0xffff888000000000n) >> 12n;
    expect(l.slice(0, 4)).toEqual(["=".repeat(77), "BUG kmalloc-128 (Not tainted): Freechain corrupt", "-".repeat(77), ""]);
    expect(l[4]).toMatch(new RegExp(`^Slab 0x${px(0xffffea0000000000n + pfn * 64n)} objects=32 used=32 fp=0x${px(0n)} flags=0x4000000000000000\\(zone=1\\)$`));
    expect(l[5]).toBe(`Object 0x${px(victim)} @offset=${victim - slabVa} fp=0x4141414141414141`);
    expect(l[6]).toBe("");
    const obj = l.indexOf(`Object   ${px(victim)}: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  ................`);
    expect(obj).toBeGreaterThan(6);
    expect(l[obj + 4]).toBe(`Object   ${px(victim + 64n)}: 41 41 41 41 41 41 41 41 00 00 00 00 00 00 00 00  AAAAAAAA........`);
    expect(l).toContain("CPU: 0 UID: 0 PID: 1 Comm: swapper/0 Not tainted 6.12.0 #1");
    expect(l).toContain(" ___slab_alloc+0x5e1/0xf70");
    expect(l).toContain(" alloc_after_corruption+" + l.find((x) => x.startsWith(" alloc_after_corruption+"))!.slice(24));
    expect(l.at(-1)).toBe("FIX kmalloc-128: Isolate corrupted freechain");
    expect(e.stats().slab.freelistCorruptions).toBe(1);
    expect(e.dmesg()).toContain("BUG kmalloc-128 (Not tainted): Freechain corrupt");
    void keep;
  });

  it("the naive double-free check (kasan=off): kernel BUG on x86_64 and arm64", () => {
    for (const arch of ["x86_64", "arm64"] as const) {
      const e = boot({ cmdline: `kasan=off arch=${arch}` }, build);
      const p = e.kmalloc(64);
      function double_free() { e.kfree(p); e.kfree(p); }
      double_free();
      const [r] = e.takeReports();
      expect(r.type).toBe("slub-double-free");
      const l = lines(r);
      expect(l.slice(0, 2)).toEqual(["------------[ cut here ]------------", "kernel BUG at mm/slub.c:467!"]);
      if (arch === "x86_64") {
        expect(l[2]).toBe("Oops: invalid opcode: 0000 [#1] PREEMPT SMP NOPTI");
        expect(l).toContain("RIP: 0010:__slab_free+0x1c1/0x2f0");
      } else {
        expect(l[2]).toBe("Internal error: Oops - BUG: 00000000f2000800 [#1] PREEMPT SMP");
        expect(l).toContain("pc : __slab_free+0x1c0/0x2f0");
        expect(l).toContain("Hardware name: shadowfence wasm machine (DT)");
        const t = l.indexOf("Call trace:");
        expect(l[t + 1]).toBe(" __slab_free+0x1c0/0x2f0");
        expect(l[t + 2]).toMatch(/^ double_free\+0x[0-9a-f]*[048c]\/0x[0-9a-f]*[048c]$/);
      }
      expect(l.at(-1)).toBe("---[ end trace 0000000000000000 ]---");
    }
  });
});
