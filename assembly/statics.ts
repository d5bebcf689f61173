// Fixed linear addresses for the engine's large zero-initialised tables, laid
// out back to back in [STATICS_BASE, PHYS_BASE). They are not data segments
// (memory.data would ship their zeros inside the .wasm), and as constants they
// fold into immediates on the hot paths. boot() checks the AS heap stays below.
// @ts-ignore: decorator
@inline export const STATICS_BASE: usize = 0x100000;
// @ts-ignore: decorator
@inline export const TLB_TABLE: usize = STATICS_BASE;                       // 4096 x 32
// @ts-ignore: decorator
@inline export const RING_TABLE: usize = TLB_TABLE + 0x20000;              // 128 x 512
// @ts-ignore: decorator
@inline export const RCU_TABLE: usize = RING_TABLE + 0x10000;              // 16384 x 8
// @ts-ignore: decorator
@inline export const QUARANTINE_TABLE: usize = RCU_TABLE + 0x20000;        // 1024 x 32 + 64 x 32
// @ts-ignore: decorator
@inline export const TASK_TABLE: usize = QUARANTINE_TABLE + 0x10000;       // 1024 x 32
// @ts-ignore: decorator
@inline export const CACHE_TABLE: usize = TASK_TABLE + 0x8000;             // 4096 x 4 + 4096
// @ts-ignore: decorator
@inline export const MISC_TABLE: usize = CACHE_TABLE + 0x8000;             // small scratch areas
// @ts-ignore: decorator
@inline export const STATICS_END: usize = MISC_TABLE + 0x10000;

// Transfer buffer for the host: frame ids, bytes, bulk object arrays (0x7000 bytes).
// @ts-ignore: decorator
@inline export const HOST_BUF: usize = MISC_TABLE + 0x9000;
// @ts-ignore: decorator
@inline export const HOST_BUF_SIZE: usize = 0x7000;
export function host_buf(): usize { return HOST_BUF; }

export function staticsFit(): bool { return __heap_base <= STATICS_BASE; }
export function staticsClear(): void { memory.fill(STATICS_BASE, 0, STATICS_END - STATICS_BASE); }
