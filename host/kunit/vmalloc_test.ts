// The vmalloc cases of the kernel's KASAN KUnit suite (mm/kasan/kasan_test_c.c,
// suite "kasan"; `shadowfence kunit vmalloc` runs just these): vmalloc_helpers_tags, vmalloc_oob, vmap_tags,
// vm_map_ram_tags, vmalloc_percpu, in the kernel's order, skipped with the
// kernel's messages where the configuration does not apply. Beyond what
// KUNIT_EXPECT_KASAN_FAIL asserts, each bad access is checked for its bug type
// and address.
import type { KunitTest } from "./runner.js";
import { needsOn, needsOff, tagOf, KASAN_TAG_MIN, KASAN_TAG_KERNEL } from "./kasan_config.js";

const PAGE_SIZE = 4096;

function tagInRange(t: KunitTest, p: bigint, what: string): void {
  const tag = tagOf(p);
  t.expect(tag >= KASAN_TAG_MIN, `(u8)get_tag(${what}) >= (u8)KASAN_TAG_MIN (tag 0x${tag.toString(16)})`);
  t.expect(tag < KASAN_TAG_KERNEL, `(u8)get_tag(${what}) < (u8)KASAN_TAG_KERNEL (tag 0x${tag.toString(16)})`);
}

// (named functions: the reports' frames and "created by:" show the case's name)
function vmalloc_helpers_tags(t: KunitTest): void {
  needsOff(t, "CONFIG_KASAN_GENERIC");
  needsOn(t, "CONFIG_KASAN_VMALLOC");
  const e = t.engine;
  const ptr = e.vmalloc(PAGE_SIZE);
  t.assert(ptr !== 0n, "ptr is not error or NULL");
  tagInRange(t, ptr, "ptr");
  // the exported vmalloc helpers handle tagged pointers
  t.assert(e.is_vmalloc_addr(ptr), "is_vmalloc_addr(ptr)");
  t.assert(e.vmalloc_to_page(ptr) !== 0n, "vmalloc_to_page(ptr) is not error or NULL");
  // (set_memory_ro/rw are checked only when the suite is built in; it is a module here)
  e.vfree(ptr);
}

function vmalloc_oob(t: KunitTest): void {
  needsOn(t, "CONFIG_KASAN_VMALLOC");
  const e = t.engine;
  const granule = e.options.kasanMode === "sw_tags" ? 16 : 8;
  const size = PAGE_SIZE / 2 - granule - 5;
  const v = e.vmalloc(size);
  t.assert(v !== 0n, "v_ptr is not error or NULL");
  // in-bounds accesses are valid (not the guard page: the MMU would catch that)
  t.expectNoReport("v_ptr[0] = 0; v_ptr[size - 1] = 0", () => {
    e.store(v, 1, 0);
    e.store(v + BigInt(size - 1), 1, 0);
  });
  const expectOob = (off: number) => {
    const r = t.expectKasanFail(`((volatile char *)v_ptr)[${off === size ? "size" : "size + 5"}]`, () => e.load(v + BigInt(off), 1));
    if (!r) return;
    const type = e.options.kasanMode === "sw_tags" ? "invalid-access" : "vmalloc-out-of-bounds";
    t.expect(r.type === type, `bug type ${type}, got ${r.type}`);
    t.expect(r.address === v + BigInt(off), `report address ${(v + BigInt(off)).toString(16)}, got ${r.address.toString(16)}`);
    t.expect(r.text.includes("The buggy address belongs to the virtual mapping at"), "the report names the vmalloc mapping");
  };
  // an unaligned access past the requested size: only generic KASAN sees it
  if (e.options.kasanMode === "generic") expectOob(size);
  // an aligned access into the first out-of-bounds granule
  expectOob(size + 5);
  // in-bounds accesses through the linear map are valid
  const page = e.vmalloc_to_page(v);
  t.assert(page !== 0n, "page is not error or NULL");
  const p = e.page_address(page);
  t.assert(p !== 0n, "p_ptr is not error or NULL");
  t.expectNoReport("p_ptr[0] = 0", () => e.store(p, 1, 0));
  e.vfree(v);
}

function vmap_tags(t: KunitTest): void {
  needsOn(t, "CONFIG_KASAN_SW_TAGS");
  needsOn(t, "CONFIG_KASAN_VMALLOC");
  const e = t.engine;
  const pPtr = e.alloc_pages(1);
  t.assert(pPtr !== 0n, "p_page is not error or NULL");
  const pPage = e.virt_to_page(pPtr);
  const vPtr = e.vmap([pPage]);
  t.assert(vPtr !== 0n, "v_ptr is not error or NULL");
  tagInRange(t, vPtr, "v_ptr");
  t.expectNoReport("*p_ptr = 0; *v_ptr = 0", () => {
    e.store(pPtr, 1, 0);
    e.store(vPtr, 1, 0);
  });
  const vPage = e.vmalloc_to_page(vPtr);
  t.assert(vPage !== 0n, "v_page is not error or NULL");
  t.expect(vPage === pPage, "p_page == v_page");
  e.vunmap(vPtr);
  e.__free_pages(pPtr, 1);
}

function vm_map_ram_tags(t: KunitTest): void {
  needsOn(t, "CONFIG_KASAN_SW_TAGS");
  const e = t.engine;
  const pPtr = e.alloc_pages(1);
  t.assert(pPtr !== 0n, "page is not error or NULL");
  const vPtr = e.vm_map_ram([e.virt_to_page(pPtr)]);
  t.assert(vPtr !== 0n, "v_ptr is not error or NULL");
  tagInRange(t, vPtr, "v_ptr");
  t.expectNoReport("*p_ptr = 0; *v_ptr = 0", () => {
    e.store(pPtr, 1, 0);
    e.store(vPtr, 1, 0);
  });
  e.vm_unmap_ram(vPtr, 1);
  e.__free_pages(pPtr, 1);
}

function vmalloc_percpu(t: KunitTest): void {
  needsOn(t, "CONFIG_KASAN_SW_TAGS");
  const e = t.engine;
  const ptr = e.__alloc_percpu(PAGE_SIZE, PAGE_SIZE);
  for (let cpu = 0; cpu < e.options.nrCpus; cpu++) {
    const c = e.per_cpu_ptr(ptr, cpu);
    tagInRange(t, c, "c_ptr");
    t.expectNoReport("*c_ptr = 0", () => e.store(c, 1, 0));
  }
  e.free_percpu(ptr);
}

/** The vmalloc cases in the kernel's order; kasan_test.ts runs them in the kasan suite. */
export const VMALLOC_CASES: Array<(t: KunitTest) => void> = [
  vmalloc_helpers_tags, vmalloc_oob, vmap_tags, vm_map_ram_tags, vmalloc_percpu,
];
