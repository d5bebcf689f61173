// A simulated RCU grace period for CONFIG_SLUB_RCU_DEBUG: under KASAN, freeing
// an object of a SLAB_TYPESAFE_BY_RCU cache only takes effect (poison,
// quarantine, slab) once a grace period has passed: on rcu_barrier(),
// synchronize_rcu(), or the next tick of the engine clock.
import { virtToSlab, cacheLin, slabCacheId, slabFreeFinish } from "./mm/slub";
import { NO_PFN } from "./mm/phys";
import { untag } from "./mm/layout";
import { RCU_TABLE } from "./statics";
import { CALL_RCU_FREE } from "./call_path";
import { isKfenceAddress, kfenceRcuFree } from "./kfence/core";

// @ts-ignore: decorator
@inline const RCU_PENDING_MAX: u32 = 16384;
// @ts-ignore: decorator
@inline const PENDING: usize = RCU_TABLE;
export let pending: u32 = 0;

export function rcuDeferSlabFree(va: u64): void {
  if (pending == RCU_PENDING_MAX) rcu_barrier();
  store<u64>(PENDING + (<usize>pending << 3), va);
  pending++;
}

// End the grace period: run every pending callback.
export function rcu_barrier(): void {
  for (let i: u32 = 0; i < pending; i++) {
    const va = load<u64>(PENDING + (<usize>i << 3));
    // a KFENCE object of a SLAB_TYPESAFE_BY_RCU cache (rcu_guarded_free)
    if (isKfenceAddress(va)) { kfenceRcuFree(va); continue; }
    const slab = virtToSlab(untag(va));
    if (slab == NO_PFN) continue;
    slabFreeFinish(cacheLin(slabCacheId(slab)), slab, va, CALL_RCU_FREE);
  }
  pending = 0;
}
