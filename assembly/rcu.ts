// A simulated RCU grace period for CONFIG_SLUB_RCU_DEBUG: under KASAN, freeing
// an object of a SLAB_TYPESAFE_BY_RCU cache only takes effect (poison,
// quarantine, slab) once a grace period has passed: on rcu_barrier(),
// synchronize_rcu(), or the next tick of the engine clock.
import { virtToSlab, cacheLin, slabCacheId, slabFreeFinish } from "./mm/slub";
import { NO_PFN } from "./mm/phys";
import { untag } from "./mm/layout";
import { RCU_TABLE, MACHINE_STATE } from "./statics";
import { CALL_RCU_FREE } from "./call_path";
import { isKfenceAddress, kfenceRcuFree } from "./kfence/core";

// @ts-ignore: decorator
@inline const RCU_PENDING_MAX: u32 = 16384;
// @ts-ignore: decorator
@inline const PENDING: usize = RCU_TABLE;
// the machine's, not this CPU's: linear memory (docs/smp.md, "The audit")
// @ts-ignore: decorator
@unmanaged class RcuState { pending: u32; }
export const RCUS = changetype<RcuState>(MACHINE_STATE + 0x200);
if (offsetof<RcuState>() > 0x100) ERROR("RcuState outgrew its MACHINE_STATE slot");

export function rcuDeferSlabFree(va: u64): void {
  if (RCUS.pending == RCU_PENDING_MAX) rcu_barrier();
  store<u64>(PENDING + (<usize>RCUS.pending << 3), va);
  RCUS.pending++;
}

// End the grace period: run every pending callback.
export function rcu_barrier(): void {
  for (let i: u32 = 0; i < RCUS.pending; i++) {
    const va = load<u64>(PENDING + (<usize>i << 3));
    // a KFENCE object of a SLAB_TYPESAFE_BY_RCU cache (rcu_guarded_free)
    if (isKfenceAddress(va)) { kfenceRcuFree(va); continue; }
    const slab = virtToSlab(untag(va));
    if (slab == NO_PFN) continue;
    slabFreeFinish(cacheLin(slabCacheId(slab)), slab, va, CALL_RCU_FREE);
  }
  RCUS.pending = 0;
}
