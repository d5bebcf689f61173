// The slab API (engine.kmalloc(), kmem_cache_*(), slabinfo): argument checks,
// cache handles and names, and the core calls; the Engine's methods of the same
// names delegate here.
import * as abi from "../abi/abi.js";
import type { CoreExports } from "./exports.js";
import { sizeArg, addrArg, numArg, funcArg, flagsArg, U64_MAX } from "./args.js";
import { parseGfp, type Gfp } from "./gfp.js";

const SLAB_FLAG_NAMES: Record<string, number> = {
  SLAB_HWCACHE_ALIGN: abi.SLAB_HWCACHE_ALIGN, SLAB_TYPESAFE_BY_RCU: abi.SLAB_TYPESAFE_BY_RCU,
  SLAB_ACCOUNT: abi.SLAB_ACCOUNT, SLAB_PANIC: abi.SLAB_PANIC, SLAB_CACHE_DMA: abi.SLAB_CACHE_DMA,
  SLAB_SKIP_KFENCE: abi.SLAB_SKIP_KFENCE, SLAB_NO_MERGE: abi.SLAB_NO_MERGE,
};
export function parseSlabFlags(f: number | string | undefined): number {
  if (f === undefined) return 0;
  // slab_flags_t is an unsigned int
  return flagsArg("kmem_cache_create", "slab", f, SLAB_FLAG_NAMES, "SLAB_HWCACHE_ALIGN");
}

/** A slab cache made by kmem_cache_create. */
export interface SlabInfo {
  name: string;
  activeObjs: number;
  numObjs: number;
  /** Slot size: the object with its redzones and KASAN metadata (s->size). */
  objSize: number;
  objPerSlab: number;
  pagesPerSlab: number;
  /** SLAB's tunables (0 under SLUB): the per-CPU array limit, its batchcount, the shared factor. */
  limit: number;
  batchcount: number;
  sharedFactor: number;
  /** Slabs in use, all slabs, objects in the node's shared array (SLAB's slabdata; SLUB: slabs, slabs, 0). */
  activeSlabs: number;
  numSlabs: number;
  sharedAvail: number;
}

export interface KmemCache {
  readonly id: number;
  readonly name: string;
  /** Address of its struct kmem_cache (an object of the kmem_cache cache). */
  readonly address: bigint;
}

const KMALLOC_NAMES = ["kmalloc-8", "kmalloc-16", "kmalloc-32", "kmalloc-64", "kmalloc-96", "kmalloc-128", "kmalloc-192",
  "kmalloc-256", "kmalloc-512", "kmalloc-1k", "kmalloc-2k", "kmalloc-4k", "kmalloc-8k"];

/** What the slab API uses of the engine (the Engine provides it). */
export interface SlabEngine {
  readonly exports: CoreExports;
  readonly memory: WebAssembly.Memory;
  readonly options: { readonly slabAllocator: "slub" | "slab" };
  kernelCall<T>(capture: boolean, fn: () => T): T;
}

export class Slab {
  /** Cache id -> name (kmem_cache_create's, kmalloc-N, kmem_cache). */
  readonly names = new Map<number, string>();
  /** Constructor id -> the ctor given to kmem_cache_create (the core calls back sf_ctor(id, addr)). */
  readonly ctors = new Map<number, { ctor: (addr: bigint) => void; cache: string }>();

  constructor(private readonly e: SlabEngine) {}

  /** Name the caches boot creates: kmem_cache and kmalloc-8 ... kmalloc-8k. */
  nameBootCaches(): void {
    KMALLOC_NAMES.forEach((name, i) => this.names.set(this.e.exports.kmalloc_cache_id(i), name));
    this.names.set(0, "kmem_cache");
  }

  kmalloc(size: number | bigint, gfp: Gfp = "GFP_KERNEL"): bigint {
    const n = sizeArg("kmalloc", "size", size);
    const g = parseGfp(gfp);
    return BigInt.asUintN(64, this.e.kernelCall(true, () => this.e.exports.kmalloc(n, g)));
  }
  kzalloc(size: number | bigint, gfp: Gfp = "GFP_KERNEL"): bigint {
    return this.kmalloc(size, parseGfp(gfp) | abi.GFP_ZERO);
  }
  /** kcalloc(n, size): NULL (0n) when n * size overflows, as kmalloc_array does. */
  kcalloc(n: number | bigint, size: number | bigint, gfp: Gfp = "GFP_KERNEL"): bigint {
    const total = sizeArg("kcalloc", "n", n) * sizeArg("kcalloc", "size", size);
    if (total > U64_MAX) return 0n;
    return this.kmalloc(total, parseGfp(gfp) | abi.GFP_ZERO);
  }
  krealloc(addr: bigint | number, size: number | bigint, gfp: Gfp = "GFP_KERNEL"): bigint {
    const a = addrArg("krealloc", "p", addr);
    const n = sizeArg("krealloc", "new_size", size);
    const g = parseGfp(gfp);
    return BigInt.asUintN(64, this.e.kernelCall(true, () => this.e.exports.krealloc(a, n, g)));
  }
  kfree(addr: bigint | number): void {
    const a = addrArg("kfree", "objp", addr);
    this.e.kernelCall(true, () => this.e.exports.kfree(a));
  }
  kfree_sensitive(addr: bigint | number): void {
    const a = addrArg("kfree_sensitive", "p", addr);
    this.e.kernelCall(true, () => this.e.exports.kfree_sensitive(a));
  }
  ksize(addr: bigint | number): number {
    const a = addrArg("ksize", "objp", addr);
    return Number(this.e.kernelCall(true, () => this.e.exports.ksize(a)));
  }

  /**
   * /proc/slabinfo's columns for every live cache: active and total objects,
   * slot size (objsize), objects per slab and pages per slab. KFENCE objects
   * are not in the slabs' counts, as in the kernel.
   */
  slabinfo(): SlabInfo[] {
    const x = this.e.exports;
    const out: SlabInfo[] = [];
    const slab = this.e.options.slabAllocator === "slab";
    for (let id = 0; id < x.cache_count(); id++) {
      if (x.cache_state(id) !== 1) continue;
      const objPerSlab = x.cache_info(id, abi.KC_OBJECTS);
      const slabs = x.cache_info(id, abi.KC_NR_SLABS);
      if (slab) {
        // get_slabinfo() of mm/slab.c: objects in the array caches count as active
        out.push({
          name: this.cacheName(id),
          activeObjs: x.slab_info(id, abi.SL_ACTIVE_OBJS),
          numObjs: slabs * objPerSlab,
          objSize: x.cache_info(id, abi.KC_SIZE),
          objPerSlab,
          pagesPerSlab: 1 << x.cache_info(id, abi.KC_ORDER),
          limit: x.slab_info(id, abi.SL_LIMIT),
          batchcount: x.slab_info(id, abi.SL_BATCHCOUNT),
          sharedFactor: x.slab_info(id, abi.SL_SHARED),
          activeSlabs: slabs - x.slab_info(id, abi.SL_FREE_SLABS),
          numSlabs: slabs,
          sharedAvail: x.slab_info(id, abi.SL_SHARED_AVAIL),
        });
        continue;
      }
      out.push({
        limit: 0, batchcount: 0, sharedFactor: 0, activeSlabs: slabs, numSlabs: slabs, sharedAvail: 0,
        name: this.cacheName(id),
        activeObjs: x.cache_info(id, abi.KC_LIVE),
        numObjs: x.cache_info(id, abi.KC_NR_SLABS) * objPerSlab,
        objSize: x.cache_info(id, abi.KC_SIZE),
        objPerSlab,
        pagesPerSlab: 1 << x.cache_info(id, abi.KC_ORDER),
      });
    }
    return out;
  }
  /** /proc/slabinfo as text (version 2.1 columns; SLUB prints the tunables as 0 and its slab count twice, SLAB its own). */
  slabinfoText(): string {
    const head = "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>";
    const n = (v: number, w: number) => String(v).padStart(w);
    const rows = this.slabinfo().reverse().map((s) =>
      `${s.name.padEnd(17)} ${n(s.activeObjs, 6)} ${n(s.numObjs, 6)} ${n(s.objSize, 6)} ${n(s.objPerSlab, 4)} ${n(s.pagesPerSlab, 4)}` +
      ` : tunables ${n(s.limit, 4)} ${n(s.batchcount, 4)} ${n(s.sharedFactor, 4)} : slabdata ${n(s.activeSlabs, 6)} ${n(s.numSlabs, 6)} ${n(s.sharedAvail, 6)}`);
    return ["slabinfo - version: 2.1", head, ...rows].join("\n") + "\n";
  }
  kmem_cache_create(name: string, size: number, opts: { align?: number; flags?: number | string; ctor?: (addr: bigint) => void } = {}): KmemCache {
    if (typeof name !== "string" || name.length === 0) throw new TypeError("kmem_cache_create: name must be a non-empty string");
    if (!Number.isInteger(size) || size < 1 || size > 1 << 22) throw new RangeError(`kmem_cache_create: size must be 1..${1 << 22}, got ${size}`);
    const align = opts.align ?? 0;
    if (!Number.isInteger(align) || align < 0 || (align & (align - 1)) !== 0 || align > 4096) throw new RangeError(`kmem_cache_create: align must be 0 or a power of two up to 4096, got ${align}`);
    const flags = parseSlabFlags(opts.flags);
    let ctorId = 0;
    if (opts.ctor !== undefined) {
      ctorId = this.ctors.size + 1;
      this.ctors.set(ctorId, { ctor: funcArg("kmem_cache_create", "ctor", opts.ctor), cache: name });
    }
    const id = this.e.kernelCall(true, () => this.e.exports.kmem_cache_create(size, align, flags, ctorId));
    if (id < 0) throw new RangeError(`kmem_cache_create(${name}): ${id === -abi.ENOMEM ? "out of memory" : "invalid size/align/flags"}`);
    this.names.set(id, name);
    return { id, name, address: BigInt.asUintN(64, this.e.exports.cache_va(id)) };
  }
  /** A cache handle from kmem_cache_create (its id must name a cache this engine created). */
  private cacheArg(fn: string, cache: KmemCache): number {
    const id = typeof cache === "object" && cache !== null ? (cache as { id?: unknown }).id : undefined;
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id >= this.e.exports.cache_count() || !this.names.has(id)) {
      throw new TypeError(`${fn}: cache must be a kmem_cache_create() result of this engine, got ${typeof cache === "object" && cache !== null ? `{ id: ${String(id)} }` : String(cache)}`);
    }
    return id;
  }
  kmem_cache_alloc(cache: KmemCache, gfp: Gfp = "GFP_KERNEL"): bigint {
    const id = this.cacheArg("kmem_cache_alloc", cache);
    const g = parseGfp(gfp);
    return BigInt.asUintN(64, this.e.kernelCall(true, () => this.e.exports.kmem_cache_alloc(id, g)));
  }
  kmem_cache_free(cache: KmemCache, addr: bigint | number): void {
    const id = this.cacheArg("kmem_cache_free", cache);
    const a = addrArg("kmem_cache_free", "objp", addr);
    this.e.kernelCall(true, () => this.e.exports.kmem_cache_free(id, a));
  }
  /** kmem_cache_shrink(): the quarantine's objects of the cache, then empty slabs, go back. */
  kmem_cache_shrink(cache: KmemCache): void {
    const id = this.cacheArg("kmem_cache_shrink", cache);
    this.e.kernelCall(true, () => this.e.exports.kmem_cache_shrink(id));
  }
  /** Returns false when objects remained (the kernel WARNs and keeps the cache). */
  kmem_cache_destroy(cache: KmemCache): boolean {
    const id = this.cacheArg("kmem_cache_destroy", cache);
    return this.e.kernelCall(true, () => this.e.exports.kmem_cache_destroy(id)) === 0;
  }
  kmem_cache_alloc_bulk(cache: KmemCache, n: number, gfp: Gfp = "GFP_KERNEL"): bigint[] {
    const id = this.cacheArg("kmem_cache_alloc_bulk", cache);
    const count = numArg("kmem_cache_alloc_bulk", "size", n, 0, 512);
    const g = parseGfp(gfp);
    const buf = this.e.exports.host_buf() + abi.HOST_BUF_BYTES;
    const got = this.e.kernelCall(true, () => this.e.exports.kmem_cache_alloc_bulk(id, g, count, buf));
    return Array.from(new BigUint64Array(this.e.memory.buffer, buf, got));
  }
  kmem_cache_free_bulk(cache: KmemCache, addrs: bigint[]): void {
    const id = this.cacheArg("kmem_cache_free_bulk", cache);
    if (!Array.isArray(addrs)) throw new TypeError("kmem_cache_free_bulk: p must be an array of addresses");
    if (addrs.length > 512) throw new RangeError(`kmem_cache_free_bulk: size must be an integer from 0 to 512, got ${addrs.length}`);
    const list = addrs.map((a, i) => addrArg("kmem_cache_free_bulk", `p[${i}]`, a));
    const buf = this.e.exports.host_buf() + abi.HOST_BUF_BYTES;
    new BigUint64Array(this.e.memory.buffer, buf, list.length).set(list);
    this.e.kernelCall(true, () => this.e.exports.kmem_cache_free_bulk(id, list.length, buf));
  }
  /** The name of cache `id` (for tooling). */
  cacheName(id: number): string {
    return this.names.get(id) ?? `cache-${id}`;
  }
  /** virt_to_cache(): the name of the slab cache holding addr, undefined when it is not slab memory. */
  cacheOf(addr: bigint | number): string | undefined {
    const id = this.e.exports.kmem_cache_of(addrArg("cacheOf", "addr", addr));
    return id < 0 ? undefined : this.cacheName(id);
  }
}
