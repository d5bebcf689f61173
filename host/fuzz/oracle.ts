// The differential oracle: an independent model of allocation state that
// decides, op by op, what generic KASAN must say, and checks the engine's
// verdicts against it (`shadowfence fuzz --check`).
//
// What it knows comes from the tape and from the kernel's rules, written
// again here: kmalloc size classes, that a kmalloc'ed object is accessible
// for the requested size and a cache object for its object size, that a
// freed slab object is poisoned over its rounded object size and waits in the
// quarantine, that large kmallocs are page allocations with a poisoned tail,
// vmalloc areas page-rounded with a guard page, and the quarantine's budget
// (RAM/32 minus 1 MiB per CPU, batches). From the engine it takes only where
// things were put: the address each allocation returned and the slab or pages
// it came from (facts of placement, like a trace would record); the verdicts
// it predicts are never read from the engine's shadow.
//
// Memory is modelled per 8-byte granule: live (1..8 accessible bytes),
// redzone, freed slab object, large-kmalloc tail, freed pages, vmalloc tail,
// guard or freed vmalloc. A freed object is "certainly quarantined" while
// fewer bytes have been freed after it than the quarantine must hold before
// releasing anything (a lower bound derived from its budget and batch size);
// then its slab cannot have been discarded and the bug type is certain. Past
// that the memory may have gone back to the page allocator and to anything
// else, and the oracle accepts any KASAN report, or the interpreter declining
// to touch a page that is no longer workload memory; never silence.
import * as abi from "../../abi/abi.js";
import { BUG_NAMES } from "../report/kasan.js";
import { readOp, emptyOp, describeOp, accessSize, isStore, type Op, type TapeHeader } from "./tape.js";
import type { Finding } from "./exec.js";

export interface OracleFacts {
  arch: "x86_64" | "arm64";
  /** The engine's direct map and vmalloc space starts (engine.layout). */
  pageOffset: bigint;
  vmallocStart: bigint;
  ramMb: number;
  nrCpus: number;
  /** kasan.quarantine= bytes, -1 for the kernel's default. */
  quarantine: number;
  /** Slot size (object + metadata + redzone) of kmalloc-8 ... kmalloc-8k, from the engine's caches. */
  kmallocSlot: number[];
  /** Object size of the cache kmalloc index i uses (kmalloc-8 ... under SLUB; SLAB starts at kmalloc-32). */
  kmallocObj?: number[];
  /** Slot size of each tape cache. */
  cacheSlot: number[];
}

/** An op the engine got wrong, by the oracle. */
export interface Disagreement {
  op: number;
  what: string;
  expected: string;
  got: string;
}

// granule codes (low 4 bits of a granule's value; the rest is the free sequence of a freed object)
const G_UNKNOWN = 0;
const G_LIVE = 1;            // 1 + k: k = 1..8 accessible bytes (G_LIVE + 8 = full)
const G_FULL = 9;
const G_REDZONE = 10;        // slab: past the request, redzones, unused slots
const G_FREED = 11;          // freed slab object
const G_LARGE_TAIL = 12;
const G_FREED_PAGE = 13;     // freed large kmalloc: its pages went back to the buddy
const G_VM_TAIL = 14;        // mapped, past the request
const G_VM_GONE = 15;        // guard page, or a freed area

const KMALLOC_SIZES = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192];
function kmallocIndex(size: number): number {
  for (let i = 0; i < KMALLOC_SIZES.length; i++) if (size <= KMALLOC_SIZES[i]) return i;
  return -1;
}
const PAGE = 4096;
const pageUp = (n: number) => Math.ceil(n / PAGE) * PAGE;
const up8 = (n: number) => Math.ceil(n / 8) * 8;

// slot states and kinds
const EMPTY = 0, LIVE = 1, FREED = 2;
const K_SLAB = 1, K_LARGE = 2, K_CACHE = 3, K_VM = 4;

/** Addresses as exact JS numbers: the direct map from 0, vmalloc space from 2^46. */
class Space {
  readonly dmHi: number; readonly dmLo: number; readonly vmHi: number; readonly vmLo: number;
  static readonly VM = 2 ** 46;
  constructor(dm: bigint, vm: bigint) {
    this.dmHi = Number(dm >> 32n); this.dmLo = Number(dm & 0xffffffffn);
    this.vmHi = Number(vm >> 32n); this.vmLo = Number(vm & 0xffffffffn);
  }
  key(lo: number, hi: number): number {
    let d = hi - this.dmHi;
    if (d >= 0 && d < 16) return d * 4294967296 + lo - this.dmLo;
    d = hi - this.vmHi;
    if (d >= 0 && d < 0x10000) return Space.VM + d * 4294967296 + lo - this.vmLo;
    return -1;
  }
  keyOf(a: bigint): number {
    return this.key(Number(a & 0xffffffffn), Number((a >> 32n) & 0xffffffffn));
  }
  isVm(k: number): boolean {
    return k >= Space.VM;
  }
}

interface Expectation {
  /** Exact outcome, or undefined when only `allowed` applies. */
  exact?: { status: number; records: string[] };
  /** Outcomes the oracle cannot tell apart (memory that may have changed hands). */
  allowed?: (status: number, records: string[]) => boolean;
  note: string;
}

/** The oracle. Feed it every op of a tape, in order, with the engine's verdicts. */
export class Oracle {
  private readonly h: TapeHeader;
  private readonly f: OracleFacts;
  private readonly sp: Space;
  private readonly pages = new Map<number, Int32Array>();
  /** page number -> id of the home (slab, large-kmalloc pages, vmalloc area) it belongs to */
  private readonly pageHome = new Map<number, number>();
  private readonly homes = new Map<number, { lo: number; hi: number }>();
  /** the current home starting at a key */
  private readonly homeAt = new Map<number, number>();
  private nextHome = 1;
  // slots
  private readonly state: Uint8Array;
  private readonly kind: Uint8Array;
  private readonly cache: Uint8Array;
  private readonly addr: Float64Array;
  private readonly size: Float64Array;
  private readonly objSize: Float64Array;
  private readonly homeLo: Float64Array;
  private readonly homeEnd: Float64Array;
  private readonly slotFreeSeq: Int32Array;
  /** Live objects no slot names any more (a failed allocation left NULL over them): a stale free may still free one. */
  private readonly leaked = new Map<number, { kind: number; obj: number; size: number; slotBytes: number }>();
  // freed slab objects: cumulative slab-free bytes when each was freed, and its start
  private cumFree: number[] = [0];
  private freedStart: number[] = [0];
  private cum = 0;
  private readonly window: number;
  private readonly o: Op = emptyOp();
  /** Ops checked and the outcomes that were certain. */
  checked = 0;
  certain = 0;
  uncertain = 0;
  reportsSeen = 0;

  constructor(header: TapeHeader, facts: OracleFacts) {
    this.h = header;
    this.f = facts;
    this.sp = new Space(facts.pageOffset, facts.vmallocStart);
    const n = header.slots;
    this.state = new Uint8Array(n); this.kind = new Uint8Array(n); this.cache = new Uint8Array(n);
    this.addr = new Float64Array(n); this.size = new Float64Array(n); this.objSize = new Float64Array(n);
    this.homeLo = new Float64Array(n); this.homeEnd = new Float64Array(n); this.slotFreeSeq = new Int32Array(n).fill(-1);
    this.window = quarantineWindow(facts);
  }

  /** Bytes of slab frees that certainly stay quarantined (0: none). */
  get quarantineWindow(): number {
    return this.window;
  }

  // ── granules ──────────────────────────────────────────────────────────────
  private g(k: number): number {
    const p = this.pages.get(Math.floor(k / PAGE));
    return p ? p[(k % PAGE) >> 3] : 0;
  }
  private setRange(k0: number, k1: number, v: number): void {
    for (let k = k0; k < k1;) {
      const pn = Math.floor(k / PAGE);
      let p = this.pages.get(pn);
      if (!p) { p = new Int32Array(PAGE / 8); this.pages.set(pn, p); }
      const end = Math.min(k1, (pn + 1) * PAGE);
      p.fill(v, (k % PAGE) >> 3, ((end - 1) % PAGE >> 3) + 1);
      k = end;
    }
  }
  /** Mark [k, k + n) accessible (k 8-aligned); the last granule partially. */
  private setLive(k: number, n: number): void {
    const full = Math.floor(n / 8) * 8;
    if (full) this.setRange(k, k + full, G_FULL);
    if (n % 8) this.setRange(k + full, k + full + 8, G_LIVE + (n % 8));
  }

  /** A home (slab, large kmalloc pages, vmalloc area) for [lo, hi): fresh memory unless its pages already belong to it. */
  private claimHome(lo: number, hi: number, vm: boolean): string | undefined {
    const cur = this.homeAt.get(lo);
    let same = cur !== undefined && this.homes.get(cur)?.hi === hi;
    for (let pn = lo / PAGE; same && pn < hi / PAGE; pn++) if (this.pageHome.get(pn) !== cur) same = false;
    if (same) return undefined;
    const id = this.nextHome++;
    for (let pn = lo / PAGE; pn < hi / PAGE; pn++) {
      const p = this.pages.get(pn);
      if (p && !vm) {
        for (let i = 0; i < p.length; i++) {
          const c = p[i] & 15;
          if (c >= G_LIVE + 1 && c <= G_FULL) return `new slab/pages at key 0x${lo.toString(16)} over memory of a live object (key 0x${(pn * PAGE + i * 8).toString(16)})`;
        }
      }
      this.pages.delete(pn);
      // a home that loses a page is gone (its slab was discarded, its pages reused)
      const old = this.pageHome.get(pn);
      if (old !== undefined) {
        const h = this.homes.get(old);
        if (h && this.homeAt.get(h.lo) === old) this.homeAt.delete(h.lo);
        this.homes.delete(old);
      }
      this.pageHome.set(pn, id);
    }
    this.homes.set(id, { lo, hi });
    this.homeAt.set(lo, id);
    return undefined;
  }

  private slotSizeOf(slot: number): number {
    const c = this.kind[slot];
    if (c === K_CACHE) return this.f.cacheSlot[this.cache[slot]] ?? this.objSize[slot];
    const i = kmallocIndex(this.objSize[slot]);
    return i >= 0 ? this.f.kmallocSlot[i] : this.objSize[slot];
  }
  private kmallocObjSize(size: number): number {
    const i = kmallocIndex(size);
    return this.f.kmallocObj?.[i] ?? KMALLOC_SIZES[i];
  }

  /** Is the freed slab object whose granule value is v certainly still quarantined? */
  private quarantined(v: number): boolean {
    const seq = v >>> 4;
    return this.window > 0 && seq > 0 && this.cum - this.cumFree[seq] < this.window;
  }

  // ── allocations and frees ───────────────────────────────────────────────
  private allocate(slot: number, kind: number, k: number, size: number, obj: number, lo: number, hi: number, cacheIdx: number): string | undefined {
    const vm = kind === K_VM;
    if (k < 0 || lo < 0 || hi <= lo) return `allocation outside the direct map and vmalloc space`;
    if (k % 8 !== 0) return `allocation at key 0x${k.toString(16)} is not 8-byte aligned`;
    if ((kind === K_LARGE || vm) && k % PAGE !== 0) return `page allocation at key 0x${k.toString(16)} is not page aligned`;
    const span = vm ? pageUp(size) : kind === K_LARGE ? obj : up8(obj);
    if (k < lo || k + span > hi) return `object [0x${k.toString(16)}, +${span}) outside its home [0x${lo.toString(16)}, 0x${hi.toString(16)})`;
    // live memory must never be handed out again; quarantined memory not yet
    for (let a = k; a < k + span; a += 8) {
      const v = this.g(a), c = v & 15;
      if (c >= G_LIVE && c <= G_FULL) return `allocated memory at +${a - k} is still a live object's`;
      if (c === G_FREED && this.quarantined(v)) {
        return `allocated memory at +${a - k} was freed ${this.cum - this.cumFree[v >>> 4]} bytes of frees ago, less than the quarantine must hold (${this.window})`;
      }
    }
    const bad = this.claimHome(lo, hi, vm);
    if (bad) return bad;
    this.state[slot] = LIVE; this.kind[slot] = kind; this.cache[slot] = cacheIdx;
    this.addr[slot] = k; this.size[slot] = size; this.objSize[slot] = obj;
    this.homeLo[slot] = lo; this.homeEnd[slot] = hi; this.slotFreeSeq[slot] = -1;
    this.setLive(k, size);
    const end = up8(k + size);
    if (kind === K_SLAB || kind === K_CACHE) {
      if (k + up8(obj) > end) this.setRange(end, k + up8(obj), G_REDZONE);
    } else if (kind === K_LARGE) {
      if (k + obj > end) this.setRange(end, k + obj, G_LARGE_TAIL);
    } else {
      if (k + pageUp(size) > end) this.setRange(end, k + pageUp(size), G_VM_TAIL);
      this.setRange(k + pageUp(size), k + pageUp(size) + PAGE, G_VM_GONE);
    }
    return undefined;
  }

  /** A failed allocation leaves NULL in the slot; a live object it held leaks. */
  private nullSlot(slot: number): void {
    this.leak(slot);
    this.state[slot] = EMPTY;
    this.addr[slot] = 0;
  }

  /** The slot's live object, if any, is no longer named by it (a new allocation or NULL replaces it). */
  private leak(slot: number): void {
    if (this.state[slot] !== LIVE) return;
    this.leaked.set(this.addr[slot], { kind: this.kind[slot], obj: this.objSize[slot], size: this.size[slot], slotBytes: this.slotSizeOf(slot) });
  }

  /** A stale free that lands on a leaked object's start frees it, quietly (kfree: slab or large; vfree: an area). */
  private freeLeaked(k: number, vm: boolean): boolean {
    const l = this.leaked.get(k);
    if (!l || (l.kind === K_VM) !== vm) return false;
    this.leaked.delete(k);
    this.freeObject(l.kind, k, l.obj, l.size, l.slotBytes);
    return true;
  }

  /** The kernel freed the live object of `slot` (its own free, or another slot's stale free). */
  private freeSlot(slot: number): void {
    this.state[slot] = FREED;
    const seq = this.freeObject(this.kind[slot], this.addr[slot], this.objSize[slot], this.size[slot], this.slotSizeOf(slot));
    this.slotFreeSeq[slot] = seq;
  }

  /** Poison a freed object as KASAN does; slab objects enter the quarantine. Returns the free sequence (slab) or -1. */
  private freeObject(kind: number, k: number, obj: number, size: number, slotBytes: number): number {
    if (kind === K_SLAB || kind === K_CACHE) {
      this.cum += slotBytes;
      const seq = this.cumFree.length;
      this.cumFree.push(this.cum);
      this.freedStart.push(k);
      this.setRange(k, k + up8(obj), (seq << 4) | G_FREED);
      return seq;
    }
    if (kind === K_LARGE) this.setRange(k, k + obj, G_FREED_PAGE);
    else this.setRange(k, k + pageUp(size) + PAGE, G_VM_GONE);
    return -1;
  }

  /** The live slot whose object starts at k (kmalloc/cache or vmalloc kind), or -1. */
  private liveAt(k: number, vm: boolean): number {
    // slots are few thousand: a scan is fine on these rare paths
    for (let s = 0; s < this.state.length; s++) {
      if (this.state[s] === LIVE && this.addr[s] === k && (this.kind[s] === K_VM) === vm) return s;
    }
    return -1;
  }

  // ── access verdicts ───────────────────────────────────────────────────────
  /** Where may slot s reach, and is [k, k + n) inside its home (where the oracle knows every granule)? */
  private reach(s: number, k: number, n: number): { ok: boolean; home: boolean } {
    const lo = this.homeLo[s], hi = this.homeEnd[s];
    if (k < lo - PAGE || k + n > hi + PAGE) return { ok: false, home: false };
    return { ok: true, home: k >= lo && k + n <= hi };
  }

  /** KASAN's bug type for a bad access [k, k + n): first bad granule, stepping 8 from k. */
  private bugType(k: number, n: number): { type: string; certainIfHome: boolean; vm: boolean } {
    let p = k;
    while (p < k + n && (this.g(p) & 15) === G_FULL) p += 8;
    let v = this.g(p), c = v & 15;
    if (c >= G_LIVE && c < G_FULL) { p += 8; v = this.g(p); c = v & 15; }
    const vmSpace = this.sp.isVm(k);
    switch (c) {
      case G_FULL: return { type: "out-of-bounds", certainIfHome: true, vm: false };
      case G_REDZONE: case G_LARGE_TAIL: return { type: "slab-out-of-bounds", certainIfHome: true, vm: false };
      case G_FREED: return { type: "slab-use-after-free", certainIfHome: this.quarantined(v), vm: false };
      case G_FREED_PAGE: return { type: "use-after-free", certainIfHome: false, vm: false };
      case G_VM_TAIL: return { type: "vmalloc-out-of-bounds", certainIfHome: true, vm: true };
      case G_VM_GONE: return { type: "vmalloc-out-of-bounds", certainIfHome: false, vm: true };
      default: return vmSpace ? { type: "vmalloc-out-of-bounds", certainIfHome: false, vm: true }
                              : { type: "slab-out-of-bounds", certainIfHome: true, vm: false };
    }
  }

  private allLive(k: number, n: number): boolean {
    for (let a = k - (k % 8); a < k + n; a += 8) {
      const c = this.g(a) & 15;
      if (c === G_FULL) continue;
      if (c < G_LIVE || c > G_FULL) return false;
      // partial: the live prefix must cover the accessed bytes of this granule
      const lastByte = Math.min(k + n, a + 8) - 1 - a;
      if (lastByte >= c - G_LIVE) return false;
    }
    return true;
  }

  /**
   * The verdict for an access of n bytes at offset off through slot s
   * (write: a store or a memset/memcpy destination). `path` decides nothing
   * here: KASAN's type is the same for every path.
   */
  private accessVerdict(s: number, off: number, n: number, write: boolean): { status: number; records: string[]; certain: boolean; perform: boolean } {
    if (this.state[s] === EMPTY) return { status: abi.FZS_EMPTY, records: [], certain: true, perform: false };
    if (n === 0) return { status: abi.FZS_DONE, records: [], certain: true, perform: false };
    const k = this.addr[s] + off;
    const r = this.reach(s, k, n);
    if (!r.ok) return { status: abi.FZS_REACH, records: [], certain: true, perform: false };
    if (this.allLive(k, n)) {
      // live bytes: the only way to be skipped is a page that is no longer the workload's, which live objects' pages always are
      return { status: abi.FZS_DONE, records: [], certain: true, perform: true };
    }
    const bt = this.bugType(k, n);
    const live = this.state[s] === LIVE;
    const rec = `kasan:${bt.type}:${write ? "W" : "R"}@${k.toString(16)}`;
    const gone = bt.vm && !bt.certainIfHome;
    const records = gone ? [rec, "oops"] : [rec];
    const certain = r.home && bt.certainIfHome && (live || bt.type === "slab-use-after-free");
    return { status: abi.FZS_DONE, records, certain, perform: true };
  }

  // ── the checker ───────────────────────────────────────────────────────────
  /**
   * Check one chunk: `body` (whole ops, the first being op `firstOp`), the
   * per-op log the interpreter wrote (status, address; DataView over the
   * engine memory at the log), and the findings, grouped by op.
   */
  check(body: Uint8Array, firstOp: number, log: DataView, findings: Map<number, Finding[]>): Disagreement | undefined {
    const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
    const o = this.o;
    let p = 0, i = 0;
    while (p < body.length) {
      p += readOp(body, dv, p, o);
      const op = firstOp + i;
      const e = i * abi.FZ_LOG_SIZE;
      const status = log.getUint32(e + abi.FZL_STATUS, true);
      const lo = log.getUint32(e + abi.FZL_ADDR, true), hi = log.getUint32(e + abi.FZL_ADDR + 4, true);
      const fs = findings.get(op) ?? [];
      this.reportsSeen += fs.length;
      const got = fs.map((f) => recordKey(f, this.sp)).sort();
      const d = this.step(op, o, status, this.sp.key(lo, hi), lo === 0 && hi === 0, log, e, got);
      if (d) return d;
      this.checked++;
      i++;
    }
    return undefined;
  }

  private disagree(op: number, o: Op, expected: string, status: number, got: string[], why = ""): Disagreement {
    return { op, what: describeOp(o, this.h) + (why ? ` (${why})` : ""), expected, got: `${statusName(status)} ${JSON.stringify(got)}` };
  }

  private compare(op: number, o: Op, x: Expectation, status: number, got: string[]): Disagreement | undefined {
    if (x.exact) {
      const want = [...x.exact.records].sort();
      if (status !== x.exact.status || want.length !== got.length || want.some((w, i) => w !== got[i])) {
        return this.disagree(op, o, `${statusName(x.exact.status)} ${JSON.stringify(want)}`, status, got, x.note);
      }
      this.certain++;
      return undefined;
    }
    if (!x.allowed!(status, got)) return this.disagree(op, o, x.note, status, got);
    this.uncertain++;
    return undefined;
  }

  private step(op: number, o: Op, status: number, k: number, nullAddr: boolean, log: DataView, e: number, got: string[]): Disagreement | undefined {
    const s = o.slot;
    switch (o.code) {
      case abi.FZ_TICK: case abi.FZ_TASK:
        return this.compare(op, o, { exact: { status: abi.FZS_DONE, records: [] }, note: "" }, status, got);
      case abi.FZ_KMALLOC: case abi.FZ_KZALLOC: case abi.FZ_VMALLOC: case abi.FZ_CACHE_ALLOC: {
        if (status === abi.FZS_ALLOC_FAILED) {
          // out of memory is the allocator's call; warn_alloc says so
          if (!nullAddr) return this.disagree(op, o, "a NULL result with FZS_ALLOC_FAILED", status, got);
          this.nullSlot(s);
          return got.every(isAllocFailureWarning) ? undefined : this.disagree(op, o, "no report but warn_alloc's", status, got);
        }
        if (status !== abi.FZS_DONE || got.length) return this.disagree(op, o, "done, no report", status, got);
        this.leak(s);
        const homeLo = this.sp.key(log.getUint32(e + abi.FZL_HOME_LO, true), log.getUint32(e + abi.FZL_HOME_LO + 4, true));
        const homeHi = this.sp.key(log.getUint32(e + abi.FZL_HOME_HI, true), log.getUint32(e + abi.FZL_HOME_HI + 4, true));
        let bad: string | undefined;
        if (o.code === abi.FZ_VMALLOC) {
          bad = homeLo !== k || !this.sp.isVm(k) ? "vmalloc result outside vmalloc space or not its area's start"
            : this.allocate(s, K_VM, k, o.size, pageUp(o.size), homeLo, homeHi, 0);
        } else if (o.code === abi.FZ_CACHE_ALLOC) {
          const obj = this.h.caches[o.cache].objectSize;
          bad = this.allocate(s, K_CACHE, k, obj, obj, homeLo, homeHi, o.cache);
        } else if (o.size > 8192) {
          const order = Math.ceil(Math.log2(Math.ceil(o.size / PAGE)));
          bad = homeLo !== k ? "large kmalloc is not at its pages' start" : this.allocate(s, K_LARGE, k, o.size, PAGE << order, homeLo, homeHi, 0);
        } else {
          bad = this.allocate(s, K_SLAB, k, o.size, this.kmallocObjSize(o.size), homeLo, homeHi, 0);
        }
        if (bad) return this.disagree(op, o, "a valid placement", status, got, bad);
        this.certain++;
        return undefined;
      }
      case abi.FZ_KREALLOC: return this.krealloc(op, o, status, k, log, e, got);
      case abi.FZ_KFREE: case abi.FZ_KFREE_AT: return this.kfree(op, o, status, got);
      case abi.FZ_VFREE: return this.vfree(op, o, status, got);
      case abi.FZ_MEMSET: {
        const v = this.accessVerdict(s, o.off, o.size, true);
        return this.compare(op, o, expectation(v, "memset"), status, got);
      }
      case abi.FZ_MEMCPY: {
        if (o.size === 0) {
          const st = this.state[s] === EMPTY || this.state[o.src] === EMPTY ? abi.FZS_EMPTY : abi.FZS_DONE;
          return this.compare(op, o, { exact: { status: st, records: [] }, note: "" }, status, got);
        }
        const dst = this.accessVerdict(s, o.off, o.size, true);
        const src = this.accessVerdict(o.src, o.srcOff, o.size, false);
        // reach: the destination first, then the source; KASAN: the source first, then the destination
        let x: Expectation;
        if (dst.status !== abi.FZS_DONE) x = expectation(dst, "memcpy dst");
        else if (src.status !== abi.FZS_DONE) x = expectation(src, "memcpy src");
        else x = expectation(src.records.length ? src : dst, "memcpy");
        // an uncertain range may be a page that is no longer the workload's: the whole op is skipped
        if ((!dst.certain || !src.certain) && x.exact) x = orUnsafe(x);
        return this.compare(op, o, x, status, got);
      }
      default: {
        const n = accessSize(o.code);
        if (!n) return this.disagree(op, o, "a known op", status, got);
        return this.compare(op, o, expectation(this.accessVerdict(s, o.off, n, isStore(o.code)), "access"), status, got);
      }
    }
  }

  private kfree(op: number, o: Op, status: number, got: string[]): Disagreement | undefined {
    const s = o.slot;
    const st = this.state[s];
    if (st === EMPTY) return this.compare(op, o, { exact: { status: abi.FZS_EMPTY, records: [] }, note: "" }, status, got);
    const off = o.code === abi.FZ_KFREE_AT ? o.off : 0;
    const k = this.addr[s] + off;
    if (st === LIVE && off === 0 && this.kind[s] !== K_VM) {
      this.freeSlot(s);
      return this.compare(op, o, { exact: { status: abi.FZS_DONE, records: [] }, note: "free" }, status, got);
    }
    const r = this.reach(s, k, 1);
    if (!r.ok) return this.compare(op, o, { exact: { status: abi.FZS_REACH, records: [] }, note: "free out of reach" }, status, got);
    const dbl = `kasan-free:double-free@${k.toString(16)}`, inv = `kasan-free:invalid-free@${k.toString(16)}`;
    // kfree of a vmalloc address: no slab object, no large kmalloc
    if (this.sp.isVm(k)) return this.compare(op, o, { exact: { status: abi.FZS_DONE, records: [inv] }, note: "kfree of vmalloc memory" }, status, got);
    const owner = this.liveAt(k, false);
    if (owner >= 0) {
      // the pointer names a live object (reused memory, or a neighbour): the kernel frees it
      this.freeSlot(owner);
      return this.compare(op, o, { exact: { status: abi.FZS_DONE, records: [] }, note: `frees slot ${owner}'s live object` }, status, got);
    }
    if (this.freeLeaked(k, false)) return this.compare(op, o, { exact: { status: abi.FZS_DONE, records: [] }, note: "frees a leaked object" }, status, got);
    const v = this.g(k), c = v & 15;
    const inLive = c >= G_LIVE + 1 && c <= G_FULL;
    if (r.home && c === G_FREED && this.quarantined(v)) {
      // the slab is alive: a freed object's start is a double free, anything else in it an invalid one
      return this.compare(op, o, { exact: { status: abi.FZS_DONE, records: [this.freedStart[v >>> 4] === k ? dbl : inv] }, note: "free of freed memory" }, status, got);
    }
    if (r.home && st === LIVE && (inLive || c === G_REDZONE)) {
      return this.compare(op, o, { exact: { status: abi.FZS_DONE, records: [inv] }, note: "free of an interior pointer" }, status, got);
    }
    return this.compare(op, o, {
      allowed: (stt, g) => stt === abi.FZS_UNSAFE ? g.length === 0 : stt === abi.FZS_DONE && g.length === 1 && (g[0] === dbl || g[0] === inv),
      note: "a double-free or invalid-free report, or a skip (the memory may have changed hands)",
    }, status, got);
  }

  private vfree(op: number, o: Op, status: number, got: string[]): Disagreement | undefined {
    const s = o.slot;
    const st = this.state[s];
    if (st === EMPTY) return this.compare(op, o, { exact: { status: abi.FZS_EMPTY, records: [] }, note: "" }, status, got);
    const k = this.addr[s];
    if (st === LIVE && this.kind[s] === K_VM) {
      this.freeSlot(s);
      return this.compare(op, o, { exact: { status: abi.FZS_DONE, records: [] }, note: "vfree" }, status, got);
    }
    const owner = this.sp.isVm(k) ? this.liveAt(k, true) : -1;
    if (owner >= 0) {
      this.freeSlot(owner);
      return this.compare(op, o, { exact: { status: abi.FZS_DONE, records: [] }, note: `frees slot ${owner}'s area` }, status, got);
    }
    if (this.sp.isVm(k) && this.freeLeaked(k, true)) return this.compare(op, o, { exact: { status: abi.FZS_DONE, records: [] }, note: "frees a leaked area" }, status, got);
    const w = k % PAGE !== 0 ? "warn:vfree of bad address" : "warn:vfree of nonexistent vm area";
    return this.compare(op, o, { exact: { status: abi.FZS_DONE, records: [w] }, note: "vfree of no area" }, status, got);
  }

  private krealloc(op: number, o: Op, status: number, k: number, log: DataView, e: number, got: string[]): Disagreement | undefined {
    const s = o.slot;
    const st = this.state[s];
    if (st === EMPTY) return this.compare(op, o, { exact: { status: abi.FZS_EMPTY, records: [] }, note: "" }, status, got);
    if (st === FREED) return this.compare(op, o, { exact: { status: abi.FZS_DANGLING, records: [] }, note: "" }, status, got);
    if (this.kind[s] !== K_SLAB && this.kind[s] !== K_LARGE) return this.compare(op, o, { exact: { status: abi.FZS_KIND, records: [] }, note: "" }, status, got);
    if (status === abi.FZS_ALLOC_FAILED) {
      // p = krealloc(p, ...) returned NULL: the old object leaks
      this.nullSlot(s);
      return got.every(isAllocFailureWarning) ? undefined : this.disagree(op, o, "no report but warn_alloc's", status, got);
    }
    if (status !== abi.FZS_DONE || got.length) return this.disagree(op, o, "done, no report", status, got);
    const old = this.addr[s];
    const ks = this.objSize[s];
    const inPlace = o.size <= ks;
    if (inPlace !== (k === old)) return this.disagree(op, o, inPlace ? `resized in place (ksize ${ks})` : "moved to a new object", status, got, `got key 0x${k.toString(16)}, had 0x${old.toString(16)}`);
    if (inPlace) {
      this.size[s] = o.size;
      this.setLive(old, o.size);
      const end = up8(old + o.size);
      const tail = this.kind[s] === K_LARGE ? G_LARGE_TAIL : G_REDZONE;
      const objEnd = this.kind[s] === K_LARGE ? old + ks : old + up8(ks);
      if (objEnd > end) this.setRange(end, objEnd, tail);
      this.certain++;
      return undefined;
    }
    // a new kmalloc, the contents copied, then the old object freed
    const homeLo = this.sp.key(log.getUint32(e + abi.FZL_HOME_LO, true), log.getUint32(e + abi.FZL_HOME_LO + 4, true));
    const homeHi = this.sp.key(log.getUint32(e + abi.FZL_HOME_HI, true), log.getUint32(e + abi.FZL_HOME_HI + 4, true));
    const was = { kind: this.kind[s], addr: old, obj: ks, size: this.size[s], slot: this.slotSizeOf(s) };
    const large = o.size > 8192;
    const obj = large ? PAGE << Math.ceil(Math.log2(Math.ceil(o.size / PAGE))) : this.kmallocObjSize(o.size);
    const bad = this.allocate(s, large ? K_LARGE : K_SLAB, k, o.size, obj, homeLo, homeHi, 0);
    if (bad) return this.disagree(op, o, "a valid placement", status, got, bad);
    this.freeObject(was.kind, was.addr, was.obj, was.size, was.slot);
    this.certain++;
    return undefined;
  }
}

function orUnsafe(x: Expectation): Expectation {
  const ex = x.exact!;
  const want = [...ex.records].sort();
  return {
    allowed: (st, g) => (st === abi.FZS_UNSAFE && g.length === 0) ||
      (st === ex.status && g.length === want.length && want.every((w, i) => w === g[i])),
    note: `${x.note}: ${statusName(ex.status)} ${JSON.stringify(want)}, or a skip`,
  };
}

function expectation(v: { status: number; records: string[]; certain: boolean }, what: string): Expectation {
  if (v.certain) return { exact: { status: v.status, records: v.records }, note: what };
  return {
    allowed: (st, g) => {
      if (st === abi.FZS_UNSAFE) return g.length === 0;
      if (st !== v.status) return false;
      if (v.records.length === 0) return g.length === 0;
      // some KASAN report (the memory may have changed hands since the oracle last knew it), and an oops only in vmalloc space
      return g.length >= 1 && g.every((x) => x.startsWith("kasan:") || (x === "oops" && v.records.includes("oops")));
    },
    note: `${what}: a KASAN report or a skip (memory may have changed hands)`,
  };
}

/** The comparable part of a finding: kind, bug type, direction, address. */
export function recordKey(f: Finding, sp?: { keyOf(a: bigint): number }): string {
  const r = f.raw;
  const k = sp ? sp.keyOf(r.addr).toString(16) : r.addr.toString(16);
  switch (r.kind) {
    case abi.REP_KASAN: return `kasan:${BUG_NAMES[r.bug] ?? "?"}:${(r.flags & abi.RF_WRITE) !== 0 ? "W" : "R"}@${k}`;
    case abi.REP_KASAN_FREE: return `kasan-free:${BUG_NAMES[r.bug] ?? "?"}@${k}`;
    case abi.REP_OOPS: return "oops";
    case abi.REP_VMALLOC_WARN: case abi.REP_WARN: return `warn:${f.type.replace(/^WARNING: /, "")}`;
  }
  return f.type;
}

/** warn_alloc()'s text for a failed page, slab or vmalloc allocation (a got-record name). */
function isAllocFailureWarning(g: string): boolean {
  return g.startsWith("warn:vmalloc") || g === "warn:page allocation failure";
}

function statusName(s: number): string {
  return ["done", "empty slot", "out of reach", "unsafe page", "dangling krealloc", "wrong kind", "allocation failed", "refused"][s] ?? `status ${s}`;
}

/** The quarantine must hold at least this many bytes of frees before releasing an object (0: no guarantee). */
export function quarantineWindow(f: OracleFacts): number {
  const MB = 1 << 20;
  const nr = Math.max(1, Math.min(64, f.nrCpus));
  const total = f.quarantine >= 0 ? f.quarantine : Math.floor((f.ramMb * MB) / 32);
  if (total === 0) return 0;
  const percpu = f.quarantine >= 0 ? Math.min(MB, Math.floor(total / (2 * nr))) : MB;
  const max = Math.max(0, total - percpu * nr);
  const batch = Math.max(percpu, Math.floor((2 * total) / 1024));
  // released only from the head batch while the global queue exceeds max:
  // everything after it in the queue was freed later, but for one batch, the
  // per-CPU queues it came with, and an object's worth of slack
  return Math.max(0, max - batch - percpu * nr - 2 * 8192);
}
