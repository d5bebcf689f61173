// mm/kfence/kfence_test.c (6.12) on the engine: every case, each checking
// what the kernel's checks: a report with the expected title (error type and
// the test function), access direction and address, or no report at all.
//
// As in the kernel, reports are observed on the console: a line with
// "BUG: KFENCE: " and "test_", then the next line with "at 0x" / "of 0x";
// the observation lasts until the next case. Time is the engine's virtual
// clock: a failed attempt to get a KFENCE object lets one jiffy (1 ms) pass.
import * as abi from "../../abi/abi.js";
import type { KmemCache, Report } from "../engine.js";
import { KunitTest, type KunitSuite } from "./runner.js";

const ERROR_OOB = abi.KFENCE_ERROR_OOB;
const ERROR_UAF = abi.KFENCE_ERROR_UAF;
const ERROR_CORRUPTION = abi.KFENCE_ERROR_CORRUPTION;
const ERROR_INVALID = abi.KFENCE_ERROR_INVALID;
const ERROR_INVALID_FREE = abi.KFENCE_ERROR_INVALID_FREE;
const PAGE_SIZE = 4096n;
const JIFFY_MS = 1;
const SLAB_NO_MERGE_ACCOUNT = "SLAB_NO_MERGE | SLAB_ACCOUNT";

interface ExpectReport {
  type: number;
  fn: string;
  addr: bigint;
  isWrite?: boolean;
}

/** Per-case state: the observed console lines and the test cache. */
interface CaseState {
  lines: string[];
  nlines: number;
  cache?: KmemCache;
  rand: number;
}
const state = new WeakMap<KunitTest, CaseState>();
function st(t: KunitTest): CaseState {
  let s = state.get(t);
  if (!s) {
    s = { lines: ["", ""], nlines: 0, rand: 0x2545f491 };
    state.set(t, s);
  }
  return s;
}

// probe_console(): feed every printed line of new reports.
function observe(t: KunitTest): void {
  const s = st(t);
  const reports: Report[] = t.engine.takeReports();
  t.seen.push(...reports);
  for (const r of reports) {
    for (const line of r.text.split("\n")) {
      if (line.includes("BUG: KFENCE: ") && line.includes("test_")) {
        s.lines[0] = line;
        s.nlines = 1;
      } else if (s.nlines === 1 && (line.includes("at 0x") || line.includes("of 0x"))) {
        s.lines[1] = line;
        s.nlines = 2;
      }
    }
  }
}

function reportAvailable(t: KunitTest): boolean {
  observe(t);
  return st(t).nlines === 2;
}

function accessType(r: ExpectReport): string {
  return r.isWrite ? "write" : "read";
}

// report_matches()
function reportMatches(t: KunitTest, r: ExpectReport): boolean {
  if (!reportAvailable(t)) return false;
  let title: string;
  let detail: string;
  switch (r.type) {
    case ERROR_OOB: title = `BUG: KFENCE: out-of-bounds ${accessType(r)}`; detail = `Out-of-bounds ${accessType(r)} at`; break;
    case ERROR_UAF: title = `BUG: KFENCE: use-after-free ${accessType(r)}`; detail = `Use-after-free ${accessType(r)} at`; break;
    case ERROR_CORRUPTION: title = "BUG: KFENCE: memory corruption"; detail = "Corrupted memory at"; break;
    case ERROR_INVALID: title = `BUG: KFENCE: invalid ${accessType(r)}`; detail = `Invalid ${accessType(r)} at`; break;
    default: title = "BUG: KFENCE: invalid free"; detail = "Invalid free of"; break;
  }
  title += ` in ${r.fn}`;
  detail += ` 0x${t.engine.hashPointer(r.addr)}`;   // "0x%p", hashed as the report hashes it
  const s = st(t);
  return s.lines[0].includes(title) && s.lines[1].includes(detail);
}

function expectTrue(t: KunitTest, cond: boolean, what: string): void {
  t.expect(cond, `${what} is false`);
}
function expectFalse(t: KunitTest, cond: boolean, what: string): void {
  t.expect(!cond, `${what} is true`);
}

// %pGg of the few flag sets the tests use
// 6.12's test_alloc() prints the mask with "%x": bare hex, no 0x and no flag names
function gfpString(gfp: string): string {
  const table: Record<string, string> = {
    GFP_KERNEL: "cc0",
    "GFP_KERNEL | __GFP_ZERO": "dc0",
    GFP_ATOMIC: "820",
  };
  return table[gfp] ?? gfp;
}

// get_random_u32_inclusive(): a per-case generator, so runs repeat exactly
function randomInclusive(t: KunitTest, lo: number, hi: number): number {
  const s = st(t);
  s.rand ^= s.rand << 13; s.rand ^= s.rand >>> 17; s.rand ^= s.rand << 5;
  s.rand >>>= 0;
  return lo + (s.rand % (hi - lo + 1));
}

// ===== Test cases =====

function wantMemcache(t: KunitTest): boolean {
  return t.name.includes("memcache");
}

function setup_test_cache(t: KunitTest, size: number, flags: string | undefined, ctor?: (addr: bigint) => void, ctorName = "0x0"): number {
  if (!wantMemcache(t)) return size;
  t.info(`setup_test_cache: size=${size}, ctor=${ctor ? ctorName : "0x0"}`);
  const f = [flags, SLAB_NO_MERGE_ACCOUNT].filter(Boolean).join(" | ");
  const cache = t.engine.kmem_cache_create("test", size, { align: 1, flags: f, ctor });
  st(t).cache = cache;
  return size;
}

function test_cache_destroy(t: KunitTest): void {
  const s = st(t);
  if (!s.cache) return;
  t.engine.kmem_cache_destroy(s.cache);
  s.cache = undefined;
}

function kmalloc_cache_alignment(t: KunitTest, size: number): number {
  const e = t.engine;
  const sizes = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192];
  const index = sizes.findIndex((s) => size <= s);
  return e.exports.cache_info(e.exports.kmalloc_cache_id(index), abi.KC_ALIGN);
}

// Not inlined like the kernel's (JS cannot): used only where the report does not name the caller.
function test_free(t: KunitTest, ptr: bigint): void {
  const cache = st(t).cache;
  if (cache) t.engine.kmem_cache_free(cache, ptr);
  else t.engine.kfree(ptr);
}

type Policy = "any" | "left" | "right" | "none";

// Try to get a guarded allocation from KFENCE (or, for "none", one that is not).
function test_alloc(t: KunitTest, size: number, gfp: string, policy: Policy): bigint {
  const e = t.engine;
  const cache = st(t).cache;
  t.info(`test_alloc: size=${size}, gfp=${gfpString(gfp)}, policy=${policy}, cache=${cache ? 1 : 0}`);
  const interval = BigInt(e.kfence.sampleInterval || 100) * 1000000n;
  const timeout = e.clockNs + 100n * interval;
  do {
    const alloc = cache ? e.kmem_cache_alloc(cache, gfp) : e.kmalloc(size, gfp);
    if (e.kfence.isKfenceAddress(alloc)) {
      const pageAligned = (alloc & (PAGE_SIZE - 1n)) === 0n;
      if (policy === "any") return alloc;
      if (policy === "left" && pageAligned) return alloc;
      if (policy === "right" && !pageAligned) return alloc;
    } else if (policy === "none") {
      return alloc;
    }
    test_free(t, alloc);
    e.tick(JIFFY_MS);
  } while (e.clockNs < timeout);
  t.assert(false, "failed to allocate from KFENCE");
  return 0n;
}

function test_out_of_bounds_read(t: KunitTest): void {
  const e = t.engine;
  let size = 32;
  const expect: ExpectReport = { type: ERROR_OOB, fn: "test_out_of_bounds_read", addr: 0n, isWrite: false };
  setup_test_cache(t, size, undefined);
  // without our own cache, adjust to the kmalloc alignment so both guard pages are reachable
  if (!st(t).cache) size = kmalloc_cache_alignment(t, size);

  let buf = test_alloc(t, size, "GFP_KERNEL", "left");
  expect.addr = buf - 1n;
  e.load(expect.addr, 1);
  expectTrue(t, reportMatches(t, expect), "report_matches(&expect)");
  test_free(t, buf);

  buf = test_alloc(t, size, "GFP_KERNEL", "right");
  expect.addr = buf + BigInt(size);
  e.load(expect.addr, 1);
  expectTrue(t, reportMatches(t, expect), "report_matches(&expect)");
  test_free(t, buf);
}

function test_out_of_bounds_write(t: KunitTest): void {
  const e = t.engine;
  const size = 32;
  const expect: ExpectReport = { type: ERROR_OOB, fn: "test_out_of_bounds_write", addr: 0n, isWrite: true };
  setup_test_cache(t, size, undefined);
  const buf = test_alloc(t, size, "GFP_KERNEL", "left");
  expect.addr = buf - 1n;
  e.store(expect.addr, 1, 42);
  expectTrue(t, reportMatches(t, expect), "report_matches(&expect)");
  test_free(t, buf);
}

function test_use_after_free_read(t: KunitTest): void {
  const e = t.engine;
  const size = 32;
  const expect: ExpectReport = { type: ERROR_UAF, fn: "test_use_after_free_read", addr: 0n, isWrite: false };
  setup_test_cache(t, size, undefined);
  expect.addr = test_alloc(t, size, "GFP_KERNEL", "any");
  test_free(t, expect.addr);
  e.load(expect.addr, 1);
  expectTrue(t, reportMatches(t, expect), "report_matches(&expect)");
}

function test_double_free(t: KunitTest): void {
  const e = t.engine;
  const size = 32;
  const expect: ExpectReport = { type: ERROR_INVALID_FREE, fn: "test_double_free", addr: 0n };
  setup_test_cache(t, size, undefined);
  expect.addr = test_alloc(t, size, "GFP_KERNEL", "any");
  test_free(t, expect.addr);
  const cache = st(t).cache;
  if (cache) e.kmem_cache_free(cache, expect.addr); else e.kfree(expect.addr);   // double-free
  expectTrue(t, reportMatches(t, expect), "report_matches(&expect)");
}

function test_invalid_addr_free(t: KunitTest): void {
  const e = t.engine;
  const size = 32;
  const expect: ExpectReport = { type: ERROR_INVALID_FREE, fn: "test_invalid_addr_free", addr: 0n };
  setup_test_cache(t, size, undefined);
  const buf = test_alloc(t, size, "GFP_KERNEL", "any");
  expect.addr = buf + 1n;
  const cache = st(t).cache;
  if (cache) e.kmem_cache_free(cache, expect.addr); else e.kfree(expect.addr);   // invalid address free
  test_free(t, buf);   // no error
  expectTrue(t, reportMatches(t, expect), "report_matches(&expect)");
}

function test_corruption(t: KunitTest): void {
  const e = t.engine;
  const size = 32;
  const expect: ExpectReport = { type: ERROR_CORRUPTION, fn: "test_corruption", addr: 0n };
  setup_test_cache(t, size, undefined);
  const cache = st(t).cache;

  let buf = test_alloc(t, size, "GFP_KERNEL", "left");
  expect.addr = buf + BigInt(size);
  e.store(expect.addr, 1, 42);
  if (cache) e.kmem_cache_free(cache, buf); else e.kfree(buf);
  expectTrue(t, reportMatches(t, expect), "report_matches(&expect)");

  buf = test_alloc(t, size, "GFP_KERNEL", "right");
  expect.addr = buf - 1n;
  e.store(expect.addr, 1, 42);
  if (cache) e.kmem_cache_free(cache, buf); else e.kfree(buf);
  expectTrue(t, reportMatches(t, expect), "report_matches(&expect)");
}

// KFENCE cannot see an overflow into the gap alignment leaves before the
// right guard page (73 bytes in kmalloc-96, 32-byte aligned), but one past it.
function test_kmalloc_aligned_oob_read(t: KunitTest): void {
  const e = t.engine;
  const size = 73;
  const align = kmalloc_cache_alignment(t, size);
  const expect: ExpectReport = { type: ERROR_OOB, fn: "test_kmalloc_aligned_oob_read", addr: 0n, isWrite: false };
  const buf = test_alloc(t, size, "GFP_KERNEL", "right");
  // the object is offset to the right: nothing guards its left
  e.load(buf - 1n, 1);
  expectFalse(t, reportAvailable(t), "report_available()");
  // buf is aligned on align, so buf + size is still on the object's page
  e.load(buf + BigInt(size), 1);
  expectFalse(t, reportAvailable(t), "report_available()");
  // overflowing by align bytes reaches the guard page
  expect.addr = buf + BigInt(size + align);
  e.load(expect.addr, 1);
  expectTrue(t, reportMatches(t, expect), "report_matches(&expect)");
  test_free(t, buf);
}

function test_kmalloc_aligned_oob_write(t: KunitTest): void {
  const e = t.engine;
  const size = 73;
  const expect: ExpectReport = { type: ERROR_CORRUPTION, fn: "test_kmalloc_aligned_oob_write", addr: 0n };
  const buf = test_alloc(t, size, "GFP_KERNEL", "right");
  // offset to the right: no page fault right after the object
  expect.addr = buf + BigInt(size);
  e.store(expect.addr, 1, (e.load(expect.addr, 1) + 1) & 0xff);
  expectFalse(t, reportAvailable(t), "report_available()");
  e.kfree(buf);
  expectTrue(t, reportMatches(t, expect), "report_matches(&expect)");
}

// Shrinking and destroying a cache with a KFENCE object.
function test_shrink_memcache(t: KunitTest): void {
  const e = t.engine;
  const size = 32;
  setup_test_cache(t, size, undefined);
  expectTrue(t, st(t).cache !== undefined, "test_cache");
  const buf = test_alloc(t, size, "GFP_KERNEL", "any");
  e.kmem_cache_shrink(st(t).cache!);
  test_free(t, buf);
  expectFalse(t, reportAvailable(t), "report_available()");
}

function ctorSetX(t: KunitTest): (addr: bigint) => void {
  // every object has at least 8 bytes; the constructor runs inside the
  // allocator, so it writes through the core directly
  return (addr: bigint) => { t.engine.exports.mem_memset(addr, 0x78, 8n); };
}

// SL*B must not touch KFENCE objects on bulk free.
function test_free_bulk(t: KunitTest): void {
  const e = t.engine;
  for (let iter = 0; iter < 5; iter++) {
    const size = setup_test_cache(t, randomInclusive(t, 8, 307), undefined,
      (iter & 1) ? ctorSetX(t) : undefined, "ctor_set_x");
    const objects = [
      test_alloc(t, size, "GFP_KERNEL", "right"),
      test_alloc(t, size, "GFP_KERNEL", "none"),
      test_alloc(t, size, "GFP_KERNEL", "left"),
      test_alloc(t, size, "GFP_KERNEL", "none"),
      test_alloc(t, size, "GFP_KERNEL", "none"),
    ];
    // a NULL cache: kmem_cache_free_bulk() finds each object's cache itself
    e.kmem_cache_free_bulk(st(t).cache ?? { id: 0, name: "(null)", address: 0n }, objects);
    t.assert(!reportAvailable(t), "report_available() is true");
    test_cache_destroy(t);
  }
}

// init_on_free zeroes a KFENCE object before protecting it.
function test_init_on_free(t: KunitTest): void {
  const e = t.engine;
  const size = 32;
  const expect: ExpectReport = { type: ERROR_UAF, fn: "test_init_on_free", addr: 0n, isWrite: false };
  if (!e.options.initOnFree) t.skip("Test requires: IS_ENABLED(CONFIG_INIT_ON_FREE_DEFAULT_ON)");
  setup_test_cache(t, size, undefined);
  expect.addr = test_alloc(t, size, "GFP_KERNEL", "any");
  e.writeBytes(expect.addr, Array.from({ length: size }, (_, i) => i + 1));
  test_free(t, expect.addr);
  for (let i = 0; i < size; i++) {
    const v = e.load(expect.addr + BigInt(i), 1);
    t.expect(v === 0, `expect.addr[${i}] == 0, but is ${v}`);
    // only the first access faults: the page stays unprotected after the report
    if (i === 0) expectTrue(t, reportMatches(t, expect), "report_matches(&expect)");
  }
}

// Constructors run for KFENCE objects too.
function test_memcache_ctor(t: KunitTest): void {
  const e = t.engine;
  const size = 32;
  setup_test_cache(t, size, undefined, ctorSetX(t), "ctor_set_x");
  const buf = test_alloc(t, size, "GFP_KERNEL", "any");
  for (let i = 0; i < 8; i++) {
    const v = e.load(buf + BigInt(i), 1);
    t.expect(v === 0x78, `buf[${i}] == 'x', but is ${v}`);
  }
  test_free(t, buf);
  expectFalse(t, reportAvailable(t), "report_available()");
}

// __GFP_ZERO zeroes a reused KFENCE object.
function test_gfpzero(t: KunitTest): void {
  const e = t.engine;
  const size = 4096;   // PAGE_SIZE, so "any" side will do
  if (!(e.kfence.sampleInterval <= 100)) t.skip("Test requires: kfence_sample_interval <= 100");
  setup_test_cache(t, size, undefined);
  const buf1 = test_alloc(t, size, "GFP_KERNEL", "any");
  e.writeBytes(buf1, Array.from({ length: size }, (_, i) => (i + 1) & 0xff));
  test_free(t, buf1);
  // try to get the same object again: this can take a while
  let buf2 = 0n;
  for (let i = 0; ; i++) {
    buf2 = test_alloc(t, size, "GFP_KERNEL | __GFP_ZERO", "any");
    if (buf1 === buf2) break;
    test_free(t, buf2);
    if (i === e.kfence.numObjects) {
      t.info("giving up ... cannot get same object back");
      return;
    }
  }
  const bytes = e.readBytes(buf2, size);
  const bad = bytes.findIndex((b) => b !== 0);
  t.expect(bad < 0, `buf2[${bad}] == 0, but is ${bytes[bad]}`);
  test_free(t, buf2);
  expectFalse(t, reportAvailable(t), "report_available()");
}

function test_invalid_access(t: KunitTest): void {
  const e = t.engine;
  const expect: ExpectReport = { type: ERROR_INVALID, fn: "test_invalid_access", addr: e.kfence.poolStart + 10n, isWrite: false };
  e.load(e.kfence.poolStart + 10n, 1);
  expectTrue(t, reportMatches(t, expect), "report_matches(&expect)");
}

// SLAB_TYPESAFE_BY_RCU: the object stays usable until the grace period ends.
function test_memcache_typesafe_by_rcu(t: KunitTest): void {
  const e = t.engine;
  const size = 32;
  const expect: ExpectReport = { type: ERROR_UAF, fn: "test_memcache_typesafe_by_rcu", addr: 0n, isWrite: false };
  setup_test_cache(t, size, "SLAB_TYPESAFE_BY_RCU");
  expectTrue(t, st(t).cache !== undefined, "test_cache");
  expect.addr = test_alloc(t, size, "GFP_KERNEL", "any");
  e.store(expect.addr, 1, 42);
  // rcu_read_lock(): no grace period ends before rcu_barrier()
  test_free(t, expect.addr);
  let v = e.load(expect.addr, 1);
  t.expect(v === 42, `*expect.addr == 42, but is ${v}`);
  // not freed yet: no report from the access above
  expectFalse(t, reportAvailable(t), "report_available()");
  // only after rcu_barrier() is the memory guaranteed to be freed
  e.rcu_barrier();
  v = e.load(expect.addr, 1);
  t.expect(v === 42, `*expect.addr == 42, but is ${v}`);
  expectTrue(t, reportMatches(t, expect), "report_matches(&expect)");
}

function test_krealloc(t: KunitTest): void {
  const e = t.engine;
  const size = 32;
  const expect: ExpectReport = { type: ERROR_UAF, fn: "test_krealloc", addr: test_alloc(t, size, "GFP_KERNEL", "any"), isWrite: false };
  let buf = expect.addr;
  expectFalse(t, st(t).cache !== undefined, "test_cache");
  t.expect(e.ksize(buf) === size, `ksize(buf) == ${size}, but is ${e.ksize(buf)}`);   // precise size after a KFENCE alloc
  e.writeBytes(buf, Array.from({ length: size }, (_, i) => i + 1));

  buf = e.krealloc(buf, size * 3);   // grow (might no longer be KFENCE's)
  t.expect(e.ksize(buf) >= size * 3, `ksize(buf) >= ${size * 3}`);
  let bytes = e.readBytes(buf, size);
  for (let i = 0; i < size; i++) t.expect(bytes[i] === i + 1, `buf[${i}] == ${i + 1}, but is ${bytes[i]}`);
  e.writeBytes(buf + BigInt(size), Array.from({ length: size * 2 }, (_, i) => size + i + 1));

  buf = e.krealloc(buf, size * 2);   // shrink
  t.expect(e.ksize(buf) >= size * 2, `ksize(buf) >= ${size * 2}`);
  bytes = e.readBytes(buf, size * 2);
  for (let i = 0; i < size * 2; i++) t.expect(bytes[i] === i + 1, `buf[${i}] == ${i + 1}, but is ${bytes[i]}`);

  buf = e.krealloc(buf, 0);   // free
  t.expect(buf === BigInt(abi.ZERO_SIZE_PTR), "buf == ZERO_SIZE_PTR");
  t.assert(!reportAvailable(t), "report_available() is true");   // no reports yet

  e.load(expect.addr, 1);   // krealloc() really freed the KFENCE object
  t.assert(reportMatches(t, expect), "report_matches(&expect) is false");
}

// Some objects of a bulk allocation come from the KFENCE pool.
function test_memcache_alloc_bulk(t: KunitTest): void {
  const e = t.engine;
  const size = 32;
  setup_test_cache(t, size, undefined);
  const cache = st(t).cache;
  expectTrue(t, cache !== undefined, "test_cache");
  const interval = BigInt(e.kfence.sampleInterval || 100) * 1000000n;
  const timeout = e.clockNs + 100n * interval;
  let pass = false;
  do {
    const objects = e.kmem_cache_alloc_bulk(cache!, 100, "GFP_ATOMIC");
    if (objects.length === 0) continue;
    pass = objects.some((o) => e.kfence.isKfenceAddress(o));
    e.kmem_cache_free_bulk(cache!, objects);
    // cond_resched(): let the sampling timer run
    e.tick(JIFFY_MS);
  } while (!pass && e.clockNs < timeout);
  expectTrue(t, pass, "pass");
  expectFalse(t, reportAvailable(t), "report_available()");
}

type CaseFn = (t: KunitTest) => void;
// KFENCE_KUNIT_CASE: the case with kmalloc, and again ("-memcache") with a cache of its own
function kfenceKunitCase(fn: CaseFn) {
  return [{ name: fn.name, run: fn }, { name: `${fn.name}-memcache`, run: fn }];
}
function kunitCase(fn: CaseFn) {
  return [{ name: fn.name, run: fn }];
}

export const kfenceSuite: KunitSuite = {
  name: "kfence",
  module: "kfence_test",
  // booted with no_hash_pointers, as kernels whose reports tools parse are: a
  // fault's report then ends in show_regs() with its Call Trace (docs/kfence.md)
  options: { cmdline: "no_hash_pointers" },
  cases: [
    ...kfenceKunitCase(test_out_of_bounds_read),
    ...kfenceKunitCase(test_out_of_bounds_write),
    ...kfenceKunitCase(test_use_after_free_read),
    ...kfenceKunitCase(test_double_free),
    ...kfenceKunitCase(test_invalid_addr_free),
    ...kfenceKunitCase(test_corruption),
    ...kfenceKunitCase(test_free_bulk),
    ...kfenceKunitCase(test_init_on_free),
    ...kunitCase(test_kmalloc_aligned_oob_read),
    ...kunitCase(test_kmalloc_aligned_oob_write),
    ...kunitCase(test_shrink_memcache),
    ...kunitCase(test_memcache_ctor),
    ...kunitCase(test_invalid_access),
    ...kunitCase(test_gfpzero),
    ...kunitCase(test_memcache_typesafe_by_rcu),
    ...kunitCase(test_krealloc),
    ...kunitCase(test_memcache_alloc_bulk),
  ],
  // test_init(): the KFENCE pool must exist
  init(e) {
    if (!e.kfence.initialized) throw new Error("kfence_test: KFENCE is not enabled (kfence.sample_interval=0)");
  },
  // test_exit()
  exit(t) {
    observe(t);
    test_cache_destroy(t);
  },
};
