// How an allocation or a free entered the allocator: the kernel API its caller
// used. Passed down explicitly with the call (never kept in a global); KASAN
// and KFENCE each turn it into the kernel frames on top of the stacks they
// save (their own frame lists), and the host turns those frame ids into names.

// allocations
// @ts-ignore: decorator
@inline export const CALL_ALLOC: u32 = 0;                 // kmalloc / kmem_cache_alloc (the cache's flags tell)
// @ts-ignore: decorator
@inline export const CALL_ALLOC_KREALLOC: u32 = 1;        // krealloc's new object
// @ts-ignore: decorator
@inline export const CALL_ALLOC_BULK: u32 = 2;            // kmem_cache_alloc_bulk
// frees
// @ts-ignore: decorator
@inline export const CALL_KFREE: u32 = 3;
// @ts-ignore: decorator
@inline export const CALL_KMEM_CACHE_FREE: u32 = 4;
// @ts-ignore: decorator
@inline export const CALL_KMEM_CACHE_FREE_BULK: u32 = 5;  // kmem_cache_free_bulk -> kmem_cache_free
// @ts-ignore: decorator
@inline export const CALL_KREALLOC_FREE: u32 = 6;         // krealloc -> kfree of the old object
// @ts-ignore: decorator
@inline export const CALL_KFREE_SENSITIVE: u32 = 7;       // kfree_sensitive -> kfree
// @ts-ignore: decorator
@inline export const CALL_RCU_FREE: u32 = 8;              // the RCU callback ending a SLAB_TYPESAFE_BY_RCU free
// @ts-ignore: decorator
@inline export const CALL_MEMPOOL_FREE: u32 = 9;          // mempool_free parking an element
