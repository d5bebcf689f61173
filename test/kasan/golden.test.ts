// Whole reports against golden files (test/kasan/__golden__), regenerated only
// on purpose (`npx vitest run test/kasan/golden.test.ts -u`). The offsets of the
// test module's own frames move whenever its source is edited, so they are
// normalised; every other byte is compared.
import { describe, it, expect } from "vitest";
import { runSuite } from "../../host/kunit/runner.js";
import { kasanSuite } from "../../host/kunit/kasan_test.js";

const CASES = [
  "kmalloc_oob_right", "kmalloc_oob_left", "kmalloc_large_oob_right", "kmalloc_large_uaf", "krealloc_uaf",
  "kmalloc_oob_16", "kmalloc_memmove_negative_size", "kmalloc_uaf", "kmalloc_double_kzfree", "rcu_uaf",
  "workqueue_uaf", "kmem_cache_double_free", "kmem_cache_invalid_free", "kmem_cache_rcu_uaf",
  "kmem_cache_double_destroy", "mempool_kmalloc_uaf", "mempool_page_alloc_double_free", "kasan_global_oob_right",
  "kasan_stack_oob", "kasan_alloca_oob_left", "kasan_strings", "kasan_bitops_generic",
];
const TEST_FUNCS = new Set([...kasanSuite.cases.map((c) => c.name), "krealloc_more_oob_helper", "krealloc_less_oob_helper",
  "rcu_uaf_reclaim", "workqueue_uaf_work", "kasan_suite_init", "kasan_bitops_modify", "kasan_bitops_test_and_modify",
  "mempool_prepare_kmalloc", "mempool_oob_right_helper", "mempool_uaf_helper", "mempool_double_free_helper",
  "mempool_kmalloc_invalid_free_helper"]);

function normalise(text: string): string {
  return text.replace(/\b([A-Za-z_][A-Za-z0-9_.]*)\+0x[0-9a-f]+\/0x[0-9a-f]+/g,
    (m, name: string) => (TEST_FUNCS.has(name) ? `${name}+0x?/0x?` : m));
}

describe("KASAN reports against golden files", () => {
  const { results } = runSuite(kasanSuite, {}, CASES);
  it.each(CASES)("%s", async (name) => {
    const r = results.find((x) => x.name === name)!;
    expect(r.status).toBe("ok");
    const text = r.reports.map((rep) => normalise(rep.text)).join("\n\n") + "\n";
    await expect(text).toMatchFileSnapshot(`__golden__/${name}.txt`);
  });
});
