// API hygiene: arguments are range-checked (never taken modulo 2^64), tasks
// never alias and stop at a documented limit, task names are sanitised,
// callbacks are validated where they are given and a throwing one WARNs
// without dropping the others, fault injection starts after boot.
import { describe, it, expect } from "vitest";
import { boot, BUILDS, lines } from "../helpers.js";
import { MAX_TASKS } from "../../abi/abi.js";
import * as lib from "../../host/lib.js";
import { mempool_init_kmalloc_pool } from "../../host/mempool.js";

const U64 = "18446744073709551615";

describe.each(BUILDS)("API hygiene (%s core)", (build) => {
  it("sizes past size_t are errors naming the function, the argument and what it accepts", () => {
    const e = boot({}, build);
    const p = e.kmalloc(64);
    expect(() => e.kmalloc(2n ** 64n + 100n)).toThrow(new RangeError(`kmalloc: size must be an integer from 0 to ${U64}, got 18446744073709551716n`));
    expect(() => e.memset(p, 0, 2n ** 64n)).toThrow(new RangeError(`memset: len must be an integer from 0 to ${U64}, got 18446744073709551616n`));
    expect(() => e.kmalloc(-1)).toThrow(new RangeError(`kmalloc: size must be an integer from 0 to ${U64}, got -1`));
    expect(() => e.kmalloc(1.5)).toThrow(/^kmalloc: size must be an integer from 0 to \d+, got 1\.5$/);
    expect(() => e.kmalloc(NaN)).toThrow(/^kmalloc: size must be an integer from 0 to \d+, got NaN$/);
    expect(() => e.kmalloc(2 ** 60)).toThrow(/got 1152921504606847000 \(a number past 2\^53 is inexact: pass a bigint\)$/);
    expect(() => e.kmalloc("8" as unknown as number)).toThrow(/^kmalloc: size must be an integer from 0 to \d+, got "8"$/);
    expect(() => e.krealloc(p, -5n)).toThrow(/^krealloc: new_size must be an integer/);
    expect(() => e.kcalloc(-1, 8)).toThrow(/^kcalloc: n must be an integer/);
    expect(() => e.memcpy(p, p + 8n, 2n ** 64n)).toThrow(/^memcpy: len must be/);
    expect(() => e.memmove(-1n, p, 8)).toThrow(/^memmove: dst must be an integer from 0 to \d+, got -1n$/);
    expect(() => e.kasan_check_read(p, -1)).toThrow(/^kasan_check_read: size must be/);
    expect(() => e.vmalloc(2n ** 64n)).toThrow(/^vmalloc: size must be/);
    expect(() => e.__vmalloc_node(4096, 2n ** 64n)).toThrow(/^__vmalloc_node: align must be/);
    expect(() => e.__alloc_percpu(2 ** 32, 8)).toThrow(/^__alloc_percpu: size must be an integer from 1 to 4294967295, got 4294967296$/);
    expect(() => e.alloc_pages(-1)).toThrow(/^alloc_pages: order must be an integer from 0 to 4294967295, got -1$/);
    expect(() => e.tick(Infinity)).toThrow(/^tick: ms must be a number from 0 to \d+, got Infinity$/);
    expect(() => e.kmem_cache_alloc_bulk(e.kmem_cache_create("bulk", 32), 513)).toThrow(/^kmem_cache_alloc_bulk: size must be an integer from 0 to 512, got 513$/);
    expect(() => e.kmem_cache_alloc({ id: 9999, name: "forged", address: 0n })).toThrow(/^kmem_cache_alloc: cache must be a kmem_cache_create\(\) result of this engine, got \{ id: 9999 \}$/);
    expect(() => e.failPageAlloc("1,100,0,99999999999")).toThrow(/^failPageAlloc: times must be an integer from -1 to 2147483647/);
    expect(() => mempool_init_kmalloc_pool(e, 1, -3)).toThrow(/^mempool_init_kmalloc_pool: size must be an integer/);
    expect(() => lib.set_bit(e, -1, p)).toThrow(/^set_bit: nr must be an integer from 0 to 2147483647, got -1$/);
    expect(() => lib.strnlen(e, p, 1.5)).toThrow(/^strnlen: count must be/);
    expect(() => e.kfence.isKfenceAddress(-1n)).toThrow(/^kfence\.isKfenceAddress: addr must be/);
    expect(() => e.kmalloc(8, 2 ** 40)).toThrow(/^gfp: flags must be an integer from 0 to 4294967295, got 1099511627776$/);
    expect(() => e.kmalloc(8, "GFP_KERNEL | __GFP_BOGUS")).toThrow(/^unknown GFP flag "__GFP_BOGUS": expected GFP_KERNEL, /);
    expect(() => e.kmem_cache_create("f", 8, { flags: -1 })).toThrow(/^kmem_cache_create: flags must be an integer from 0 to 4294967295, got -1$/);
    expect(() => e.readBytes(p, -1)).toThrow(/^readBytes: len must be an integer from 0 to 67108864, got -1$/);
    expect(e.readBytes(p, 4n as unknown as number)).toHaveLength(4);
    expect(() => e.peek(p, 1e9)).toThrow(/^peek: n must be an integer from 0 to 1048576, got 1000000000$/);
    expect(e.peek(2n ** 64n - 2n, 8)).toBeUndefined();
    // an N-byte store takes an N-byte value (signed or unsigned), nothing is cut to fit
    expect(() => e.store(p, 1, 256)).toThrow(/^store: value must be an integer from -128 to 255, got 256$/);
    expect(() => e.store(p, 8, 2n ** 64n)).toThrow(/^store: value must be an integer from -9223372036854775808 to 18446744073709551615/);
    e.store(p, 1, -1);
    expect(e.load(p, 1)).toBe(255);
    // nothing of the above reached the engine: no report, allocator intact
    expect(e.takeReports()).toEqual([]);
    expect(e.selfCheck()).toEqual([]);
  });

  it("kmalloc of more than the page allocator can give: NULL and __alloc_pages' WARN_ON_ONCE, once", () => {
    const e = boot({}, build);
    function ask_for_a_tebibyte() { return e.kmalloc(2n ** 40n); }
    expect(ask_for_a_tebibyte()).toBe(0n);
    const [w, ...more] = e.takeReports();
    expect(more).toEqual([]);
    expect(w).toMatchObject({ kind: "warn", type: "alloc-order", title: "WARNING: CPU: 0 PID: 1 at mm/page_alloc.c:4734 __alloc_pages_noprof+0x3c8/0x440" });
    const l = lines(w);
    expect(l.slice(0, 3)).toEqual(["------------[ cut here ]------------", w.title, "Modules linked in:"]);
    expect(l).toContain("RIP: 0010:__alloc_pages_noprof+0x3c8/0x440");
    const trace = l.slice(l.indexOf(" <TASK>") + 1, l.indexOf(" <TASK>") + 5);
    expect(trace.map((f) => f.replace(/\+.*/, ""))).toEqual([" ___kmalloc_large_node", " __kmalloc_large_node_noprof", " __kmalloc_noprof", " ask_for_a_tebibyte"]);
    expect(l[l.length - 1]).toBe("---[ end trace 0000000000000000 ]---");
    // WARN_ON_ONCE: the next one is silent; __GFP_NOWARN is silent too
    expect(e.kmalloc(2n ** 64n - 1n)).toBe(0n);
    expect(e.alloc_pages(11, "GFP_KERNEL | __GFP_NOWARN")).toBe(0n);
    expect(e.takeReports()).toEqual([]);
  });

  it("out of memory: warn_alloc's page allocation failure with the stack and Mem-Info, __GFP_NOWARN silences it", () => {
    const e = boot({ cmdline: "kfence.sample_interval=0" }, build);
    const held: bigint[] = [];
    for (let p = e.alloc_pages(10, "GFP_KERNEL | __GFP_NOWARN"); p !== 0n; p = e.alloc_pages(10, "GFP_KERNEL | __GFP_NOWARN")) held.push(p);
    expect(e.takeReports()).toEqual([]);
    function grab_big_block() { return e.alloc_pages(10); }
    expect(grab_big_block()).toBe(0n);
    const [r, ...rest] = e.takeReports();
    expect(rest).toEqual([]);
    expect(r).toMatchObject({ kind: "warn", type: "page-allocation-failure",
      title: "swapper/0: page allocation failure: order:10, mode:0xcc0(GFP_KERNEL), nodemask=(null),cpuset=/,mems_allowed=0" });
    const l = lines(r);
    expect(l[0]).toBe(r.title);
    expect(l[1]).toBe("CPU: 0 UID: 0 PID: 1 Comm: swapper/0 Not tainted 6.12.0 #1");
    expect(l[2]).toMatch(/^Hardware name: /);
    expect(l.slice(3, 12).map((f) => f.replace(/\+0x[0-9a-f]+\/0x[0-9a-f]+$/, ""))).toEqual(["Call Trace:", " <TASK>", " dump_stack_lvl",
      " warn_alloc", " __alloc_pages_slowpath.constprop.0", " __alloc_pages_noprof", " alloc_pages_mpol_noprof", " alloc_pages_noprof", " grab_big_block"]);
    const mi = l.indexOf("Mem-Info:");
    expect(mi).toBeGreaterThan(12);
    expect(l[mi + 1]).toBe("active_anon:0 inactive_anon:0 isolated_anon:0");
    expect(l[mi + 8]).toMatch(/^ free:\d+ free_pcp:0 free_cma:0$/);
    expect(l[mi + 9]).toMatch(/^Node 0 active_anon:0kB .* all_unreclaimable\? no$/);
    expect(l).toContainEqual(expect.stringMatching(/^Node 0 DMA32 free:\d+kB boost:0kB min:\d+kB low:\d+kB high:\d+kB reserved_highatomic:0KB .* present:\d+kB managed:\d+kB .* free_cma:0kB$/));
    // the buddy lines add up: n*size per order = the total
    for (const line of l.filter((x) => /^Node 0 DMA32?: /.test(x))) {
      const sum = [...line.matchAll(/(\d+)\*(\d+)kB/g)].reduce((t, m) => t + Number(m[1]) * Number(m[2]), 0);
      expect(line.endsWith(`= ${sum}kB`)).toBe(true);
    }
    expect(l.slice(-7)).toEqual(["0 total pagecache pages", "0 pages in swap cache", "Free swap  = 0kB", "Total swap = 0kB",
      `${e.stats().framesTotal} pages RAM`, "0 pages HighMem/MovableOnly", expect.stringMatching(/^\d+ pages reserved$/)]);
    expect(e.dmesg()).toContain("swapper/0: page allocation failure: order:10");
    expect(e.alloc_pages(10, "GFP_KERNEL | __GFP_NOWARN")).toBe(0n);
    expect(e.takeReports()).toEqual([]);
    // %#x prints no 0x for zero
    expect(e.alloc_pages(10, 0)).toBe(0n);
    expect(e.takeReports()[0].title).toBe("swapper/0: page allocation failure: order:10, mode:0(none), nodemask=(null),cpuset=/,mems_allowed=0");
    for (const p of held) e.__free_pages(p, 10);
  });

  it("warn_alloc is rate-limited as the kernel does: 10 in 5 s, then 'callbacks suppressed'", () => {
    const e = boot({ cmdline: "kfence.sample_interval=0" }, build);
    while (e.alloc_pages(10, "GFP_KERNEL | __GFP_NOWARN") !== 0n);
    for (let i = 0; i < 15; i++) e.alloc_pages(10);
    expect(e.takeReports().map((r) => r.type)).toEqual(Array(10).fill("page-allocation-failure"));
    // vmalloc's warn_alloc is the same function: same ratelimit state
    expect(e.vmalloc(1n << 40n)).toBe(0n);
    expect(e.takeReports()).toEqual([]);
    e.tick(5000);
    e.alloc_pages(10);
    const [r] = e.takeReports();
    expect(lines(r).slice(0, 2)).toEqual(["warn_alloc: 6 callbacks suppressed",
      "swapper/0: page allocation failure: order:10, mode:0xcc0(GFP_KERNEL), nodemask=(null),cpuset=/,mems_allowed=0"]);
  });

  it("vmalloc's warn_alloc ends with Mem-Info too", () => {
    const e = boot({}, build);
    expect(e.vmalloc(1n << 40n)).toBe(0n);
    const [w] = e.takeReports();
    const l = lines(w);
    expect(l[0]).toBe("swapper/0: vmalloc error: size 1099511627776, exceeds total pages, mode:0xcc0(GFP_KERNEL), nodemask=(null),cpuset=/,mems_allowed=0");
    expect(l.indexOf("Mem-Info:")).toBeGreaterThan(l.indexOf(" </TASK>"));
    expect(l[l.length - 1]).toMatch(/^\d+ pages reserved$/);
  });

  it("a slab that cannot grow: warn_alloc, then SLUB's slab_out_of_memory lines", () => {
    const e = boot({ cmdline: "kfence.sample_interval=0", ram: 32 }, build);
    while (e.alloc_pages(0, "GFP_KERNEL | __GFP_NOWARN") !== 0n);
    let n = 0;
    while (e.kmalloc(64) !== 0n) n++;
    const [page, slab, ...rest] = e.takeReports();
    expect(rest).toEqual([]);
    expect(page.title).toBe("swapper/0: page allocation failure: order:0, mode:0xcc0(GFP_KERNEL), nodemask=(null),cpuset=/,mems_allowed=0");
    expect(lines(page)).toContain(" __kmalloc_cache_noprof+0x2ab/0x3a0");
    const info = e.slabinfo().find((s) => s.name === "kmalloc-64")!;
    expect(slab).toMatchObject({ kind: "warn", type: "slab-out-of-memory" });
    expect(lines(slab)).toEqual([
      "SLUB: Unable to allocate memory on node -1, gfp=0xcc0(GFP_KERNEL)",
      `  cache: kmalloc-64, object size: 64, buffer size: ${info.objSize}, default order: 0, min order: 0`,
      `  node 0: slabs: ${info.numObjs / info.objPerSlab}, objs: ${info.numObjs}, free: ${info.numObjs - info.activeObjs}`,
    ]);
    expect(n).toBe(info.activeObjs);
  });

  it("fail_page_alloc on the command line: the boot works, the first allocation after it fails", () => {
    const e = boot({ cmdline: "fail_page_alloc=1,100,0,1 kfence.sample_interval=0" }, build);
    expect(e.alloc_pages(0)).toBe(0n);
    expect(e.takeReports().map((r) => r.type)).toEqual(["page-allocation-failure"]);
    expect(e.alloc_pages(0)).not.toBe(0n);            // times=1: once
  });

  it("tasks: pids never alias, the 1025th is an error naming the limit, exitTask of an unknown pid is an error", () => {
    const e = boot({ ram: 256, cmdline: "kasan=off kfence.sample_interval=0" }, build);
    const tasks = Array.from({ length: MAX_TASKS }, (_, i) => e.createTask(`t${i}`));
    expect(new Set(tasks.map((t) => t.pid)).size).toBe(MAX_TASKS);
    expect(new Set(tasks.map((t) => t.stack)).size).toBe(MAX_TASKS);
    expect(() => e.createTask("foo")).toThrow(new RangeError(`createTask(foo): the engine has ${MAX_TASKS} tasks, its limit (exitTask() one first)`));
    // a pid 1024 apart shares the old slot index: it must not see (or free) the other's stack
    const a = tasks[0];
    const alias = a.pid + 1024;
    expect(tasks.some((t) => t.pid === alias)).toBe(false);
    expect(() => e.exitTask(alias)).toThrow(new RangeError(`exitTask: no task has pid ${alias}`));
    expect(() => e.exitTask(999999)).toThrow(new RangeError("exitTask: no task has pid 999999"));
    expect(() => e.exitTask(1)).toThrow(/^exitTask: pid 1 is the boot task/);
    const stackOf = (pid: number) => BigInt.asUintN(64, e.exports.task_stack_base(pid));
    expect(stackOf(a.pid)).toBe(a.stack);
    const free = e.stats().framesFree;
    e.exitTask(a.pid);
    expect(e.stats().framesFree).toBe(free + 4);          // THREAD_SIZE 16 KiB with kasan=off
    expect(() => e.exitTask(a.pid)).toThrow(/no task has pid/);
    const b = e.createTask("again");
    expect(b.pid).not.toBe(a.pid);
    for (const t of tasks.slice(1)) expect(stackOf(t.pid)).toBe(t.stack);
    expect(e.selfCheck()).toEqual([]);
  });

  it("task names are data: printable ASCII, at most TASK_COMM_LEN-1 bytes, in reports", () => {
    const e = boot({}, build);
    const t = e.createTask("evil\n==================================================================\x1b[31m");
    expect(t.comm).toBe("evil?==========");
    e.setTask({ pid: t.pid, comm: "naïve\tname\u2028x" });
    expect(e.current.comm).toBe("na?ve?name?x");
    const p = e.kmalloc(8);
    e.load(p + 8n, 1);
    const [r] = e.takeReports();
    expect(lines(r)[2]).toBe(`Read of size 1 at addr ${(p + 8n).toString(16)} by task na?ve?name?x/${t.pid}`);
    expect(r.text).not.toMatch(/[^\x20-\x7e\n]/);
    expect(() => e.createTask("")).toThrow(/^createTask: comm must be a non-empty string/);
    expect(() => e.setTask({ pid: -1 })).toThrow(/^setTask: pid must be an integer from 0 to 4194304, got -1$/);
  });

  it("call_rcu/queue_work check the callback at the call; one that throws WARNs and the others still run", () => {
    const e = boot({}, build);
    const p = e.kmalloc(64);
    expect(() => e.call_rcu(p, 42 as unknown as () => void)).toThrow(new TypeError("call_rcu: func must be a function, got 42"));
    expect(() => e.queue_work(p, undefined as unknown as () => void)).toThrow(new TypeError("queue_work: func must be a function, got undefined"));
    expect(() => e.call_rcu(-1n, () => {})).toThrow(/^call_rcu: head must be/);
    const ran: string[] = [];
    e.call_rcu(p, () => ran.push("first"));
    e.call_rcu(p, function bad_rcu_cb() { throw new Error("boom\nsecond line"); });
    e.call_rcu(p, () => ran.push("third"));
    e.takeReports();
    e.rcu_barrier();
    expect(ran).toEqual(["first", "third"]);
    const [w, ...rest] = e.takeReports();
    expect(rest).toEqual([]);
    expect(w).toMatchObject({ kind: "warn", type: "callback-failed", pid: 14, comm: "ksoftirqd/0" });
    const l = lines(w);
    expect(l.slice(0, 4)).toEqual(["------------[ cut here ]------------", "RCU callback bad_rcu_cb failed: Error: boom",
      "WARNING: CPU: 0 PID: 14 at kernel/rcu/tree.c:2568 rcu_do_batch+0x3bb/0xba0", "Modules linked in:"]);
    expect(l[4]).toBe("CPU: 0 UID: 0 PID: 14 Comm: ksoftirqd/0 Tainted: G        W          6.12.0 #1");
    expect(l.slice(l.indexOf(" <TASK>") + 1, l.indexOf(" </TASK>")).map((f) => f.replace(/\+.*/, "")))
      .toEqual([" rcu_core", " handle_softirqs", " run_ksoftirqd", " smpboot_thread_fn", " kthread", " ret_from_fork", " ret_from_fork_asm"]);
    const order: string[] = [];
    e.queue_work(p, () => { throw "not an Error"; });
    e.queue_work(p, () => order.push("after"));
    e.flush_workqueue();
    expect(order).toEqual(["after"]);
    const [ww] = e.takeReports();
    expect(lines(ww).slice(1, 3)).toEqual(["work function (anonymous) failed: not an Error",
      "WARNING: CPU: 0 PID: 40 at kernel/workqueue.c:3238 process_one_work+0x7bc/0x1ba0"]);
    expect(e.current.pid).toBe(1);
  });

  it("a slab constructor that throws WARNs and the allocation still completes", () => {
    const e = boot({ cmdline: "kfence.sample_interval=0" }, build);
    let calls = 0;
    const c = e.kmem_cache_create("ctor_cache", 64, { ctor: function ctor_that_throws() { if (calls++ === 0) throw new RangeError("ctor"); } });
    const obj = e.kmem_cache_alloc(c);
    expect(obj).not.toBe(0n);
    const [w] = e.takeReports();
    expect(lines(w)[1]).toBe("slab constructor of ctor_cache ctor_that_throws failed: RangeError: ctor");
    expect(lines(w)[2]).toMatch(/^WARNING: CPU: 0 PID: 1 at mm\/slub\.c:\d+ setup_object\+0x3c\/0x60$/);
    expect(e.selfCheck()).toEqual([]);
    expect(() => e.kmem_cache_create("bad_ctor", 64, { ctor: "x" as unknown as () => void })).toThrow(new TypeError('kmem_cache_create: ctor must be a function, got "x"'));
  });
});
