// mempool (mm/mempool.c) with KASAN's annotations: elements parked in the pool
// are poisoned as if freed, so using one is a use-after-free and freeing one
// twice is a double free.
import type { Engine, KmemCache } from "./engine.js";
import type { Frame } from "./stackdepot.js";
import { sizeArg, numArg } from "./args.js";
import * as abi from "../abi/abi.js";

const MEMPOOL_FREE: Frame = { name: "mempool_free", offset: 0x54, size: 0x70 };
const MEMPOOL_ALLOC: Frame = { name: "mempool_alloc_preallocated", offset: 0x2e, size: 0x60 };

type Kind = { kind: "kmalloc"; size: number } | { kind: "slab"; cache: KmemCache } | { kind: "pages"; order: number };

export class Mempool {
  private readonly elements: bigint[] = [];

  private constructor(private readonly e: Engine, readonly minNr: number, private readonly k: Kind) {}

  static init(e: Engine, minNr: number, k: Kind): Mempool {
    if (!Number.isInteger(minNr) || minNr < 1 || minNr > 1024) throw new RangeError(`mempool: min_nr must be 1..1024, got ${minNr}`);
    const pool = new Mempool(e, minNr, k);
    for (let i = 0; i < minNr; i++) {
      const el = pool.allocUnderlying();
      if (el === 0n) {
        pool.exit();
        throw new RangeError("mempool_init: out of memory while preallocating elements");
      }
      pool.addElement(el);
    }
    return pool;
  }

  private allocUnderlying(): bigint {
    switch (this.k.kind) {
      case "kmalloc": return this.e.kmalloc(this.k.size);
      case "slab": return this.e.kmem_cache_alloc(this.k.cache);
      case "pages": return this.e.alloc_pages(this.k.order);
    }
  }
  private freeUnderlying(el: bigint): void {
    switch (this.k.kind) {
      case "kmalloc": this.e.kfree(el); break;
      case "slab": this.e.kmem_cache_free(this.k.cache, el); break;
      case "pages": this.e.__free_pages(el, this.k.order); break;
    }
  }

  // add_element: poison the element; a bad one is reported and not taken.
  private addElement(el: bigint): void {
    const x = this.e.exports;
    const ok = this.e.kernelCall(true, () => this.k.kind === "pages"
      ? x.kasan_mempool_poison_pages(el, this.k.order)
      : x.kasan_mempool_poison_object(el));
    if (ok) this.elements.push(el);
  }
  // remove_element: unpoison for the new owner.
  private removeElement(): bigint {
    const el = this.elements.pop()!;
    const x = this.e.exports;
    this.e.kernelCall(true, () => {
      if (this.k.kind === "pages") x.kasan_mempool_unpoison_pages(el, this.k.order);
      else x.kasan_mempool_unpoison_object(el, BigInt(this.k.kind === "kmalloc" ? this.k.size : x.cache_info(this.k.cache.id, abi.KC_OBJECT_SIZE)));
    });
    return el;
  }

  /** mempool_alloc_preallocated(): an element from the pool, or 0n when it is empty. */
  alloc_preallocated(): bigint {
    return this.e.withFrames([MEMPOOL_ALLOC], () => (this.elements.length ? this.removeElement() : 0n));
  }
  /** mempool_alloc(): from the allocator, falling back to the pool. */
  alloc(): bigint {
    const el = this.allocUnderlying();
    return el !== 0n ? el : this.alloc_preallocated();
  }
  /** mempool_free(): refill the pool first, then give back to the allocator. */
  free(el: bigint): void {
    if (el === 0n) return;
    this.e.withFrames([MEMPOOL_FREE], () => {
      if (this.elements.length < this.minNr) this.addElement(el);
      else this.freeUnderlying(el);
    });
  }
  /** mempool_exit(): every parked element back to the allocator. */
  exit(): void {
    while (this.elements.length) this.freeUnderlying(this.removeElement());
  }
  get curr_nr(): number {
    return this.elements.length;
  }
  /** Elements are slab objects (not pages: a large kmalloc or a page pool). */
  get slabBacked(): boolean {
    return this.k.kind === "slab" || (this.k.kind === "kmalloc" && this.k.size <= 8192);
  }
}

export function mempool_init_kmalloc_pool(e: Engine, minNr: number, size: number): Mempool {
  // the pool keeps the size as a number: up to KMALLOC_MAX_SIZE, past which kmalloc cannot succeed
  size = Number(sizeArg("mempool_init_kmalloc_pool", "size", size, BigInt(1 << (abi.MAX_PAGE_ORDER + 12))));
  return Mempool.init(e, minNr, { kind: "kmalloc", size });
}
export function mempool_init_slab_pool(e: Engine, minNr: number, cache: KmemCache): Mempool {
  return Mempool.init(e, minNr, { kind: "slab", cache });
}
export function mempool_init_page_pool(e: Engine, minNr: number, order: number): Mempool {
  numArg("mempool_init_page_pool", "order", order, 0, abi.MAX_PAGE_ORDER);
  return Mempool.init(e, minNr, { kind: "pages", order });
}
