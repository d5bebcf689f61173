// SLUB's per-CPU slabs (struct kmem_cache_cpu, mm/slub.c 6.12): each CPU
// allocates from its own cpu slab through its lockless freelist; a free on
// another CPU takes __slab_free onto the slab's own freelist; full slabs that
// get a free go to the freeing CPU's partial list, drained to the node at
// s->cpu_partial_slabs; flush_all (shrink, destroy) empties every CPU; and
// everything that walks SLUB (slabinfo, selfCheck, kmemleak, the page dump)
// sees every CPU.
import { describe, it, expect } from "vitest";
import * as abi from "../../abi/abi.js";
import { boot, BUILDS, lines } from "../helpers.js";
import type { Engine } from "../../host/engine.js";
import { OpWriter, type TapeHeader } from "../../host/fuzz/tape.js";
import { replay } from "../../host/fuzz/exec.js";

const PAGE_OFFSET = 0xffff888000000000n;
const NO_PFN = 0xffffffff;
const slabOf = (p: bigint) => Number((p - PAGE_OFFSET) >> 12n);
const cpuInfo = (e: Engine, id: number, cpu: number, field: number) => e.exports.slub_cpu_info(id, cpu, field) >>> 0;
const cacheInfo = (e: Engine, id: number, field: number) => e.exports.cache_info(id, field) >>> 0;
const onCpu = (e: Engine, cpu: number) => e.setTask({ pid: 1, cpu });

describe.each(BUILDS)("SLUB per-CPU slabs (%s build)", (build) => {
  it("each CPU allocates from its own cpu slab", () => {
    const e = boot({ cmdline: "kasan=off kfence.sample_interval=0 nr_cpus=2" }, build);
    const c = e.kmem_cache_create("percpu_a", 64);
    const a = [e.kmem_cache_alloc(c), e.kmem_cache_alloc(c)];
    onCpu(e, 1);
    const b = [e.kmem_cache_alloc(c), e.kmem_cache_alloc(c)];
    expect(slabOf(a[0])).toBe(slabOf(a[1]));
    expect(slabOf(b[0])).toBe(slabOf(b[1]));
    expect(slabOf(b[0])).not.toBe(slabOf(a[0]));
    expect(cpuInfo(e, c.id, 0, abi.KCC_SLAB)).toBe(slabOf(a[0]));
    expect(cpuInfo(e, c.id, 1, abi.KCC_SLAB)).toBe(slabOf(b[0]));
    // both slabs are counted, and each CPU's next object is its own
    expect(e.slabinfo().find((s) => s.name === "percpu_a")).toMatchObject({ numSlabs: 2, activeObjs: 4 });
    expect(slabOf(e.kmem_cache_alloc(c))).toBe(slabOf(b[0]));
    onCpu(e, 0);
    expect(slabOf(e.kmem_cache_alloc(c))).toBe(slabOf(a[0]));
    expect(e.selfCheck()).toEqual([]);
  });

  it("a free on another CPU goes to the slab's freelist, not to the owning CPU's lockless one", () => {
    const e = boot({ cmdline: "kasan=off kfence.sample_interval=0 nr_cpus=2" }, build);
    const c = e.kmem_cache_create("percpu_b", 64);
    const perSlab = e.slabinfo().find((s) => s.name === "percpu_b")!.objPerSlab;
    const first = e.kmem_cache_alloc(c);
    const cpu0Freelist = cpuInfo(e, c.id, 0, abi.KCC_FREELIST);
    onCpu(e, 1);
    e.kmem_cache_free(c, first);                  // CPU 0's cpu slab, freed on CPU 1
    expect(cpuInfo(e, c.id, 0, abi.KCC_FREELIST)).toBe(cpu0Freelist);
    expect(cpuInfo(e, c.id, 1, abi.KCC_SLAB)).toBe(NO_PFN);
    expect(cpuInfo(e, c.id, 1, abi.KCC_FREELIST)).toBe(0);
    onCpu(e, 0);
    // CPU 0 hands out the rest of its freelist first; then get_freelist() takes
    // what CPU 1 freed, from the same cpu slab
    const rest = Array.from({ length: perSlab - 1 }, () => e.kmem_cache_alloc(c));
    expect(rest).not.toContain(first);
    expect(new Set(rest.map(slabOf))).toEqual(new Set([slabOf(first)]));
    expect(e.kmem_cache_alloc(c)).toBe(first);
    expect(cpuInfo(e, c.id, 0, abi.KCC_SLAB)).toBe(slabOf(first));
    // the slab is now full: the next allocation takes a new one
    const next = e.kmem_cache_alloc(c);
    expect(slabOf(next)).not.toBe(slabOf(first));
    expect(e.selfCheck()).toEqual([]);
  });

  it("a free into a full slab puts it on the freeing CPU's partial list, where that CPU allocates next", () => {
    const e = boot({ cmdline: "kasan=off kfence.sample_interval=0 nr_cpus=2" }, build);
    const c = e.kmem_cache_create("percpu_c", 64);
    const perSlab = e.slabinfo().find((s) => s.name === "percpu_c")!.objPerSlab;
    const full = Array.from({ length: perSlab }, () => e.kmem_cache_alloc(c));
    e.kmem_cache_alloc(c);                          // CPU 0 moves on to a second slab; the first is full
    onCpu(e, 1);
    e.kmem_cache_free(c, full[3]);
    expect(cpuInfo(e, c.id, 1, abi.KCC_PARTIAL)).toBe(slabOf(full[0]));
    expect(cpuInfo(e, c.id, 1, abi.KCC_PARTIAL_SLABS)).toBe(1);
    expect(cacheInfo(e, c.id, abi.KC_NR_PARTIAL)).toBe(0);
    expect(e.selfCheck()).toEqual([]);
    // CPU 1 has no cpu slab: it freezes the slab from its partial list
    expect(e.kmem_cache_alloc(c)).toBe(full[3]);
    expect(cpuInfo(e, c.id, 1, abi.KCC_SLAB)).toBe(slabOf(full[0]));
    expect(cpuInfo(e, c.id, 1, abi.KCC_PARTIAL)).toBe(NO_PFN);
    expect(e.selfCheck()).toEqual([]);
  });

  it("a CPU's partial list holds s->cpu_partial_slabs, then put_cpu_partial drains it to the node", () => {
    const e = boot({ cmdline: "kasan=off kfence.sample_interval=0 nr_cpus=2" }, build);
    const c = e.kmem_cache_create("percpu_d", 512);
    const info = e.slabinfo().find((s) => s.name === "percpu_d")!;
    // 2 CPUs: order 1, 16 objects of 512 bytes; set_cpu_partial(): 52 objects, as half-full slabs
    expect(info.objPerSlab).toBe(16);
    const limit = cacheInfo(e, c.id, abi.KC_CPU_PARTIAL_SLABS);
    expect(limit).toBe(Math.ceil((52 * 2) / 16));
    const slabs = Array.from({ length: limit + 2 }, () => Array.from({ length: 16 }, () => e.kmem_cache_alloc(c)));
    e.kmem_cache_alloc(c);                           // every slab above is full, CPU 0 is on the next one
    for (let i = 0; i < limit; i++) {
      e.kmem_cache_free(c, slabs[i][0]);
      expect(cpuInfo(e, c.id, 0, abi.KCC_PARTIAL_SLABS)).toBe(i + 1);
      expect(cpuInfo(e, c.id, 0, abi.KCC_PARTIAL)).toBe(slabOf(slabs[i][0]));
    }
    expect(cacheInfo(e, c.id, abi.KC_NR_PARTIAL)).toBe(0);
    // one more: the full list moves to the node's partial list first
    e.kmem_cache_free(c, slabs[limit][0]);
    expect(cpuInfo(e, c.id, 0, abi.KCC_PARTIAL_SLABS)).toBe(1);
    expect(cpuInfo(e, c.id, 0, abi.KCC_PARTIAL)).toBe(slabOf(slabs[limit][0]));
    expect(cacheInfo(e, c.id, abi.KC_NR_PARTIAL)).toBe(limit);
    expect(e.selfCheck()).toEqual([]);
    // CPU 1 has nothing: get_partial_node() takes a node slab for its cpu slab
    // and moves cpu_partial_slabs / 2 + 1 more to its partial list
    onCpu(e, 1);
    const got = e.kmem_cache_alloc(c);
    const fromNode = slabs.slice(0, limit).map((s) => slabOf(s[0]));
    expect(fromNode).toContain(slabOf(got));
    expect(cpuInfo(e, c.id, 1, abi.KCC_PARTIAL_SLABS)).toBe(Math.floor(limit / 2) + 1);
    expect(cacheInfo(e, c.id, abi.KC_NR_PARTIAL)).toBe(limit - 1 - (Math.floor(limit / 2) + 1));
    expect(e.slabinfo().find((s) => s.name === "percpu_d")!.numSlabs).toBe(limit + 3);
    expect(e.selfCheck()).toEqual([]);
  });

  it("kmem_cache_shrink flushes every CPU: their empty slabs go back to the page allocator", () => {
    const e = boot({ cmdline: "kasan=off kfence.sample_interval=0 nr_cpus=4" }, build);
    const c = e.kmem_cache_create("percpu_e", 128);
    const before = e.stats().framesByUse.slab;
    const objs: bigint[][] = [];
    for (let cpu = 0; cpu < 4; cpu++) {
      onCpu(e, cpu);
      objs.push(Array.from({ length: 5 }, () => e.kmem_cache_alloc(c)));
    }
    const info = e.slabinfo().find((s) => s.name === "percpu_e")!;
    expect(info).toMatchObject({ numSlabs: 4, activeObjs: 20, numObjs: 4 * info.objPerSlab });
    // each CPU's objects freed on the next CPU: all slabs stay frozen on their own CPUs
    for (let cpu = 0; cpu < 4; cpu++) {
      onCpu(e, (cpu + 1) % 4);
      for (const p of objs[cpu]) e.kmem_cache_free(c, p);
    }
    for (let cpu = 0; cpu < 4; cpu++) expect(cpuInfo(e, c.id, cpu, abi.KCC_SLAB)).toBe(slabOf(objs[cpu][0]));
    expect(e.slabinfo().find((s) => s.name === "percpu_e")).toMatchObject({ numSlabs: 4, activeObjs: 0 });
    onCpu(e, 0);
    e.kmem_cache_shrink(c);
    for (let cpu = 0; cpu < 4; cpu++) {
      expect(cpuInfo(e, c.id, cpu, abi.KCC_SLAB)).toBe(NO_PFN);
      expect(cpuInfo(e, c.id, cpu, abi.KCC_FREELIST)).toBe(0);
      expect(cpuInfo(e, c.id, cpu, abi.KCC_PARTIAL)).toBe(NO_PFN);
    }
    expect(e.slabinfo().find((s) => s.name === "percpu_e")!.numSlabs).toBe(0);
    expect(e.stats().framesByUse.slab).toBe(before);
    expect(e.selfCheck()).toEqual([]);
  });

  it("kmem_cache_destroy flushes every CPU's cpu slab and partial list, and gives every page back", () => {
    const e = boot({ cmdline: "kfence.sample_interval=0 nr_cpus=4" }, build);
    const c = e.kmem_cache_create("percpu_f", 256);
    const before = e.stats().framesByUse.slab;
    const perSlab = e.slabinfo().find((s) => s.name === "percpu_f")!.objPerSlab;
    const objs: bigint[] = [];
    for (let cpu = 0; cpu < 4; cpu++) {
      onCpu(e, cpu);
      for (let i = 0; i < perSlab * 2 + 3; i++) objs.push(e.kmem_cache_alloc(c));
    }
    // frees on other CPUs fill partial lists; under KASAN the quarantine sends them back later
    objs.forEach((p, i) => { onCpu(e, i % 4); e.kmem_cache_free(c, p); });
    onCpu(e, 0);
    expect(e.kmem_cache_destroy(c)).toBe(true);
    expect(e.takeReports()).toEqual([]);
    expect(e.slabinfo().some((s) => s.name === "percpu_f")).toBe(false);
    // none of percpu_f's pages are left (its descriptor went back to the kmem_cache cache)
    expect(e.stats().framesByUse.slab).toBe(before);
    expect(e.selfCheck()).toEqual([]);
  });

  it("kmemleak's walk sees objects in every CPU's slabs, and not the freed ones", () => {
    const e = boot({ cmdline: "kfence.sample_interval=0 nr_cpus=3" }, build);
    const leaked: bigint[] = [];
    for (let cpu = 0; cpu < 3; cpu++) {
      onCpu(e, cpu);
      const p = [e.kmalloc(200), e.kmalloc(200), e.kmalloc(200)];
      e.kfree(p[0]);                                   // on this CPU's freelist
      onCpu(e, (cpu + 1) % 3);
      e.kfree(p[1]);                                   // on the slab's freelist (remote)
      leaked.push(p[2]);
    }
    e.quarantineDrain();                               // the freed objects onto the freelists
    expect(e.kmemleakScan().map((r) => r.address).sort()).toEqual([...leaked].sort());
    for (let cpu = 0; cpu < 3; cpu++) expect(cpuInfo(e, e.exports.kmalloc_cache_id(7), cpu, abi.KCC_SLAB)).toBe(slabOf(leaked[cpu]));
  });

  it("kmemleak's walk sees objects in full slabs, which are on no list", () => {
    const e = boot({ cmdline: "kfence.sample_interval=0 nr_cpus=2" }, build);
    const c = e.kmem_cache_create("leaky_full", 256);
    const perSlab = e.slabinfo().find((s) => s.name === "leaky_full")!.objPerSlab;
    // three full slabs (two from CPU 0, one from CPU 1) and the start of a fourth on CPU 0
    const full = Array.from({ length: 2 * perSlab }, () => e.kmem_cache_alloc(c));
    onCpu(e, 1);
    full.push(...Array.from({ length: perSlab }, () => e.kmem_cache_alloc(c)));
    onCpu(e, 0);
    const cpuSlab = e.kmem_cache_alloc(c);
    expect(new Set(full.map(slabOf)).size).toBe(3);
    expect(e.slabinfo().find((s) => s.name === "leaky_full")).toMatchObject({ numSlabs: 4, activeObjs: 3 * perSlab + 1 });
    expect(e.kmemleakScan().map((r) => r.address).sort()).toEqual([...full, cpuSlab].sort());
    expect(e.selfCheck()).toEqual([]);
  });

  it("the page dump's struct slab: a cpu slab is frozen with no freelist of its own, a node partial slab is not", () => {
    const e = boot({ cmdline: "kfence.sample_interval=0 nr_cpus=2 no_hash_pointers kasan_multi_shot" }, build);
    const c = e.kmem_cache_create("percpu_g", 128);
    const p = [e.kmem_cache_alloc(c), e.kmem_cache_alloc(c), e.kmem_cache_alloc(c)];
    e.kmem_cache_free(c, p[0]);
    e.load(p[0], 1);                                   // use-after-free in CPU 0's cpu slab
    const raw = (r: Parameters<typeof lines>[0]) => lines(r).filter((l) => l.startsWith("raw: "));
    const [r1] = e.takeReports();
    const objects = e.slabinfo().find((s) => s.name === "percpu_g")!.objPerSlab;
    const counters = (inuse: number, frozen: boolean) =>
      (((frozen ? 0x80000000 : 0) | (objects << 16) | inuse) >>> 0).toString(16).padStart(16, "0");
    expect(raw(r1)[1]).toBe(`raw: 0000000000000000 ${counters(objects, true)} 00000001f5000000 0000000000000000`);
    // shrink flushes it to the node's partial list: not frozen, its own freelist and count
    e.quarantineDrain();
    e.kmem_cache_shrink(c);
    e.load(p[0], 1);
    const [r2] = e.takeReports();
    expect(r2.type).toBe("slab-use-after-free");
    const words = raw(r2)[1].split(" ");
    expect(words[2]).toBe(counters(2, false));
    expect(BigInt("0x" + words[1])).toBe(p[0]);      // the CPU's freelist spliced in front: p[0] was freed last
    expect(e.selfCheck()).toEqual([]);
  });

  it("kasan=off tapes: a second free from another CPU is refused whether the first went to a CPU's freelist or the slab's", () => {
    const h: TapeHeader = { slots: 2, cmdline: "", profile: "test", seed: 0, unit: 0, caches: [], tasks: [],
      sites: [{ name: "alloc_site", offset: 1, size: 16 }, { name: "free_site", offset: 2, size: 16 }, { name: "again_site", offset: 3, size: 16 }] };
    for (const firstOn of [0, 1]) {
      const e = boot({ cmdline: "kasan=off kfence.sample_interval=0 nr_cpus=2" }, build);
      const w = new OpWriter();
      w.sized(abi.FZ_KMALLOC, 0, 0, 64);
      w.sized(abi.FZ_KMALLOC, 0, 1, 64);
      w.task(0, firstOn);                 // CPU 0: onto its own lockless freelist; CPU 1: onto the slab's
      w.free(abi.FZ_KFREE, 1, 0);
      w.task(0, 1 - firstOn);
      w.free(abi.FZ_KFREE, 2, 0, true);
      const r = replay({ header: h, body: w.bytes().slice(), ops: w.ops }, { engine: e, format: () => false });
      expect(r.findings.map((f) => f.op), `first free on CPU ${firstOn}`).toEqual([5]);
      // the allocator is intact: the next two objects are the freed one and a fresh one, not the same twice
      onCpu(e, 0);
      const a = e.kmalloc(64), b = e.kmalloc(64);
      expect(a).not.toBe(b);
      expect(e.selfCheck()).toEqual([]);
    }
  });

  for (const nrCpus of [2, 3, 4]) {
    for (const kasan of ["kasan=off", "kasan.mode=generic"]) {
      it(`selfCheck holds after churn on ${nrCpus} CPUs (${kasan}), with no report and nothing lost`, () => {
        const e = boot({ cmdline: `${kasan} kfence.sample_interval=0 nr_cpus=${nrCpus} mem=64M` }, build);
        const caches = [e.kmem_cache_create("churn_a", 48), e.kmem_cache_create("churn_b", 700)];
        const live: Array<{ p: bigint; cache: number }> = [];       // cache -1: kmalloc
        let seed = 1234 + nrCpus;
        const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) % n; };
        for (let i = 0; i < 6000; i++) {
          if (rnd(8) === 0) onCpu(e, rnd(nrCpus));
          const op = rnd(10);
          if (op < 5 || live.length === 0) {
            const k = rnd(3) - 1;
            const p = k < 0 ? e.kmalloc(1 + rnd(3000)) : e.kmem_cache_alloc(caches[k]);
            expect(p).not.toBe(0n);
            live.push({ p, cache: k });
          } else if (op < 9) {
            const { p, cache } = live.splice(rnd(live.length), 1)[0];
            if (cache < 0) e.kfree(p); else e.kmem_cache_free(caches[cache], p);
          } else if (rnd(20) === 0) {
            e.kmem_cache_shrink(caches[rnd(2)]);
          }
          if (i % 1500 === 0) expect(e.selfCheck()).toEqual([]);
        }
        expect(e.selfCheck()).toEqual([]);
        expect(e.takeReports()).toEqual([]);
        // every object is still where it was: each is live (no double hand-out) and frees cleanly
        expect(new Set(live.map((x) => x.p)).size).toBe(live.length);
        for (const [k, name] of [[0, "churn_a"], [1, "churn_b"]] as const) {
          expect(e.slabinfo().find((s) => s.name === name)!.activeObjs).toBe(live.filter((x) => x.cache === k).length);
        }
        for (const { p, cache } of live) {
          onCpu(e, rnd(nrCpus));
          if (cache < 0) e.kfree(p); else e.kmem_cache_free(caches[cache], p);
        }
        onCpu(e, 0);
        for (const c of caches) expect(e.kmem_cache_destroy(c)).toBe(true);
        expect(e.takeReports()).toEqual([]);
        expect(e.selfCheck()).toEqual([]);
      });
    }
  }
});
