// The core's export surface (its ABI with the host and with guests). Only
// re-exports, grouped by subsystem; no code lives here.

// boot and configuration
export { config_set } from "./config";
export { boot, boot_failed_stage } from "./boot";
export { layout_value } from "./mm/layout";

// counters, report ring, task/clock/taint state, stack depot
export { stats_base } from "./stats_export";
export { ring_base, ring_head, ring_tail, ring_consume } from "./report";
export { set_current, set_taint, get_taint, clock_set, clock_advance, clock_now } from "./task";
export { set_current_stack, depot_save, depot_fetch, depot_pools } from "./stackdepot";

// memory: checked accesses and the page allocator
export { mem_load1, mem_load2, mem_load4, mem_load8, mem_load16, mem_store1, mem_store2, mem_store4,
         mem_store8, mem_store16, mem_memset, mem_memcpy, mem_memmove,
         kasan_check_range, scratch_base, mem_copy_out, mem_copy_in,
         translate_lin } from "./mm/access";
export { alloc_pages, __free_pages, nr_free, fail_page_alloc_set, zone_nr_free, zone_present, zone_reserved,
         zone_pcp, drain_all_pages } from "./mm/page_alloc";
export { warn_callback } from "./mm/fault";

// page tables and TLB (also the model tests' hooks)
export { pt_map, pt_unmap, pt_protect, pt_split, pt_translate, pt_set_pte_noflush, pt_alloc_frame } from "./mm/pt_api";
export { walk_entry, walk_levels } from "./mm/pgtable";
export { flush_tlb_all, flush_tlb_one, tlb_check_coherent, tlb_base } from "./mm/tlb";

// slab
export { kmalloc, kfree, kmem_cache_create, kmalloc_cache_id, cache_info, cache_count, cache_va, cache_state, kmem_cache_of,
         slab_corruptions, slub_cpu_info } from "./mm/slub";
export { slab_info, slab_reap_next } from "./mm/slab";
export { kmem_cache_alloc, kmem_cache_free, kmem_cache_destroy, kmem_cache_alloc_bulk, kmem_cache_free_bulk,
         ksize, krealloc, kfree_sensitive, kmem_cache_shrink } from "./mm/slab_common";

// KASAN
export { kasan_disable_current, kasan_enable_current } from "./kasan/report";
export { kasan_multi_shot } from "./kasan/kasan";
export { kasan_record_aux_stack } from "./kasan/common";
export { kasan_poison_range, kasan_unpoison_range, kasan_shadow_byte, kasan_alloca_poison, kasan_random_tag } from "./kasan/shadow_api";
export { kasan_mempool_poison_object, kasan_mempool_unpoison_object, kasan_mempool_poison_pages,
         kasan_mempool_unpoison_pages } from "./kasan/common";
export { kasan_quarantine_drain, quarantine_stats, quarantine_corruptions } from "./kasan/quarantine";

// kernel image globals, task stacks, RCU
export { kimage_global_alloc, kimage_data_va } from "./mm/kimage";
export { task_stack_alloc, task_stack_free, stack_frame_push, stack_frame_pop,
         task_stack_base, task_stack_size, task_count } from "./task_stack";
export { rcu_barrier } from "./rcu";

// KFENCE
export { kfence_pool_start, kfence_pool_size, kfence_num_objects, kfence_meta_base, kfence_enabled,
         kfence_init_failed, kfence_sample_interval, kfence_next_sample, kfence_set_sample_interval,
         kfence_wall_poll } from "./kfence/core";

// SMP: the lock torture test's loop and probes (assembly/locks.ts)
export { smp_lock_torture, smp_torture_count, smp_lock_state } from "./locks";
export { smp_churn_run } from "./smp_churn";
export { smp_boot_state_save, smp_start, smp_set_may_wait, smp_secondary_start, smp_probe_shadow, smp_processor_id, host_buf, kernel_enter, kernel_leave, smp_fast_done, smp_jobs_abort } from "./smp";

// benchmarks (bench/ times these loops inside wasm)
export { bench_raw_load8, bench_checked_load8, bench_checked_store8, bench_tlb_hits, bench_walks } from "./bench";
export { bench_kfence_workload, bench_is_kfence, bench_modes_workload, bench_modes_fill,
         bench_kmalloc_kfree, kmalloc_kfree_run, kmalloc_pass_run } from "./bench";

// vmalloc, KASAN_VMALLOC, percpu, and lib/test_vmalloc.c's loops for the benchmark
export { vmalloc, vzalloc, __vmalloc, __vmalloc_node, vfree, vmap, vunmap, vm_map_ram, vm_unmap_ram,
         vm_unmap_aliases, vmalloc_to_pfn, is_vmalloc_addr, vmalloc_lazy_max_pages, find_vm_area,
         vmalloc_reset_peaks } from "./mm/vmalloc";
export { __alloc_percpu, free_percpu, per_cpu_ptr } from "./mm/percpu";
export { test_vmalloc_run } from "./mm/test_vmalloc";

// guests: the __asan_* ABI clang emits (bound straight to a guest's imports;
// the `_noabort` names of the kernel flavour are the same checks), the heap the
// guest's shim calls, and the run bracket the host uses
export { __asan_load1, __asan_load2, __asan_load4, __asan_load8, __asan_load16, __asan_loadN,
         __asan_store1, __asan_store2, __asan_store4, __asan_store8, __asan_store16, __asan_storeN,
         __asan_load1 as __asan_load1_noabort, __asan_load2 as __asan_load2_noabort,
         __asan_load4 as __asan_load4_noabort, __asan_load8 as __asan_load8_noabort,
         __asan_load16 as __asan_load16_noabort, __asan_loadN as __asan_loadN_noabort,
         __asan_store1 as __asan_store1_noabort, __asan_store2 as __asan_store2_noabort,
         __asan_store4 as __asan_store4_noabort, __asan_store8 as __asan_store8_noabort,
         __asan_store16 as __asan_store16_noabort, __asan_storeN as __asan_storeN_noabort,
         __asan_load1_kasan_off, __asan_load2_kasan_off, __asan_load4_kasan_off, __asan_load8_kasan_off,
         __asan_load16_kasan_off, __asan_store1_kasan_off, __asan_store2_kasan_off, __asan_store4_kasan_off,
         __asan_store8_kasan_off, __asan_store16_kasan_off,
         __asan_memset, __asan_memcpy, __asan_memmove,
         __asan_set_shadow_00, __asan_set_shadow_01, __asan_set_shadow_02, __asan_set_shadow_03,
         __asan_set_shadow_04, __asan_set_shadow_05, __asan_set_shadow_06, __asan_set_shadow_07,
         __asan_set_shadow_f1, __asan_set_shadow_f2, __asan_set_shadow_f3, __asan_set_shadow_f5,
         __asan_set_shadow_f8, __asan_alloca_poison, __asan_allocas_unpoison, __asan_handle_no_return,
         __asan_register_globals, __asan_unregister_globals, __asan_init, __asan_version_mismatch_check_v8,
         __asan_before_dynamic_init, __asan_after_dynamic_init, guest_check_range,
         guest_frames_base, guest_seal, guest_sealed_load, guest_sealed_store, guest_sealed_load_kasan_off,
         guest_sealed_store_kasan_off, guest_fill, guest_copy, guest_range, guest_posix_memalign,
         guest_posix_memalign_kasan_off } from "./hooks";
export { engine_self_check } from "./selfcheck";
export { guest_kmalloc, guest_kcalloc, guest_kfree, guest_krealloc, guest_ksize, guest_kmalloc_aligned,
         guest_begin, guest_end, guest_stop_reason, guest_range_ok, guest_busy_pfn, guest_globals_table,
         guest_ignored_shadow_writes, guest_relocate } from "./guest";

// fuzz: the op-tape interpreter (assembly/fuzz/tape.ts, host/fuzz/)
export { fuzz_begin, fuzz_set_cache, fuzz_set_task, fuzz_run, fuzz_pos, fuzz_next_op, fuzz_buf, fuzz_log,
         fuzz_sites, fuzz_stats, fuzz_end } from "./fuzz/tape";
export { fuzz_rounds_begin, fuzz_rounds_arm, fuzz_rounds, fuzz_rounds_info, fuzz_rounds_time, fuzz_cpu_of_op } from "./fuzz/rounds";
export { fuzz_gen_config, fuzz_gen_init, fuzz_gen_fill, fuzz_gen_bytes, fuzz_gen_op,
         fuzz_gen_planted } from "./fuzz/gen";
// kmemleak: the walk over every allocated object the host's scan reads
export { kmemleak_walk_start, kmemleak_walk_next, kmemleak_walk_size, kmemleak_walk_pid, kmemleak_walk_stack } from "./kmemleak";
