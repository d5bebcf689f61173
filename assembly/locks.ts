// Spinlocks on wasm atomics for the machine-wide state CPUs share (issue 14).
// Each lock is named after the kernel lock it stands for and owns a 64-byte
// line of linear memory (no false sharing between locks, or with the hot
// switches in HOT_TABLE's first bytes). A ticket lock: FIFO-fair like the
// kernel's queued spinlocks, in two words (next ticket, owner).
import { HOT_TABLE } from "./statics";
import { futexWait } from "./host";

// @ts-ignore: decorator
@inline export const LOCK_TABLE: usize = HOT_TABLE + 0x800;      // NR_LOCKS x 64 bytes, then the torture word: below HOT_TABLE + 0x1000
// @ts-ignore: decorator
@inline const LOCK_STRIDE: usize = 64;

// The locks, by the kernel's names.
// @ts-ignore: decorator
@inline export const ZONE_LOCK: i32 = 0;              // zone->lock (the buddy allocator)
// @ts-ignore: decorator
@inline export const SLAB_LIST_LOCK: i32 = 1;         // n->list_lock (SLUB's node partial lists)
// @ts-ignore: decorator
@inline export const VMAP_AREA_LOCK: i32 = 2;         // vmap_area_lock
// @ts-ignore: decorator
@inline export const FREE_VMAP_AREA_LOCK: i32 = 3;    // free_vmap_area_lock
// @ts-ignore: decorator
@inline export const PURGE_VMAP_AREA_LOCK: i32 = 4;   // purge_vmap_area_lock
// @ts-ignore: decorator
@inline export const PAGE_TABLE_LOCK: i32 = 5;        // init_mm.page_table_lock
// @ts-ignore: decorator
@inline export const QUARANTINE_LOCK: i32 = 6;        // quarantine_lock (KASAN)
// @ts-ignore: decorator
@inline export const REPORT_LOCK: i32 = 7;            // report_lock (KASAN and KFENCE reports)
// @ts-ignore: decorator
@inline export const KFENCE_FREELIST_LOCK: i32 = 8;   // kfence_freelist_lock
// @ts-ignore: decorator
@inline export const DEPOT_POOL_LOCK: i32 = 9;        // pool_lock (stack depot)
// @ts-ignore: decorator
@inline export const PCPU_LOCK: i32 = 10;             // pcpu_lock (percpu allocator)
// @ts-ignore: decorator
@inline export const KERNEL_LOCK: i32 = 11;           // the kernel lock (smp.ts): one CPU in the kernel at a time
// @ts-ignore: decorator
@inline export const NR_LOCKS: i32 = 16;              // lines reserved (0x400 bytes)
// A word for the lock torture test, on a line of its own after the locks.
// @ts-ignore: decorator
@inline const TORTURE_COUNT: usize = LOCK_TABLE + <usize>NR_LOCKS * LOCK_STRIDE;

// @ts-ignore: decorator
@inline function lockAddr(lock: i32): usize { return LOCK_TABLE + <usize>lock * LOCK_STRIDE; }

export function spin_lock(lock: i32): void {
  const a = lockAddr(lock);
  const ticket = atomic.add<u32>(a, 1);
  while (atomic.load<u32>(a, 4) != ticket) {}
}
export function spin_unlock(lock: i32): void {
  const a = lockAddr(lock);
  // only the holder writes owner: a plain increment, published with a seq-cst store
  atomic.store<u32>(a, atomic.load<u32>(a, 4) + 1, 4);
}
/** spin_trylock(): true when taken. */
export function spin_trylock(lock: i32): bool {
  const a = lockAddr(lock);
  const owner = atomic.load<u32>(a, 4);
  return atomic.cmpxchg<u32>(a, owner, owner + 1) == owner;
}
/** spin_is_locked() */
export function spin_is_locked(lock: i32): bool {
  const a = lockAddr(lock);
  return atomic.load<u32>(a) != atomic.load<u32>(a, 4);
}

// A sleeping lock for the kernel lock (smp.ts): a CPU thread can be preempted
// while it holds it, and with more CPU threads than host cores a spinning
// waiter would burn the holder's time slice. Three states (0 free, 1 held,
// 2 held with sleepers); after a short spin the waiter sleeps on the word
// (the host's futex wait, host.ts, bounded so a lost wake-up costs a millisecond, not a hang),
// unless `mayWait` is false (a browser's main thread may not wait): it spins.
// @ts-ignore: decorator
@inline export const MUTEX_SPINS: u32 = 1000;
// @ts-ignore: decorator
@inline const MUTEX_WAIT_NS: i64 = 1_000_000;

export function sleepingLock(lock: i32, mayWait: bool): void { sleepingLockAt(lockAddr(lock), mayWait); }
export function sleepingLockSpinning(lock: i32, mayWait: bool, spins: u32): i32 { return sleepingLockSpins(lockAddr(lock), mayWait, spins); }
export function sleepingUnlock(lock: i32): void { sleepingUnlockAt(lockAddr(lock)); }
/**
 * A spin budget that adapts to how waits end (the kernel lock's rare entries,
 * fuzz/rounds.ts's barrier): doubled after a wait that spinning covered,
 * halved after one that ended in a sleep (the thread waited for may have no
 * core), within [least, most].
 */
export function nextSpinBudget(spins: u32, slept: bool, least: u32, most: u32): u32 {
  return slept ? max<u32>(spins >> 1, least) : min<u32>(spins << 1, most);
}
/** The same lock on any word (mm/slub.ts's slab locks). */
export function sleepingLockAt(a: usize, mayWait: bool): void { sleepingLockSpins(a, mayWait, MUTEX_SPINS); }
/** The lock at `a`, spinning up to `spins` rounds before sleeping: LOCK_FREE, LOCK_SPUN or LOCK_SLEPT, how it got it. */
// @ts-ignore: decorator
@inline export const LOCK_FREE: i32 = 0;
// @ts-ignore: decorator
@inline export const LOCK_SPUN: i32 = 1;
// @ts-ignore: decorator
@inline export const LOCK_SLEPT: i32 = 2;
export function sleepingLockSpins(a: usize, mayWait: bool, spins: u32): i32 {
  let c = atomic.cmpxchg<u32>(a, 0, 1);
  if (c == 0) return LOCK_FREE;
  for (let i: u32 = 0; i < spins; i++) {
    if (atomic.load<u32>(a) == 0 && (c = atomic.cmpxchg<u32>(a, 0, 1)) == 0) return LOCK_SPUN;
  }
  if (c != 2) c = atomic.xchg<u32>(a, 2);
  while (c != 0) {
    if (mayWait) futexWait(a, 2, MUTEX_WAIT_NS);
    c = atomic.xchg<u32>(a, 2);
  }
  return LOCK_SLEPT;
}
export function sleepingUnlockAt(a: usize): void {
  if (atomic.xchg<u32>(a, 0) == 2) atomic.notify(a, 1);
}

// ── tests: CPUs on threads hammer one lock (test/smp/locks.test.ts) ──
/** `iters` times: take `lock`, increment a shared counter non-atomically (load, then store), release. */
export function smp_lock_torture(lock: i32, iters: u32): void {
  if (<u32>lock >= <u32>NR_LOCKS) return;
  for (let i: u32 = 0; i < iters; i++) {
    spin_lock(lock);
    store<u32>(TORTURE_COUNT, load<u32>(TORTURE_COUNT) + 1);
    spin_unlock(lock);
  }
}
export function smp_torture_count(): u32 { return atomic.load<u32>(TORTURE_COUNT); }
export function smp_lock_state(lock: i32): i32 { return <u32>lock < <u32>NR_LOCKS && spin_is_locked(lock) ? 1 : 0; }
