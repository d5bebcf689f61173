// The quarantine (mm/kasan/quarantine.c): freed objects wait here before the
// slab may reuse them, so use-after-free keeps hitting poisoned memory.
//
// Each CPU has a queue; when it holds more than the per-CPU limit it moves, as
// one unit, onto the tail batch of a global ring of QUARANTINE_BATCHES batches.
// The tail advances when its batch reaches the batch size. On a blocking
// allocation, if the global size exceeds the budget, the head batch is freed
// back to the slabs (kasan_quarantine_reduce).
//
// Defaults (the kernel's): per-CPU limit 1 MiB, budget RAM/32 minus 1 MiB per
// CPU, batch size max(1 MiB, 2 * (RAM/32) / batches). kasan.quarantine=N sets
// the total to N bytes instead (0 disables the quarantine).
//
// Queued objects are linked through the quarantine link of their free meta
// (KasanFreeMeta.qlink: the VA of the next object). Links live in freed memory a buggy write may
// hit, so each one is validated; a broken chain is cut there (the rest leaks).
import { STAT_QUARANTINE_BYTES, STAT_QUARANTINE_OBJECTS, STAT_QUARANTINE_LIMIT,
         CFG_KASAN_QUARANTINE, CFG_NR_CPUS, PAGE_SHIFT } from "../../abi/abi";
import { cfg } from "../config";
import { statSet } from "../stats";
import { currentCpu } from "../task";
import { nrFrames, NO_PFN } from "../mm/phys";
import { kmemCache, cacheLin, virtToSlab, slabCacheId, nearestObj, slabFreeToSlab, slabFreeDetached, setFreePointer,
         slabFreeRunBegin, slabFreeRunEnd, FREE_RUN_NO } from "../mm/slub";
import { dmLin, PAGE_OFFSET } from "../mm/layout";
import { slabIsSlab } from "../mm/slab";
import { freeMetaLin, KasanFreeMeta } from "./common";
import { shadowByteInline } from "./shadow";
import { KASAN_SLAB_FREE_META } from "./kasan";
import { QUARANTINE_TABLE, MACHINE_STATE } from "../statics";
import { stopOthers, fastCountQuarantine } from "../smp";

// @ts-ignore: decorator
@inline const QUARANTINE_BATCHES: u32 = 1024;
// @ts-ignore: decorator
@inline const MAX_CPUS: u32 = 64;
// @ts-ignore: decorator
@inline const QUARANTINE_PERCPU_SIZE: u64 = 1 << 20;

// struct qlist_head. Like the kernel's qlist_head->tail (a qlist_node inside
// the object), the tail link is kept, not re-derived from the object's struct page.
// @ts-ignore: decorator
@unmanaged class QList {
  head: u64;        // VA of the first queued object, 0 = empty
  tailLink: u64;    // linear address of the last object's free meta (its link)
  bytes: u64;
  count: u64;
}
// @ts-ignore: decorator
@inline const QL_SIZE: usize = offsetof<QList>();
// @ts-ignore: decorator
@inline const GLOBAL_Q: usize = QUARANTINE_TABLE;
// @ts-ignore: decorator
@inline const PERCPU_Q: usize = QUARANTINE_TABLE + <usize>QUARANTINE_BATCHES * QL_SIZE;
const TMP_Q: QList = changetype<QList>(memory.data(32, 8));
if (offsetof<QList>() != 32) ERROR("the quarantine table holds 32-byte qlists");
// @ts-ignore: decorator
@inline function globalQ(i: u32): QList { return changetype<QList>(GLOBAL_Q + <usize>i * QL_SIZE); }
// @ts-ignore: decorator
@inline function percpuQ(cpu: u32): QList { return changetype<QList>(PERCPU_Q + (<usize>cpu << 6)); }
// fuzz --cpus: the batch a reduction inside the interpreter's locked op took
// off the ring, which the interpreter frees after it leaves the kernel lock
// (quarantineFreeDeferred*), as the kernel frees a reduction's batch holding
// no lock. In the second half of the CPU's per-CPU queue line.
// @ts-ignore: decorator
@inline function deferQ(cpu: u32): QList { return changetype<QList>(PERCPU_Q + (<usize>cpu << 6) + QL_SIZE); }
// this CPU's reductions leave their batch in deferQ (fuzz --cpus' rounds set it)
let deferReductions: bool = false;

// The machine's, not this CPU's: linear memory (docs/smp.md, "The audit").
// Zeroed at boot; quarantineInit sets the limits.
// @ts-ignore: decorator
@unmanaged class QuarantineState {
  qSize: u64;          // bytes in the global ring
  qMaxSize: u64;
  qBatchSize: u64;
  qPercpuLimit: u64;
  qHead: u32;
  qTail: u32;
  qCorruptions: u32;
  qDisabled: bool;
}
export const QS = changetype<QuarantineState>(MACHINE_STATE + 0x300);
if (offsetof<QuarantineState>() > 0x100) ERROR("QuarantineState outgrew its MACHINE_STATE slot");

export let nrCpus: u32 = 1;

// @ts-ignore: decorator
@inline function qlClear(q: QList): void { memory.fill(changetype<usize>(q), 0, QL_SIZE); }
// @ts-ignore: decorator
@inline function qlCopy(to: QList, from: QList): void { memory.copy(changetype<usize>(to), changetype<usize>(from), QL_SIZE); }

// The free meta holding a queued object's link; the caller knows obj is in a
// slab (just freed, or checked by validQueued)
// @ts-ignore: decorator
@inline function queuedMeta(obj: u64): KasanFreeMeta {
  return changetype<KasanFreeMeta>(freeMetaLin(cacheLin(slabCacheId(virtToSlab(obj))), dmLin(obj)));
}

// Debug build: a qlist's header agrees with itself (they live in engine
// statics; the links they lead to are checked where they are followed).
function qlCheck(q: QList): void {
  assert((q.head == 0) == (q.count == 0) && (q.count == 0) == (q.bytes == 0) && (q.head == 0) == (q.tailLink == 0),
         "quarantine: qlist head, tail, count and bytes disagree");
}

function qlPut(q: QList, obj: u64, link: usize, size: u64): void {
  if (isDefined(SF_CHECKS)) {
    qlCheck(q);
    assert(link != 0 && size != 0, "quarantine: queued object without its free meta link");
  }
  changetype<KasanFreeMeta>(link).qlink = 0;
  if (q.head == 0) q.head = obj;
  else changetype<KasanFreeMeta>(<usize>q.tailLink).qlink = obj;
  q.tailLink = link;
  q.bytes += size;
  q.count += 1;
}

// Append a chain of queued objects, first..the one whose link is lastLink
// (already 0 or set to 0 here), to q.
function qlAppend(q: QList, first: u64, lastLink: usize, count: u64, bytes: u64): void {
  changetype<KasanFreeMeta>(lastLink).qlink = 0;
  if (q.head == 0) q.head = first;
  else changetype<KasanFreeMeta>(<usize>q.tailLink).qlink = first;
  q.tailLink = lastLink;
  q.count += count;
  q.bytes += bytes;
}

// Move all of `from` to the end of `to`.
function qlMoveAll(from: QList, to: QList): void {
  if (from.head == 0) return;
  qlAppend(to, from.head, <usize>from.tailLink, from.count, from.bytes);
  qlClear(from);
  if (isDefined(SF_CHECKS)) qlCheck(to);
}

// Is queued object va in the slab at pfn slab of cache c (a run continues)?
// @ts-ignore: decorator
@inline function inSlab(va: u64, slab: u32, c: usize): bool {
  return <u32>((va - PAGE_OFFSET) >> PAGE_SHIFT) - slab < (<u32>1 << kmemCache(c).order);
}

// Is va a queued object: a slab object start whose free meta is valid?
// @ts-ignore: decorator
@inline function validQueued(va: u64): bool {
  if (va - PAGE_OFFSET >= (<u64>nrFrames << PAGE_SHIFT)) return false;
  const slab = virtToSlab(va);
  if (slab == NO_PFN) return false;
  if (nearestObj(cacheLin(slabCacheId(slab)), slab, va) != va) return false;
  return shadowByteInline(va) == <i32>KASAN_SLAB_FREE_META;
}

// qlist_free_all: give every object back to its slab; with onlyCache >= 0,
// keep the others (moved to `keep`). Under SLUB, consecutive objects of one
// slab go back together as a detached freelist (slabFreeDetached): one take
// of the slab's lock instead of one per object. Each object's link is read
// before its free pointer, which may share its bytes, is written.
function qlFreeAll(q: QList, onlyCache: i32, keep: QList): void {
  if (isDefined(SF_CHECKS)) assert(onlyCache < 0 || changetype<usize>(keep) != 0, "quarantine: nowhere to keep other caches' objects");
  let obj = q.head;
  let n = q.count;
  qlClear(q);
  const bulk = !slabIsSlab();
  let runHead: usize = 0, runTail: usize = 0, runCount: u32 = 0, runSlab = NO_PFN, runC: usize = 0;
  while (obj != 0 && n > 0) {
    if (!validQueued(obj)) { QS.qCorruptions++; break; }
    const next = queuedMeta(obj).qlink;   // validQueued: in a slab, so never 0
    const slab = virtToSlab(obj);
    const c = cacheLin(slabCacheId(slab));
    if (onlyCache < 0 || kmemCache(c).id == <u32>onlyCache) {
      const lin = dmLin(obj);
      // does the next object continue a run of this slab's objects?
      const more = bulk && n > 1 && inSlab(next, slab, c);
      if (runCount == 0 && !more) {
        slabFreeToSlab(c, slab, lin);
      } else {
        if (runCount == 0) { runSlab = slab; runC = c; runTail = lin; runHead = 0; }
        setFreePointer(c, lin, runHead);
        runHead = lin;
        runCount++;
        if (!more) { slabFreeDetached(c, slab, runHead, runTail, runCount); runCount = 0; }
      }
    } else {
      qlPut(keep, obj, freeMetaLin(c, dmLin(obj)), kmemCache(c).size);
    }
    obj = next;
    n--;
  }
  if (runCount != 0) slabFreeDetached(runC, runSlab, runHead, runTail, runCount);
}

function updateLimits(): void {
  const budget = cfg(CFG_KASAN_QUARANTINE);
  if (budget >= 0) {
    const total = <u64>budget;
    QS.qDisabled = total == 0;
    const limit = total / (<u64>nrCpus * 2);
    QS.qPercpuLimit = limit > QUARANTINE_PERCPU_SIZE ? QUARANTINE_PERCPU_SIZE : limit;
    const percpu = QS.qPercpuLimit * nrCpus;
    QS.qMaxSize = total > percpu ? total - percpu : 0;
    const batch = 2 * total / QUARANTINE_BATCHES;
    QS.qBatchSize = batch < QS.qPercpuLimit ? QS.qPercpuLimit : batch;
  } else {
    const total = (<u64>nrFrames << PAGE_SHIFT) / 32;   // QUARANTINE_FRACTION
    const percpu = QUARANTINE_PERCPU_SIZE * nrCpus;
    QS.qPercpuLimit = QUARANTINE_PERCPU_SIZE;
    QS.qMaxSize = total < percpu ? 0 : total - percpu;
    const batch = 2 * total / QUARANTINE_BATCHES;
    QS.qBatchSize = batch < QUARANTINE_PERCPU_SIZE ? QUARANTINE_PERCPU_SIZE : batch;
  }
  statSet(STAT_QUARANTINE_LIMIT, QS.qMaxSize);
}

export function quarantineInit(): void {
  nrCpus = <u32>cfg(CFG_NR_CPUS);
  if (nrCpus < 1) nrCpus = 1;
  if (nrCpus > MAX_CPUS) nrCpus = MAX_CPUS;
  memory.fill(GLOBAL_Q, 0, <usize>QUARANTINE_BATCHES * QL_SIZE);
  memory.fill(PERCPU_Q, 0, <usize>MAX_CPUS << 6);
  QS.qHead = 0; QS.qTail = 0; QS.qSize = 0; QS.qCorruptions = 0;
  updateLimits();
  publish();
}

function publish(): void {
  let bytes = QS.qSize, objects: u64 = 0;
  for (let i: u32 = 0; i < nrCpus; i++) {
    const q = percpuQ(i);
    bytes += q.bytes; objects += q.count;
  }
  for (let i: u32 = 0; i < QUARANTINE_BATCHES; i++) objects += globalQ(i).count;
  statSet(STAT_QUARANTINE_BYTES, bytes);
  statSet(STAT_QUARANTINE_OBJECTS, objects);
}

// The lockless path (mm/slub.ts) reads QS without the kernel lock, as the
// kernel reads quarantine_size and its limits with READ_ONCE: each field is
// written whole (updateLimits computes before it stores), and a stale answer
// only sends a free or an allocation to the slow path, or lets one CPU's queue
// pass its limit by an object.
/** Lockless path: the quarantine is on and within budget, and this CPU's queue takes `size` more bytes without moving to the global ring. */
export function quarantineTakesLocal(cpu: u32, size: u64): bool {
  if (QS.qDisabled || QS.qSize > QS.qMaxSize) return false;
  return percpuQ(cpu < nrCpus ? cpu : 0).bytes + size <= QS.qPercpuLimit;
}
/** Lockless path: no quarantine reduction is due (one would take the kernel lock). */
export function quarantineWithinBudget(): bool { return QS.qSize <= QS.qMaxSize; }
/** Lockless path, after quarantineTakesLocal: queue obj on this CPU's queue. */
export function quarantinePutLocal(c: usize, cpu: u32, obj: u64): void {
  qlPut(percpuQ(cpu < nrCpus ? cpu : 0), obj, freeMetaLin(c, dmLin(obj)), kmemCache(c).size);
}

// kasan_quarantine_put: true when the object is now queued.
// @ts-ignore: decorator
@inline export function quarantinePut(c: usize, obj: u64): bool {
  const link = freeMetaLin(c, dmLin(obj));
  if (QS.qDisabled || link == 0) return false;
  const cpu = currentCpu < nrCpus ? currentCpu : 0;
  const q = percpuQ(cpu);
  qlPut(q, obj, link, kmemCache(c).size);
  if (q.bytes > QS.qPercpuLimit) {
    const bytes = q.bytes;
    const tail = globalQ(QS.qTail);
    qlMoveAll(q, tail);
    QS.qSize += bytes;
    if (tail.bytes >= QS.qBatchSize) {
      let newTail = QS.qTail + 1;
      if (newTail == QUARANTINE_BATCHES) newTail = 0;
      if (newTail != QS.qHead) QS.qTail = newTail;
    }
  }
  return true;
}

// kasan_quarantine_reduce: free the oldest batch while over budget.
export function quarantineReduce(): void {
  if (QS.qSize <= QS.qMaxSize) return;
  updateLimits();
  if (QS.qSize > QS.qMaxSize) {
    const head = globalQ(QS.qHead);
    qlCopy(TMP_Q, head);
    qlClear(head);
    QS.qSize -= TMP_Q.bytes;
    QS.qHead++;
    if (QS.qHead == QUARANTINE_BATCHES) QS.qHead = 0;
    if (deferReductions) qlMoveAll(TMP_Q, deferQ(currentCpu));
    else qlFreeAll(TMP_Q, -1, changetype<QList>(0));
  }
}

/** fuzz --cpus: whether this CPU's reductions wait in deferQ for the interpreter to free them. */
export function quarantineDeferReductions(on: bool): void { deferReductions = on; }
/** A host call enters the kernel on this CPU: no fuzz round runs here, though one that trapped may have left its deferral on and a batch waiting. */
export function quarantineHostEntry(): void {
  if (!deferReductions && deferQ(currentCpu).head == 0) return;
  deferReductions = false;
  quarantineFreeDeferredLocked();
}
/** A reduction's batch waits to be freed on this CPU. */
export function quarantineDeferred(): bool { return deferQ(currentCpu).head != 0; }

/**
 * The deferred batch without the kernel lock, on a lockless path: each run of
 * one slab's objects goes back as one detached freelist where that changes no
 * list (mm/slub.ts slabFreeRunBegin); the runs that would, and whatever
 * follows a link that fails its check, stay in deferQ, in their order, for
 * quarantineFreeDeferredLocked.
 */
export function quarantineFreeDeferredLockless(): void {
  const q = deferQ(currentCpu);
  let obj = q.head;
  let n = q.count;
  const tailLink = q.tailLink;
  let bytesLeft = q.bytes;
  qlClear(q);
  while (obj != 0 && n > 0) {
    if (!validQueued(obj)) break;
    const slab = virtToSlab(obj);
    const c = cacheLin(slabCacheId(slab));
    const size = kmemCache(c).size;
    // the run: obj and the queued objects after it in the same slab
    let last = obj, cnt: u32 = 1;
    let next = queuedMeta(obj).qlink;
    while (cnt < n && next != 0 && inSlab(next, slab, c) && validQueued(next)) {
      last = next;
      cnt++;
      next = queuedMeta(next).qlink;
    }
    const how = slabFreeRunBegin(c, slab, cnt);
    if (how == FREE_RUN_NO) {
      // kept for the locked pass, links as they are
      qlAppend(q, obj, freeMetaLin(c, dmLin(last)), cnt, <u64>cnt * size);
    } else {
      // link the run as a freelist, each object's link read before its free pointer is written
      let o = obj, head: usize = 0;
      const tail = dmLin(obj);
      for (let i: u32 = 0; i < cnt; i++) {
        const after = queuedMeta(o).qlink;
        const lin = dmLin(o);
        setFreePointer(c, lin, head);
        head = lin;
        o = after;
      }
      slabFreeRunEnd(c, slab, head, tail, cnt, how);
      fastCountQuarantine(cnt);
    }
    bytesLeft -= <u64>cnt * size;
    obj = next;
    n -= cnt;
  }
  // the rest, from a link that failed its check: the locked pass meets it again and counts it
  if (obj != 0 && n > 0) qlAppend(q, obj, <usize>tailLink, n, bytesLeft);
}
/** The rest of the deferred batch, under the kernel lock (as the reduction frees it without deferral). */
export function quarantineFreeDeferredLocked(): void {
  const q = deferQ(currentCpu);
  if (q.head == 0) return;
  qlCopy(TMP_Q, q);
  qlClear(q);
  qlFreeAll(TMP_Q, -1, changetype<QList>(0));
}

// kasan_quarantine_remove_cache: flush every object of a cache being destroyed.
export function quarantineRemoveCache(id: u32): void {
  stopOthers();
  for (let i: u32 = 0; i < nrCpus; i++) {
    const q = percpuQ(i);
    qlCopy(TMP_Q, q);
    qlClear(q);
    qlFreeAll(TMP_Q, <i32>id, q);
  }
  for (let i: u32 = 0; i < QUARANTINE_BATCHES; i++) {
    const q = globalQ(i);
    if (q.head == 0) continue;
    const before = q.bytes;
    qlCopy(TMP_Q, q);
    qlClear(q);
    qlFreeAll(TMP_Q, <i32>id, q);
    QS.qSize -= before - q.bytes;
  }
}

// Free everything (tests: drain to check accounting).
export function kasan_quarantine_drain(): void {
  stopOthers();
  for (let i: u32 = 0; i < nrCpus; i++) {
    const q = percpuQ(i);
    qlCopy(TMP_Q, q);
    qlClear(q);
    qlFreeAll(TMP_Q, -1, changetype<QList>(0));
  }
  for (let i: u32 = 0; i < QUARANTINE_BATCHES; i++) {
    const q = globalQ(i);
    qlCopy(TMP_Q, q);
    qlClear(q);
    qlFreeAll(TMP_Q, -1, changetype<QList>(0));
  }
  QS.qSize = 0; QS.qHead = 0; QS.qTail = 0;
}

export function quarantine_stats(): void { publish(); }
export function quarantine_corruptions(): u32 { return QS.qCorruptions; }
export function quarantineLimits(which: i32): u64 {
  return which == 0 ? QS.qPercpuLimit : which == 1 ? QS.qMaxSize : QS.qBatchSize;
}
