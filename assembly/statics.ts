// Fixed linear addresses for the engine's large zero-initialised tables, laid
// out back to back in [STATICS_BASE, PHYS_BASE). They are not data segments
// (memory.data would ship their zeros inside the .wasm), and as constants they
// fold into immediates on the hot paths. boot() checks the AS heap stays below.
import { PHYS_BASE, HOST_BUF_SIZE as ABI_HOST_BUF_SIZE } from "../abi/abi";

// @ts-ignore: decorator
@inline export const STATICS_BASE: usize = 0x100000;
// @ts-ignore: decorator
@inline export const TLB_TABLE: usize = STATICS_BASE;                       // 4096 x 32
// @ts-ignore: decorator
@inline export const RING_TABLE: usize = TLB_TABLE + 0x20000;              // 128 x 512
// @ts-ignore: decorator
@inline export const RCU_TABLE: usize = RING_TABLE + 0x10000;              // 16384 x 8
// @ts-ignore: decorator
@inline export const QUARANTINE_TABLE: usize = RCU_TABLE + 0x20000;        // 1024 x 32 + 64 x 64 (a line per CPU)
// @ts-ignore: decorator
@inline export const TASK_TABLE: usize = QUARANTINE_TABLE + 0x10000;       // 1024 x 32
// @ts-ignore: decorator
@inline export const CACHE_TABLE: usize = TASK_TABLE + 0x8000;             // 4096 x (u32 lin + u8 state + u8 tag)
// @ts-ignore: decorator
@inline export const HOT_TABLE: usize = CACHE_TABLE + 0x8000;              // hot switches, below; locks.ts from +0x800
// @ts-ignore: decorator
@inline export const MISC_TABLE: usize = HOT_TABLE + 0x1000;               // small scratch areas
// vmalloc: directory of the vmap-area record chunks (16384 x u32 linear address)
// @ts-ignore: decorator
@inline export const VMALLOC_TABLE: usize = MISC_TABLE + 0x10000;
// ── guests (hooks.ts, guest.ts) ──
// GUEST_FRAMES: one byte per 4 KiB frame of the whole 32-bit space (GUEST_FRAME_*),
// so the hook's index needs no bound. GUEST_MISC: globals registry and scratch.
// @ts-ignore: decorator
@inline export const GUEST_FRAMES: usize = VMALLOC_TABLE + 0x10000;          // 0x100000 x u8
// @ts-ignore: decorator
@inline export const GUEST_FRAME_HEAP: u8 = 1;       // a kmalloc slab or a large kmalloc
// @ts-ignore: decorator
@inline export const GUEST_FRAME_IMAGE: u8 = 2;      // the running guest's data and stack
// Mark n frames from pfn for checked guest accesses (slub.ts keeps heap frames marked).
// @ts-ignore: decorator
@inline export function guestFramesMark(pfn: u32, n: u32, v: u8): void { memory.fill(GUEST_FRAMES + <usize>pfn, v, <usize>n); }
// @ts-ignore: decorator
@inline export const GUEST_MISC: usize = GUEST_FRAMES + 0x100000;          // 0x2000
// @ts-ignore: decorator
@inline export const CACHE_PRIV: usize = GUEST_MISC + 0x2000;              // 4096 x 128: the engine's kmem_cache copies (slub.ts)
// @ts-ignore: decorator
@inline export const STATICS_END: usize = CACHE_PRIV + 0x80000;

// Switches read on every checked access live in linear memory at constant
// addresses: one load off the memory base. (A mutable wasm global costs V8 a
// reload through the instance each time, measured at +0.5 ns per access.)
// @ts-ignore: decorator
@inline export const HOT_TAG_MASK: usize = HOT_TABLE;            // u64: 0xff.. on arm64 (TBI), else 0
// @ts-ignore: decorator
@inline export const HOT_KASAN_MODE: usize = HOT_TABLE + 8;      // i32: KASAN_OFF / GENERIC / SW_TAGS
// @ts-ignore: decorator
@inline export const HOT_KFENCE_GATE: usize = HOT_TABLE + 12;    // i32: 1 while the sampling gate is open
// @ts-ignore: decorator
@inline export const HOT_KFENCE_START: usize = HOT_TABLE + 16;   // u64: pool start
// @ts-ignore: decorator
@inline export const HOT_KFENCE_SIZE: usize = HOT_TABLE + 24;    // u64: pool size (0: no KFENCE)
// i32: 1 under SLAB (shadowfence.slab=slab), 0 under SLUB
// @ts-ignore: decorator
@inline export const HOT_SLAB_ALLOCATOR: usize = HOT_TABLE + 32;
// guests: PAGE_OFFSET - PHYS_BASE, so a guest pointer p is the direct-map address p + delta
// @ts-ignore: decorator
@inline export const HOT_GUEST_DELTA: usize = HOT_TABLE + 64;    // u64

// Transfer buffer for the host: frame ids, bytes, bulk object arrays (HOST_BUF_* in abi/abi.ts).
// @ts-ignore: decorator
@inline export const HOST_BUF: usize = MISC_TABLE + 0x9000;
// @ts-ignore: decorator
@inline export const HOST_BUF_SIZE: usize = ABI_HOST_BUF_SIZE;

export function staticsFit(): bool { return __heap_base <= STATICS_BASE && SLAB_END <= <usize>PHYS_BASE && SLUB_CPU_TABLE_END <= SLAB_END && MACHINE_STATE_END <= <usize>PHYS_BASE; }
export function staticsClear(): void {
  memory.fill(STATICS_BASE, 0, STATICS_END - STATICS_BASE);
  memory.fill(PERCPU_FAST, 0, MACHINE_STATE_END - PERCPU_FAST);
}

// ── fuzz (fuzz/tape.ts): past STATICS_END, so boot does not clear them; fuzz_begin()
// clears what a tape uses. Outside simulated RAM: no checked access can reach them.
// FUZZ_BUF: ops the host writes (FZ_BUF_SIZE); FUZZ_LOG: per-op log (check mode);
// FUZZ_SLOTS: 32 bytes a slot; FUZZ_SITES: depot handle per site; FUZZ_MISC: caches,
// tasks, counters; FUZZ_GEN: the generator.
// @ts-ignore: decorator
@inline export const FUZZ_BUF: usize = STATICS_END;                          // 0x200000
// @ts-ignore: decorator
@inline export const FUZZ_LOG: usize = FUZZ_BUF + 0x200000;                  // 16384 x 32
// @ts-ignore: decorator
@inline export const FUZZ_SLOTS: usize = FUZZ_LOG + 0x80000;                 // 16384 x 32
// @ts-ignore: decorator
@inline export const FUZZ_SITES: usize = FUZZ_SLOTS + 0x80000;               // 65536 x u32
// @ts-ignore: decorator
@inline export const FUZZ_MISC: usize = FUZZ_SITES + 0x40000;                // 0x1000
// FUZZ_GEN: the workload generator's configuration and state (fuzz/gen.ts)
// @ts-ignore: decorator
@inline export const FUZZ_GEN: usize = FUZZ_MISC + 0x1000;                   // 0xa0000
// @ts-ignore: decorator
@inline export const FUZZ_END: usize = FUZZ_GEN + 0xa0000;

// ── SLAB (mm/slab.ts), cleared by its init: the per-cache fields SLAB adds to
// struct kmem_cache (128 bytes a cache), then the pool its array caches come from.
// @ts-ignore: decorator
@inline export const SLAB_EXT: usize = FUZZ_END;                             // 4096 x 128
// @ts-ignore: decorator
@inline export const SLAB_AC_POOL: usize = SLAB_EXT + 0x80000;               // 8 MiB
// @ts-ignore: decorator
@inline export const SLAB_END: usize = SLAB_AC_POOL + 0x800000;
// ── SLUB (mm/slub.ts): struct kmem_cache_cpu of every CPU and cache (16 bytes
// each, [cpu][cache], 64 CPUs x 4096 caches). SLUB and SLAB never run in the
// same boot, so it takes SLAB's area; each cache fills its rows when created.
// @ts-ignore: decorator
@inline export const SLUB_CPU_TABLE: usize = SLAB_EXT;
// @ts-ignore: decorator
@inline export const SLUB_CPU_TABLE_END: usize = SLUB_CPU_TABLE + 64 * 4096 * 16;

// ── SMP: CPUs 1..7's host transfer buffers (CPU 0's is HOST_BUF): the host
// fills one before a call on that CPU while another CPU may be in the kernel.
// @ts-ignore: decorator
@inline export const PERCPU_HOST_BUF: usize = SLAB_END;                        // 7 x HOST_BUF_SIZE
// @ts-ignore: decorator
@inline export const PERCPU_CHURN: usize = PERCPU_HOST_BUF + 7 * HOST_BUF_SIZE;   // 8 x CHURN_AREA_SIZE (smp_churn.ts)
// @ts-ignore: decorator
@inline export const CHURN_SLOTS: u32 = 64;
// @ts-ignore: decorator
@inline export const CHURN_AREA_SIZE: usize = 4096;
// @ts-ignore: decorator
@inline export const PERCPU_CHURN_END: usize = PERCPU_CHURN + 8 * CHURN_AREA_SIZE;
// ── SMP: the lockless per-CPU paths (smp.ts, mm/slub.ts). A 64-byte line
// for the stop word, one per CPU (its in-fast-path word and counters); then
// each CPU's change to every cache's live count, each CPU's cache of saved
// stacks, SLUB's slab locks, and the kmalloc_kfree job's pass table.
// @ts-ignore: decorator
@inline export const PERCPU_FAST: usize = PERCPU_CHURN_END;                   // 0x400 of lines
// @ts-ignore: decorator
@inline export const FAST_LIVE: usize = PERCPU_FAST + 0x1000;                 // 8 x 4096 x i32
// @ts-ignore: decorator
@inline export const FAST_SAVE_CACHE: usize = FAST_LIVE + 0x20000;           // 8 x 512 x 16 (kasan/common.ts)
// SLUB's slab locks (mm/slub.ts slabLock): 64, each on its own line
// @ts-ignore: decorator
@inline export const SLAB_LOCKS: usize = FAST_SAVE_CACHE + 0x10000;            // 64 x 64
// the table the kmalloc_kfree job's CPUs pass objects through (bench.ts kmalloc_pass_run)
// @ts-ignore: decorator
@inline export const SLAB_PASS: usize = SLAB_LOCKS + 0x1000;                  // 256 x u64
// @ts-ignore: decorator
@inline export const PERCPU_END: usize = SLAB_PASS + 0x800;
// ── The machine's mutable state that lived in wasm globals (one copy per CPU
// instance), kept here instead so every CPU reads the one copy (docs/smp.md).
// A 256-byte area per source file, each an @unmanaged class at its address.
// @ts-ignore: decorator
@inline export const MACHINE_STATE: usize = PERCPU_END;
// @ts-ignore: decorator
@inline export const MACHINE_STATE_END: usize = MACHINE_STATE + 0x2000;
