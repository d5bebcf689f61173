// Numbers the AssemblyScript core and the TypeScript host must agree on.
// Only `export const NAME = <integer literal>;` lines: the file compiles as both
// AssemblyScript (imported by assembly/) and TypeScript (imported by host/).

// ── Linear memory map ───────────────────────────────────────────────────────
// [0, PHYS_BASE) engine statics (TLB, report ring, counters); [PHYS_BASE, +ram) the
// simulated machine's physical memory, frame by frame.
export const PHYS_BASE = 0x1000000;          // 16 MiB
export const WASM_PAGE = 65536;
export const MAX_WASM_PAGES = 65536;         // 4 GiB: the wasm32 limit
export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
export const MAX_PAGE_ORDER = 10;            // buddy orders 0..10 (4 MiB blocks)

// ── Boot configuration slots (host writes i64 values before boot) ───────────
export const CFG_RAM_MB = 0;
export const CFG_ARCH = 1;
export const CFG_KASAN = 2;                  // 0 off, 1 on
export const CFG_KASAN_MODE = 3;
export const CFG_KASAN_FAULT = 4;
export const CFG_KASAN_MULTI_SHOT = 5;
export const CFG_KASAN_QUARANTINE = 6;       // bytes; -1 = kernel default (RAM/32)
export const CFG_KASAN_VMALLOC = 7;
export const CFG_KASAN_STACKTRACE = 8;
export const CFG_KASAN_STACK_RING_SIZE = 9;
export const CFG_KASAN_SEED = 10;
export const CFG_KFENCE_SAMPLE_INTERVAL = 11; // ms; 0 disables
export const CFG_KFENCE_NUM_OBJECTS = 12;
export const CFG_KFENCE_SKIP_COVERED_THRESH = 13;
export const CFG_KFENCE_DEFERRABLE = 14;
export const CFG_KFENCE_BURST = 15;
export const CFG_KFENCE_CLOCK = 16;          // 0 virtual, 1 wall
export const CFG_PANIC_ON_WARN = 17;
export const CFG_FAIL_INTERVAL = 18;         // fail_page_alloc=<interval>,<probability>,<space>,<times>
export const CFG_FAIL_PROBABILITY = 19;      // percent; 0 disables fault injection
export const CFG_KFENCE_ALLOC_TICK_NS = 20;  // virtual clock advance per slab allocation
export const CFG_STACK_DEPOT_MAX = 21;       // stack depot capacity (stacks)
export const CFG_VMAP_STACK = 22;
export const CFG_KFENCE_CHECK_ON_PANIC = 23;
export const CFG_FAIL_SPACE = 24;            // bytes allowed before the first failure
export const CFG_FAIL_TIMES = 25;            // failures left; -1 unlimited
export const CFG_NR_CPUS = 26;
export const CFG_INIT_ON_FREE = 27;
export const CFG_INIT_ON_ALLOC = 28;
export const CFG_SLAB_ALLOCATOR = 29;       // SLAB_ALLOCATOR_* (Kconfig's SLAB/SLUB choice, a boot parameter here)
export const CFG_SLAB_MAX_ORDER = 30;       // SLAB's slab_max_order=; -1 = the kernel's default (1 above 32 MiB of RAM)
export const CFG_COUNT = 32;

export const ARCH_X86_64 = 0;
export const ARCH_ARM64 = 1;
// The KASAN mode: CFG_KASAN_MODE (used when CFG_KASAN is on) and the core's
// kasanMode (assembly/kasan/kasan.ts), one enumeration
export const KASAN_MODE_OFF = 0;
export const KASAN_MODE_GENERIC = 1;
export const KASAN_MODE_SW_TAGS = 2;
export const KASAN_FAULT_REPORT = 0;
export const KASAN_FAULT_PANIC = 1;
export const KASAN_FAULT_PANIC_ON_WRITE = 2;

// ── boot() results ──────────────────────────────────────────────────────────
export const BOOT_OK = 0;
export const BOOT_ENOMEM = 1;                // RAM too small for the tables and pools
export const BOOT_EINVAL = 2;

// ── Frame use (struct page "use" byte), counted in stats ────────────────────
export const USE_FREE = 0;
export const USE_RESERVED = 1;               // frame 0, memblock leftovers
export const USE_MEMMAP = 2;                 // struct page array
export const USE_PGTABLE = 3;
export const USE_SHADOW = 4;                 // KASAN shadow (direct map, image, vmalloc)
export const USE_KFENCE = 5;                 // KFENCE pool
export const USE_DEPOT = 6;                  // stack depot pool
export const USE_KERNEL = 7;                 // kernel image (globals)
export const USE_PAGES = 8;                  // alloc_pages() by the user
export const USE_SLAB = 9;
export const USE_VMALLOC = 10;
export const USE_LARGE_KMALLOC = 11;
export const USE_METADATA = 12;              // other engine metadata (quarantine, rings)
export const USE_GUEST = 13;                 // a guest program's data/stack image
export const USE_COUNT = 14;

// ── Counters (u64 each, at stats_base()) ────────────────────────────────────
export const STAT_FRAMES_TOTAL = 0;
export const STAT_FRAMES_FREE = 1;
export const STAT_TLB_HITS = 2;              // not counted by the mode-specialised loops: see mm/access.ts
export const STAT_TLB_MISSES = 3;
export const STAT_TLB_FLUSHES = 4;
export const STAT_TLB_FLUSH_ALL = 5;
export const STAT_PAGE_FAULTS = 6;
export const STAT_OOPSES = 7;
export const STAT_REPORTS = 8;
export const STAT_REPORTS_LOST = 9;
export const STAT_REPORTS_SUPPRESSED = 10;
export const STAT_PGTABLE_SPLITS = 11;
export const STAT_DEPOT_STACKS = 12;
export const STAT_DEPOT_DROPPED = 13;
export const STAT_PAGE_ALLOCS = 14;
export const STAT_PAGE_FREES = 15;
export const STAT_PAGE_ALLOC_FAILS = 16;
export const STAT_SLAB_ALLOCS = 17;
export const STAT_SLAB_FREES = 18;
export const STAT_QUARANTINE_BYTES = 19;
export const STAT_QUARANTINE_OBJECTS = 20;
export const STAT_QUARANTINE_LIMIT = 21;
export const STAT_VMALLOC_PAGES = 22;
export const STAT_VMALLOC_SHADOW_PAGES = 23;
export const STAT_VMALLOC_SHADOW_FREED = 24;
export const STAT_VMALLOC_AREAS = 25;
export const STAT_VMALLOC_LAZY_PAGES = 26;
export const STAT_VMALLOC_PURGES = 27;
export const STAT_VMALLOC_SHADOW_PEAK = 28;
export const STAT_KFENCE_ALLOCATED = 29;
export const STAT_KFENCE_ALLOCS = 30;
export const STAT_KFENCE_FREES = 31;
export const STAT_KFENCE_ZOMBIES = 32;
export const STAT_KFENCE_BUGS = 33;
export const STAT_KFENCE_SKIP_INCOMPAT = 34;
export const STAT_KFENCE_SKIP_CAPACITY = 35;
export const STAT_KFENCE_SKIP_COVERED = 36;
export const STAT_KASAN_STACK_CACHE_MISSES = 39; // kasan_save_stack() calls that missed the CPU's cache of saved stacks (kasan/common.ts)
export const STAT_USE_BASE = 40;             // + USE_*: frames per use
export const STAT_COUNT = 64;

// ── Report ring ─────────────────────────────────────────────────────────────
export const RING_RECORDS = 128;
export const REC_SIZE = 512;
// record kinds
export const REP_KASAN = 1;                  // bad access (generic or tag-based)
export const REP_KASAN_FREE = 2;             // double-free / invalid-free
export const REP_KFENCE = 3;
export const REP_OOPS = 4;                   // page fault oops
export const REP_GPF = 5;                    // general protection fault (non-canonical)
export const REP_WARN = 6;                   // kernel complaint text (kmem_cache_destroy, ...)
export const REP_PANIC = 7;                  // kasan.fault=panic / panic_on_warn

// record fields (byte offsets)
export const R_KIND = 0;                     // u16
export const R_BUG = 2;                      // u8 bug type (BUG_*)
export const R_FLAGS = 3;                    // u8 RF_*
export const R_SEQ = 4;                      // u32
export const R_ADDR = 8;                     // u64 access / free address (tagged if tags)
export const R_SIZE = 16;                    // u64
export const R_FIRST_BAD = 24;               // u64
export const R_TIME = 32;                    // u64 ns on the engine clock
export const R_PID = 40;                     // u32
export const R_CPU = 44;                     // u32
export const R_STACK = 48;                   // u32 depot handle of the access stack (0: host fills)
export const R_ERRCODE = 52;                 // u32 #PF error code / KFENCE error type
export const R_OBJECT = 56;                  // u64
export const R_CACHE = 64;                   // u32 cache id
export const R_OBJSIZE = 68;                 // u32 cache object_size
export const R_REGION = 72;                  // u32 alloc size (region)
export const R_SLOT = 76;                    // u32 slot size
export const R_ALLOC_PID = 80;               // u32
export const R_ALLOC_STACK = 84;             // u32
export const R_ALLOC_CPU = 88;               // u32
export const R_ALLOC_TIME = 96;              // u64
export const R_FREE_PID = 104;                // u32
export const R_FREE_STACK = 108;              // u32
export const R_FREE_CPU = 112;                // u32
export const R_FREE_TIME = 120;               // u64
export const R_AUX0 = 128;                   // u32 aux stack (call_rcu / workqueue)
export const R_AUX1 = 132;                    // u32
export const R_PFN = 136;                    // u64 page
export const R_PAGE_FLAGS = 144;             // u32
export const R_PAGE_USE = 148;               // u8
export const R_PAGE_ORDER = 149;             // u8 compound order (head)
export const R_PAGE_REF = 152;               // i32
export const R_PAGE_MAP = 156;               // i32
export const R_HEAD_PFN = 160;               // u64
export const R_VM_START = 168;               // u64 vmalloc area
export const R_VM_SIZE = 176;                // u64
export const R_VM_CALLER = 184;              // u32 stack handle of the vmalloc caller
export const R_PTR_TAG = 188;                // u8
export const R_MEM_TAG = 189;                // u8
export const R_SHADOW_ROW = 192;             // u64 first row's memory address
export const R_SHADOW = 200;                 // 80 bytes: 5 rows x 16 metadata bytes
export const R_PGWALK = 280;                 // 5 x u64: PGD, P4D, PUD, PMD, PTE entries
export const R_PGWALK_LEVELS = 320;          // u8 how many entries were read
export const R_DIE = 324;                    // u32 oops/die counter
export const R_KF_INDEX = 328;               // u32 kfence-#N
export const R_KF_START = 336;               // u64 object start
export const R_KF_SIZE = 344;                // u32
export const R_KF_CORRUPT_LEN = 348;         // u32 bytes shown
export const R_KF_CORRUPT = 352;             // 16 bytes (values)
export const R_KF_CORRUPT_MASK = 368;        // u16 bit i: byte i differs from canary
export const R_KF_STATE = 370;               // u8 object state
export const R_FRAME_BASE = 376;             // u64 stack frame / global base
export const R_FRAME_ID = 384;               // u32 host id of the frame / global
export const R_TASK_PID = 388;               // u32 owner task of a stack address
export const R_ARG0 = 392;                   // u64 kind-specific (WARN id, PANIC reason)
export const R_ARG1 = 400;                    // u64
export const R_ARG2 = 408;                    // u64
export const R_TAINT = 416;                  // u32 taint mask before this report

export const RF_WRITE = 1;
export const RF_OBJECT = 2;                  // object/cache fields valid
export const RF_PAGE = 4;                    // page fields valid
export const RF_SHADOW = 8;                  // shadow rows valid
export const RF_VMALLOC = 16;
export const RF_SKIPPED = 32;                // the access was not performed
export const RF_GUEST = 64;                  // raised by a guest hook
export const RF_TAGS = 128;                  // tag-based report

// Generic KASAN shadow codes (mm/kasan/kasan.h); 0 = granule accessible, 1..7 = first N bytes.
// The core poisons with them and the host (playground legend) names them.
export const KASAN_PAGE_FREE = 0xff;
export const KASAN_PAGE_REDZONE = 0xfe;
export const KASAN_SLAB_REDZONE = 0xfc;
export const KASAN_SLAB_FREE = 0xfb;
export const KASAN_SLAB_FREE_META = 0xfa;
export const KASAN_GLOBAL_REDZONE = 0xf9;
export const KASAN_VMALLOC_INVALID = 0xf8;
export const KASAN_STACK_LEFT = 0xf1;
export const KASAN_STACK_MID = 0xf2;
export const KASAN_STACK_RIGHT = 0xf3;
export const KASAN_STACK_PARTIAL = 0xf4;
export const KASAN_ALLOCA_LEFT = 0xca;
export const KASAN_ALLOCA_RIGHT = 0xcb;
// Tag-based: freed memory and redzones; a pointer tag matching everything.
export const KASAN_TAG_INVALID = 0xfe;
export const KASAN_TAG_KERNEL = 0xff;

// KASAN bug types (R_BUG)
export const BUG_OUT_OF_BOUNDS = 1;
export const BUG_SLAB_OOB = 2;
export const BUG_GLOBAL_OOB = 3;
export const BUG_STACK_OOB = 4;
export const BUG_USE_AFTER_FREE = 5;
export const BUG_SLAB_UAF = 6;
export const BUG_ALLOCA_OOB = 7;
export const BUG_VMALLOC_OOB = 8;
export const BUG_UNKNOWN_CRASH = 9;
export const BUG_NULL_PTR_DEREF = 10;
export const BUG_USER_MEMORY_ACCESS = 11;
export const BUG_WILD_MEMORY_ACCESS = 12;
export const BUG_DOUBLE_FREE = 13;
export const BUG_INVALID_FREE = 14;
export const BUG_INVALID_ACCESS = 15;        // tag-based, no better guess

// KFENCE error types (R_ERRCODE for REP_KFENCE)
export const KFENCE_ERROR_OOB = 1;
export const KFENCE_ERROR_UAF = 2;
export const KFENCE_ERROR_CORRUPTION = 3;
export const KFENCE_ERROR_INVALID = 4;
export const KFENCE_ERROR_INVALID_FREE = 5;

// WARN ids (R_ARG0 for REP_WARN)
export const WARN_CACHE_DESTROY_BUSY = 1;
export const WARN_BAD_PAGE_FREE = 2;
export const WARN_SLUB_DOUBLE_FREE = 5;       // SLAB_FREELIST_HARDENED naive double-free BUG
export const WARN_KFREE_NOT_HEAP = 6;         // free_large_kmalloc WARN on a non-kmalloc page
export const WARN_SLUB_FREECHAIN = 7;         // corrupted freelist isolated
export const WARN_WRONG_CACHE = 8;            // kmem_cache_free with an object of another cache
export const WARN_CACHE_NOT_SLAB = 9;         // kmem_cache_free of a pointer that is no slab object
export const WARN_ALLOC_FAILED = 10;          // warn_alloc "page allocation failure" (ARG1 order, ARG2 gfp; RF_OBJECT: a slab's, + slab_out_of_memory)
export const WARN_CALLBACK = 12;              // an RCU callback / work item / slab ctor the host ran threw (ARG1: CALLBACK_*)
export const CALLBACK_RCU = 0;
export const CALLBACK_WORK = 1;
export const CALLBACK_CTOR = 2;
export const WARN_ALLOC_ORDER = 11;
// R_ADDR of WARN_ALLOC_FAILED / WARN_ALLOC_ORDER: which API failed
export const ALLOC_SITE_PAGES = 0;
export const ALLOC_SITE_SLAB = 1;
export const ALLOC_SITE_LARGE_KMALLOC = 2;           // __alloc_pages' WARN_ON_ONCE_GFP(order > MAX_PAGE_ORDER) (ARG1 order, ARG2 gfp)

// Tasks with a kernel stack (createTask, stackFrame, guests): slots of the core's task table
export const MAX_TASKS = 1024;

export const WARN_SLAB_ERR = 13;              // SLUB's slab_err() on corrupted slab metadata (R_ERRCODE = SLAB_ERR_*)
export const WARN_LIST_DEL = 14;              // CONFIG_DEBUG_LIST: list_del corruption (R_ERRCODE = LIST_DEL_*)
export const LIST_DEL_PREV = 1;               // "prev->next should be %px, but was %px. (prev=%px)"
export const LIST_DEL_NEXT = 2;               // "next->prev should be %px, but was %px. (next=%px)"

// slab_err() messages (R_ERRCODE of WARN_SLAB_ERR; R_SIZE, R_FIRST_BAD: the two numbers)
// and the FIX line after it (R_REGION: SLAB_FIX_*)
export const SLAB_ERR_NOT_SLAB = 1;           // "Not a valid slab page"
export const SLAB_ERR_OBJECTS = 2;            // "objects %u > max %u"
export const SLAB_ERR_INUSE = 3;              // "inuse %u > max %u"
export const SLAB_ERR_FREEPOINTER = 4;        // "Freepointer corrupt" (on_freelist: the slab's own freelist)
export const SLAB_FIX_NONE = 0;
export const SLAB_FIX_MARK_USED = 1;          // "Marking all objects used"
export const SLAB_FIX_FREELIST_CLEARED = 2;   // "Freelist cleared"

// PANIC reasons (R_ARG0 for REP_PANIC)
export const PANIC_KASAN_FAULT = 1;
export const PANIC_ON_WARN = 2;

// ── Page-table entry bits (x86 layout, used for both arches internally) ─────
export const PTE_PRESENT = 1;
export const PTE_RW = 2;
export const PTE_USER = 4;
export const PTE_ACCESSED = 32;
export const PTE_DIRTY = 64;
export const PTE_HUGE = 128;
export const PTE_GLOBAL = 256;
// NX is bit 63: kept out of this table (not an i32 literal)

// #PF error code bits
export const PF_PROT = 1;
export const PF_WRITE = 2;
export const PF_USER = 4;
export const PF_RSVD = 8;
export const PF_INSTR = 16;

// ── struct page flags (our own bit numbering; names follow the kernel) ──────
export const PG_BUDDY = 1;
export const PG_SLAB = 2;
export const PG_HEAD = 4;
export const PG_TAIL = 8;
export const PG_RESERVED = 16;
export const PG_KFENCE = 32;
export const PG_TABLE = 64;
export const PG_LARGE_KMALLOC = 256;

// ── GFP flags (include/linux/gfp_types.h, 6.12 bit values) ─────────────────
export const GFP_DMA = 0x01;
export const GFP_HIGH = 0x20;
export const GFP_IO = 0x40;
export const GFP_FS = 0x80;
export const GFP_ZERO = 0x100;
export const GFP_DIRECT_RECLAIM = 0x400;
export const GFP_KSWAPD_RECLAIM = 0x800;
export const GFP_NOWARN = 0x2000;
export const GFP_NOFAIL = 0x8000;
export const GFP_NORETRY = 0x10000;
export const GFP_COMP = 0x40000;
export const GFP_THISNODE = 0x200000;
export const GFP_ACCOUNT = 0x400000;
export const GFP_KERNEL = 0xcc0;
export const GFP_ATOMIC = 0x820;
export const GFP_NOWAIT = 0x800;

// ── slab cache flags (include/linux/slab.h) ─────────────────────────────────
export const SLAB_RED_ZONE = 0x400;
export const SLAB_POISON = 0x800;
export const SLAB_KMALLOC = 0x1000;
export const SLAB_HWCACHE_ALIGN = 0x2000;
export const SLAB_CACHE_DMA = 0x4000;
export const SLAB_STORE_USER = 0x10000;
export const SLAB_PANIC = 0x40000;
export const SLAB_TYPESAFE_BY_RCU = 0x80000;
export const SLAB_NO_MERGE = 0x1000000;
export const SLAB_ACCOUNT = 0x4000000;
export const SLAB_KASAN = 0x8000000;
export const SLAB_SKIP_KFENCE = 0x20000000;

export const KMALLOC_MAX_CACHE_SIZE = 8192;   // 2 * PAGE_SIZE
export const ZERO_SIZE_PTR = 16;
export const MAX_CACHES = 4096;
export const KMEM_CACHE_OBJ_SIZE = 256;       // sizeof(struct kmem_cache) we simulate
export const NR_KMALLOC_CACHES = 13;          // kmalloc-8 ... kmalloc-8k

// ── Kernel-internal stack frames (ids < FRAME_FIRST_DYNAMIC) ────────────────
// Depot stacks are arrays of frame ids; these name the kernel's own functions
// that real 6.12 stacks show above the caller. The host holds their text.
export const FR_KASAN_SAVE_STACK = 1;
export const FR_KASAN_SAVE_TRACK = 2;
export const FR___KASAN_KMALLOC = 3;
export const FR___KASAN_SLAB_ALLOC = 4;
export const FR_KMEM_CACHE_ALLOC = 5;
export const FR___KASAN_KREALLOC = 6;
export const FR_KREALLOC = 7;
export const FR_KASAN_SAVE_FREE_INFO = 8;
export const FR___KASAN_SLAB_FREE = 9;
export const FR_KFREE = 10;
export const FR_KMEM_CACHE_FREE = 11;
export const FR_SLAB_FREE_AFTER_RCU_DEBUG = 12;
export const FR_RCU_CORE = 13;
export const FR_RCU_CORE_SI = 14;
export const FR_HANDLE_SOFTIRQS = 15;
export const FR_KASAN_RECORD_AUX_STACK = 16;
export const FR___CALL_RCU_COMMON = 17;
export const FR_CALL_RCU = 18;
export const FR_INSERT_WORK = 19;
export const FR___QUEUE_WORK = 20;
export const FR_QUEUE_WORK_ON = 21;
export const FR_KMEM_CACHE_ALLOC_BULK = 22;
export const FR_KMEM_CACHE_FREE_BULK = 23;
export const FR_KFREE_SENSITIVE = 24;
export const FR___KMALLOC_LARGE = 25;
export const FR_RCU_DO_BATCH = 26;
export const FR_QLIST_FREE_ALL = 27;
export const FR_KASAN_QUARANTINE_REDUCE = 28;
export const FR___VMALLOC_NODE_RANGE = 29;
export const FR_VMALLOC = 30;
export const FR___KASAN_MEMPOOL_POISON = 31;
export const FR_MEMPOOL_FREE = 32;
export const FR_SAVE_STACK_INFO = 33;          // tag modes: the stack ring's writer (mm/kasan/tags.c)
export const FR_KASAN_SAVE_ALLOC_INFO = 34;
export const FR_FIRST_DYNAMIC = 256;

// Which path raised a KASAN report (R_ARG0 of REP_KASAN): picks the internal
// frames at the top of the Call Trace.
export const PATH_ACCESS = 0;                // compiler-instrumented load/store (__asan_*)
export const PATH_CHECK_RANGE = 1;           // kasan_check_range (readBytes/writeBytes)
export const PATH_MEMSET = 2;
export const PATH_MEMCPY = 3;
export const PATH_MEMMOVE = 4;
export const PATH_CHECK_BYTE = 5;            // kasan_check_byte: ksize, krealloc
export const PATH_KFREE = 6;                 // free-time checks
export const PATH_KMEM_CACHE_FREE = 7;
export const PATH_KFREE_LARGE = 8;
export const PATH_BITOPS = 9;                // instrumented atomic/bit operations
export const PATH_STRING = 10;               // strlen-style helpers
export const PATH_MEMPOOL = 11;              // mempool_free's invalid/double-free checks

// ── KFENCE ──────────────────────────────────────────────────────────────────
// Object states (enum kfence_object_state, include order of mm/kfence/kfence.h)
export const KFENCE_OBJECT_UNUSED = 0;
export const KFENCE_OBJECT_ALLOCATED = 1;
export const KFENCE_OBJECT_RCU_FREEING = 2;
export const KFENCE_OBJECT_FREED = 3;
// struct kfence_metadata as the core keeps it (array at kfence_meta_base(), index order)
export const KF_META_SIZE = 96;
export const KF_M_ADDR = 0;                  // u64 object start
export const KF_M_SIZE = 8;                  // u32 requested size
export const KF_M_STATE = 12;                // u8 KFENCE_OBJECT_*
export const KF_M_CACHE_NULL = 13;           // u8 1: meta->cache is NULL (cache destroyed)
export const KF_M_ON_LIST = 14;              // u8 1: on the freelist
export const KF_M_CACHE = 16;                // u32 cache id
export const KF_M_HASH = 20;                 // u32 allocation stack hash (coverage filter)
export const KF_M_UNPROTECTED = 24;          // u64 guard page unprotected by an OOB fault, 0 = none
export const KF_M_ALLOC_TRACK = 32;          // struct kfence_track (24 bytes)
export const KF_M_FREE_TRACK = 56;           // struct kfence_track (24 bytes)
export const KF_M_NEXT = 80;                 // u32 freelist link: index + 1, 0 = end
export const KF_T_PID = 0;                   // u32
export const KF_T_CPU = 4;                   // u32
export const KF_T_STACK = 8;                 // u32 depot handle, 0 = no stack
export const KF_T_TS = 16;                   // u64 ns on the engine clock
// REP_KFENCE record fields beyond R_KF_* above
export const R_KF_CACHE_NULL = 371;          // u8 1: print cache=<destroyed>
// check_panic_on_warn origin (R_ARG1 of a PANIC_ON_WARN panic)
export const PANIC_ORIGIN_KASAN = 0;
export const PANIC_ORIGIN_KFENCE = 1;
// kernel frames of KFENCE's own stacks (skipped by get_stack_skipnr when printed)
export const FR___KFENCE_ALLOC = 160;
export const FR___KMALLOC_CACHE_NOPROF = 161;
export const FR___KMALLOC_NODE_TRACK_CALLER = 162;
export const FR_KFENCE_GUARDED_FREE = 163;
export const FR___KFENCE_FREE = 164;
export const FR_RCU_GUARDED_FREE = 165;
export const FR_KFENCE_SHUTDOWN_CACHE = 166;
export const FR_KMEM_CACHE_DESTROY = 167;
export const FR___KMALLOC_NOPROF = 168;
export const FR_KFENCE_CHECK_CANARY_CALLBACK = 169;
export const FR_ATOMIC_NOTIFIER_CALL_CHAIN = 170;
export const FR_PANIC = 171;
export const FR_NOTIFIER_CALL_CHAIN = 172;
// WARN id (R_ARG0 of REP_WARN): KFENCE_WARN_ON, KFENCE disables itself
export const WARN_KFENCE = 32;

// ── vmalloc / KASAN_VMALLOC ─────────────────────────────────────────────────
export const STAT_VMALLOC_PAGES_PEAK = 37;   // peak of pages mapped by vmalloc and percpu (since the last reset)
export const STAT_PCPU_PAGES = 38;           // percpu pages populated (one per unit and chunk page)
// vmalloc's own messages (REP_VMALLOC_WARN records, R_ARG0 = VMW_*)
export const REP_VMALLOC_WARN = 24;
export const VMW_VFREE_NONEXISTENT = 1;      // WARN: Trying to vfree() nonexistent vm area
export const VMW_VFREE_BAD_ADDR = 2;         // WARN: Trying to vfree() bad address
export const VMW_VUNMAP_NONEXISTENT = 3;     // WARN: Trying to vunmap() nonexistent vm area
export const VMW_ALLOC_FAILED = 4;           // warn_alloc(): "vmalloc error: size N, <why>" (R_ARG1 = VMF_*)
export const VMW_RANGE_FAILED = 5;           // pr_warn: vmalloc_node_range for size N failed
// why a vmalloc failed (R_ARG1 of VMW_ALLOC_FAILED)
export const VMF_VM_STRUCT = 1;              // vm_struct allocation failed
export const VMF_PAGES = 2;                  // failed to allocate pages
export const VMF_MAP = 3;                    // failed to map pages
export const VMF_TOTAL_PAGES = 4;            // exceeds total pages
// record fields of REP_VMALLOC_WARN: R_ADDR address, R_SIZE size, R_ARG1 reason,
// R_ARG2 gfp mask, R_OBJECT/R_FRAME_BASE range start/end for VMW_RANGE_FAILED
// kernel frames that create vmalloc areas on their own behalf
export const FR_COPY_PROCESS = 180;          // VMAP_STACK: alloc_thread_stack_node inlined into copy_process
export const FR_PCPU_GET_VM_AREAS = 181;     // percpu chunks (caller recorded as the function itself)

// ── fuzz: op tapes (assembly/fuzz/tape.ts, host/fuzz/; format in docs/fuzz.md) ──
// Opcodes (low 7 bits of an op's first byte; bit 7 marks a planted bug). Every
// op but TICK and TASK is followed by a u16 site and a u16 slot (MEMCPY: site,
// dst slot, ...); the byte length of each op is fixed by its opcode.
export const FZ_KMALLOC = 1;                 // site, slot, size u32                      (9 bytes)
export const FZ_KZALLOC = 2;                 // site, slot, size u32                      (9)
export const FZ_CACHE_ALLOC = 3;             // site, slot, cache u8                      (6)
export const FZ_KFREE = 4;                   // site, slot                                (5)
export const FZ_KFREE_AT = 5;                // site, slot, offset i32                    (9)
export const FZ_KREALLOC = 6;                // site, slot, size u32                      (9)
export const FZ_VMALLOC = 7;                 // site, slot, size u32                      (9)
export const FZ_VFREE = 8;                   // site, slot                                (5)
export const FZ_LOAD1 = 9;                   // site, slot, offset i32: LOAD1..LOAD16     (9)
export const FZ_LOAD2 = 10;
export const FZ_LOAD4 = 11;
export const FZ_LOAD8 = 12;
export const FZ_LOAD16 = 13;
export const FZ_STORE1 = 14;                 // site, slot, offset i32: STORE1..STORE16   (9)
export const FZ_STORE2 = 15;
export const FZ_STORE4 = 16;
export const FZ_STORE8 = 17;
export const FZ_STORE16 = 18;
export const FZ_MEMSET = 19;                 // site, slot, offset i32, len u32, byte u8  (14)
export const FZ_MEMCPY = 20;                 // site, dst, dst offset i32, src, src offset i32, len u32 (19)
export const FZ_TICK = 21;                   // us u32: advance the virtual clock         (5)
export const FZ_TASK = 22;                   // task u8, cpu u8: become that task         (3)
export const FZ_OP_COUNT = 23;
export const FZ_PLANTED = 128;               // flag bit of the opcode byte
export const FZ_MAX_SLOTS = 16384;
export const FZ_MAX_SITES = 65536;
export const FZ_MAX_CACHES = 16;
export const FZ_MAX_TASKS = 64;
export const FZ_MAX_SIZE = 67108864;         // largest allocation, memset or memcpy length (64 MiB)
export const FZ_BUF_SIZE = 2097152;          // the chunk buffer the host writes ops into
export const FZ_LOG_OPS = 16384;             // ops per chunk when the per-op log is on
export const FZ_LOG_SIZE = 32;               // bytes per log entry
// per-op log entry (check mode): status u32, pad, address u64, home lo u64, home hi u64
export const FZL_STATUS = 0;                 // u32
export const FZL_SEQ = 4;                    // u32: order of the op among every CPU's ops (the kernel lock's order)
export const FZL_ADDR = 8;                   // u64
export const FZL_HOME_LO = 16;               // u64
export const FZL_HOME_HI = 24;               // u64
// op status (log, counters)
export const FZS_DONE = 0;
export const FZS_EMPTY = 1;                  // the slot names no object (never allocated)
export const FZS_REACH = 2;                  // outside the object's slab/pages/area and their neighbour pages
export const FZS_UNSAFE = 3;                 // would touch memory that is no workload memory (page tables, ...)
export const FZS_DANGLING = 4;               // krealloc through a freed slot
export const FZS_KIND = 5;                   // krealloc of memory that is not kmalloc's
export const FZS_ALLOC_FAILED = 6;
export const FZS_REFUSED = 7;                // a free KASAN/KFENCE did not report and SLUB could not take (WARN)
export const FZS_COUNT = 8;
// fuzz_run() results
export const FZR_DONE = 0;
export const FZR_PAUSED = 1;                 // the report ring is nearly full: drain, then call again
export const FZR_PANIC = 2;
export const FZR_BAD_OP = -1;                // unknown opcode, or an op cut short by the end of the chunk
export const FZR_BAD_FIELD = -2;             // slot, cache or size out of range
export const FZR_ALONE = -3;                 // fuzz_rounds: the other CPUs did not come to a barrier (a job failed, or a minute passed)
// counters at fuzz_stats() (u64 each): ops run, then FZS_* counts from FZC_STATUS
export const FZC_OPS = 0;
export const FZC_CHECKSUM = 1;               // of every loaded value: same tape, same checksum
export const FZC_RESUME_POS = 2;             // where the CPU's last fuzz_run stopped: byte, op (fuzz_pos, fuzz_next_op)
export const FZC_RESUME_OP = 3;
export const FZC_LOCKLESS = 4;               // ops that took the lockless path (fuzz --cpus: docs/fuzz.md, "Speed")
export const FZC_STATUS = 8;
export const FZC_COUNT = 16;
export const FZ_STATS_STRIDE = 256;          // the counters are per CPU: CPU n's at fuzz_stats() of CPU 0 + n * this
export const FZ_MAX_CPUS = 8;                // fuzz --cpus: at most this many CPUs run tapes at once
// fuzz_rounds_info(what) (fuzz --cpus): the segment the CPUs are on, its first op, its ops, where its bytes start in the tape buffer, their length; the CPUs
export const FZI_SEGMENT = 0;
export const FZI_FIRST_OP = 1;
export const FZI_OPS = 2;
export const FZI_START = 3;
export const FZI_BYTES = 4;
export const FZI_CPUS = 5;                   // the CPUs of the rounds (0: fuzz_rounds_begin not called)
// fuzz_rounds_time(cpu, what): a CPU's time in the rounds since fuzz_rounds_begin, in ns, by the host's clock
export const FZT_RUN = 0;                    // running its ops of the segments (stepping over the others' included)
export const FZT_GENERATE = 1;               // generating the next segment (CPU 0)
export const FZT_WAIT = 2;                   // waiting at the barriers
export const FZT_COUNT = 3;
// report record fields the interpreter stamps
export const R_FUZZ_OP = 424;                // u32 op index + 1 (0: not raised by a tape op)
export const R_FUZZ_SLOT = 428;              // u32 slot + 1
export const R_FUZZ_SITE = 432;              // u32 site of the op
export const R_FUZZ_ALLOC_SITE = 436;        // u32 site that allocated the slot's object + 1 (0: none)
// SLAB's struct slab words for the page dump (records with RF_PAGE of a SLAB slab page)
export const R_SLAB_LIST_NEXT = 440;         // u64 slab_list.next (a struct page's list or the node's list head)
export const R_SLAB_LIST_PREV = 448;         // u64 slab_list.prev
export const R_SLAB_S_MEM = 456;             // u64 s_mem: the first object

// ── Virtual layout: the core chooses it at boot (assembly/mm/layout.ts) and the host
// reads it once through layout_value(LAYOUT_*) (u64 each) ──────────────────
export const LAYOUT_PAGE_OFFSET = 0;
export const LAYOUT_VMEMMAP_START = 1;
export const LAYOUT_KASAN_SHADOW_OFFSET = 2;
export const LAYOUT_KASAN_SHADOW_START = 3;
export const LAYOUT_KASAN_SHADOW_END = 4;
export const LAYOUT_TASK_SIZE = 5;
export const LAYOUT_VMALLOC_START = 6;
export const LAYOUT_VMALLOC_END = 7;
export const LAYOUT_KERNEL_TEXT = 8;         // _text
export const LAYOUT_COUNT = 9;
// struct page in the vmemmap array: its size, and log2 of it
export const STRUCT_PAGE_SIZE = 64;
export const STRUCT_PAGE_SHIFT = 6;

// ── boot_failed_stage(): the step that ran out of memory (0 = none) ─────────
export const BOOT_STAGE_MEM_MAP = 1;
export const BOOT_STAGE_PAGING_INIT = 2;
export const BOOT_STAGE_KASAN_INIT = 3;
export const BOOT_STAGE_KIMAGE = 4;
export const BOOT_STAGE_KIMAGE_SHADOW = 5;
export const BOOT_STAGE_STACK_DEPOT = 6;
export const BOOT_STAGE_STACK_RING = 7;
export const BOOT_STAGE_KMEM_CACHE_INIT = 8;
export const BOOT_STAGE_VMALLOC_INIT = 9;

// ── engine_self_check() bits ────────────────────────────────────────────────
export const SELF_CHECK_TLB = 1;
export const SELF_CHECK_BUDDY = 2;
export const SELF_CHECK_FRAMES = 4;
export const SELF_CHECK_SLAB = 8;
export const SELF_CHECK_DIRECT_MAP = 16;
export const SELF_CHECK_GUEST_FRAMES = 32;
export const SELF_CHECK_RING = 64;

// ── struct kmem_cache fields (u32 each, read by cache_info(id, KC_*)) ───────
export const KC_OBJECT_SIZE = 0;
export const KC_SIZE = 4;                    // slot size
export const KC_ALIGN = 8;
export const KC_FLAGS = 12;
export const KC_ORDER = 16;
export const KC_OBJECTS = 20;                // objects per slab
export const KC_OFFSET = 24;                 // free pointer offset
export const KC_CTOR = 28;                   // host constructor id, 0 = none
export const KC_CPU_PARTIAL_SLABS = 32;       // s->cpu_partial_slabs (set_cpu_partial)
export const KC_PARTIAL = 36;
export const KC_NR_PARTIAL = 40;
export const KC_FULL = 44;
export const KC_ALLOC_META = 48;             // 0 = none
export const KC_FREE_META = 52;              // KASAN_NO_FREE_META = none, 0 = in object
export const KC_LIVE = 56;                   // allocated objects (KFENCE ones excluded)
export const KC_REFCOUNT = 60;
export const KC_ID = 64;
export const KC_NR_SLABS = 68;
export const KC_MIN_PARTIAL = 72;
export const KC_INUSE = 76;                  // s->inuse: object_size rounded to a word
export const KC_RECIP = 80;                  // ceil(2^32 / size), for slot checks
export const KC_KFENCE_LIVE = 84;            // KFENCE objects of this cache still allocated
export const KC_FIELDS_END = 88;             // the descriptor fields mirrored in RAM
// struct kmem_cache_cpu, one per CPU and cache (SLUB; read by slub_cpu_info(id, cpu, KCC_*))
export const KCC_FREELIST = 0;               // c->freelist: linear address, 0 = empty
export const KCC_SLAB = 4;                   // c->slab: pfn, 0xffffffff = none
export const KCC_PARTIAL = 8;                // c->partial: first slab of the CPU's partial list (pfn)
export const KCC_PARTIAL_SLABS = 12;         // slabs on that list
export const KCC_SIZE = 16;

// ── Transfer buffers ────────────────────────────────────────────────────────
// host_buf(): [0, 4096) u32 frame ids / pfns / object arrays; [4096, +16384) bytes
// moved by readBytes/writeBytes and friends.
export const HOST_BUF_SIZE = 28672;
export const HOST_BUF_IDS = 0;
export const HOST_BUF_IDS_MAX = 1024;        // u32 entries
export const HOST_BUF_BYTES = 4096;
export const HOST_BUF_BYTES_SIZE = 16384;
// scratch_base(): mem_load16 leaves its 16 bytes at +0, mem_store16 takes them from +32.
export const SCRATCH_LOAD16 = 0;
export const SCRATCH_STORE16 = 32;
export const SCRATCH_SIZE = 64;

// ── WASI preview1 errno values a guest sees (the core's posix_memalign and the host's WASI) ──
export const WASI_ERRNO_FAULT = 21;
export const WASI_ERRNO_INVAL = 28;
export const WASI_ERRNO_NOMEM = 48;

// ── Return codes of core calls (negative errno, as the kernel's) ────────────
export const ENOMEM = 12;
export const EBUSY = 16;
export const EINVAL = 22;
export const EOPNOTSUPP = 95;
// __free_pages(): 0, -EINVAL (not a page-aligned direct-map address), or the
// free_page_is_bad() reason (> 0, printed as "Bad page state").
// vmap(), vm_map_ram(): the address, 0 when out of memory, -EINVAL for a page
// that cannot be mapped.
// guest_begin(): 0, -EINVAL (the image or control region does not fit RAM),
// -EBUSY (frames it needs are in use: guest_busy_pfn() names one),
// -EOPNOTSUPP (kasan.mode=sw_tags: guests need generic KASAN or kasan=off).
// guest_stop_reason(): why the core stopped a guest
export const GUEST_RUNNING = 0;
export const GUEST_STOP_OOPS = 1;            // an access the engine refused or a fault: the oops killed it
export const GUEST_STOP_PANIC = 2;           // the engine panicked (kasan.fault=panic, panic_on_warn)
// kfence_set_sample_interval(): what the kernel prints, or -EINVAL / -ENOMEM
export const KFENCE_SET_UNCHANGED = 0;
export const KFENCE_SET_REENABLED = 1;       // "re-enabled"
export const KFENCE_SET_INITIALISED = 2;     // "initialized - using ..." (pool set up late)
export const KFENCE_SET_DISABLED = 3;        // "disabled"
// kfence_init_failed(): why KFENCE did not start at boot (the boot log says it)
export const KFENCE_INIT_OK = 0;
export const KFENCE_INIT_NO_POOL = 1;        // "failed to allocate pool"
export const KFENCE_INIT_NO_METADATA = 2;    // "failed to allocate metadata"
export const KFENCE_INIT_FAILED = 3;         // "kfence_init failed"

// ── fuzz op lengths in bytes (FZ_*: every op but TICK and TASK starts with site u16, slot u16)
export const FZ_LEN_SIZED = 9;               // KMALLOC KZALLOC KFREE_AT KREALLOC VMALLOC LOAD* STORE*
export const FZ_LEN_CACHE_ALLOC = 6;
export const FZ_LEN_SLOT = 5;                // KFREE VFREE
export const FZ_LEN_MEMSET = 14;
export const FZ_LEN_MEMCPY = 19;
export const FZ_LEN_TICK = 5;
export const FZ_LEN_TASK = 3;

// ── SLAB (mm/slab.c of Linux 6.1), chosen by shadowfence.slab=slab ──────────
export const SLAB_ALLOCATOR_SLUB = 0;
export const SLAB_ALLOCATOR_SLAB = 1;
// slab_info(id, SL_*): SLAB's own cache fields (tunables, node counters, colouring)
export const SL_LIMIT = 0;                   // array_cache limit (tunables <limit>)
export const SL_BATCHCOUNT = 4;
export const SL_SHARED = 8;                  // shared factor (<sharedfactor>)
export const SL_FREE_OBJECTS = 12;           // kmem_cache_node free_objects
export const SL_FREE_LIMIT = 16;
export const SL_COLOUR = 20;                 // colours a slab can take
export const SL_COLOUR_OFF = 24;
export const SL_COLOUR_NEXT = 28;
export const SL_FREE_SLABS = 32;
export const SL_MGMT = 36;                   // SLAB_MGMT_*: where the freelist lives
export const SL_FREELIST_CACHE = 40;         // OFF_SLAB: cache id of the freelist's kmalloc cache
export const SL_FREELIST_SIZE = 80;          // num * sizeof(freelist_idx_t)
// computed by slab_info (not stored)
export const SL_TOTAL_SLABS = 1000;
export const SL_ACTIVE_OBJS = 1001;          // num_objs - free_objects (array caches count as active)
export const SL_SHARED_AVAIL = 1002;
export const SL_CPU_AVAIL = 2000;            // + cpu: that CPU's array_cache avail
export const SLAB_MGMT_ON_SLAB = 0;          // index array at the end of the slab
export const SLAB_MGMT_OFF_SLAB = 1;         // CFLGS_OFF_SLAB: in an object of a kmalloc cache
export const SLAB_MGMT_OBJFREELIST = 2;      // CFLGS_OBJFREELIST_SLAB: in a free object of the slab

// lib/test_vmalloc.c's tests: the ids test_vmalloc_run takes (test_case_array order; names in host/smp/cpu_set.ts)
export const TEST_VMALLOC_FIX_SIZE = 0;
export const TEST_VMALLOC_FULL_FIT = 1;
export const TEST_VMALLOC_LONG_BUSY_LIST = 2;
export const TEST_VMALLOC_RANDOM_SIZE = 3;
export const TEST_VMALLOC_FIX_ALIGN = 4;
export const TEST_VMALLOC_RANDOM_SIZE_ALIGN = 5;
export const TEST_VMALLOC_ALIGN_SHIFT = 6;
export const TEST_VMALLOC_PCPU = 7;
