// Metadata corruption gets the kernel's answer. Page tables, struct page,
// KASAN shadow, slab pages, kmem_cache descriptors, the stack depot, vmalloc's
// records and KFENCE's metadata all live in simulated RAM, and the host API can
// write them (KASAN reports the write, then lets it happen). Whatever was
// written, the engine must answer as the kernel would (an oops, SLUB's
// slab_err, list_del corruption, a panic) and never with a host exception
// (RuntimeError, TypeError, RangeError) or a hang; afterwards it must still
// find a plain use-after-free.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import * as abi from "../../abi/abi.js";
import { EnginePanicError, type Engine } from "../../host/engine.js";
import { boot, BUILDS, lines, type Build } from "../helpers.js";

const PAGE_OFFSET = 0xffff888000000000n;

/** The use (USE_*) of every frame, read from mem_map (carved first, from the top of RAM). */
// The struct page of the frame holding direct-map address va (mem_map sits at the top of RAM).
function structPage(e: Engine, va: bigint): bigint {
  const frames = BigInt(e.stats().framesTotal);
  const memMapPfn = frames - (frames * 64n + 4095n) / 4096n;
  return PAGE_OFFSET + memMapPfn * 4096n + ((va - PAGE_OFFSET) >> 12n) * 64n;
}

// A cache of 512-byte objects and `slabs` slabs' worth of them allocated (plus `extra`).
function fillSlabs(e: Engine, name: string, slabs: number, extra = 0): { cache: number; perSlab: number; objs: bigint[] } {
  const cache = e.kmem_cache_create(name, 512);
  const perSlab = e.slabinfo().find((s) => s.name === name)!.objPerSlab;
  return { cache, perSlab, objs: Array.from({ length: slabs * perSlab + extra }, () => e.kmem_cache_alloc(cache)) };
}

function frameUses(e: Engine): Uint8Array {
  const frames = e.stats().framesTotal;
  const memMapPfn = frames - Math.ceil((frames * 64) / 4096);
  const uses = new Uint8Array(frames);
  const memMap = e.readBytes(PAGE_OFFSET + BigInt(memMapPfn) * 4096n, frames * 64);
  for (let pfn = 0; pfn < frames; pfn++) uses[pfn] = memMap[pfn * 64 + 5];
  return uses;
}

/** A use-after-free must still be found: kmalloc, kfree, read. */
function expectUafFound(e: Engine, size: number): void {
  e.kasanMultiShot = true;                   // a corrupting write may have been KASAN's one report
  e.takeReports();
  const p = e.kmalloc(size);
  if (p === 0n) return;                      // that kmalloc cache was isolated after its corruption
  e.kfree(p);
  e.load(p, 1);
  const got = e.takeReports();
  expect(got.map((r) => r.type), `use-after-free of kmalloc(${size}) at ${p.toString(16)}`).toContain("slab-use-after-free");
}

function uafOnFreshEngine(build: Build): void {
  const e = boot({ cmdline: "mem=32M" }, build);
  expectUafFound(e, 24);
}

describe.each(BUILDS)("metadata corruption (%s build)", (build) => {
  it("writeBytes over the slab of kmem_cache descriptors: the corrupted descriptor faults, the cache is isolated", () => {
    const e = boot({}, build);
    const foo = e.kmem_cache_create("foo", 100);
    const keep = e.kmem_cache_alloc(foo);
    expect(keep).not.toBe(0n);
    // the whole kmem_cache slab page that holds foo's descriptor, 0x41 everywhere
    e.writeBytes(foo.address & ~0xfffn, new Uint8Array(4096).fill(0x41));
    e.takeReports();
    // the cpu slab's remaining objects come from the engine's copy; the refill (the slow path)
    // compares the descriptor and oopses
    function alloc_from_foo() { return e.kmem_cache_alloc(foo); }
    const perSlab = e.slabinfo().find((s) => s.name === "foo")!.objPerSlab;
    let got = 0;
    while (alloc_from_foo() !== 0n) expect(++got).toBeLessThan(perSlab);
    const [r, ...rest] = e.takeReports();
    expect(r.kind).toBe("gpf");
    const l = lines(r);
    // the kernel would load 0x4141414141414141 as a pointer and fault on it (below
    // KASAN_SHADOW_OFFSET: no kasan_non_canonical_hook line); the write was KASAN's report (taint B)
    expect(l[0]).toBe("Oops: general protection fault, probably for non-canonical address 0x4141414141414141: 0000 [#1] PREEMPT SMP KASAN NOPTI");
    expect(l[1]).toBe("CPU: 0 UID: 0 PID: 1 Comm: swapper/0 Tainted: G    B              6.12.0 #1");
    expect(l.some((x) => x.startsWith(" alloc_from_foo+"))).toBe(true);
    expect(rest.map((x) => x.kind)).toEqual([]);
    // isolated: later allocations return NULL without a new oops; frees still work
    expect(e.kmem_cache_alloc(foo)).toBe(0n);
    expect(e.takeReports()).toEqual([]);
    e.kmem_cache_free(foo, keep);
    expect(e.takeReports()).toEqual([]);
    expect(e.kmem_cache_destroy(foo)).toBe(false);     // left in place, no second oops
    expect(e.takeReports()).toEqual([]);
    expect(e.stats().slab.freelistCorruptions).toBeGreaterThan(0);
    expect(() => e.selfCheck()).not.toThrow();
    expectUafFound(e, 24);
  });

  it("a zeroed struct kmem_cache: kmem_cache_alloc oopses on the NULL it loads, and returns NULL", () => {
    for (const arch of ["x86_64", "arm64"] as const) {
      const e = boot({ cmdline: `arch=${arch}` }, build);
      const foo = e.kmem_cache_create("foo", 100);
      e.memset(foo.address, 0, 96);
      expect(e.takeReports()).toEqual([]);      // inside the 256-byte descriptor object: not a KASAN bug
      function alloc_from_zeroed_cache() { return e.kmem_cache_alloc(foo); }
      expect(alloc_from_zeroed_cache()).toBe(0n);
      const [r, ...rest] = e.takeReports();
      expect(rest).toEqual([]);
      const l = lines(r);
      if (arch === "x86_64") {
        expect(l.slice(0, 4)).toEqual([
          "BUG: kernel NULL pointer dereference, address: 0000000000000000",
          "#PF: supervisor read access in kernel mode",
          "#PF: error_code(0x0000) - not-present page",
          "PGD 0 P4D 0 ",
        ]);
        expect(l[4]).toBe("Oops: Oops: 0000 [#1] PREEMPT SMP KASAN NOPTI");
        expect(l).toContain("CR2: 0000000000000000");
      } else {
        expect(l[0]).toBe("Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000");
        expect(l).toContain("Internal error: Oops: 0000000096000004 [#1] PREEMPT SMP");
      }
      expect(l.some((x) => x.startsWith(" alloc_from_zeroed_cache+"))).toBe(true);
      // a second allocation does not oops again; the cache stays isolated, the rest works
      expect(e.kmem_cache_alloc(foo)).toBe(0n);
      expect(e.takeReports()).toEqual([]);
      expect(e.selfCheck()).toEqual([]);
      expectUafFound(e, 100);
    }
  });

  it("a corrupted slab struct page on the partial list: check_slab's slab_err, the slab marked all used", () => {
    const e = boot({ cmdline: "kasan=off" }, build);
    const perSlab = e.slabinfo().find((s) => s.name === "kmalloc-512")!.objPerSlab;
    // fill two slabs of kmalloc-512, free one object of the first: it goes to the partial list
    const objs = Array.from({ length: 2 * perSlab }, () => e.kmalloc(512));
    e.kfree(objs[0]);
    const page = structPage(e, objs[0]);
    e.store(page + 28n, 2, 0x7fff);            // slab->inuse: 32767
    // exhaust the cpu slab so the allocator takes the partial slab
    function refill() { for (let i = 0; i <= perSlab; i++) e.kmalloc(512); }
    refill();
    const r = e.takeReports().find((x) => x.type === "slub-slab-err");
    expect(r).toBeDefined();
    const l = lines(r!);
    expect(l.slice(0, 4)).toEqual(["=".repeat(77), `BUG kmalloc-512 (Not tainted): inuse 32767 > max ${perSlab}`, "-".repeat(77), ""]);
    expect(l[4]).toMatch(new RegExp(`^Slab 0x[0-9a-f]{16} objects=${perSlab} used=32767 fp=0x[0-9a-f]{16} flags=`));
    expect(l).toContain(" check_slab+0xe4/0x110");
    expect(l.at(-1)).toBe("FIX kmalloc-512: Marking all objects used");
    expect(e.selfCheck()).toEqual([]);
  });

  it("a full slab is on no list (no slub_debug): selfCheck still finds one whose struct page a buggy write changed", () => {
    const e = boot({ cmdline: "kasan=off" }, build);
    const perSlab = e.slabinfo().find((s) => s.name === "kmalloc-512")!.objPerSlab;
    const objs = Array.from({ length: perSlab + 1 }, () => e.kmalloc(512));
    const page = structPage(e, objs[0]);
    // the first slab is full, its state in struct page only
    expect(e.selfCheck()).toEqual([]);
    e.store(page + 28n, 2, perSlab - 1);        // slab->inuse: one short of its objects, with an empty freelist
    expect(e.selfCheck()).toContain("a slab cache or slab list is inconsistent");
    e.store(page + 28n, 2, perSlab);
    expect(e.selfCheck()).toEqual([]);
    for (const o of objs) e.kfree(o);
    expect(e.takeReports()).toEqual([]);
    expect(e.selfCheck()).toEqual([]);
  });

  it("a node-partial slab a buggy write marked full: a free into it moves no list (__slab_free goes by the freelist)", () => {
    const e = boot({ cmdline: "kasan=off" }, build);
    const { cache, perSlab, objs } = fillSlabs(e, "full_state", 2, 1);
    e.kmem_cache_free(cache, objs[0]);
    e.kmem_cache_free(cache, objs[perSlab]);
    e.kmem_cache_shrink(cache);                  // flush_all: both slabs to the node's partial list
    const slabList = structPage(e, objs[1]) + 52n;
    expect(e.load(slabList, 4)).toBe(2);         // on the node's partial list
    e.store(slabList, 4, 3);                     // says full, with a free object on its freelist
    e.kmem_cache_free(cache, objs[1]);
    e.store(slabList, 4, 2);
    // still on the node's list only, its links whole
    expect(e.selfCheck()).toEqual([]);
    for (const o of [...objs.slice(2, perSlab), ...objs.slice(perSlab + 1)]) e.kmem_cache_free(cache, o);
    e.kmem_cache_shrink(cache);
    expect(e.takeReports()).toEqual([]);
    expect(e.selfCheck()).toEqual([]);
  });

  it("a slab list link that does not point back: CONFIG_DEBUG_LIST's list_del corruption, the list cut off", () => {
    const e = boot({ cmdline: "kasan=off" }, build);
    const { cache, perSlab, objs } = fillSlabs(e, "list_test", 3);
    const slabOf = (p: bigint) => (p - PAGE_OFFSET) >> 12n;
    const [s1, s2] = [slabOf(objs[0]), slabOf(objs[perSlab])];
    expect(s1).not.toBe(s2);
    e.kmem_cache_free(cache, objs[0]);          // slab 1: full -> this CPU's partial list
    e.kmem_cache_free(cache, objs[perSlab]);    // slab 2 likewise
    e.kmem_cache_shrink(cache);                  // flush_all: both to the node's partial list, slab 1 at its head
    e.store(structPage(e, objs[perSlab]) + 20n, 4, 5);  // slab 2's prev link: pfn 5 instead of slab 1
    function refill() { for (let i = 0; i < 2; i++) e.kmem_cache_alloc(cache); }
    refill();
    const [r, ...rest] = e.takeReports();
    expect(rest).toEqual([]);
    expect(r.type).toBe("list-del-corruption");
    const lru = (pfn: bigint) => (0xffffea0000000000n + pfn * 64n + 8n).toString(16).padStart(16, "0");
    const l = lines(r);
    expect(l.slice(0, 3)).toEqual([
      "------------[ cut here ]------------",
      `list_del corruption. next->prev should be ${lru(s1)}, but was ${lru(5n)}. (next=${lru(s2)})`,
      "WARNING: CPU: 0 PID: 1 at lib/list_debug.c:65 __list_del_entry_valid_or_report+0x13b/0x1a0",
    ]);
    expect(l.some((x) => x.startsWith(" refill+"))).toBe(true);
    // the partial list is cut: freeing into slab 2 again reports nothing, and the allocator goes on
    e.kmem_cache_free(cache, objs[perSlab + 1]);
    expect(e.kmem_cache_alloc(cache)).not.toBe(0n);
    expect(e.takeReports()).toEqual([]);
    expect(e.selfCheck()).toEqual([]);
  });

  it("a slab list turned into a cycle: kmemleak's walk ends, selfCheck names the slab lists", () => {
    const e = boot({ cmdline: "kfence.sample_interval=0 mem=32M" }, build);
    const { cache, perSlab, objs } = fillSlabs(e, "cycle_test", 3);
    e.kmem_cache_free(cache, objs[0]);
    e.kmem_cache_free(cache, objs[perSlab]);
    e.quarantineDrain();
    e.kmem_cache_shrink(cache);                  // both slabs on the node's partial list
    const s2 = (objs[perSlab] - PAGE_OFFSET) >> 12n;
    e.store(structPage(e, objs[perSlab]) + 16n, 4, Number(s2));   // slab 2's next link: itself
    const leaks = e.kmemleakScan();
    expect(leaks.length).toBeGreaterThan(0);
    expect(e.selfCheck()).toContain("a slab cache or slab list is inconsistent");
  });

  it("a PTE scribbled to a frame outside RAM: the access faults as a reserved-bit violation, nothing is read", () => {
    const e = boot({}, build);
    const v = e.vmalloc(4096);
    // the guard page after the area has no PTE: its oops prints the walk, whose PMD entry names the PTE table
    e.load(v + 4096n, 1);
    const walk = lines(e.takeReports().find((r) => r.kind === "oops")!).find((x) => x.startsWith("PGD "))!;
    const pmd = BigInt("0x" + walk.split(" ")[7]);
    const pteSlot = PAGE_OFFSET + (pmd & 0x000ffffffffff000n) + ((v >> 12n) & 511n) * 8n;
    const bogus = 0x7fff0000n << 12n | 0x163n;      // present, writable, far past the 128 MiB of RAM
    const le = new Uint8Array(8);
    new DataView(le.buffer).setBigUint64(0, bogus, true);
    e.writeBytes(pteSlot, le);
    expect(e.takeReports()).toEqual([]);
    function read_through_bad_pte() { return e.load(v, 8); }
    read_through_bad_pte();
    const [r] = e.takeReports();
    const l = lines(r);
    expect(l.slice(0, 3)).toEqual([
      `BUG: unable to handle page fault for address: ${v.toString(16)}`,
      "#PF: supervisor read access in kernel mode",
      "#PF: error_code(0x0009) - reserved bit violation",
    ]);
    expect(l[3]).toMatch(new RegExp(`^PGD [0-9a-f]+ P4D [0-9a-f]+ PUD [0-9a-f]+ PMD [0-9a-f]+ PTE ${bogus.toString(16)}$`));
    expect(l[4]).toBe("Oops: Oops: 0009 [#2] PREEMPT SMP KASAN NOPTI");
    expect(l.some((x) => x.startsWith(" read_through_bad_pte+"))).toBe(true);
  });

  it("vmalloc's area records are read-only: a write to them is the kernel's write to read-only memory", () => {
    const e = boot({}, build);
    e.vmalloc(8192);
    const uses = frameUses(e);
    const frames = [...uses.keys()].filter((p) => uses[p] === abi.USE_METADATA);
    let faulted = 0;
    for (const p of frames) {
      const va = PAGE_OFFSET + BigInt(p) * 4096n;
      e.writeBytes(va, new Uint8Array(64).fill(0x41));
      for (const r of e.takeReports()) {
        const l = lines(r);
        if (l[0] !== `BUG: unable to handle page fault for address: ${va.toString(16)}`) continue;
        expect(l.slice(1, 3)).toEqual(["#PF: supervisor write access in kernel mode", "#PF: error_code(0x0003) - permissions violation"]);
        faulted++;
      }
    }
    expect(faulted).toBe(4);          // one 16 KiB chunk of records
    for (let i = 0; i < 20; i++) expect(e.vmalloc(4096 * (i + 1))).not.toBe(0n);
    expect(e.selfCheck()).toEqual([]);
  });

  it("random writes over metadata frames, then allocator traffic: the kernel's answers only, never a host exception or a hang", () => {
    const targets = [abi.USE_MEMMAP, abi.USE_PGTABLE, abi.USE_SHADOW, abi.USE_SLAB, abi.USE_DEPOT, abi.USE_KERNEL,
      abi.USE_METADATA, abi.USE_VMALLOC, abi.USE_KFENCE, abi.USE_PAGES] as number[];
    // a write lands on a frame of one use, on the struct page of a live slab or page-table frame, or on
    // the cache descriptor itself
    const write = fc.record({
      use: fc.constantFrom(...targets, -1, -2, -3, -4),
      pick: fc.nat(),
      offset: fc.nat({ max: 4095 }),
      len: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 96 }), fc.integer({ min: 17, max: 4096 })),
      fill: fc.oneof(fc.constant(0), fc.constant(0xff), fc.constant(0x41), fc.nat({ max: 255 }), fc.constant(-1)),
      memset: fc.boolean(),
    });
    const op = fc.record({ kind: fc.nat({ max: 13 }), a: fc.nat(), b: fc.nat() });
    fc.assert(fc.property(fc.array(write, { minLength: 1, maxLength: 8 }), fc.array(op, { minLength: 5, maxLength: 60 }), fc.nat(), (writes, ops, seed) => {
      // multi-shot: the corrupting write itself may be KASAN's first report
      const e = boot({ cmdline: `mem=32M kasan_multi_shot kasan.seed=${seed % 1000 + 1} kfence.sample_interval=1` }, build);
      const foo = e.kmem_cache_create("foo", 40 + (seed % 300));
      const live: bigint[] = [];
      const cacheObjs: bigint[] = [];
      const areas: bigint[] = [];
      for (let i = 0; i < 24; i++) live.push(e.kmalloc(8 << (i % 9)));
      for (let i = 0; i < 8; i++) cacheObjs.push(e.kmem_cache_alloc(foo));
      for (let i = 0; i < 3; i++) areas.push(e.vmalloc(4096 * (i + 1)));
      const freed: bigint[] = [];
      for (let i = 0; i < 6; i++) { freed.push(live.pop()!); e.kfree(freed.at(-1)!); }   // quarantine and freelists have entries
      const uses = frameUses(e);
      let panicked = false;
      const guard = (fn: () => void) => {
        if (panicked) return;
        try { fn(); } catch (err) {
          if (err instanceof EnginePanicError) { panicked = true; return; }
          throw err;
        }
      };
      const frames = BigInt(e.stats().framesTotal);
      const memMapVa = PAGE_OFFSET + (frames - (frames * 64n + 4095n) / 4096n) * 4096n;
      const pageVa = (pfn: number) => memMapVa + BigInt(pfn) * 64n;
      const pfnOf = (va: bigint) => Number((va - PAGE_OFFSET) >> 12n);
      for (const w of writes) {
        let va: bigint;
        let room: number;
        if (w.use === -1 || w.use === -2) {
          // the struct page of a live kmalloc/cache object's slab, or of a page-table frame
          const pool = w.use === -1 ? [...live, ...cacheObjs].map(pfnOf) : [...uses.keys()].filter((p) => uses[p] === abi.USE_PGTABLE);
          if (pool.length === 0) continue;
          va = pageVa(pool[w.pick % pool.length]) + BigInt(w.offset % 64);
          room = 64 - (w.offset % 64);
        } else if (w.use === -4) {
          // a quarantined object (its free meta holds the quarantine link) or its slab's struct page
          const p = freed[w.pick % freed.length];
          va = w.pick % 2 ? pageVa(pfnOf(p)) + BigInt(w.offset % 64) : p + BigInt(w.offset % 64);
          room = 64 - (w.offset % 64);
        } else if (w.use === -3) {
          va = foo.address + BigInt(w.offset % 96);
          room = 96 - (w.offset % 96);
        } else {
          const of = [...uses.keys()].filter((pfn) => uses[pfn] === w.use);
          if (of.length === 0) continue;
          va = PAGE_OFFSET + BigInt(of[w.pick % of.length]) * 4096n + BigInt(w.offset);
          room = 4096 - w.offset;
        }
        const len = Math.min(w.len, room);
        const bytes = new Uint8Array(len);
        for (let i = 0; i < len; i++) bytes[i] = w.fill < 0 ? (seed * 31 + i * 17) & 0xff : w.fill;
        guard(() => { if (w.memset) e.memset(va, bytes[0], len); else e.writeBytes(va, bytes); });
      }
      const pick = <T,>(xs: T[], n: number) => (xs.length ? xs[n % xs.length] : undefined);
      for (const o of ops) {
        guard(() => {
          switch (o.kind) {
            case 0: case 1: { const p = e.kmalloc(1 + (o.a % 9000)); if (p) live.push(p); break; }
            case 2: { const p = pick(live, o.a); if (p !== undefined) { live.splice(live.indexOf(p), 1); e.kfree(p); } break; }
            case 3: { const p = e.kmem_cache_alloc(foo); if (p) cacheObjs.push(p); break; }
            case 4: { const p = pick(cacheObjs, o.a); if (p !== undefined) { cacheObjs.splice(cacheObjs.indexOf(p), 1); e.kmem_cache_free(foo, p); } break; }
            case 5: { const p = e.vmalloc(1 + (o.a % 40000)); if (p) areas.push(p); break; }
            case 6: { const p = pick(areas, o.a); if (p !== undefined) { areas.splice(areas.indexOf(p), 1); e.vfree(p); } break; }
            case 7: { const p = pick(live, o.a) ?? pick(areas, o.a); if (p !== undefined) e.load(p, 1 << (o.b % 4)); break; }
            case 8: { const p = pick(live, o.a); if (p !== undefined) e.store(p, 1, o.b & 0xff); break; }
            case 9: e.quarantineDrain(); break;
            case 10: e.kmem_cache_shrink(foo); break;
            case 11: { const n = e.kmem_cache_alloc_bulk(foo, 1 + (o.a % 20)); cacheObjs.push(...n); break; }
            case 12: { const p = e.alloc_pages(o.a % 4); if (p) { e.load(p, 8); e.__free_pages(p, o.a % 4); } break; }
            default: { const p = e.__alloc_percpu(8 << (o.a % 4), 8); if (p) e.free_percpu(p); break; }
          }
        });
      }
      // every report formats; selfCheck answers
      for (const r of e.takeReports()) expect(typeof r.text).toBe("string");
      expect(typeof e.dmesg()).toBe("string");
      if (!panicked) {
        expect(Array.isArray(e.selfCheck())).toBe(true);
        guard(() => expectUafFound(e, 1 + (seed % 4000)));
      }
      uafOnFreshEngine(build);
    }), { numRuns: build === "release" ? 80 : 30, seed: build === "release" ? 12 : 34 });
  }, 120_000);
});
