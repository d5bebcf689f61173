// The workload generator: seeded op streams with weighted mixes (profiles),
// size distributions and planted bugs at given rates. Same (seed, unit,
// profile, options) -> same ops, byte for byte, however the ops are chunked.
//
// This file holds the profiles and builds the generator's configuration; the
// loop that writes ops runs inside wasm (assembly/fuzz/gen.ts), in the
// engine's own instance while fuzzing, so a worker does no JS per op at all.
// (A JS loop cost 40-45 ns per op here, more than running the op.)
//
// Planted bugs are scenarios: a victim allocated at the scenario's
// allocation site, then a few ops later the buggy op at the scenario's site
// (off-by-N, underflow, use after the free, a second free, a free of an
// interior pointer), then the victim's last free. A buggy site only meets
// objects from its own allocation site, as a real bug does, so reports
// deduplicate to one bug per site.
import * as abi from "../../abi/abi.js";
import type { CoreExports } from "../exports.js";
import { loadCoreBytesSync, coreBuildShared } from "../platform.js";
import { instantiateCore, noteCoreModule } from "../core_memory.js";
import { resolveOptions } from "../config.js";
import { OpWriter, readOp, emptyOp, type Tape, type TapeHeader, type TapeSite, type TapeCache } from "./tape.js";

export type Profile = "slab-churn" | "vmalloc-heavy" | "mixed";
export const PROFILES: readonly Profile[] = ["slab-churn", "vmalloc-heavy", "mixed"];
export type BugClass = "oob" | "underflow" | "uaf" | "double-free" | "invalid-free";
/** In the core's order (assembly/fuzz/gen.ts P_*). */
export const BUG_CLASSES: readonly BugClass[] = ["oob", "underflow", "uaf", "double-free", "invalid-free"];
/** Probability per op of starting each planted scenario. */
export type PlantRates = Partial<Record<BugClass, number>>;

export interface GeneratorOptions {
  seed: number;
  /** Work unit: each unit is an independent stream of the same seed. */
  unit?: number;
  profile?: Profile;
  plant?: PlantRates;
  /** Kernel command line written into the tape (replay boots with it). */
  cmdline?: string;
  /** One tick op every `every` ops advancing the virtual clock by `us` µs (KFENCE's sampling timer). */
  tick?: { every: number; us: number };
  /** Largest delay (ops) between a free and the use-after-free or second free (default 256). */
  maxUafDelay?: number;
  /** Largest N of off-by-N and underflow-by-N (default 16). */
  maxOobBytes?: number;
  /**
   * Planted out-of-bounds and use-after-free accesses also write (default).
   * A reported write is still performed (kasan.fault=report), so it corrupts
   * what it hits, a freelist pointer included, as in the kernel; --check plants
   * reads only, since the oracle models allocations, not corruption.
   */
  plantWrites?: boolean;
  /**
   * The stream runs on this many CPUs (fuzz --cpus, 1..8; default 1). Above 1
   * it has no task ops (each CPU runs its own task), a memcpy's two slots are
   * always on one CPU, and planted bugs' victims live in the victim slots, which
   * change CPU at every barrier (assembly/fuzz/owner.ts); half of the planted
   * use-after-frees and double frees span a barrier, so cross CPUs.
   */
  cpus?: number;
  /** On several CPUs: ops per segment, between two barriers (default SEGMENT_OPS). */
  segmentOps?: number;
}

export const PLANT_SITES = 4;
/** fuzz --cpus: ops per segment (between two barriers) by default; --check: at most FZ_LOG_OPS. */
export const SEGMENT_OPS = 8192;

interface Mix {
  alloc: number; free: number; realloc: number; load: number; store: number; memset: number; memcpy: number; task: number;
  /** Shares of allocations. */
  kzalloc: number; cache: number; vmalloc: number; large: number;
  /** Share of oob/underflow victims that are vmalloc'ed. */
  vmVictims: number;
  slots: number;
  caches: TapeCache[];
}

const MIXES: Record<Profile, Mix> = {
  "slab-churn": {
    alloc: 30, free: 30, realloc: 2, load: 20, store: 14, memset: 2, memcpy: 2, task: 0.05,
    kzalloc: 0.1, cache: 0.15, vmalloc: 0, large: 0, vmVictims: 0,
    slots: 2048,
    caches: [
      { name: "fuzz_obj_48", objectSize: 48, align: 0, flags: 0 },
      { name: "fuzz_obj_200", objectSize: 200, align: 0, flags: abi.SLAB_HWCACHE_ALIGN },
    ],
  },
  "vmalloc-heavy": {
    alloc: 25, free: 25, realloc: 1, load: 25, store: 18, memset: 3, memcpy: 3, task: 0.05,
    kzalloc: 0.05, cache: 0.05, vmalloc: 0.35, large: 0.02, vmVictims: 0.3,
    slots: 1024,
    caches: [{ name: "fuzz_obj_64", objectSize: 64, align: 0, flags: 0 }],
  },
  mixed: {
    alloc: 22, free: 22, realloc: 3, load: 26, store: 20, memset: 3, memcpy: 4, task: 0.1,
    kzalloc: 0.1, cache: 0.15, vmalloc: 0.05, large: 0.02, vmVictims: 0.2,
    slots: 2048,
    caches: [
      { name: "fuzz_obj_24", objectSize: 24, align: 0, flags: 0 },
      { name: "fuzz_obj_136", objectSize: 136, align: 0, flags: abi.SLAB_HWCACHE_ALIGN },
      { name: "fuzz_obj_1000", objectSize: 1000, align: 0, flags: 0 },
    ],
  },
};

/** Site groups in the core's G_* order, with how many sites each has. */
const SITE_GROUPS: Array<[string, number]> = [
  ["alloc", 16], ["free", 16], ["load", 24], ["store", 24], ["mem", 8], ["realloc", 4],
  ["cache_alloc", 4], ["cache_free", 4], ["vmalloc", 8], ["vfree", 8],
];
const TASKS = ["sf-fuzz/0", "sf-fuzz/1", "sf-fuzz/2", "sf-fuzz/3"];
/** The tape's tasks: on N CPUs, CPU n runs task n (sf-fuzz/n). */
function fuzzTasks(cpus: number): string[] {
  return Array.from({ length: Math.max(TASKS.length, cpus) }, (_, i) => `sf-fuzz/${i}`);
}

function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 15; h = Math.imul(h, 0x2c1b3c6d); h ^= h >>> 12;
  return h >>> 0;
}
/** A function-like frame for a site name: size and call offset derived from the name. */
export function siteFrame(name: string): TapeSite {
  const h = hash32(name);
  const size = 0x80 + ((h & 0x3ff) & ~15);
  const offset = 0x10 + ((h >>> 12) % (size - 0x20));
  return { name, offset, size };
}

/** Where each group of sites starts in a profile's site table. */
export interface SiteMap {
  group: Record<string, [number, number]>;
  /** class -> [buggy site base, victim allocation site base] */
  planted: Record<BugClass, [number, number]>;
}

function buildSites(profile: Profile): { sites: TapeSite[]; map: SiteMap } {
  const prefix = profile.replace(/-/g, "_");
  const sites: TapeSite[] = [];
  const group: Record<string, [number, number]> = {};
  for (const [g, n] of SITE_GROUPS) {
    group[g] = [sites.length, n];
    for (let i = 0; i < n; i++) sites.push(siteFrame(`${prefix}_${g}_${i}`));
  }
  const planted = {} as Record<BugClass, [number, number]>;
  for (const cls of BUG_CLASSES) {
    const c = cls.replace(/-/g, "_");
    const base = sites.length;
    for (let k = 0; k < PLANT_SITES; k++) {
      const dir = cls === "double-free" || cls === "invalid-free" ? "" : k % 2 === 0 ? "_read" : "_write";
      sites.push(siteFrame(`planted_${c}${dir}_${k}`));
    }
    const allocBase = sites.length;
    for (let k = 0; k < PLANT_SITES; k++) sites.push(siteFrame(`planted_${c}_alloc_${k}`));
    planted[cls] = [base, allocBase];
  }
  return { sites, map: { group, planted } };
}

/** The tape header a profile's streams share (sites, caches, tasks). */
export function profileHeader(profile: Profile, seed: number, unit: number, cmdline: string, cpus = 1): { header: TapeHeader; map: SiteMap } {
  const mix = MIXES[profile];
  if (!mix) throw new RangeError(`unknown profile ${JSON.stringify(profile)}: expected ${PROFILES.join(", ")}`);
  const { sites, map } = buildSites(profile);
  return {
    header: { slots: mix.slots, cmdline, profile, seed, unit, caches: mix.caches.map((c) => ({ ...c })), tasks: fuzzTasks(cpus), sites },
    map,
  };
}

function splitmix32(a: number): () => number {
  return () => {
    a = (a + 0x9e3779b9) | 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

// configuration block offsets (assembly/fuzz/gen.ts C_*)
const C_SLOTS = 0, C_TARGET = 4, C_NCACHES = 8, C_TICK_EVERY = 12, C_TICK_US = 16, C_MAX_UAF = 20, C_MAX_OOB = 24,
  C_PLANT_TOTAL = 28, C_PLANT_CUM = 32, C_VM_VICTIM = 52, C_SEED = 56, C_READS_ONLY = 60, C_GROUPS = 64, C_PLANTED = 112,
  C_PLANT_SITES = 132, C_TARGET_RECIP = 136, C_CPUS = 140, C_OWNER_SHARES = 144, C_SEG_OPS = 148, C_CACHE_SIZES = 192, C_CAT = 256, C_KIND = 4352, C_SLAB_SIZES = 8448, C_VM_SIZES = 12544,
  C_LARGE_SIZES = 16640, C_END = 17664;

/** Fill a 4096-entry table with category i in proportion to weights[i]. */
function weightTable(weights: number[]): Uint8Array {
  const t = new Uint8Array(4096);
  const total = weights.reduce((a, b) => a + b, 0);
  let at = 0, acc = 0;
  weights.forEach((w, i) => {
    acc += w;
    const end = i === weights.length - 1 ? 4096 : Math.round((acc / total) * 4096);
    t.fill(i, at, end);
    at = Math.max(at, end);
  });
  return t;
}

/** Sizes log-uniform in [lo, hi], from a seeded stream. */
function sizeTable(next: () => number, n: number, lo: number, hi: number): Uint32Array {
  const t = new Uint32Array(n);
  const span = Math.log(hi + 1) - Math.log(lo);
  for (let i = 0; i < n; i++) t[i] = Math.min(hi, Math.max(lo, Math.floor(lo * Math.exp((next() / 4294967296) * span))));
  return t;
}

const P32 = 4294967296;

interface Core { exports: CoreExports; memory: WebAssembly.Memory }

let standaloneModule: WebAssembly.Module | undefined;
/** A core instance nobody boots: enough for the generator (it only uses the fuzz statics). */
export function standaloneCore(): Core {
  standaloneModule ??= noteCoreModule(new WebAssembly.Module(loadCoreBytesSync("release") as BufferSource), coreBuildShared("release"));
  const env: Record<string, unknown> = {};
  for (const imp of WebAssembly.Module.imports(standaloneModule)) {
    if (imp.kind === "function") env[imp.name] = () => { throw new Error(`generator core called ${imp.name}`); };
  }
  const { instance, memory } = instantiateCore(standaloneModule, abi.PHYS_BASE / abi.WASM_PAGE, env);
  return { exports: instance.exports as unknown as CoreExports, memory };
}

/** One seeded stream of ops for a profile. */
export class Generator {
  readonly header: TapeHeader;
  readonly sites: SiteMap;
  readonly options: GeneratorOptions;
  private readonly core: Core;

  /** `core`: the instance to generate in (an engine's, to run ops where they are made); a private one if omitted. */
  constructor(opts: GeneratorOptions, core?: Core) {
    const profile = opts.profile ?? "mixed";
    const unit = opts.unit ?? 0;
    if (!Number.isSafeInteger(opts.seed) || opts.seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${opts.seed}`);
    if (!Number.isInteger(unit) || unit < 0 || unit > 0xffffffff) throw new RangeError(`unit must be 0..2^32-1, got ${unit}`);
    const cpus = opts.cpus ?? 1;
    if (!Number.isInteger(cpus) || cpus < 1 || cpus > abi.FZ_MAX_CPUS) throw new RangeError(`cpus must be 1..${abi.FZ_MAX_CPUS}, got ${cpus}`);
    const { header, map } = profileHeader(profile, opts.seed, unit, opts.cmdline ?? "", cpus);
    this.header = header;
    this.sites = map;
    this.options = opts;
    this.core = core ?? standaloneCore();
    this.configure(MIXES[profile], opts, unit);
  }

  private configure(m: Mix, opts: GeneratorOptions, unit: number): void {
    const next = splitmix32(Math.imul(opts.seed % P32 | 0, 0x9e3779b1) ^ Math.floor(opts.seed / P32) ^
                            Math.imul(unit + 1, 0x85ebca6b) ^ hash32(this.header.profile));
    const base = this.core.exports.fuzz_gen_config();
    const u8 = new Uint8Array(this.core.memory.buffer, base, C_END);
    const dv = new DataView(this.core.memory.buffer, base, C_END);
    u8.fill(0);
    const tick = opts.tick ?? { every: 1000, us: 1000 };
    if (!Number.isInteger(tick.every) || tick.every < 0 || !Number.isInteger(tick.us) || tick.us < 0 || tick.us > 0xffffffff) {
      throw new RangeError(`tick: every and us must be non-negative integers, got ${JSON.stringify(tick)}`);
    }
    const maxUaf = opts.maxUafDelay ?? 256, maxOob = opts.maxOobBytes ?? 16;
    if (!Number.isInteger(maxUaf) || maxUaf < 1 || maxUaf > 1 << 24) throw new RangeError(`maxUafDelay must be 1..${1 << 24}, got ${maxUaf}`);
    if (!Number.isInteger(maxOob) || maxOob < 1 || maxOob > 4096) throw new RangeError(`maxOobBytes must be 1..4096, got ${maxOob}`);
    dv.setUint32(C_SLOTS, m.slots, true);
    dv.setUint32(C_TARGET, Math.floor(m.slots * 0.45), true);
    dv.setUint32(C_TARGET_RECIP, Math.floor(2 ** 20 / Math.floor(m.slots * 0.45)), true);
    dv.setUint32(C_NCACHES, m.caches.length, true);
    dv.setUint32(C_TICK_EVERY, tick.every, true);
    dv.setUint32(C_TICK_US, tick.us, true);
    dv.setUint32(C_MAX_UAF, maxUaf, true);
    dv.setUint32(C_MAX_OOB, maxOob, true);
    const plant = opts.plant ?? {};
    let cum = 0;
    BUG_CLASSES.forEach((c, i) => {
      const r = plant[c] ?? 0;
      if (!(r >= 0 && r < 0.5)) throw new RangeError(`plant rate for ${c} must be in [0, 0.5), got ${r}`);
      cum += r;
      dv.setUint32(C_PLANT_CUM + i * 4, Math.min(P32 - 1, Math.round(cum * P32)), true);
    });
    if (cum >= 0.5) throw new RangeError(`planted-bug rates add up to ${cum}; keep them below 0.5`);
    dv.setUint32(C_PLANT_TOTAL, Math.round(cum * P32), true);
    dv.setUint32(C_VM_VICTIM, Math.round(m.vmVictims * (P32 - 1)), true);
    dv.setUint32(C_SEED, next(), true);
    dv.setUint32(C_READS_ONLY, opts.plantWrites === false ? 1 : 0, true);
    dv.setUint32(C_CPUS, opts.cpus ?? 1, true);
    dv.setUint32(C_OWNER_SHARES, (opts.cpus ?? 1) > 1 ? ownerShares(opts.cmdline) : 0, true);
    const seg = opts.segmentOps ?? SEGMENT_OPS;
    if (!Number.isInteger(seg) || seg < 1 || seg > abi.FZ_LOG_OPS) throw new RangeError(`segment size must be 1..${abi.FZ_LOG_OPS} ops, got ${seg}`);
    dv.setUint32(C_SEG_OPS, (opts.cpus ?? 1) > 1 ? seg : 0, true);
    SITE_GROUPS.forEach(([g], i) => {
      const [b, n] = this.sites.group[g];
      dv.setUint16(C_GROUPS + i * 4, b, true);
      dv.setUint16(C_GROUPS + i * 4 + 2, n, true);
    });
    BUG_CLASSES.forEach((c, i) => {
      const [b, a] = this.sites.planted[c];
      dv.setUint16(C_PLANTED + i * 4, b, true);
      dv.setUint16(C_PLANTED + i * 4 + 2, a, true);
    });
    dv.setUint32(C_PLANT_SITES, PLANT_SITES, true);
    m.caches.forEach((c, i) => dv.setUint32(C_CACHE_SIZES + i * 4, c.objectSize, true));
    u8.set(weightTable([m.alloc + m.free, m.realloc, m.load, m.store, m.memset, m.memcpy, m.task]), C_CAT);
    const kmalloc = 1 - m.kzalloc - m.cache - m.vmalloc - m.large;
    u8.set(weightTable([kmalloc, m.kzalloc, m.cache, m.vmalloc, m.large]), C_KIND);
    const put = (off: number, t: Uint32Array) => t.forEach((v, i) => dv.setUint32(off + i * 4, v, true));
    put(C_SLAB_SIZES, sizeTable(next, 1024, 1, 4096));
    put(C_VM_SIZES, sizeTable(next, 1024, 1, 65536));
    put(C_LARGE_SIZES, sizeTable(next, 256, 8193, 131072));
    if (this.core.exports.fuzz_gen_init() !== 0) throw new RangeError("generator: bad configuration");
  }

  /** Ops generated so far (= index of the next op). */
  get op(): number {
    return this.core.exports.fuzz_gen_op() >>> 0;
  }

  /** Buggy ops written so far, per class. */
  planted(): Record<BugClass, number> {
    const out = {} as Record<BugClass, number>;
    BUG_CLASSES.forEach((c, i) => (out[c] = this.core.exports.fuzz_gen_planted(i) >>> 0));
    return out;
  }

  /** Generate up to maxOps ops into the core's tape buffer; the interpreter can run them there. */
  fillBuffer(maxOps: number, maxBytes = abi.FZ_BUF_SIZE): { ops: number; bytes: number } {
    const e = this.core.exports;
    const ops = e.fuzz_gen_fill(e.fuzz_buf(), Math.min(maxBytes, abi.FZ_BUF_SIZE), maxOps) >>> 0;
    return { ops, bytes: e.fuzz_gen_bytes() >>> 0 };
  }

  /** The bytes fillBuffer() left in the tape buffer (a view: copy it to keep it). */
  bufferView(bytes: number): Uint8Array {
    return new Uint8Array(this.core.memory.buffer, this.core.exports.fuzz_buf(), bytes);
  }

  /** Generate up to maxOps ops and append them to w. */
  fill(w: OpWriter, maxOps: number, maxBytes = abi.FZ_BUF_SIZE): number {
    const { ops, bytes } = this.fillBuffer(maxOps, maxBytes);
    w.raw(this.bufferView(bytes), ops);
    return ops;
  }
}

/**
 * fuzz --cpus: the places CPU 0 and each other CPU have in the cycle the slots turn through
 * (assembly/fuzz/owner.ts), as CPU 0's | the others' << 8. CPU 0 also generates, so it runs fewer
 * ops: a fifth of them on 2 CPUs without KASAN (1 place against 4), two fifths under it (2 against 3),
 * where the ops weigh more next to generating (bench fuzz's per-CPU times).
 */
export function ownerShares(cmdline: string | undefined): number {
  return resolveOptions({ cmdline }).kasan ? 2 | 3 << 8 : 1 | 4 << 8;
}

/** The first `ops` ops of a stream as a tape. */
export function generateTape(opts: GeneratorOptions, ops: number): Tape {
  const g = new Generator(opts);
  const w = new OpWriter(Math.min(ops * 10 + 64, 1 << 26));
  let left = ops;
  while (left > 0) left -= g.fill(w, Math.min(left, 1 << 17));
  return { header: g.header, body: w.bytes().slice(), ops };
}

/** The task a TASK op's index names. */
export { TASK_PID_BASE } from "./tape.js";

/** Default planted-bug rates for `shadowfence fuzz` (per op, per class). */
export const DEFAULT_PLANT: PlantRates = { oob: 2e-6, underflow: 2e-6, uaf: 2e-6, "double-free": 1e-6, "invalid-free": 1e-6 };

export function parsePlant(spec: string): PlantRates {
  const out: PlantRates = {};
  if (spec.trim() === "none" || spec.trim() === "") return out;
  for (const part of spec.split(",")) {
    const m = /^\s*([a-z-]+)\s*=\s*([0-9.e+-]+)\s*$/.exec(part);
    if (!m || !(BUG_CLASSES as readonly string[]).includes(m[1])) {
      throw new RangeError(`--plant: expected <class>=<rate>[,...] with class one of ${BUG_CLASSES.join(", ")}, got ${JSON.stringify(part)}`);
    }
    const v = Number(m[2]);
    if (!(v >= 0 && v < 0.5)) throw new RangeError(`--plant: rate for ${m[1]} must be in [0, 0.5), got ${m[2]}`);
    out[m[1] as BugClass] = v;
  }
  return out;
}

// ── planted scenarios, read back from a tape ────────────────────────────────
/** A planted bug as the tape holds it. */
export interface Scenario {
  cls: BugClass;
  /** Buggy site within its class (0..PLANT_SITES-1): even sites read, odd sites write. */
  k: number;
  slot: number;
  size: number;
  vmalloc: boolean;
  write: boolean;
  /** Width of the buggy access (0 for frees). */
  width: number;
  /** Offset of the buggy access or interior free. */
  off: number;
  allocOp: number;
  /** The free before a use-after-free or double free (-1: none). */
  freeOp: number;
  bugOp: number;
  /** The victim's last free after an oob, underflow or invalid free (-1: none yet). */
  lastOp: number;
}

/** Which planted class and buggy site a site index is, if any. */
export function plantedSite(map: SiteMap, site: number): { cls: BugClass; k: number } | undefined {
  for (const cls of BUG_CLASSES) {
    const [b] = map.planted[cls];
    if (site >= b && site < b + PLANT_SITES) return { cls, k: site - b };
  }
  return undefined;
}

/**
 * The planted scenarios of a tape body whose first op is `firstOp`: each
 * planted op, with the victim's allocation before it and its frees around it.
 * `state` carries the per-slot history between chunks of one stream.
 */
export class ScenarioTracker {
  readonly scenarios: Scenario[] = [];
  private readonly lastAlloc = new Map<number, { op: number; size: number; vmalloc: boolean }>();
  private readonly lastFree = new Map<number, number>();
  private readonly open = new Map<number, Scenario>();      // slot -> scenario waiting for its last free
  private readonly o = emptyOp();

  constructor(private readonly map: SiteMap) {}

  feed(body: Uint8Array, firstOp: number): void {
    const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
    let p = 0, i = firstOp;
    const o = this.o;
    while (p < body.length) {
      p += readOp(body, dv, p, o);
      switch (o.code) {
        case abi.FZ_KMALLOC: case abi.FZ_KZALLOC: case abi.FZ_VMALLOC:
          this.lastAlloc.set(o.slot, { op: i, size: o.size, vmalloc: o.code === abi.FZ_VMALLOC });
          break;
        case abi.FZ_KFREE: case abi.FZ_VFREE:
          if (!o.planted) {
            this.lastFree.set(o.slot, i);
            const sc = this.open.get(o.slot);
            if (sc) { sc.lastOp = i; this.open.delete(o.slot); }
          }
          break;
      }
      if (o.planted) {
        const ps = plantedSite(this.map, o.site);
        const a = this.lastAlloc.get(o.slot);
        if (ps && a) {
          const width = o.code >= abi.FZ_LOAD1 && o.code <= abi.FZ_STORE16 ? 1 << ((o.code - abi.FZ_LOAD1) % 5) : 0;
          const sc: Scenario = {
            cls: ps.cls, k: ps.k, slot: o.slot, size: a.size, vmalloc: a.vmalloc,
            write: o.code >= abi.FZ_STORE1 && o.code <= abi.FZ_STORE16, width, off: o.off, allocOp: a.op,
            freeOp: ps.cls === "uaf" || ps.cls === "double-free" ? this.lastFree.get(o.slot) ?? -1 : -1,
            bugOp: i, lastOp: -1,
          };
          this.scenarios.push(sc);
          if (ps.cls === "oob" || ps.cls === "underflow" || ps.cls === "invalid-free") this.open.set(o.slot, sc);
        }
      }
      i++;
    }
  }
}
