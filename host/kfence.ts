// engine.kfence: KFENCE's host side. Registers the report formatter and the
// boot line, and serves /sys/kernel/debug/kfence/{stats,objects} (text and
// JSON) and the writable kfence.sample_interval parameter.
import * as abi from "../abi/abi.js";
import type { Formatted, RecordFormatter } from "./report/report.js";
import type { CoreExports } from "./exports.js";
import type { ResolvedOptions } from "./config.js";
import type { Frame } from "./stackdepot.js";

/** What KFENCE's host side uses of the engine (the Engine provides it). */
export interface KfenceEngine {
  readonly exports: CoreExports;
  readonly memory: WebAssembly.Memory;
  readonly options: ResolvedOptions;
  readonly clockNs: bigint;
  registerFormatter(kind: number, fn: RecordFormatter): void;
  addBootLines(hook: () => string[]): void;
  kernelCall<T>(capture: boolean, fn: () => T): T;
  printk(text: string, ns?: bigint): void;
  cacheName(id: number): string;
  stackFrames(handle: number): Frame[];
  hashPointer(va: bigint): string;
}
import { addrArg } from "./args.js";
import { formatKfence, objectLines, trackFrames, kfenceState, type KfenceObjectInfo } from "./report/kfence.js";

export type { KfenceObjectInfo, KfenceDetails, KfenceTrack } from "./report/kfence.js";

/** /sys/kernel/debug/kfence/stats as data. */
export interface KfenceStats {
  enabled: boolean;
  currentlyAllocated: number;
  totalAllocations: number;
  totalFrees: number;
  zombieAllocations: number;
  totalBugs: number;
  skippedIncompatible: number;
  skippedCapacity: number;
  skippedCovered: number;
}

const COUNTERS: Array<[keyof KfenceStats, string, number]> = [
  ["currentlyAllocated", "currently allocated", abi.STAT_KFENCE_ALLOCATED],
  ["totalAllocations", "total allocations", abi.STAT_KFENCE_ALLOCS],
  ["totalFrees", "total frees", abi.STAT_KFENCE_FREES],
  ["zombieAllocations", "zombie allocations", abi.STAT_KFENCE_ZOMBIES],
  ["totalBugs", "total bugs", abi.STAT_KFENCE_BUGS],
  ["skippedIncompatible", "skipped allocations (incompatible)", abi.STAT_KFENCE_SKIP_INCOMPAT],
  ["skippedCapacity", "skipped allocations (capacity)", abi.STAT_KFENCE_SKIP_CAPACITY],
  ["skippedCovered", "skipped allocations (covered)", abi.STAT_KFENCE_SKIP_COVERED],
];

export class Kfence {
  constructor(private readonly engine: KfenceEngine) {
    engine.registerFormatter(abi.REP_KFENCE, (r, ctx, frames): Formatted => {
      const f = formatKfence(r, ctx, frames(), engine.options.noHashPointers);
      // faults proceed once the page is unprotected; an invalid free is refused
      const performed = r.errcode !== abi.KFENCE_ERROR_INVALID_FREE;
      return { kind: "kfence", type: f.type, title: f.title, performed, text: f.lines.join("\n"), extra: { kfence: f.details } };
    });
    engine.addBootLines(() => this.bootLines());
  }

  private get x() { return this.engine.exports; }

  private bootLines(): string[] {
    switch (this.x.kfence_init_failed()) {
      case abi.KFENCE_INIT_NO_POOL: return ["kfence: failed to allocate pool"];
      case abi.KFENCE_INIT_NO_METADATA: return ["kfence: failed to allocate metadata"];
      case abi.KFENCE_INIT_FAILED: return ["kfence: kfence_init failed"];
    }
    return this.initialized ? [this.initLine()] : [];
  }
  private initLine(): string {
    const start = this.poolStart, size = this.poolSize;
    return `kfence: initialized - using ${size} bytes for ${this.numObjects} objects at 0x${hex16(start)}-0x${hex16(start + size)}`;
  }

  /** The pool exists (KFENCE was enabled at boot or later). */
  get initialized(): boolean { return this.poolSize > 0n; }
  /** kfence_enabled: sampling and fault handling active. */
  get enabled(): boolean { return this.x.kfence_enabled() === 1; }
  /** __kfence_pool */
  get poolStart(): bigint { return BigInt.asUintN(64, this.x.kfence_pool_start()); }
  get poolSize(): bigint { return BigInt.asUintN(64, this.x.kfence_pool_size()); }
  get numObjects(): number { return this.x.kfence_num_objects(); }
  /** is_kfence_address() */
  isKfenceAddress(addr: bigint): boolean {
    const a = addrArg("kfence.isKfenceAddress", "addr", addr);
    return a - this.poolStart >= 0n && a - this.poolStart < this.poolSize;
  }

  /** kfence.sample_interval as read back (0 while disabled). */
  get sampleInterval(): number { return this.x.kfence_sample_interval(); }
  /** Write kfence.sample_interval: 0 disables; non-zero re-enables (setting the pool up late if needed). */
  set sampleInterval(ms: number) {
    if (!Number.isInteger(ms) || ms < 0 || ms > 2 ** 31 - 1) throw new RangeError(`kfence.sample_interval must be an integer from 0 to ${2 ** 31 - 1}, got ${ms}`);
    const rc = this.engine.kernelCall(false, () => this.x.kfence_set_sample_interval(ms));
    if (rc === abi.KFENCE_SET_REENABLED) this.engine.printk("kfence: re-enabled");
    else if (rc === abi.KFENCE_SET_INITIALISED) this.engine.printk(this.initLine());
    else if (rc === abi.KFENCE_SET_DISABLED) this.engine.printk("kfence: disabled");
    else if (rc === -abi.ENOMEM) throw new RangeError("kfence.sample_interval: out of memory setting up the KFENCE pool");
    else if (rc < 0) throw new RangeError("kfence.sample_interval: invalid argument (KFENCE disabled by a warning, or its pool is too large for the page allocator)");
  }

  private requireDebugfs(): void {
    if (!this.initialized) throw new RangeError("kfence: /sys/kernel/debug/kfence does not exist (KFENCE was not enabled: kfence.sample_interval=0)");
  }

  /** /sys/kernel/debug/kfence/stats as data. */
  statsData(): KfenceStats {
    this.requireDebugfs();
    const base = this.x.stats_base();
    const dv = new DataView(this.engine.memory.buffer);
    const out = { enabled: this.enabled } as KfenceStats;
    for (const [key, , id] of COUNTERS) (out as unknown as Record<string, number>)[key] = Number(dv.getBigInt64(base + id * 8, true));
    return out;
  }
  /** The text of /sys/kernel/debug/kfence/stats. */
  stats(): string {
    const s = this.statsData();
    const lines = [`enabled: ${s.enabled ? 1 : 0}`, ...COUNTERS.map(([key, name]) => `${name}: ${s[key]}`)];
    return lines.join("\n") + "\n";
  }

  /** Every metadata slot in index order, as /sys/kernel/debug/kfence/objects describes it. */
  objectsData(): KfenceObjectInfo[] {
    this.requireDebugfs();
    const base = this.x.kfence_meta_base();
    const dv = new DataView(this.engine.memory.buffer);
    const out: KfenceObjectInfo[] = [];
    for (let i = 0; i < this.numObjects; i++) {
      const m = base + i * abi.KF_META_SIZE;
      const state = kfenceState(dv.getUint8(m + abi.KF_M_STATE));
      const o: KfenceObjectInfo = {
        index: i, state, start: dv.getBigUint64(m + abi.KF_M_ADDR, true), size: dv.getUint32(m + abi.KF_M_SIZE, true),
        cache: dv.getUint8(m + abi.KF_M_CACHE_NULL) ? "<destroyed>" : this.engine.cacheName(dv.getUint32(m + abi.KF_M_CACHE, true)),
      };
      if (state !== "unused") {
        o.allocated = this.track(dv, m + abi.KF_M_ALLOC_TRACK);
        if (state === "freed" || state === "rcu freeing") o.freed = this.track(dv, m + abi.KF_M_FREE_TRACK);
      }
      out.push(o);
    }
    return out;
  }
  private track(dv: DataView, t: number) {
    return {
      pid: dv.getUint32(t + abi.KF_T_PID, true), cpu: dv.getUint32(t + abi.KF_T_CPU, true),
      timeNs: dv.getBigUint64(t + abi.KF_T_TS, true),
      stack: trackFrames(this.engine.stackFrames(dv.getUint32(t + abi.KF_T_STACK, true))),
    };
  }
  /** The text of /sys/kernel/debug/kfence/objects ("ago" against the engine clock now). */
  objects(): string {
    const now = this.engine.clockNs;
    const lines: string[] = [];
    const pointer = (va: bigint) => this.engine.hashPointer(va);
    for (const o of this.objectsData()) lines.push(...objectLines(o, now, pointer), "---------------------------------");
    return lines.join("\n") + "\n";
  }
}

function hex16(v: bigint): string {
  return BigInt.asUintN(64, v).toString(16).padStart(16, "0");
}
