// The KASAN suite's cases that skip in generic mode under SLUB, with the kernel's reasons
// (test/kasan/kunit.test.ts; the SLAB run adds its own).
export const GENERIC_SKIPS: Record<string, string> = {
  page_alloc_oob_right: "Test requires CONFIG_KASAN_GENERIC=n",
  kmalloc_uaf3: "Test requires CONFIG_KASAN_GENERIC=n",
  kasan_bitops_tags: "Test requires CONFIG_KASAN_GENERIC=n",
  vmalloc_helpers_tags: "Test requires CONFIG_KASAN_GENERIC=n",
  vmap_tags: "Test requires CONFIG_KASAN_SW_TAGS=y",
  vm_map_ram_tags: "Test requires CONFIG_KASAN_SW_TAGS=y",
  vmalloc_percpu: "Test requires CONFIG_KASAN_SW_TAGS=y",
  match_all_not_assigned: "Test requires CONFIG_KASAN_GENERIC=n",
  match_all_ptr_tag: "Test requires CONFIG_KASAN_GENERIC=n",
  match_all_mem_tag: "Test requires CONFIG_KASAN_GENERIC=n",
};
