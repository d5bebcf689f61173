// The core's raw exports as the host sees them (i64 <-> bigint, i32 <-> number).
// Kept in step with assembly/index.ts; test/abi.test.ts checks both directions.
export interface CoreExports {
  memory?: WebAssembly.Memory;
  config_set(slot: number, value: bigint): void;
  boot(): number;
  boot_failed_stage(): number;
  layout_value(slot: number): bigint;
  stats_base(): number;
  ring_base(): number;
  ring_head(): number;
  ring_tail(): number;
  ring_consume(n: number): void;
  set_current(pid: number, cpu: number): void;
  set_taint(mask: number): void;
  get_taint(): number;
  clock_set(ns: bigint): void;
  clock_advance(ns: bigint): void;
  clock_now(): bigint;
  set_current_stack(handle: number): void;
  depot_save(framesLin: number, n: number): number;
  depot_fetch(handle: number, dstLin: number): number;
  depot_pools(): number;
  host_buf(): number;

  mem_load1(va: bigint): number;
  mem_load2(va: bigint): number;
  mem_load4(va: bigint): number;
  mem_load8(va: bigint): bigint;
  mem_load16(va: bigint): void;
  mem_store1(va: bigint, v: number): void;
  mem_store2(va: bigint, v: number): void;
  mem_store4(va: bigint, v: number): void;
  mem_store8(va: bigint, v: bigint): void;
  mem_store16(va: bigint): void;
  mem_copy_out(va: bigint, dstLin: number, n: bigint): number;
  mem_copy_in(va: bigint, srcLin: number, n: bigint): number;
  mem_memset(va: bigint, byte: number, n: bigint): number;
  mem_memcpy(dst: bigint, src: bigint, n: bigint): number;
  mem_memmove(dst: bigint, src: bigint, n: bigint): number;
  kasan_check_range(va: bigint, n: bigint, write: number, path: number): number;
  scratch_base(): number;
  translate_lin(va: bigint): number;
  alloc_pages(order: number, gfp: number): bigint;
  __free_pages(va: bigint, order: number): number;
  nr_free(order: number): number;
  zone_nr_free(zone: number, order: number): number;
  /** A CPU's per-CPU page list of a zone: field 0 count, 1 high, 2 batch, 3 high_min, 4 high_max, 5 + order blocks; cpu -1 sums the count. */
  zone_pcp(cpu: number, zone: number, field: number): number;
  /** drain_all_pages(NULL): every CPU's pcp lists back to the buddy; the pages drained. */
  drain_all_pages(): number;
  zone_present(zone: number): number;
  zone_reserved(zone: number): number;

  pt_map(va: bigint, pa: bigint, writable: number): number;
  pt_unmap(va: bigint): number;
  pt_protect(va: bigint, prot: number): number;
  pt_split(va: bigint): number;
  pt_translate(va: bigint): bigint;
  pt_set_pte_noflush(va: bigint, pa: bigint, prot: number): number;
  pt_alloc_frame(): bigint;
  walk_entry(i: number): bigint;
  walk_levels(): number;
  flush_tlb_all(): void;
  flush_tlb_one(va: bigint): void;
  tlb_check_coherent(): number;
  tlb_base(): number;

  kmalloc(size: bigint, gfp: number): bigint;
  kfree(va: bigint): number;
  kmem_cache_create(size: number, align: number, flags: number, ctor: number): number;
  kmalloc_cache_id(index: number): number;
  cache_info(id: number, field: number): number;
  slub_cpu_info(id: number, cpu: number, field: number): number;
  cache_count(): number;
  cache_state(id: number): number;
  kmem_cache_of(va: bigint): number;
  cache_va(id: number): bigint;
  slab_corruptions(): number;
  /** SLAB (shadowfence.slab=slab): a cache's SL_* field (abi.ts); 0 under SLUB. */
  slab_info(id: number, field: number): number;
  slab_reap_next(): bigint;
  kmem_cache_alloc(id: number, gfp: number): bigint;
  kmem_cache_free(id: number, va: bigint): number;
  kmem_cache_destroy(id: number): number;
  kmem_cache_alloc_bulk(id: number, gfp: number, n: number, outLin: number): number;
  kmem_cache_free_bulk(id: number, n: number, inLin: number): void;
  ksize(va: bigint): bigint;
  krealloc(va: bigint, size: bigint, gfp: number): bigint;
  kfree_sensitive(va: bigint): number;

  kasan_disable_current(): void;
  kasan_enable_current(): void;
  kasan_multi_shot(on: number): void;
  kasan_record_aux_stack(va: bigint): void;
  kasan_poison_range(va: bigint, size: bigint, value: number): void;
  kasan_unpoison_range(va: bigint, size: bigint): void;
  kasan_shadow_byte(va: bigint): number;
  kasan_random_tag(): number;
  kasan_alloca_poison(va: bigint, size: bigint): void;
  kasan_mempool_poison_object(va: bigint): number;
  kasan_mempool_unpoison_object(va: bigint, size: bigint): void;
  kasan_mempool_poison_pages(va: bigint, order: number): number;
  kasan_mempool_unpoison_pages(va: bigint, order: number): void;
  kasan_quarantine_drain(): void;
  quarantine_stats(): void;
  quarantine_corruptions(): number;

  kimage_global_alloc(total: number, inModule: number): bigint;
  kimage_data_va(): bigint;
  task_stack_alloc(pid: number): bigint;
  /** 0 freed; -1 pid has no stack. */
  task_stack_free(pid: number): number;
  /** Tasks with a stack (at most MAX_TASKS). */
  task_count(): number;
  /** A WARN record for a host-run callback that threw (CALLBACK_*). */
  warn_callback(kind: number): void;
  stack_frame_push(pid: number, size: number): bigint;
  stack_frame_pop(pid: number, va: bigint, size: number): void;
  task_stack_base(pid: number): bigint;
  task_stack_size(pid: number): number;
  rcu_barrier(): void;

  bench_raw_load8(va: bigint, n: number, mask: number): bigint;
  bench_checked_load8(va: bigint, n: number, mask: number): bigint;
  bench_checked_store8(va: bigint, n: number, mask: number): void;
  bench_tlb_hits(va: bigint, n: number, mask: number): number;
  bench_walks(va: bigint, n: number, mask: number): bigint;

  // ── KFENCE ──
  kmem_cache_shrink(id: number): number;
  kfence_pool_start(): bigint;
  kfence_pool_size(): bigint;
  kfence_num_objects(): number;
  kfence_meta_base(): number;
  kmemleak_walk_start(): void;
  kmemleak_walk_next(): number;
  kmemleak_walk_size(): number;
  kmemleak_walk_pid(): number;
  kmemleak_walk_stack(): number;
  kfence_enabled(): number;
  kfence_init_failed(): number;
  kfence_sample_interval(): number;
  kfence_next_sample(): bigint;
  kfence_set_sample_interval(ms: number): number;
  kfence_wall_poll(): void;
  bench_kfence_workload(n: number, seed: number, tickEvery: number, tickNs: bigint): bigint;
  bench_is_kfence(va: bigint, n: number, mask: number): number;
  bench_modes_workload(n: number, seed: number): bigint;
  bench_modes_fill(n: number, seed: number): bigint;
  bench_kmalloc_kfree(n: number, size: number): number;
  kmalloc_kfree_run(n: number, size: number): number;
  kmalloc_pass_run(n: number, size: number): number;
  /** SMP lock test: iters times take lock, bump a shared counter non-atomically, release. */
  smp_lock_torture(lock: number, iters: number): void;
  smp_torture_count(): number;
  smp_lock_state(lock: number): number;
  /** CPU 0 after boot: publish the boot-only machine state (assembly/smp.ts). */
  smp_boot_state_save(): void;
  /** Another CPU's instance: take the published boot state, become CPU cpu; 0 or -1. */
  smp_secondary_start(cpu: number): number;
  smp_probe_shadow(va: bigint): number;
  smp_processor_id(): number;
  /** CPU 0 as CPU threads start: kernel code takes the kernel lock from now on. */
  smp_start(): void;
  smp_set_may_wait(on: number): void;
  /** Take the kernel lock (a no-op before CPU threads start), keeping the other CPUs off their lockless paths; returns the depth to give kernel_leave. */
  kernel_enter(): number;
  /** Allocations (which 0) or frees (1) CPU cpu made on SLUB's per-CPU path without the kernel lock, since boot. */
  smp_fast_done(cpu: number, which: number): bigint;
  /** A job failed: the other CPUs' jobs waiting at a barrier inside the core give up (fuzz_rounds). */
  smp_jobs_abort(): void;
  kernel_leave(depth: number): void;
  /** The SMP churn job (assembly/smp_churn.ts): bugs planted, -1 (an object changed under its CPU), -3 (panic). */
  smp_churn_run(seed: number, ops: number, oobEvery: number): number;
  // ── vmalloc, KASAN_VMALLOC, percpu ──
  vmalloc(size: bigint): bigint;
  vzalloc(size: bigint): bigint;
  __vmalloc(size: bigint, gfp: number): bigint;
  __vmalloc_node(size: bigint, align: bigint, gfp: number): bigint;
  vfree(va: bigint): number;
  vmap(pfnsLin: number, count: number): bigint;
  vunmap(va: bigint): number;
  vm_map_ram(pfnsLin: number, count: number, cpu: number): bigint;
  vm_unmap_ram(va: bigint, count: number): number;
  vm_unmap_aliases(): void;
  vmalloc_to_pfn(va: bigint): bigint;
  is_vmalloc_addr(va: bigint): number;
  vmalloc_lazy_max_pages(): number;
  find_vm_area(va: bigint, outLin: number): number;
  vmalloc_reset_peaks(): void;
  __alloc_percpu(size: number, align: number): bigint;
  free_percpu(va: bigint): number;
  per_cpu_ptr(va: bigint, cpu: number): bigint;
  test_vmalloc_run(id: number, loops: number, nrPages: number, seed: number): number;
  fail_page_alloc_set(interval: number, probability: number, space: bigint, times: number): void;
  // ── guests (assembly/hooks.ts, assembly/guest.ts) ──
  // plus every __asan_* hook, bound to guests by name (host/guest/runner.ts)
  guest_relocate(base: number, nullLen: number): number;
  guest_fill(p: number, c: number, n: number): number;
  guest_copy(dst: number, src: number, n: number): number;
  guest_range(p: number, n: number): void;
  guest_posix_memalign(out: number, align: number, n: number): number;
  guest_posix_memalign_kasan_off(out: number, align: number, n: number): number;
  guest_begin(imgLo: number, imgHi: number, stkLo: number, stkHi: number, ctl: number, ringBytes: number, pid: number): number;
  guest_end(): void;
  guest_stop_reason(): number;
  guest_range_ok(p: number, n: number): number;
  guest_busy_pfn(): number;
  guest_globals_table(): number;
  guest_ignored_shadow_writes(): number;
  guest_kmalloc(size: number): number;
  guest_kcalloc(n: number, size: number): number;
  guest_kfree(p: number): void;
  guest_krealloc(p: number, size: number): number;
  guest_ksize(p: number): number;
  guest_kmalloc_aligned(align: number, size: number): number;
  guest_check_range(p: number, n: number, write: number): number;
  guest_frames_base(): number;
  guest_seal(addr: number, offset: number, size: number, write: number): void;
  // guest_sealed_{load,store}[_kasan_off](addr, offset, size): bound to guests by name
  engine_self_check(): number;
  // ── fuzz: the op-tape interpreter (assembly/fuzz/tape.ts) ──
  fuzz_begin(slots: number): number;
  fuzz_set_cache(c: number, id: number, objectSize: number): void;
  fuzz_set_task(t: number, pid: number): void;
  fuzz_run(start: number, len: number, op: number, logBase: number, flags: number): number;
  fuzz_pos(): number;
  fuzz_next_op(): number;
  fuzz_buf(): number;
  fuzz_log(): number;
  fuzz_sites(): number;
  fuzz_stats(): number;
  fuzz_end(): void;
  // fuzz --cpus (assembly/fuzz/rounds.ts)
  fuzz_rounds_begin(cpus: number, segOps: number, ops: number): number;
  fuzz_rounds_arm(): void;
  fuzz_rounds(maxSegs: number, flags: number): number;
  fuzz_rounds_info(what: number): number;
  fuzz_rounds_time(cpu: number, what: number): number;
  fuzz_cpu_of_op(code: number, slot: number, k: number, cpus: number, shares: number, op: number): number;
  fuzz_gen_config(): number;
  fuzz_gen_init(): number;
  fuzz_gen_fill(dst: number, cap: number, maxOps: number): number;
  fuzz_gen_bytes(): number;
  fuzz_gen_op(): number;
  fuzz_gen_planted(cls: number): number;
}
