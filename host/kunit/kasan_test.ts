// The KASAN KUnit suite (mm/kasan/kasan_test_c.c, Linux 6.12) on the engine.
// Each case is a function named as the kernel's, doing what the C does: the
// same sizes, the same accesses, KUNIT_EXPECT_KASAN_FAIL around each bad one,
// the same skips with the kernel's reasons.
import type { Engine } from "../engine.js";
import { KunitTest, type KunitSuite, type KunitCase, type KasanWant } from "./runner.js";
import { pushStackFrame, allocaInFrame } from "../stack_frame.js";
import { mempool_init_kmalloc_pool, mempool_init_slab_pool, mempool_init_page_pool, type Mempool } from "../mempool.js";
import * as lib from "../lib.js";
import { VMALLOC_CASES } from "./vmalloc_test.js";
import { INITCALL_FRAMES } from "../demo.js";
import { config, needsOn, needsOff, tagOf } from "./kasan_config.js";

const KMALLOC_MAX_CACHE_SIZE = 8192;
const PAGE_SIZE = 4096;
const U64 = (n: number | bigint) => BigInt.asUintN(64, BigInt(n));

const generic = (t: KunitTest) => config(t.engine, "CONFIG_KASAN_GENERIC");
const granule = (t: KunitTest) => (generic(t) ? 8 : 16);
const oobTagOff = (t: KunitTest) => (generic(t) ? 0 : 16);
const roundUp = (x: number, g: number) => Math.ceil(x / g) * g;
const roundDown = (x: number, g: number) => Math.floor(x / g) * g;

// Expected reports. Bug types are those of generic KASAN; tag modes name
// bugs from the stack ring, so there only the address and access are checked.
function gen(t: KunitTest, w: KasanWant): KasanWant {
  return generic(t) ? w : { ...w, type: undefined };
}
const oob = (t: KunitTest, addr: bigint, write: boolean, size: number | bigint) =>
  gen(t, { type: "slab-out-of-bounds", addr, write, size });
const uaf = (t: KunitTest, addr: bigint, write: boolean, size: number | bigint) =>
  gen(t, { type: "slab-use-after-free", addr, write, size });

function assertNotNull(t: KunitTest, p: bigint, what: string): void {
  t.assert(p !== 0n && p !== 16n, `${what} is not NULL`);
}
// one-byte accesses as C's ptr[i] = v and (volatile char)ptr[i]
const wr = (t: KunitTest, p: bigint, v = 0x78) => t.engine.store(p, 1, v);
const rd = (t: KunitTest, p: bigint) => t.engine.load(p, 1);

// ── kmalloc ─────────────────────────────────────────────────────────────────
function kmalloc_oob_right(t: KunitTest): void {
  const e = t.engine;
  const size = 128 - granule(t) - 5;
  const ptr = e.kmalloc(size);
  assertNotNull(t, ptr, "ptr");
  if (generic(t)) t.expectKasanFail("ptr[size] = 'x'", () => wr(t, ptr + U64(size)), oob(t, ptr + U64(size), true, 1));
  t.expectKasanFail("ptr[size + 5] = 'y'", () => wr(t, ptr + U64(size + 5), 0x79), oob(t, ptr + U64(size + 5), true, 1));
  t.expectKasanFail("ptr[0] = ptr[size + KASAN_GRANULE_SIZE + 5]", () => wr(t, ptr, rd(t, ptr + U64(size + granule(t) + 5))),
    oob(t, ptr + U64(size + granule(t) + 5), false, 1));
  e.kfree(ptr);
}

function kmalloc_oob_left(t: KunitTest): void {
  const e = t.engine;
  const ptr = e.kmalloc(15);
  assertNotNull(t, ptr, "ptr");
  t.expectKasanFail("*ptr = *(ptr - 1)", () => wr(t, ptr, rd(t, ptr - 1n)), oob(t, ptr - 1n, false, 1));
  e.kfree(ptr);
}

function kmalloc_node_oob_right(t: KunitTest): void {
  const e = t.engine;
  const size = 4096;
  const ptr = e.kmalloc(size);          // kmalloc_node(size, GFP_KERNEL, 0): one node here
  assertNotNull(t, ptr, "ptr");
  t.expectKasanFail("ptr[0] = ptr[size]", () => wr(t, ptr, rd(t, ptr + U64(size))), oob(t, ptr + U64(size), false, 1));
  e.kfree(ptr);
}

function kmalloc_big_oob_right(t: KunitTest): void {
  const e = t.engine;
  const size = KMALLOC_MAX_CACHE_SIZE - 256;
  const ptr = e.kmalloc(size);
  assertNotNull(t, ptr, "ptr");
  t.expectKasanFail("ptr[size] = 0", () => wr(t, ptr + U64(size), 0), oob(t, ptr + U64(size), true, 1));
  e.kfree(ptr);
}

function kmalloc_large_oob_right(t: KunitTest): void {
  // page_alloc fallback is only implemented for SLUB (the suite's words while SLAB was in the tree)
  needsOn(t, "CONFIG_SLUB");
  const e = t.engine;
  const size = KMALLOC_MAX_CACHE_SIZE + 10;
  const ptr = e.kmalloc(size);
  assertNotNull(t, ptr, "ptr");
  t.expectKasanFail("ptr[size + OOB_TAG_OFF] = 0", () => wr(t, ptr + U64(size + oobTagOff(t)), 0),
    oob(t, ptr + U64(size + oobTagOff(t)), true, 1));
  e.kfree(ptr);
}

function kmalloc_large_uaf(t: KunitTest): void {
  // page_alloc fallback is only implemented for SLUB (the suite's words while SLAB was in the tree)
  needsOn(t, "CONFIG_SLUB");
  const e = t.engine;
  const ptr = e.kmalloc(KMALLOC_MAX_CACHE_SIZE + 10);
  assertNotNull(t, ptr, "ptr");
  e.kfree(ptr);
  t.expectKasanFail("((volatile char *)ptr)[0]", () => rd(t, ptr), gen(t, { type: "use-after-free", addr: ptr, write: false, size: 1 }));
}

function kmalloc_large_invalid_free(t: KunitTest): void {
  // page_alloc fallback is only implemented for SLUB (the suite's words while SLAB was in the tree)
  needsOn(t, "CONFIG_SLUB");
  const e = t.engine;
  const ptr = e.kmalloc(KMALLOC_MAX_CACHE_SIZE + 10);
  assertNotNull(t, ptr, "ptr");
  t.expectKasanFail("kfree(ptr + 1)", () => e.kfree(ptr + 1n), { type: "invalid-free", addr: ptr + 1n });
}

function page_alloc_oob_right(t: KunitTest): void {
  needsOff(t, "CONFIG_KASAN_GENERIC");
  const e = t.engine;
  const order = 4;
  const size = 1 << (12 + order);
  const ptr = e.alloc_pages(order);
  assertNotNull(t, ptr, "ptr");
  t.expectKasanFail("ptr[0] = ptr[size]", () => wr(t, ptr, rd(t, ptr + U64(size))));
  e.__free_pages(ptr, order);
}

function page_alloc_uaf(t: KunitTest): void {
  const e = t.engine;
  const order = 4;
  const ptr = e.alloc_pages(order);
  assertNotNull(t, ptr, "ptr");
  e.__free_pages(ptr, order);
  t.expectKasanFail("((volatile char *)ptr)[0]", () => rd(t, ptr), gen(t, { type: "use-after-free", addr: ptr, write: false, size: 1 }));
}

function krealloc_more_oob_helper(t: KunitTest, size1: number, size2: number): void {
  const e = t.engine;
  t.assert(size1 < size2, "size1 < size2");
  const middle = size1 + Math.floor((size2 - size1) / 2);
  const ptr1 = e.kmalloc(size1);
  assertNotNull(t, ptr1, "ptr1");
  const ptr2 = e.krealloc(ptr1, size2);
  assertNotNull(t, ptr2, "ptr2");
  t.expectNoReport("ptr2[size1 - 1 .. size2 - 1] = 'x'", () => {
    for (const i of [size1 - 1, size1, middle, size2 - 1]) wr(t, ptr2 + U64(i));
  });
  if (generic(t)) t.expectKasanFail("ptr2[size2] = 'x'", () => wr(t, ptr2 + U64(size2)), oob(t, ptr2 + U64(size2), true, 1));
  t.expectKasanFail("ptr2[round_up(size2, KASAN_GRANULE_SIZE)] = 'x'", () => wr(t, ptr2 + U64(roundUp(size2, granule(t)))),
    oob(t, ptr2 + U64(roundUp(size2, granule(t))), true, 1));
  e.kfree(ptr2);
}

function krealloc_less_oob_helper(t: KunitTest, size1: number, size2: number): void {
  const e = t.engine;
  t.assert(size2 < size1, "size2 < size1");
  const middle = size2 + Math.floor((size1 - size2) / 2);
  const g = granule(t);
  const ptr1 = e.kmalloc(size1);
  assertNotNull(t, ptr1, "ptr1");
  const ptr2 = e.krealloc(ptr1, size2);
  assertNotNull(t, ptr2, "ptr2");
  t.expectNoReport("ptr2[size2 - 1] = 'x'", () => wr(t, ptr2 + U64(size2 - 1)));
  if (generic(t)) t.expectKasanFail("ptr2[size2] = 'x'", () => wr(t, ptr2 + U64(size2)), oob(t, ptr2 + U64(size2), true, 1));
  t.expectKasanFail("ptr2[round_up(size2, KASAN_GRANULE_SIZE)] = 'x'", () => wr(t, ptr2 + U64(roundUp(size2, g))),
    oob(t, ptr2 + U64(roundUp(size2, g)), true, 1));
  t.expect(roundUp(size2, g) <= roundDown(middle, g), "round_up(size2) <= round_down(middle)");
  t.expect(roundUp(middle, g) <= roundDown(size1, g), "round_up(middle) <= round_down(size1)");
  t.expectKasanFail("ptr2[middle] = 'x'", () => wr(t, ptr2 + U64(middle)), oob(t, ptr2 + U64(middle), true, 1));
  t.expectKasanFail("ptr2[size1 - 1] = 'x'", () => wr(t, ptr2 + U64(size1 - 1)), oob(t, ptr2 + U64(size1 - 1), true, 1));
  t.expectKasanFail("ptr2[size1] = 'x'", () => wr(t, ptr2 + U64(size1)), oob(t, ptr2 + U64(size1), true, 1));
  e.kfree(ptr2);
}

function krealloc_more_oob(t: KunitTest): void { krealloc_more_oob_helper(t, 201, 235); }
function krealloc_less_oob(t: KunitTest): void { krealloc_less_oob_helper(t, 235, 201); }
function krealloc_large_more_oob(t: KunitTest): void {
  // page_alloc fallback is only implemented for SLUB (the suite's words while SLAB was in the tree)
  needsOn(t, "CONFIG_SLUB");
  krealloc_more_oob_helper(t, KMALLOC_MAX_CACHE_SIZE + 201, KMALLOC_MAX_CACHE_SIZE + 235);
}
function krealloc_large_less_oob(t: KunitTest): void {
  // page_alloc fallback is only implemented for SLUB (the suite's words while SLAB was in the tree)
  needsOn(t, "CONFIG_SLUB");
  krealloc_less_oob_helper(t, KMALLOC_MAX_CACHE_SIZE + 235, KMALLOC_MAX_CACHE_SIZE + 201);
}

function krealloc_uaf(t: KunitTest): void {
  const e = t.engine;
  const ptr1 = e.kmalloc(201);
  assertNotNull(t, ptr1, "ptr1");
  e.kfree(ptr1);
  let ptr2 = 1n;
  t.expectKasanFail("ptr2 = krealloc(ptr1, size2, GFP_KERNEL)", () => { ptr2 = e.krealloc(ptr1, 235); }, uaf(t, ptr1, false, 1));
  t.assert(ptr2 === 0n, "ptr2 == NULL");
  t.expectKasanFail("*(volatile char *)ptr1", () => rd(t, ptr1), uaf(t, ptr1, false, 1));
}

function kmalloc_oob_16(t: KunitTest): void {
  needsOn(t, "CONFIG_KASAN_GENERIC");
  const e = t.engine;
  const ptr1 = e.kmalloc(16 - 3);
  assertNotNull(t, ptr1, "ptr1");
  const ptr2 = e.kmalloc(16);
  assertNotNull(t, ptr2, "ptr2");
  t.expectKasanFail("*ptr1 = *ptr2", () => e.store(ptr1, 16, e.load(ptr2, 16)), oob(t, ptr1, true, 16));
  e.kfree(ptr1);
  e.kfree(ptr2);
}

function kmalloc_uaf_16(t: KunitTest): void {
  const e = t.engine;
  const ptr1 = e.kmalloc(16);
  assertNotNull(t, ptr1, "ptr1");
  const ptr2 = e.kmalloc(16);
  assertNotNull(t, ptr2, "ptr2");
  e.kfree(ptr2);
  t.expectKasanFail("*ptr1 = *ptr2", () => e.store(ptr1, 16, e.load(ptr2, 16)), uaf(t, ptr2, false, 16));
  e.kfree(ptr1);
}

function memsetCase(t: KunitTest, back: number, len: number): void {
  const e = t.engine;
  const size = 128 - granule(t);
  const ptr = e.kmalloc(size);
  assertNotNull(t, ptr, "ptr");
  t.expectKasanFail(`memset(ptr + size - ${back}, 0, ${len})`, () => e.memset(ptr + U64(size - back), 0, len),
    oob(t, ptr + U64(size - back), true, len));
  e.kfree(ptr);
}
function kmalloc_oob_memset_2(t: KunitTest): void { memsetCase(t, 1, 2); }
function kmalloc_oob_memset_4(t: KunitTest): void { memsetCase(t, 3, 4); }
function kmalloc_oob_memset_8(t: KunitTest): void { memsetCase(t, 7, 8); }
function kmalloc_oob_memset_16(t: KunitTest): void { memsetCase(t, 15, 16); }

function kmalloc_oob_in_memset(t: KunitTest): void {
  const e = t.engine;
  const size = 128 - granule(t);
  const ptr = e.kmalloc(size);
  assertNotNull(t, ptr, "ptr");
  t.expectKasanFail("memset(ptr, 0, size + KASAN_GRANULE_SIZE)", () => e.memset(ptr, 0, size + granule(t)),
    oob(t, ptr, true, size + granule(t)));
  e.kfree(ptr);
}

function kmalloc_memmove_negative_size(t: KunitTest): void {
  const e = t.engine;
  const ptr = e.kmalloc(64);
  assertNotNull(t, ptr, "ptr");
  e.memset(ptr, 0, 64);
  const invalidSize = BigInt.asUintN(64, -2n);
  t.expectKasanFail("memmove((char *)ptr, (char *)ptr + 4, invalid_size)", () => e.memmove(ptr, ptr + 4n, invalidSize),
    { type: "out-of-bounds", addr: ptr + 4n, write: false, size: invalidSize });
  e.kfree(ptr);
}

function kmalloc_memmove_invalid_size(t: KunitTest): void {
  const e = t.engine;
  const size = 64;
  const ptr = e.kmalloc(size);
  assertNotNull(t, ptr, "ptr");
  e.memset(ptr, 0, 64);
  t.expectKasanFail("memmove((char *)ptr, (char *)ptr + 4, invalid_size)", () => e.memmove(ptr, ptr + 4n, size),
    oob(t, ptr + 4n, false, size));
  e.kfree(ptr);
}

function kmalloc_uaf(t: KunitTest): void {
  const e = t.engine;
  const ptr = e.kmalloc(10);
  assertNotNull(t, ptr, "ptr");
  e.kfree(ptr);
  t.expectKasanFail("((volatile char *)ptr)[8]", () => rd(t, ptr + 8n), uaf(t, ptr + 8n, false, 1));
}

function kmalloc_uaf_memset(t: KunitTest): void {
  needsOn(t, "CONFIG_KASAN_GENERIC");
  const e = t.engine;
  const size = 33;
  const ptr = e.kmalloc(size);
  assertNotNull(t, ptr, "ptr");
  e.kfree(ptr);
  t.expectKasanFail("memset(ptr, 0, size)", () => e.memset(ptr, 0, size), uaf(t, ptr, true, size));
}

function kmalloc_uaf2(t: KunitTest): void {
  const e = t.engine;
  const size = 43;
  let counter = 0;
  let ptr1: bigint, ptr2: bigint;
  for (;;) {
    ptr1 = e.kmalloc(size);
    assertNotNull(t, ptr1, "ptr1");
    e.kfree(ptr1);
    ptr2 = e.kmalloc(size);
    assertNotNull(t, ptr2, "ptr2");
    if (!generic(t) && ptr1 === ptr2 && counter++ < 16) { e.kfree(ptr2); continue; }
    break;
  }
  t.expectKasanFail("((volatile char *)ptr1)[40]", () => rd(t, ptr1 + 40n), uaf(t, ptr1 + 40n, false, 1));
  t.expect(ptr1 !== ptr2, "ptr1 != ptr2");
  e.kfree(ptr2);
}

function kmalloc_uaf3(t: KunitTest): void {
  needsOff(t, "CONFIG_KASAN_GENERIC");
  const e = t.engine;
  const ptr1 = e.kmalloc(100);
  assertNotNull(t, ptr1, "ptr1");
  e.kfree(ptr1);
  const ptr2 = e.kmalloc(100);
  assertNotNull(t, ptr2, "ptr2");
  e.kfree(ptr2);
  t.expectKasanFail("((volatile char *)ptr1)[8]", () => rd(t, ptr1 + 8n));
}

function kmalloc_double_kzfree(t: KunitTest): void {
  const e = t.engine;
  const ptr = e.kmalloc(16);
  assertNotNull(t, ptr, "ptr");
  e.kfree_sensitive(ptr);
  // ksize() reports the freed byte, then kfree() reports the double free
  t.expectKasanFail("kfree_sensitive(ptr)", () => e.kfree_sensitive(ptr),
    gen(t, { type: ["slab-use-after-free", "double-free"], addr: ptr }));
}

function ksize_unpoisons_memory(t: KunitTest): void {
  const e = t.engine;
  const size = 128 - granule(t) - 5;
  const ptr = e.kmalloc(size);
  assertNotNull(t, ptr, "ptr");
  const realSize = e.ksize(ptr);
  t.expect(realSize > size, "real_size > size");
  t.expectNoReport("ptr[0] = ptr[size - 1] = 'x'", () => { wr(t, ptr); wr(t, ptr + U64(size - 1)); });
  if (generic(t)) t.expectKasanFail("((volatile char *)ptr)[size]", () => rd(t, ptr + U64(size)), oob(t, ptr + U64(size), false, 1));
  t.expectKasanFail("((volatile char *)ptr)[size + 5]", () => rd(t, ptr + U64(size + 5)), oob(t, ptr + U64(size + 5), false, 1));
  t.expectKasanFail("((volatile char *)ptr)[real_size - 1]", () => rd(t, ptr + U64(realSize - 1)),
    oob(t, ptr + U64(realSize - 1), false, 1));
  e.kfree(ptr);
}

function ksize_uaf(t: KunitTest): void {
  const e = t.engine;
  const size = 128 - granule(t);
  const ptr = e.kmalloc(size);
  assertNotNull(t, ptr, "ptr");
  e.kfree(ptr);
  t.expectKasanFail("ksize(ptr)", () => e.ksize(ptr), uaf(t, ptr, false, 1));
  t.expectKasanFail("((volatile char *)ptr)[0]", () => rd(t, ptr), uaf(t, ptr, false, 1));
  t.expectKasanFail("((volatile char *)ptr)[size]", () => rd(t, ptr + U64(size)), uaf(t, ptr + U64(size), false, 1));
}

// ── RCU and workqueues: aux stacks ───────────────────────────────────────────
function rcu_uaf(t: KunitTest): void {
  const e = t.engine;
  // struct kasan_rcu_info { int i; struct rcu_head rcu; }: 24 bytes, rcu at +8
  const ptr = e.kmalloc(24);
  assertNotNull(t, ptr, "ptr");
  const rcu_uaf_reclaim = (): void => {
    e.kfree(ptr);
    e.load(ptr, 4);                  // ((volatile struct kasan_rcu_info *)fp)->i
  };
  t.expectKasanFail("call_rcu(&global_rcu_ptr->rcu, rcu_uaf_reclaim); rcu_barrier()", () => {
    e.call_rcu(ptr + 8n, rcu_uaf_reclaim);
    e.rcu_barrier();
  }, uaf(t, ptr, false, 4));
}

function workqueue_uaf(t: KunitTest): void {
  const e = t.engine;
  // struct work_struct: data, entry, func: 32 bytes
  const work = e.kmalloc(32);
  assertNotNull(t, work, "work");
  const workqueue_uaf_work = (): void => e.kfree(work);
  e.queue_work(work, workqueue_uaf_work);
  e.destroy_workqueue();
  t.expectKasanFail("((volatile struct work_struct *)work)->data", () => e.load(work, 8), uaf(t, work, false, 8));
}

// ── address conversions ──────────────────────────────────────────────────────
function pageOffset(e: Engine): bigint {
  return e.layout.pageOffset;
}
function kfree_via_page(t: KunitTest): void {
  const e = t.engine;
  const ptr = e.kmalloc(8);
  assertNotNull(t, ptr, "ptr");
  const base = pageOffset(e);
  const page = (ptr - base) >> 12n;                      // virt_to_page
  const offset = ptr & 0xfffn;                           // offset_in_page
  t.expectNoReport("kfree(page_address(page) + offset)", () => e.kfree(base + (page << 12n) + offset));
}
function kfree_via_phys(t: KunitTest): void {
  const e = t.engine;
  const ptr = e.kmalloc(8);
  assertNotNull(t, ptr, "ptr");
  const phys = ptr - pageOffset(e);                      // virt_to_phys
  t.expectNoReport("kfree(phys_to_virt(phys))", () => e.kfree(phys + pageOffset(e)));
}

// ── kmem_cache ───────────────────────────────────────────────────────────────
function kmem_cache_oob(t: KunitTest): void {
  const e = t.engine;
  const size = 200;
  const cache = e.kmem_cache_create("test_cache", size);
  const p = e.kmem_cache_alloc(cache);
  assertNotNull(t, p, "p");
  t.expectKasanFail("*p = p[size + OOB_TAG_OFF]", () => wr(t, p, rd(t, p + U64(size + oobTagOff(t)))),
    oob(t, p + U64(size + oobTagOff(t)), false, 1));
  e.kmem_cache_free(cache, p);
  e.kmem_cache_destroy(cache);
}

function kmem_cache_double_free(t: KunitTest): void {
  const e = t.engine;
  const cache = e.kmem_cache_create("test_cache", 200);
  const p = e.kmem_cache_alloc(cache);
  assertNotNull(t, p, "p");
  e.kmem_cache_free(cache, p);
  t.expectKasanFail("kmem_cache_free(cache, p)", () => e.kmem_cache_free(cache, p), { type: "double-free", addr: p });
  e.kmem_cache_destroy(cache);
}

function kmem_cache_invalid_free(t: KunitTest): void {
  const e = t.engine;
  const cache = e.kmem_cache_create("test_cache", 200, { flags: "SLAB_TYPESAFE_BY_RCU" });
  const p = e.kmem_cache_alloc(cache);
  assertNotNull(t, p, "p");
  t.expectKasanFail("kmem_cache_free(cache, p + 1)", () => e.kmem_cache_free(cache, p + 1n), { type: "invalid-free", addr: p + 1n });
  e.kmem_cache_free(cache, p);
  e.kmem_cache_destroy(cache);
}

function kmem_cache_rcu_uaf(t: KunitTest): void {
  needsOn(t, "CONFIG_SLUB_RCU_DEBUG");
  const e = t.engine;
  const cache = e.kmem_cache_create("test_cache", 200, { flags: "SLAB_TYPESAFE_BY_RCU" });
  const p = e.kmem_cache_alloc(cache);
  assertNotNull(t, p, "p");
  wr(t, p, 1);
  // rcu_read_lock(): the object stays valid until the grace period ends
  e.kmem_cache_free(cache, p);
  t.expectNoReport("READ_ONCE(*p) inside the read-side critical section", () => rd(t, p));
  e.rcu_barrier();
  t.expectKasanFail("READ_ONCE(*p)", () => rd(t, p), uaf(t, p, false, 1));
  e.kmem_cache_destroy(cache);
}

function kmem_cache_double_destroy(t: KunitTest): void {
  const e = t.engine;
  const cache = e.kmem_cache_create("test_cache", 200, { ctor: () => {} });
  e.kmem_cache_destroy(cache);
  t.expectKasanFail("kmem_cache_destroy(cache)", () => e.kmem_cache_destroy(cache), uaf(t, cache.address, false, 1));
}

function kmem_cache_accounted(t: KunitTest): void {
  const e = t.engine;
  const cache = e.kmem_cache_create("test_cache", 200, { flags: "SLAB_ACCOUNT" });
  t.expectNoReport("allocations from an accounted cache", () => {
    for (let i = 0; i < 5; i++) {
      const p = e.kmem_cache_alloc(cache);
      if (p === 0n) break;
      e.kmem_cache_free(cache, p);
      e.msleep(100);
    }
  });
  e.kmem_cache_destroy(cache);
}

function kmem_cache_bulk(t: KunitTest): void {
  const e = t.engine;
  const size = 200;
  const cache = e.kmem_cache_create("test_cache", size);
  const p = e.kmem_cache_alloc_bulk(cache, 10);
  t.assert(p.length === 10, "kmem_cache_alloc_bulk() succeeded");
  t.expectNoReport("p[i][0] = p[i][size - 1] = 42", () => {
    for (const q of p) { wr(t, q, 42); wr(t, q + U64(size - 1), 42); }
  });
  e.kmem_cache_free_bulk(cache, p);
  e.kmem_cache_destroy(cache);
}

// ── mempool ──────────────────────────────────────────────────────────────────
function mempool_prepare_kmalloc(t: KunitTest, size: number): { pool: Mempool; extra: bigint } {
  const pool = mempool_init_kmalloc_pool(t.engine, 4, size);
  const extra = pool.alloc_preallocated();
  assertNotNull(t, extra, "elem");
  return { pool, extra };
}
function mempool_oob_right_helper(t: KunitTest, pool: Mempool, size: number): void {
  const elem = pool.alloc_preallocated();
  assertNotNull(t, elem, "elem");
  const off = generic(t) ? size : roundUp(size, granule(t));
  t.expectKasanFail("((volatile char *)&elem[size])[0]", () => rd(t, elem + U64(off)), oob(t, elem + U64(off), false, 1));
  pool.free(elem);
}
function mempool_kmalloc_oob_right(t: KunitTest): void {
  const size = 128 - granule(t) - 5;
  const { pool, extra } = mempool_prepare_kmalloc(t, size);
  mempool_oob_right_helper(t, pool, size);
  pool.free(extra);
  pool.exit();
}
function mempool_kmalloc_large_oob_right(t: KunitTest): void {
  const size = KMALLOC_MAX_CACHE_SIZE + 1;
  const { pool, extra } = mempool_prepare_kmalloc(t, size);
  mempool_oob_right_helper(t, pool, size);
  pool.free(extra);
  pool.exit();
}
function mempool_slab_oob_right(t: KunitTest): void {
  const size = 123;
  const cache = t.engine.kmem_cache_create("test_cache", size);
  const pool = mempool_init_slab_pool(t.engine, 4, cache);
  mempool_oob_right_helper(t, pool, size);
  pool.exit();
  t.engine.kmem_cache_destroy(cache);
}
function mempool_uaf_helper(t: KunitTest, pool: Mempool): void {
  const elem = pool.alloc_preallocated();
  assertNotNull(t, elem, "elem");
  pool.free(elem);
  // a parked slab element reads as a freed object, a page-backed one as a freed page
  t.expectKasanFail("((volatile char *)ptr)[0]", () => rd(t, elem),
    gen(t, { type: pool.slabBacked ? "slab-use-after-free" : "use-after-free", addr: elem, write: false, size: 1 }));
}
function mempool_kmalloc_uaf(t: KunitTest): void {
  const { pool, extra } = mempool_prepare_kmalloc(t, 128);
  mempool_uaf_helper(t, pool);
  pool.free(extra);
  pool.exit();
}
function mempool_kmalloc_large_uaf(t: KunitTest): void {
  // page_alloc fallback is only implemented for SLUB (the suite's words while SLAB was in the tree)
  needsOn(t, "CONFIG_SLUB");
  const { pool, extra } = mempool_prepare_kmalloc(t, KMALLOC_MAX_CACHE_SIZE + 1);
  mempool_uaf_helper(t, pool);
  pool.free(extra);
  pool.exit();
}
function mempool_slab_uaf(t: KunitTest): void {
  const cache = t.engine.kmem_cache_create("test_cache", 123);
  const pool = mempool_init_slab_pool(t.engine, 4, cache);
  mempool_uaf_helper(t, pool);
  pool.exit();
  t.engine.kmem_cache_destroy(cache);
}
function mempool_page_alloc_uaf(t: KunitTest): void {
  const pool = mempool_init_page_pool(t.engine, 4, 2);
  const extra = pool.alloc_preallocated();
  assertNotNull(t, extra, "elem");
  mempool_uaf_helper(t, pool);
  pool.free(extra);
  pool.exit();
}
function mempool_double_free_helper(t: KunitTest, pool: Mempool): void {
  const elem = pool.alloc_preallocated();
  assertNotNull(t, elem, "elem");
  pool.free(elem);
  t.expectKasanFail("mempool_free(elem, pool)", () => pool.free(elem), { type: "double-free", addr: elem });
}
function mempool_kmalloc_double_free(t: KunitTest): void {
  const { pool, extra } = mempool_prepare_kmalloc(t, 128);
  mempool_double_free_helper(t, pool);
  pool.free(extra);
  pool.exit();
}
function mempool_kmalloc_large_double_free(t: KunitTest): void {
  // page_alloc fallback is only implemented for SLUB (the suite's words while SLAB was in the tree)
  needsOn(t, "CONFIG_SLUB");
  const { pool, extra } = mempool_prepare_kmalloc(t, KMALLOC_MAX_CACHE_SIZE + 1);
  mempool_double_free_helper(t, pool);
  pool.free(extra);
  pool.exit();
}
function mempool_page_alloc_double_free(t: KunitTest): void {
  const pool = mempool_init_page_pool(t.engine, 4, 2);
  const extra = pool.alloc_preallocated();
  assertNotNull(t, extra, "elem");
  mempool_double_free_helper(t, pool);
  pool.free(extra);
  pool.exit();
}
function mempool_kmalloc_invalid_free_helper(t: KunitTest, pool: Mempool): void {
  const elem = pool.alloc_preallocated();
  assertNotNull(t, elem, "elem");
  t.expectKasanFail("mempool_free(elem + 1, pool)", () => pool.free(elem + 1n), { type: "invalid-free", addr: elem + 1n });
  pool.free(elem);
}
function mempool_kmalloc_invalid_free(t: KunitTest): void {
  const { pool, extra } = mempool_prepare_kmalloc(t, 128);
  mempool_kmalloc_invalid_free_helper(t, pool);
  pool.free(extra);
  pool.exit();
}
function mempool_kmalloc_large_invalid_free(t: KunitTest): void {
  // page_alloc fallback is only implemented for SLUB (the suite's words while SLAB was in the tree)
  needsOn(t, "CONFIG_SLUB");
  const { pool, extra } = mempool_prepare_kmalloc(t, KMALLOC_MAX_CACHE_SIZE + 1);
  mempool_kmalloc_invalid_free_helper(t, pool);
  pool.free(extra);
  pool.exit();
}

// ── globals, stack, alloca ───────────────────────────────────────────────────
// The test module's globals, in its .data/.bss order, each with the compiler's redzone.
function moduleGlobals(e: Engine): { global_array: bigint } {
  e.registerGlobal("kasan_ptr_result", 8, { module: "kasan_test" });
  e.registerGlobal("kasan_int_result", 4, { module: "kasan_test" });
  return { global_array: e.registerGlobal("global_array", 10, { module: "kasan_test" }) };
}

function kasan_global_oob_right(t: KunitTest): void {
  const { global_array } = moduleGlobals(t.engine);
  const p = global_array + 10n + 3n;
  needsOn(t, "CONFIG_KASAN_GENERIC");
  t.expectKasanFail("*(volatile char *)p", () => rd(t, p), { type: "global-out-of-bounds", addr: p, write: false, size: 1 });
}

function kasan_global_oob_left(t: KunitTest): void {
  const { global_array } = moduleGlobals(t.engine);
  const p = global_array - 3n;
  needsOn(t, "CONFIG_CC_IS_CLANG");
  needsOn(t, "CONFIG_KASAN_GENERIC");
  t.expectKasanFail("*(volatile char *)p", () => rd(t, p), { type: "global-out-of-bounds", addr: p, write: false, size: 1 });
}

function kasan_stack_oob(t: KunitTest): void {
  needsOn(t, "CONFIG_KASAN_STACK");
  const frame = pushStackFrame(t.engine, { name: "kasan_stack_oob", offset: 0, size: 0x1a0 },
    [{ name: "stack_array", size: 10, line: 1795 }]);
  const array = frame.vars.get("stack_array")!;
  const p = array + U64(10 + oobTagOff(t));
  t.expectKasanFail("*(volatile char *)p", () => rd(t, p), gen(t, { type: "stack-out-of-bounds", addr: p, write: false, size: 1 }));
  frame.pop();
}

function kasan_alloca_oob_left(t: KunitTest): void {
  needsOn(t, "CONFIG_KASAN_GENERIC");
  needsOn(t, "CONFIG_KASAN_STACK");
  const frame = pushStackFrame(t.engine, { name: "kasan_alloca_oob_left", offset: 0, size: 0x2a0 }, [{ name: "i", size: 4, line: 1807 }]);
  const a = allocaInFrame(t.engine, 10);
  t.expectKasanFail("*(volatile char *)p", () => rd(t, a.addr - 1n), { type: "alloca-out-of-bounds", addr: a.addr - 1n, write: false, size: 1 });
  a.pop();
  frame.pop();
}

function kasan_alloca_oob_right(t: KunitTest): void {
  needsOn(t, "CONFIG_KASAN_GENERIC");
  needsOn(t, "CONFIG_KASAN_STACK");
  const frame = pushStackFrame(t.engine, { name: "kasan_alloca_oob_right", offset: 0, size: 0x2a0 }, [{ name: "i", size: 4, line: 1822 }]);
  const a = allocaInFrame(t.engine, 10);
  t.expectKasanFail("*(volatile char *)p", () => rd(t, a.addr + 10n), { type: "alloca-out-of-bounds", addr: a.addr + 10n, write: false, size: 1 });
  a.pop();
  frame.pop();
}

// ── string and bit helpers ───────────────────────────────────────────────────
function kasan_memchr(t: KunitTest): void {
  needsOff(t, "CONFIG_AMD_MEM_ENCRYPT");
  const e = t.engine;
  let size = 24;
  if (oobTagOff(t)) size = roundUp(size, oobTagOff(t));
  const ptr = e.kzalloc(size);
  assertNotNull(t, ptr, "ptr");
  t.expectKasanFail("kasan_ptr_result = memchr(ptr, '1', size + 1)", () => lib.memchr(e, ptr, 0x31, size + 1),
    oob(t, ptr + U64(size), false, 1));
  e.kfree(ptr);
}

function kasan_memcmp(t: KunitTest): void {
  needsOff(t, "CONFIG_AMD_MEM_ENCRYPT");
  const e = t.engine;
  let size = 24;
  if (oobTagOff(t)) size = roundUp(size, oobTagOff(t));
  const frame = pushStackFrame(e, { name: "kasan_memcmp", offset: 0, size: 0x1e0 }, [{ name: "arr", size: 36, line: 1860 }]);
  const arr = frame.vars.get("arr")!;
  const ptr = e.kzalloc(size);
  assertNotNull(t, ptr, "ptr");
  e.memset(arr, 0, 36);
  t.expectKasanFail("kasan_int_result = memcmp(ptr, arr, size+1)", () => lib.memcmp(e, ptr, arr, size + 1),
    oob(t, ptr + U64(size), false, 1));
  e.kfree(ptr);
  frame.pop();
}

function kasan_strings(t: KunitTest): void {
  needsOff(t, "CONFIG_AMD_MEM_ENCRYPT");
  const e = t.engine;
  let ptr = e.kzalloc(24);
  assertNotNull(t, ptr, "ptr");
  e.kfree(ptr);
  // skip the free meta KASAN keeps at the start of the freed object
  ptr += 16n;
  t.expectKasanFail("kasan_ptr_result = strchr(ptr, '1')", () => lib.strchr(e, ptr, 0x31), uaf(t, ptr, false, 1));
  t.expectKasanFail("kasan_ptr_result = strrchr(ptr, '1')", () => lib.strrchr(e, ptr, 0x31), uaf(t, ptr, false, 1));
  t.expectKasanFail("kasan_int_result = strcmp(ptr, \"2\")", () => lib.strcmp(e, ptr, "2"), uaf(t, ptr, false, 1));
  t.expectKasanFail("kasan_int_result = strncmp(ptr, \"2\", 1)", () => lib.strncmp(e, ptr, "2", 1), uaf(t, ptr, false, 1));
  t.expectKasanFail("kasan_int_result = strlen(ptr)", () => lib.strlen(e, ptr), uaf(t, ptr, false, 1));
  t.expectKasanFail("kasan_int_result = strnlen(ptr, 1)", () => lib.strnlen(e, ptr, 1), uaf(t, ptr, false, 1));
}

function kasan_bitops_modify(t: KunitTest, nr: number, addr: bigint): void {
  const e = t.engine;
  const w = oob(t, addr + U64(Math.floor(nr / 64) * 8), true, 8);
  t.expectKasanFail("set_bit(nr, addr)", () => lib.set_bit(e, nr, addr), w);
  t.expectKasanFail("__set_bit(nr, addr)", () => lib.__set_bit(e, nr, addr), w);
  t.expectKasanFail("clear_bit(nr, addr)", () => lib.clear_bit(e, nr, addr), w);
  t.expectKasanFail("__clear_bit(nr, addr)", () => lib.__clear_bit(e, nr, addr), w);
  t.expectKasanFail("clear_bit_unlock(nr, addr)", () => lib.clear_bit_unlock(e, nr, addr), w);
  t.expectKasanFail("__clear_bit_unlock(nr, addr)", () => lib.__clear_bit_unlock(e, nr, addr), w);
  t.expectKasanFail("change_bit(nr, addr)", () => lib.change_bit(e, nr, addr), w);
  t.expectKasanFail("__change_bit(nr, addr)", () => lib.__change_bit(e, nr, addr), w);
}

function kasan_bitops_test_and_modify(t: KunitTest, nr: number, addr: bigint): void {
  const e = t.engine;
  const w = oob(t, addr + U64(Math.floor(nr / 64) * 8), true, 8);
  const r = oob(t, addr + U64(Math.floor(nr / 64) * 8), false, 8);
  t.expectKasanFail("test_and_set_bit(nr, addr)", () => lib.test_and_set_bit(e, nr, addr), w);
  t.expectKasanFail("__test_and_set_bit(nr, addr)", () => lib.__test_and_set_bit(e, nr, addr), w);
  t.expectKasanFail("test_and_set_bit_lock(nr, addr)", () => lib.test_and_set_bit_lock(e, nr, addr), w);
  t.expectKasanFail("test_and_clear_bit(nr, addr)", () => lib.test_and_clear_bit(e, nr, addr), w);
  t.expectKasanFail("__test_and_clear_bit(nr, addr)", () => lib.__test_and_clear_bit(e, nr, addr), w);
  t.expectKasanFail("test_and_change_bit(nr, addr)", () => lib.test_and_change_bit(e, nr, addr), w);
  t.expectKasanFail("__test_and_change_bit(nr, addr)", () => lib.__test_and_change_bit(e, nr, addr), w);
  t.expectKasanFail("kasan_int_result = test_bit(nr, addr)", () => lib.test_bit(e, nr, addr), r);
  if (nr < 7) {
    t.expectKasanFail("kasan_int_result = xor_unlock_is_negative_byte(1 << nr, addr)",
      () => lib.xor_unlock_is_negative_byte(e, 1 << nr, addr), oob(t, addr, true, 8));
  }
}

function kasan_bitops_generic(t: KunitTest): void {
  needsOn(t, "CONFIG_KASAN_GENERIC");
  const e = t.engine;
  const bits = e.kzalloc(8 + 1);
  assertNotNull(t, bits, "bits");
  kasan_bitops_modify(t, 64, bits);
  kasan_bitops_test_and_modify(t, 64 + 8, bits);
  e.kfree(bits);
}

function kasan_bitops_tags(t: KunitTest): void {
  needsOff(t, "CONFIG_KASAN_GENERIC");
  const e = t.engine;
  const bits = e.kzalloc(48);
  assertNotNull(t, bits, "bits");
  kasan_bitops_modify(t, 64, bits + 48n);
  kasan_bitops_test_and_modify(t, 64 + 8, bits + 48n);
  e.kfree(bits);
}

// ── vmalloc (host/kunit/vmalloc_test.ts) and tags ──────────────────────────

function match_all_not_assigned(t: KunitTest): void {
  needsOff(t, "CONFIG_KASAN_GENERIC");
  const e = t.engine;
  for (let i = 0; i < 256; i++) {
    const ptr = e.kmalloc(1 + ((i * 2654435761) >>> 0) % 1024);
    assertNotNull(t, ptr, "ptr");
    t.expect(tagOf(ptr) < 0xff, "get_tag(ptr) < KASAN_TAG_KERNEL");
    e.kfree(ptr);
  }
  for (let i = 0; i < 256; i++) {
    const order = 1 + (i % 4);
    const ptr = e.alloc_pages(order);
    assertNotNull(t, ptr, "ptr");
    t.expect(tagOf(ptr) < 0xff, "get_tag(ptr) < KASAN_TAG_KERNEL");
    e.__free_pages(ptr, order);
  }
  if (!config(e, "CONFIG_KASAN_VMALLOC")) return;
  for (let i = 0; i < 256; i++) {
    const ptr = e.vmalloc(1 + (i * 7) % 1024);
    assertNotNull(t, ptr, "ptr");
    t.expect(tagOf(ptr) < 0xff, "get_tag(ptr) < KASAN_TAG_KERNEL");
    e.vfree(ptr);
  }
}

function match_all_ptr_tag(t: KunitTest): void {
  needsOff(t, "CONFIG_KASAN_GENERIC");
  const e = t.engine;
  const ptr = e.kmalloc(128);
  assertNotNull(t, ptr, "ptr");
  const tag = tagOf(ptr);
  t.expect(tag !== 0xff, "tag != KASAN_TAG_KERNEL");
  const untagged = ptr | 0xff00000000000000n;
  t.expectNoReport("*ptr = 0 through a 0xff pointer", () => wr(t, untagged, 0));
  e.kfree(ptr);
}

function match_all_mem_tag(t: KunitTest): void {
  needsOff(t, "CONFIG_KASAN_GENERIC");
  const e = t.engine;
  const ptr = e.kmalloc(128);
  assertNotNull(t, ptr, "ptr");
  t.expect(tagOf(ptr) !== 0xff, "get_tag(ptr) != KASAN_TAG_KERNEL");
  for (let tag = 0; tag <= 0xff; tag++) {
    if (tag >= 8 && tag <= 0xff - 8) continue;
    if (tag === tagOf(ptr)) continue;
    e.exports.kasan_poison_range(ptr, 16n, tag);
    t.expectKasanFail("*ptr = 0", () => wr(t, ptr, 0));
  }
  e.exports.kasan_poison_range(ptr, 16n, tagOf(ptr));
  e.kfree(ptr);
}

const CASES: Array<(t: KunitTest) => void> = [
  kmalloc_oob_right, kmalloc_oob_left, kmalloc_node_oob_right,
  kmalloc_big_oob_right, kmalloc_large_oob_right, kmalloc_large_uaf, kmalloc_large_invalid_free,
  page_alloc_oob_right, page_alloc_uaf, krealloc_more_oob, krealloc_less_oob, krealloc_large_more_oob,
  krealloc_large_less_oob, krealloc_uaf, kmalloc_oob_16, kmalloc_uaf_16, kmalloc_oob_in_memset,
  kmalloc_oob_memset_2, kmalloc_oob_memset_4, kmalloc_oob_memset_8, kmalloc_oob_memset_16,
  kmalloc_memmove_negative_size, kmalloc_memmove_invalid_size, kmalloc_uaf, kmalloc_uaf_memset,
  kmalloc_uaf2, kmalloc_uaf3, kmalloc_double_kzfree, ksize_unpoisons_memory, ksize_uaf, rcu_uaf,
  workqueue_uaf, kfree_via_page, kfree_via_phys, kmem_cache_oob, kmem_cache_double_free,
  kmem_cache_invalid_free, kmem_cache_rcu_uaf, kmem_cache_double_destroy, kmem_cache_accounted,
  kmem_cache_bulk, mempool_kmalloc_oob_right, mempool_kmalloc_large_oob_right, mempool_slab_oob_right,
  mempool_kmalloc_uaf, mempool_kmalloc_large_uaf, mempool_slab_uaf, mempool_page_alloc_uaf,
  mempool_kmalloc_double_free, mempool_kmalloc_large_double_free, mempool_page_alloc_double_free,
  mempool_kmalloc_invalid_free, mempool_kmalloc_large_invalid_free, kasan_global_oob_right,
  kasan_global_oob_left, kasan_stack_oob, kasan_alloca_oob_left, kasan_alloca_oob_right, kasan_memchr,
  kasan_memcmp, kasan_strings, kasan_bitops_generic, kasan_bitops_tags, ...VMALLOC_CASES,
  match_all_not_assigned, match_all_ptr_tag,
  match_all_mem_tag,
];

// kasan_suite_init(): the kernel's refuses a kernel booted with kasan=off.
// Then, since a test module loads into a kernel that has been running, every
// kmalloc cache already holds live objects and a test's object is rarely the
// first in its slab (kmalloc_oob_left reads the redzone of the object before
// it); a fresh engine has no such history, so each cache gets a few. They are
// boot's (task 1, from an initcall): the kernel's kasan_suite_init() allocates
// nothing, so its name must not show in the neighbours' allocation stacks.
function kasan_suite_init(e: Engine): number {
  if (!e.options.kasan) {
    e.printk("kasan: test: Can't run KASAN tests with KASAN disabled");
    return -1;
  }
  e.asTask({ pid: 1, comm: "swapper/0" }, INITCALL_FRAMES, () => {
    for (const size of [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192]) {
      for (let i = 0; i < 3; i++) e.kmalloc(size);
    }
  });
  return 0;
}

export const kasanSuite: KunitSuite = {
  name: "kasan",
  module: "kasan_test",
  options: { cmdline: "kasan_multi_shot" },
  init: kasan_suite_init,
  cases: CASES.map((f): KunitCase => ({ name: f.name, run: f })),
  unexpected: (r) => r.kind === "kasan",
  transparent: ["wr", "rd", "memsetCase", "assertNotNull", "needsOn", "needsOff", "moduleGlobals", "gen", "oob", "uaf",
    "expectOob", "kasan_suite_init"],
};

/** `shadowfence kunit vmalloc`: the kasan suite's vmalloc cases alone. */
export const kasanVmallocSuite: KunitSuite = {
  ...kasanSuite,
  cases: VMALLOC_CASES.map((f): KunitCase => ({ name: f.name, run: f })),
};
