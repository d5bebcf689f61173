// Calls from the core into the host (all off the hot paths).
// @ts-ignore: decorator
@external("env", "sf_ctor")
declare function sfCtor(ctor: u32, va: u64): void;
// @ts-ignore: decorator
@external("env", "sf_wall_ns")
declare function sfWallNs(): f64;

// A slab constructor registered by the host (kmem_cache_create's ctor).
export function callCtor(ctor: u32, va: u64): void { sfCtor(ctor, va); }
// Wall-clock nanoseconds, for kfence.clock=wall.
export function wallNs(): u64 { return <u64>sfWallNs(); }
