// The kernel-style command line and the typed options object: two spellings
// of one configuration. One table drives parsing, validation, defaults and the
// error messages, so the two can never disagree.
import * as abi from "../abi/abi.js";

export type Arch = "x86_64" | "arm64";
export type KasanMode = "generic" | "sw_tags";
export type KasanFault = "report" | "panic" | "panic_on_write";

export interface EngineOptions {
  /** Kernel command line, e.g. "kasan=on kfence.sample_interval=100 ram=128". Typed options win over it. */
  cmdline?: string;
  /** RAM in MiB (default 128). */
  ram?: number;
  arch?: Arch;
  kasan?: boolean;
  kasanMode?: KasanMode;
  kasanFault?: KasanFault;
  kasanMultiShot?: boolean;
  /** Quarantine budget in bytes (default: the kernel's RAM/32 rule); 0 disables it. */
  kasanQuarantine?: number;
  kasanVmalloc?: boolean;
  kasanStacktrace?: boolean;
  kasanStackRingSize?: number;
  kasanSeed?: number;
  kfenceSampleInterval?: number;
  kfenceNumObjects?: number;
  kfenceSkipCoveredThresh?: number;
  kfenceDeferrable?: boolean;
  kfenceBurst?: number;
  kfenceCheckOnPanic?: boolean;
  kfenceClock?: "virtual" | "wall";
  /** Virtual-clock nanoseconds added per slab allocation (0: the clock moves only on tick()). */
  kfenceAllocTickNs?: number;
  panicOnWarn?: boolean;
  /** fail_page_alloc=<interval>,<probability>,<space>,<times> */
  failPageAlloc?: string;
  nrCpus?: number;
  initOnAlloc?: boolean;
  initOnFree?: boolean;
  vmapStack?: boolean;
  noHashPointers?: boolean;
  printkTime?: boolean;
  stackDepotMaxPools?: number;
  /** printk ring size in bytes (log_buf_len=); 0: the arch's CONFIG_LOG_BUF_SHIFT default. */
  logBufLen?: number;
  /** The slab allocator (the kernel's Kconfig choice CONFIG_SLUB / CONFIG_SLAB): SLUB of 6.12, or SLAB of 6.1. */
  slabAllocator?: "slub" | "slab";
  /** SLAB's slab_max_order= (-1: the kernel's default, 1 above 32 MiB of RAM). */
  slabMaxOrder?: number;
  /** Report objects reports() keeps (host-only, not a kernel parameter); older ones are dropped and counted. */
  maxReports?: number;
}

export type ResolvedOptions = Required<Omit<EngineOptions, "cmdline">> & {
  cmdline: string;
  /** Parameters the kernel would not know, in order: "Unknown kernel command line parameters". */
  unknown: string[];
};

type Kind = "bool" | "onoff" | "int" | "enum" | "fail" | "memsize" | "bytes";
interface Param {
  name: string;              // as on the command line
  key: keyof EngineOptions;
  kind: Kind;
  values?: readonly string[];
  min?: number;
  max?: number;
  def: unknown;
  help: string;
  /** Another spelling of a parameter (typed options use the main one). */
  alias?: boolean;
}

// Largest RAM a 32-bit wasm memory holds after the engine's own 16 MiB.
export const MAX_RAM_MB = Math.floor((abi.MAX_WASM_PAGES * abi.WASM_PAGE - abi.PHYS_BASE) / (1 << 20));

/**
 * The built-in printk buffer, 1 << CONFIG_LOG_BUF_SHIFT: 18 in x86_64_defconfig,
 * the Kconfig default 17 on arm64 (its defconfig does not set it).
 */
export const LOG_BUF_DEFAULT = { x86_64: 1 << 18, arm64: 1 << 17 } as const;
/** The kernel takes up to 2G; one JS string (dmesg()) holds less. */
export const LOG_BUF_LEN_MAX = 1 << 28;

export const PARAMS: readonly Param[] = [
  { name: "ram", key: "ram", kind: "int", min: 16, max: MAX_RAM_MB, def: 128, help: "RAM in MiB" },
  { name: "mem", key: "ram", kind: "memsize", min: 16, max: MAX_RAM_MB, def: 128, alias: true,
    help: "RAM as the kernel's mem=nn[KMG] (rounded down to MiB)" },
  { name: "arch", key: "arch", kind: "enum", values: ["x86_64", "arm64"], def: "x86_64", help: "simulated architecture" },
  { name: "nr_cpus", key: "nrCpus", kind: "int", min: 1, max: 8, def: 2, help: "number of CPUs (each a thread once used: engine.cpu(n), onCpus)" },
  { name: "kasan", key: "kasan", kind: "onoff", def: true, help: "KASAN on or off" },
  { name: "kasan.mode", key: "kasanMode", kind: "enum", values: ["generic", "sw_tags"], def: "generic",
    help: "KASAN flavour (CONFIG_KASAN_GENERIC / CONFIG_KASAN_SW_TAGS in the kernel)" },
  { name: "kasan.fault", key: "kasanFault", kind: "enum", values: ["report", "panic", "panic_on_write"], def: "report",
    help: "what a report does after printing" },
  { name: "kasan_multi_shot", key: "kasanMultiShot", kind: "bool", def: false, help: "report every bug, not only the first" },
  { name: "kasan.quarantine", key: "kasanQuarantine", kind: "int", min: -1, max: 2 ** 31 - 1, def: -1,
    help: "quarantine budget in bytes (-1: RAM/32 as the kernel; 0: none)" },
  { name: "kasan.vmalloc", key: "kasanVmalloc", kind: "onoff", def: true, help: "real shadow for vmalloc (CONFIG_KASAN_VMALLOC)" },
  { name: "kasan.stacktrace", key: "kasanStacktrace", kind: "onoff", def: true, help: "alloc/free stack collection (tag modes)" },
  { name: "kasan.stack_ring_size", key: "kasanStackRingSize", kind: "int", min: 1, max: 1 << 20, def: 32768,
    help: "stack ring entries (tag modes)" },
  { name: "kasan.seed", key: "kasanSeed", kind: "int", min: 0, max: 2 ** 31 - 1, def: 1, help: "seed of the engine's random choices (tags, KFENCE placement, fault injection)" },
  { name: "kfence.sample_interval", key: "kfenceSampleInterval", kind: "int", min: 0, max: 2 ** 31 - 1, def: 100,
    help: "ms between KFENCE allocations; 0 disables KFENCE" },
  { name: "kfence.num_objects", key: "kfenceNumObjects", kind: "int", min: 1, max: 65535, def: 255,
    help: "KFENCE pool objects (CONFIG_KFENCE_NUM_OBJECTS)" },
  { name: "kfence.skip_covered_thresh", key: "kfenceSkipCoveredThresh", kind: "int", min: 0, max: 100, def: 75,
    help: "pool usage (%) above which covered allocation stacks are skipped" },
  { name: "kfence.deferrable", key: "kfenceDeferrable", kind: "bool", def: false, help: "deferrable sampling timer" },
  { name: "kfence.burst", key: "kfenceBurst", kind: "int", min: 0, max: 2 ** 31 - 1, def: 0, help: "extra allocations per sample interval" },
  { name: "kfence.check_on_panic", key: "kfenceCheckOnPanic", kind: "bool", def: false, help: "check all canaries on panic" },
  { name: "kfence.clock", key: "kfenceClock", kind: "enum", values: ["virtual", "wall"], def: "virtual",
    help: "clock of the sampling timer" },
  { name: "kfence.alloc_tick_ns", key: "kfenceAllocTickNs", kind: "int", min: 0, max: 2 ** 31 - 1, def: 0,
    help: "virtual ns the clock advances per slab allocation" },
  { name: "panic_on_warn", key: "panicOnWarn", kind: "bool", def: false, help: "panic after a KASAN report (unless multi-shot)" },
  { name: "fail_page_alloc", key: "failPageAlloc", kind: "fail", def: "", help: "fault injection: interval,probability,space,times" },
  { name: "init_on_alloc", key: "initOnAlloc", kind: "bool", def: false, help: "zero every allocation" },
  { name: "init_on_free", key: "initOnFree", kind: "bool", def: false, help: "zero every freed object" },
  { name: "vmap_stack", key: "vmapStack", kind: "onoff", def: false, help: "task stacks in vmalloc space (CONFIG_VMAP_STACK)" },
  { name: "no_hash_pointers", key: "noHashPointers", kind: "bool", def: false, help: "print %p pointers raw (KFENCE: addresses, corrupted byte values, show_regs after a fault)" },
  { name: "printk.time", key: "printkTime", kind: "bool", def: true, help: "timestamps on dmesg lines" },
  { name: "stack_depot_max_pools", key: "stackDepotMaxPools", kind: "int", min: 1, max: 8192, def: 8192,
    help: "stack depot pools of 16 KiB" },
  { name: "log_buf_len", key: "logBufLen", kind: "bytes", min: 0, max: LOG_BUF_LEN_MAX, def: 0,
    help: "printk ring size (memparse), rounded up to a power of two; only grows the built-in buffer" },
  // a build-time choice in the kernel (Kconfig SLAB or SLUB), a boot parameter here
  { name: "shadowfence.slab", key: "slabAllocator", kind: "enum", values: ["slub", "slab"], def: "slub",
    help: "slab allocator: SLUB (6.12) or SLAB (mm/slab.c of 6.1); Kconfig's CONFIG_SLUB / CONFIG_SLAB in the kernel" },
  { name: "slab_max_order", key: "slabMaxOrder", kind: "int", min: 0, max: 10, def: -1,
    help: "SLAB's largest slab order calculate_slab_order() prefers (default 1 above 32 MiB of RAM, else 0)" },
  // host-only: no kernel has it (a kernel keeps no report objects)
  { name: "shadowfence.max_reports", key: "maxReports", kind: "int", min: 1, max: 1_000_000, def: 10_000,
    help: "report objects reports() keeps (host-only); older ones are dropped and counted" },
];


/** The printk ring size a configuration boots with: log_buf_len= as log_buf_len_update() reads it. */
export function logBufLen(o: Pick<ResolvedOptions, "arch" | "logBufLen">): number {
  const builtIn = LOG_BUF_DEFAULT[o.arch];
  if (!o.logBufLen) return builtIn;
  let size = 1;
  while (size < o.logBufLen) size *= 2;       // roundup_pow_of_two()
  return Math.max(size, builtIn);             // only a larger buffer replaces the static one
}

const BY_NAME = new Map(PARAMS.map((p) => [p.name, p]));
const BY_KEY = new Map(PARAMS.filter((p) => !p.alias).map((p) => [p.key, p]));

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

function accepted(p: Param): string {
  switch (p.kind) {
    case "bool": return "1, 0, y, n, on, off (or no value)";
    case "onoff": return "on, off";
    case "enum": return p.values!.join(", ");
    case "int": return `an integer from ${p.min} to ${p.max}`;
    case "fail": return "<interval>,<probability>,<space>,<times>";
    case "memsize": return `a size with an optional K, M or G suffix, from ${p.min}M to ${p.max}M`;
    case "bytes": return `a size in bytes with an optional K, M or G suffix, at most ${p.max! / 2 ** 20}M`;
  }
}

function bad(p: Param, value: unknown): never {
  throw new ConfigError(`invalid value ${JSON.stringify(value)} for ${p.name}: expected ${accepted(p)}`);
}

// Parse one value as the kernel would read it (kstrtobool, kstrtoint, ...).
function parseValue(p: Param, raw: string | undefined): unknown {
  switch (p.kind) {
    case "bool":
      if (raw === undefined || raw === "") return true;
      if (/^(1|y|yes|on|true)$/i.test(raw)) return true;
      if (/^(0|n|no|off|false)$/i.test(raw)) return false;
      return bad(p, raw);
    case "onoff":
      if (raw === "on") return true;
      if (raw === "off") return false;
      return bad(p, raw);
    case "enum":
      if (raw !== undefined && p.values!.includes(raw)) return raw;
      return bad(p, raw);
    case "int": {
      if (raw === undefined || !/^-?(0x[0-9a-f]+|\d+)$/i.test(raw)) return bad(p, raw);
      const n = Number(raw);
      if (n < p.min! || n > p.max!) return bad(p, raw);
      return n;
    }
    case "fail":
      if (raw === undefined) return bad(p, raw);
      parseFail(p, raw);
      return raw;
    case "memsize": {
      // memparse(): a number (0x allowed) and an optional K/M/G/T suffix
      const m = raw === undefined ? null : /^(0x[0-9a-f]+|\d+)([kmgt]?)$/i.exec(raw);
      if (!m) return bad(p, raw);
      const shift = { "": 0, k: 10, m: 20, g: 30, t: 40 }[m[2].toLowerCase() as "" | "k" | "m" | "g" | "t"];
      const mib = Math.floor((Number(m[1]) * 2 ** shift) / 2 ** 20);
      if (mib < p.min! || mib > p.max!) return bad(p, raw);
      return mib;
    }
    case "bytes": {
      const n = memparse(raw);
      if (n === undefined || n < p.min! || n > p.max!) return bad(p, raw);
      return n;
    }
  }
}

/** memparse(): a number (0x allowed) and an optional K/M/G/T suffix, in bytes. */
function memparse(raw: string | undefined): number | undefined {
  const m = raw === undefined ? null : /^(0x[0-9a-f]+|\d+)([kmgt]?)$/i.exec(raw);
  if (!m) return undefined;
  const shift = { "": 0, k: 10, m: 20, g: 30, t: 40 }[m[2].toLowerCase() as "" | "k" | "m" | "g" | "t"];
  return Number(m[1]) * 2 ** shift;
}

function checkInt(p: Param, n: unknown): number {
  if (typeof n !== "number" || !Number.isInteger(n) || n < p.min! || n > p.max!) return bad(p, n);
  return n;
}

function parseFail(p: Param, raw: string): [number, number, number, number] {
  const parts = raw.split(",");
  if (parts.length !== 4 || parts.some((x) => !/^-?\d+$/.test(x))) return bad(p, raw);
  const [interval, probability, space, times] = parts.map(Number);
  if (interval < 0 || probability < 0 || probability > 100 || space < 0 || times < -1) return bad(p, raw);
  return [interval, probability, space, times];
}

// Validate a typed option value.
function checkTyped(p: Param, v: unknown): unknown {
  switch (p.kind) {
    case "bool": case "onoff":
      if (typeof v !== "boolean") return bad(p, v);
      return v;
    case "enum":
      if (typeof v !== "string" || !p.values!.includes(v)) return bad(p, v);
      return v;
    case "int": case "bytes": return checkInt(p, v);
    case "fail":
      if (typeof v !== "string") return bad(p, v);
      if (v !== "") parseFail(p, v);
      return v;
  }
}

/** Split a command line into [name, value|undefined] pairs, honouring "quoted values". */
export function tokenize(cmdline: string): Array<[string, string | undefined]> {
  const out: Array<[string, string | undefined]> = [];
  const re = /([^\s=]+)(?:=("[^"]*"|\S*))?/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(cmdline)) !== null) {
    let v = m[2];
    if (v !== undefined && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    out.push([m[1], v]);
  }
  return out;
}

export function resolveOptions(opts: EngineOptions = {}): ResolvedOptions {
  const r: Record<string, unknown> = {};
  for (const p of PARAMS) r[p.key] = p.def;
  const unknown: string[] = [];
  const cmdline = opts.cmdline ?? "";
  for (const [name, raw] of tokenize(cmdline)) {
    const p = BY_NAME.get(name);
    if (!p) {
      unknown.push(raw === undefined ? name : `${name}=${raw}`);
      continue;
    }
    r[p.key] = parseValue(p, raw);
  }
  for (const [key, v] of Object.entries(opts)) {
    if (key === "cmdline" || v === undefined) continue;
    const p = BY_KEY.get(key as keyof EngineOptions);
    if (!p) throw new ConfigError(`unknown option ${JSON.stringify(key)}: expected one of ${PARAMS.map((x) => x.key).join(", ")}`);
    r[p.key] = checkTyped(p, v);
  }
  if (r.arch !== "arm64" && r.kasanMode === "sw_tags" && r.kasan) {
    throw new ConfigError("kasan.mode=sw_tags needs arch=arm64 (KASAN_SW_TAGS depends on HAVE_ARCH_KASAN_SW_TAGS: arm64 only)");
  }
  if (r.vmapStack && r.kasan && !r.kasanVmalloc) {
    throw new ConfigError("vmap_stack=on needs kasan.vmalloc=on: VMAP_STACK depends on !KASAN || KASAN_HW_TAGS || KASAN_VMALLOC");
  }
  if (r.slabMaxOrder !== -1 && r.slabAllocator !== "slab") {
    throw new ConfigError("slab_max_order needs shadowfence.slab=slab: it is mm/slab.c's parameter (SLUB's is slub_max_order, which the engine does not take)");
  }
  return { ...(r as Omit<ResolvedOptions, "cmdline" | "unknown">), cmdline, unknown } as ResolvedOptions;
}

/** The command line a resolved configuration boots with, as the kernel would print it. */
export function formatCmdline(o: ResolvedOptions): string {
  return o.cmdline.trim();
}

/** Config slots for the core, in abi order. */
export function configSlots(o: ResolvedOptions): Array<[number, bigint]> {
  const b = (x: boolean) => (x ? 1n : 0n);
  const fail = o.failPageAlloc ? o.failPageAlloc.split(",").map(Number) : [0, 0, 0, 0];
  return [
    [abi.CFG_RAM_MB, BigInt(o.ram)],
    [abi.CFG_ARCH, BigInt(o.arch === "arm64" ? abi.ARCH_ARM64 : abi.ARCH_X86_64)],
    [abi.CFG_KASAN, b(o.kasan)],
    [abi.CFG_KASAN_MODE, BigInt(o.kasanMode === "sw_tags" ? abi.KASAN_MODE_SW_TAGS : abi.KASAN_MODE_GENERIC)],
    [abi.CFG_KASAN_FAULT, BigInt(o.kasanFault === "panic" ? abi.KASAN_FAULT_PANIC
      : o.kasanFault === "panic_on_write" ? abi.KASAN_FAULT_PANIC_ON_WRITE : abi.KASAN_FAULT_REPORT)],
    [abi.CFG_KASAN_MULTI_SHOT, b(o.kasanMultiShot)],
    [abi.CFG_KASAN_QUARANTINE, BigInt(o.kasanQuarantine)],
    [abi.CFG_KASAN_VMALLOC, b(o.kasanVmalloc)],
    [abi.CFG_KASAN_STACKTRACE, b(o.kasanStacktrace)],
    [abi.CFG_KASAN_STACK_RING_SIZE, BigInt(o.kasanStackRingSize)],
    [abi.CFG_KASAN_SEED, BigInt(o.kasanSeed)],
    [abi.CFG_KFENCE_SAMPLE_INTERVAL, BigInt(o.kfenceSampleInterval)],
    [abi.CFG_KFENCE_NUM_OBJECTS, BigInt(o.kfenceNumObjects)],
    [abi.CFG_KFENCE_SKIP_COVERED_THRESH, BigInt(o.kfenceSkipCoveredThresh)],
    [abi.CFG_KFENCE_DEFERRABLE, b(o.kfenceDeferrable)],
    [abi.CFG_KFENCE_BURST, BigInt(o.kfenceBurst)],
    [abi.CFG_KFENCE_CLOCK, o.kfenceClock === "wall" ? 1n : 0n],
    [abi.CFG_KFENCE_ALLOC_TICK_NS, BigInt(o.kfenceAllocTickNs)],
    [abi.CFG_KFENCE_CHECK_ON_PANIC, b(o.kfenceCheckOnPanic)],
    [abi.CFG_PANIC_ON_WARN, b(o.panicOnWarn)],
    [abi.CFG_FAIL_INTERVAL, BigInt(fail[0])],
    [abi.CFG_FAIL_PROBABILITY, BigInt(fail[1])],
    [abi.CFG_FAIL_SPACE, BigInt(fail[2])],
    [abi.CFG_FAIL_TIMES, BigInt(fail[3])],
    [abi.CFG_NR_CPUS, BigInt(o.nrCpus)],
    [abi.CFG_INIT_ON_ALLOC, b(o.initOnAlloc)],
    [abi.CFG_INIT_ON_FREE, b(o.initOnFree)],
    [abi.CFG_VMAP_STACK, b(o.vmapStack)],
    [abi.CFG_STACK_DEPOT_MAX, BigInt(o.stackDepotMaxPools)],
    [abi.CFG_SLAB_ALLOCATOR, BigInt(o.slabAllocator === "slab" ? abi.SLAB_ALLOCATOR_SLAB : abi.SLAB_ALLOCATOR_SLUB)],
    [abi.CFG_SLAB_MAX_ORDER, BigInt(o.slabMaxOrder)],
  ];
}
