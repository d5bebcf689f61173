// Calls from the core into the host (all off the hot paths).
// @ts-ignore: decorator
@external("env", "sf_ctor")
declare function sfCtor(ctor: u32, va: u64): void;
// @ts-ignore: decorator
@external("env", "sf_wall_ns")
declare function sfWallNs(): f64;
// @ts-ignore: decorator
@external("env", "sf_futex_wait")
declare function sfFutexWait(addr: usize, expected: i32, ms: f64): void;

// A slab constructor registered by the host (kmem_cache_create's ctor).
export function callCtor(ctor: u32, va: u64): void { sfCtor(ctor, va); }
// Wall-clock nanoseconds, for kfence.clock=wall.
export function wallNs(): u64 { return <u64>sfWallNs(); }
// Sleep while the i32 at addr holds `expected`, at most ns (the locks' and
// barriers' sleep, after their spins). The host's Atomics.wait, not
// memory.atomic.wait32: Node 20's first tier (Liftoff) stores that
// instruction's address operand as 8 bytes into a 4-byte stack slot, which
// overwrites the local next to it with zero (measured: a sleeping lock's
// address became 0, and a CPU thread then waited for ever on word 0).
export function futexWait(addr: usize, expected: i32, ns: i64): void { sfFutexWait(addr, expected, <f64>ns / 1e6); }
