// The playground's scenarios: the demo's buggy functions and the KUnit cases,
// each run on a fresh engine; no bug code of its own beyond choosing them.
import { Engine, type Report } from "../../engine.js";
import { DEMO_CASES, INITCALL_FRAMES } from "../../demo.js";
import { runSuite, type KunitSuite } from "../../kunit/runner.js";
import { kasanSuite } from "../../kunit/kasan_test.js";
import { kfenceSuite } from "../../kunit/kfence_test.js";

export interface Scenario {
  id: string;
  group: "KASAN (generic, x86_64)" | "KFENCE" | "KASAN sw_tags (arm64)" | "Oops";
  /** The report type the first report has (Report.type). */
  expectType: string;
  describe: string;
  /** The scenario's own command line (the editor's is appended). */
  cmdline: string;
  /** A demo case name, or a KUnit suite and case. */
  demo?: string;
  kunit?: { suite: "kasan" | "kfence"; name: string };
}

const GENERIC = "kasan_multi_shot";
// KFENCE's reports print raw addresses and show_regs only without %p hashing, as the demo boots
const KFENCE_RAW = "kasan_multi_shot no_hash_pointers";
const TAGS = "arch=arm64 kasan.mode=sw_tags kasan_multi_shot";

export const SCENARIOS: Scenario[] = [
  { id: "slab-oob", group: "KASAN (generic, x86_64)", expectType: "slab-out-of-bounds", cmdline: GENERIC, demo: "slab-out-of-bounds", describe: "" },
  { id: "slab-uaf", group: "KASAN (generic, x86_64)", expectType: "slab-use-after-free", cmdline: GENERIC, demo: "slab-use-after-free", describe: "" },
  { id: "double-free", group: "KASAN (generic, x86_64)", expectType: "double-free", cmdline: GENERIC, demo: "double-free", describe: "" },
  { id: "invalid-free", group: "KASAN (generic, x86_64)", expectType: "invalid-free", cmdline: GENERIC, kunit: { suite: "kasan", name: "kmem_cache_invalid_free" },
    describe: "KUnit kmem_cache_invalid_free: kmem_cache_free of a pointer one byte into an object" },
  { id: "global-oob", group: "KASAN (generic, x86_64)", expectType: "global-out-of-bounds", cmdline: GENERIC, demo: "global-out-of-bounds", describe: "" },
  { id: "stack-oob", group: "KASAN (generic, x86_64)", expectType: "stack-out-of-bounds", cmdline: GENERIC, demo: "stack-out-of-bounds", describe: "" },
  { id: "alloca-oob", group: "KASAN (generic, x86_64)", expectType: "alloca-out-of-bounds", cmdline: GENERIC, kunit: { suite: "kasan", name: "kasan_alloca_oob_right" },
    describe: "KUnit kasan_alloca_oob_right: a read past a variable-length array (alloca redzones 0xca/0xcb)" },
  { id: "vmalloc-oob", group: "KASAN (generic, x86_64)", expectType: "vmalloc-out-of-bounds", cmdline: GENERIC, demo: "vmalloc-out-of-bounds", describe: "" },
  { id: "page-oob", group: "KASAN (generic, x86_64)", expectType: "slab-out-of-bounds", cmdline: GENERIC, kunit: { suite: "kasan", name: "kmalloc_large_oob_right" },
    describe: "KUnit kmalloc_large_oob_right: a write past a large kmalloc served by the page allocator (KASAN_PAGE_REDZONE; the kernel names it slab-out-of-bounds)" },
  { id: "page-uaf", group: "KASAN (generic, x86_64)", expectType: "use-after-free", cmdline: GENERIC, kunit: { suite: "kasan", name: "page_alloc_uaf" },
    describe: "KUnit page_alloc_uaf: a read of freed pages (KASAN_PAGE_FREE)" },
  { id: "null-ptr-deref", group: "KASAN (generic, x86_64)", expectType: "null-ptr-deref", cmdline: GENERIC, demo: "null-ptr-deref", describe: "" },
  { id: "kfence-oob", group: "KFENCE", expectType: "out-of-bounds read", cmdline: KFENCE_RAW, demo: "kfence-out-of-bounds", describe: "" },
  { id: "kfence-uaf", group: "KFENCE", expectType: "use-after-free read", cmdline: KFENCE_RAW, demo: "kfence-use-after-free", describe: "" },
  { id: "kfence-corruption", group: "KFENCE", expectType: "memory corruption", cmdline: KFENCE_RAW, demo: "kfence-memory-corruption", describe: "" },
  { id: "kfence-invalid-free", group: "KFENCE", expectType: "invalid free", cmdline: "", kunit: { suite: "kfence", name: "test_invalid_addr_free" },
    describe: "KUnit test_invalid_addr_free: kfree of a pointer one byte into a KFENCE object" },
  { id: "tags-uaf", group: "KASAN sw_tags (arm64)", expectType: "slab-use-after-free", cmdline: TAGS, demo: "slab-use-after-free", describe: "" },
  { id: "tags-oob", group: "KASAN sw_tags (arm64)", expectType: "slab-out-of-bounds", cmdline: TAGS, kunit: { suite: "kasan", name: "kmalloc_oob_right" },
    describe: "KUnit kmalloc_oob_right: writes past a 128-byte object, caught by a tag mismatch" },
  { id: "tags-page-oob", group: "KASAN sw_tags (arm64)", expectType: "invalid-access", cmdline: TAGS, kunit: { suite: "kasan", name: "page_alloc_oob_right" },
    describe: "KUnit page_alloc_oob_right: a read past an order-4 page allocation (tag mismatch on the next page)" },
  { id: "oops", group: "Oops", expectType: "page fault", cmdline: "kasan=off", demo: "null-ptr-deref",
    describe: "the same NULL + 0x18 load with KASAN off: only the page fault's oops" },
];
for (const s of SCENARIOS) if (s.demo && !s.describe) s.describe = DEMO_CASES.find((c) => c.name === s.demo)!.describe;

const SUITES: Record<string, KunitSuite> = { kasan: kasanSuite, kfence: kfenceSuite };

export interface ScenarioRun {
  engine: Engine;
  reports: Report[];
  /** KUnit's verdict when the scenario is a KUnit case. */
  kunit?: { status: string; failures: string[] };
}

/** Run one scenario on a fresh engine (the editor's command line appended). */
export function runScenario(s: Scenario, userCmdline: string, module: WebAssembly.Module): ScenarioRun {
  const cmdline = `${s.cmdline} ${userCmdline}`.trim();
  if (s.kunit) {
    const base = SUITES[s.kunit.suite];
    let engine: Engine | undefined;
    // suite_init runs on the case's own engine: keep it for the pictures
    const suite: KunitSuite = { ...base, init: (e) => { engine = e; return base.init?.(e); } };
    const { results } = runSuite(suite, { cmdline }, [s.kunit.name], { module });
    const r = results[0];
    if (!engine) throw new Error(`KUnit suite ${base.name} did not start (${r?.failures.join("; ") ?? "no result"})`);
    return { engine, reports: r?.reports ?? [], kunit: r && { status: r.status, failures: r.failures } };
  }
  const demo = DEMO_CASES.find((c) => c.name === s.demo)!;
  const engine = Engine.createSync({ cmdline }, { module });
  engine.stackSuffix = INITCALL_FRAMES;
  engine.takeReports();
  demo.run(engine);
  return { engine, reports: engine.takeReports() };
}
