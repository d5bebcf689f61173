// The slab API around the allocator core (mm/slab_common.c and the public
// entry points of mm/slub.c): kmem_cache_alloc/free/destroy, bulk calls,
// krealloc, ksize, kfree_sensitive. Every entry point validates what the host
// hands it; bugs in the simulated kernel's use of the API are reported the way
// the kernel reports them.
import { GFP_ZERO, PATH_CHECK_BYTE, ZERO_SIZE_PTR, PAGE_SHIFT, SLAB_TYPESAFE_BY_RCU,
         WARN_CACHE_DESTROY_BUSY, WARN_WRONG_CACHE, WARN_CACHE_NOT_SLAB, CFG_INIT_ON_ALLOC,
         R_CACHE, R_ARG2, KMALLOC_MAX_CACHE_SIZE, FR_KMEM_CACHE_ALLOC, FR_KMEM_CACHE_DESTROY, EINVAL } from "../../abi/abi";
import { slabAlloc, slabFree, kfreeFrom, kmallocFrom, cacheLin, cacheState, cacheVa, kmemCache, virtToSlab,
         slabCacheId, ksizeOf, cacheShutdown, markCacheDestroyed, CACHE_ACTIVE, CACHE_BROKEN, cache_count } from "./slub";
import { NO_PFN } from "./phys";
import { dmLin, untag } from "./layout";
import { kasanMode, KASAN_OFF } from "../kasan/kasan";
import { kasanByteAccessible, kasanKrealloc, kasanKreallocLarge } from "../kasan/common";
import { kasanUnpoison } from "../kasan/shadow";
import { kasanReport } from "../kasan/report";
import { getTag } from "../kasan/sw_tags";
import { quarantineRemoveCache } from "../kasan/quarantine";
import { warnRecord } from "./fault";
import { rcu_barrier } from "../rcu";
import { isKfenceAddress, kfenceKsize, kfenceFree, kfenceTouchFreed } from "../kfence/core";
import { CALL_ALLOC, CALL_ALLOC_BULK, CALL_ALLOC_KREALLOC, CALL_KMEM_CACHE_FREE, CALL_KMEM_CACHE_FREE_BULK,
         CALL_KREALLOC_FREE, CALL_KFREE_SENSITIVE } from "../call_path";
import { quarantineRemoveCache as kasanCacheShrink } from "../kasan/quarantine";
import { cacheShrink } from "./slub";
import { cfg } from "../config";
import { mem_memset } from "./access";

// __kasan_check_byte: report a bad first byte as a 1-byte read.
export function kasanCheckByte(va: u64): bool {
  if (kasanMode == KASAN_OFF || kasanByteAccessible(va)) return true;
  kasanReport(va, 1, false, PATH_CHECK_BYTE);
  return false;
}

// Host-facing ids must name a cache that was created (destroyed is allowed:
// using it is the simulated kernel's bug, and KASAN sees it).
export function cacheIdValid(id: u32): bool { return id < cache_count() && id != 0; }

export function kmem_cache_alloc(id: u32, gfp: u32): u64 { return kmemCacheAllocFrom(id, gfp, CALL_ALLOC); }
function kmemCacheAllocFrom(id: u32, gfp: u32, call: u32): u64 {
  if (!cacheIdValid(id) || cacheState(id) == CACHE_BROKEN) return 0;   // broken: oopsed once already
  if (cacheState(id) != CACHE_ACTIVE) {
    // reading the freed descriptor is a use-after-free the kernel would report
    if (kasanCheckByte(cacheVa(id))) kfenceTouchFreed(cacheVa(id), FR_KMEM_CACHE_ALLOC);
    return 0;
  }
  return slabAlloc(id, gfp, 0, call);
}

// Returns 0 when freed, 1 when refused (reported), -1 for a pointer outside any slab.
// KFENCE object pages are slab pages (their cache set by KFENCE), so the
// cache check applies to them too; KFENCE then frees them.
export function kmem_cache_free(id: u32, va: u64): i32 { return kmemCacheFreeFrom(id, va, CALL_KMEM_CACHE_FREE); }
function kmemCacheFreeFrom(id: u32, va: u64, call: u32): i32 {
  if (va == 0) return 0;
  const slab = virtToSlab(untag(va));
  if (slab == NO_PFN) {
    warnRecord(WARN_CACHE_NOT_SLAB, va, id);
    return -1;
  }
  const actual = slabCacheId(slab);
  if (actual != id && cacheIdValid(id)) {
    // cache_from_obj(): "Wrong slab cache. %s but object is from %s"
    const rec = warnRecord(WARN_WRONG_CACHE, va, id);
    store<u32>(rec + R_CACHE, actual);
  }
  let ok = true;
  if (isKfenceAddress(va)) kfenceFree(va, call);
  else ok = slabFree(actual, slab, va, call);
  return ok ? 0 : 1;
}

// kmem_cache_destroy(): a live object leaves the cache in place with a WARN.
// Returns 0 destroyed, 1 busy (objects remain), 2 refused (descriptor freed).
export function kmem_cache_destroy(id: u32): i32 {
  if (!cacheIdValid(id)) return 2;
  const c = cacheLin(id);
  if (!kasanCheckByte(cacheVa(id))) return 2;
  if (cacheState(id) == CACHE_BROKEN) return 1;    // its descriptor was corrupted: left in place
  if (cacheState(id) != CACHE_ACTIVE) {
    // KASAN off (or a KFENCE-sampled descriptor): the refcount read
    kfenceTouchFreed(cacheVa(id), FR_KMEM_CACHE_DESTROY);
    return 2;
  }
  if (kmemCache(c).flags & SLAB_TYPESAFE_BY_RCU) rcu_barrier();
  const ref = kmemCache(c).refcount - 1;
  kmemCache(c).refcount = ref;
  if (ref > 0) return 0;
  quarantineRemoveCache(id);
  if (!cacheShutdown(c)) {
    const rec = warnRecord(WARN_CACHE_DESTROY_BUSY, cacheVa(id), id);
    store<u32>(rec + R_CACHE, id);
    store<u64>(rec + R_ARG2, kmemCache(c).live);    // live objects
    return 1;
  }
  markCacheDestroyed(id);
  // the descriptor goes back to the kmem_cache cache: from now on it is freed memory
  kmem_cache_free(0, cacheVa(id));
  return 0;
}

// kmem_cache_alloc_bulk: n objects into the u64 array at outLin; returns n or
// 0 (after freeing what it got) when memory runs out.
export function kmem_cache_alloc_bulk(id: u32, gfp: u32, n: u32, outLin: usize): u32 {
  for (let i: u32 = 0; i < n; i++) {
    const va = kmemCacheAllocFrom(id, gfp, CALL_ALLOC_BULK);
    if (va == 0) {
      for (let j: u32 = 0; j < i; j++) kmem_cache_free(id, load<u64>(outLin + (<usize>j << 3)));
      return 0;
    }
    store<u64>(outLin + (<usize>i << 3), va);
  }
  return n;
}
export function kmem_cache_free_bulk(id: u32, n: u32, inLin: usize): void {
  for (let i: u32 = 0; i < n; i++) kmemCacheFreeFrom(id, load<u64>(inLin + (<usize>i << 3)), CALL_KMEM_CACHE_FREE_BULK);
}

// kmem_cache_shrink(): KASAN gives back the cache's quarantined objects, then
// empty slabs go back to the page allocator. KFENCE objects are not in slabs.
export function kmem_cache_shrink(id: u32): i32 {
  if (!cacheIdValid(id) || cacheState(id) != CACHE_ACTIVE) return -EINVAL;
  kasanCacheShrink(id);
  cacheShrink(cacheLin(id));
  return 0;
}

// ksize(): 0 when the first byte is not accessible (reported).
export function ksize(va: u64): u64 {
  if (va <= <u64>ZERO_SIZE_PTR || !kasanCheckByte(va)) return 0;
  if (isKfenceAddress(va)) return kfenceKsize(va);
  return ksizeOf(va);
}

// krealloc(): in place while it fits (re-poisoned to the new size), else a
// new object, the old contents copied, the old one freed.
export function krealloc(va: u64, newSize: u64, gfp: u32): u64 {
  if (newSize == 0) {
    kfreeFrom(va, CALL_KREALLOC_FREE);
    return ZERO_SIZE_PTR;
  }
  let ks: u64 = 0;
  if (va > <u64>ZERO_SIZE_PTR) {
    if (!kasanCheckByte(va)) return 0;
    ks = isKfenceAddress(va) ? kfenceKsize(va) : ksizeOf(va);
  }
  if (ks >= newSize) {
    const slab = virtToSlab(untag(va));
    if ((gfp & GFP_ZERO) != 0 || cfg(CFG_INIT_ON_ALLOC) != 0) memory.fill(dmLin(untag(va)) + <usize>newSize, 0, <usize>(ks - newSize));
    if (slab != NO_PFN && !isKfenceAddress(va)) return kasanKrealloc(cacheLin(slabCacheId(slab)), va, <u32>newSize);
    if (slab == NO_PFN && !isKfenceAddress(va)) kasanKreallocLarge(va, newSize);
    return va;
  }
  const nw = kmallocFrom(newSize, gfp, CALL_ALLOC_KREALLOC);
  if (nw != 0 && va > <u64>ZERO_SIZE_PTR) {
    memory.copy(dmLin(untag(nw)), dmLin(untag(va)), <usize>ks);
  }
  if (nw != 0 && untag(nw) != untag(va)) kfreeFrom(va, CALL_KREALLOC_FREE);
  return nw;
}

// kfree_sensitive(): zero the whole usable size, then kfree.
export function kfree_sensitive(va: u64): i32 {
  const ks = ksize(va);
  if (ks != 0) {
    kasanUnpoison(va, ks, getTag(va));
    memory.fill(dmLin(untag(va)), 0, <usize>ks);
  }
  return kfreeFrom(va, CALL_KFREE_SENSITIVE);
}

export function kmalloc_max_cache_size(): u32 { return KMALLOC_MAX_CACHE_SIZE; }
