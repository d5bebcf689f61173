// The formatters of the core's own record kinds (REP_* in abi.ts): KASAN,
// oops, GPF, WARN (with the allocation failures and callback WARNs whose text
// needs the engine's state), vmalloc's WARNs and panic. They plug into the
// report pipeline's registry as every subsystem's kind does (KFENCE's: kfence.ts).
import * as abi from "../../abi/abi.js";
import type { RawRecord } from "./record.js";
import type { Frame } from "../stackdepot.js";
import type { CoreExports } from "../exports.js";
import type { ReportKind, RecordFormatter } from "./report.js";
import { formatKasan } from "./kasan.js";
import { formatOops, formatGpf, formatWarn, formatPanic, type OopsContext } from "./oops.js";
import { formatVmallocWarn } from "./vmalloc.js";
import { formatAllocFailure, formatSlabOom, formatAllocOrderWarn, memInfoLines, type AllocSite, type MemInfo } from "./alloc.js";

/** What the core's formatters read beyond the record (the Engine provides it). */
export interface CoreKindSources {
  readonly exports: CoreExports;
  cacheName(id: number): string;
  /** show_mem()'s inputs for an allocation failure with this gfp mask. */
  memInfo(gfp: number, cpu: number): MemInfo;
  /** The lines of a WARN_CALLBACK record (a host callback that threw: callbacks.ts). */
  callbackWarn(r: RawRecord, ctx: OopsContext, frames: Frame[]): string[];
  /** The engine panicked: every later call is refused with this line. */
  panicked(line: string): void;
}

/** Register the core's record kinds with `register` (the report pipeline's registry). */
export function registerCoreKinds(register: (kind: number, fn: RecordFormatter) => void, src: CoreKindSources): void {
  const kasan: RecordFormatter = (r, ctx, frames) => {
    const { lines, details } = formatKasan(r, ctx, frames());
    return { kind: "kasan", type: details.bugType, title: lines[1], performed: r.kind === abi.REP_KASAN, text: lines.join("\n"), kasan: details };
  };
  register(abi.REP_KASAN, kasan);
  register(abi.REP_KASAN_FREE, kasan);
  register(abi.REP_OOPS, (r, ctx, frames) => {
    const lines = formatOops(r, ctx, frames());
    return { kind: "oops", type: "page fault", title: lines[0], performed: false, text: lines.join("\n") };
  });
  register(abi.REP_GPF, (r, ctx, frames) => {
    const lines = formatGpf(r, ctx, frames());
    return { kind: "gpf", type: "general protection fault", title: lines[0], performed: false, text: lines.join("\n") };
  });
  register(abi.REP_WARN, (r, ctx, frames) => {
    const own = hostWarn(src, r, ctx, frames);
    if (own) {
      return { kind: "warn", type: own.type, title: own.lines.find((l) => /^(WARNING|SLUB)/.test(l)) ?? own.lines.find((l) => !l.endsWith("callbacks suppressed")) ?? own.lines[0],
        performed: false, text: own.lines.join("\n") };
    }
    const { lines, type } = formatWarn(r, ctx, frames());
    const kind: ReportKind = type === "bad-page-state" ? "bad_page" : type === "slub-double-free" ? "bug" : "warn";
    return { kind, type, title: lines.find((l) => /^(BUG|WARNING|kernel BUG)/.test(l)) ?? lines[0], performed: false, text: lines.join("\n") };
  });
  register(abi.REP_VMALLOC_WARN, (r, ctx, frames) => {
    const f = formatVmallocWarn(r, ctx, frames());
    // warn_alloc() ends with show_mem(), as for the page allocator's failures
    return f.type === "warn_alloc" ? { ...f, text: [f.text, ...memInfoLines(src.memInfo(Number(r.arg2), r.cpu))].join("\n") } : f;
  });
  register(abi.REP_PANIC, (r, ctx, frames) => {
    const lines = formatPanic(r, ctx, frames());
    src.panicked(lines[0]);
    return { kind: "panic", type: "panic", title: lines[0], performed: false, text: lines.join("\n") };
  });
}

/** WARNs whose text needs the engine's state: allocation failures, callbacks that threw. */
function hostWarn(src: CoreKindSources, r: RawRecord, ctx: OopsContext, frames: () => Frame[]): { type: string; lines: string[] } | undefined {
  const id = Number(r.arg0);
  if (id === abi.WARN_ALLOC_FAILED || id === abi.WARN_ALLOC_ORDER) {
    let site: AllocSite = r.addr === BigInt(abi.ALLOC_SITE_LARGE_KMALLOC) ? "large" : "pages";
    if (r.addr === BigInt(abi.ALLOC_SITE_SLAB)) site = src.cacheName(r.cache).startsWith("kmalloc-") ? "kmalloc" : "cache";
    if (id === abi.WARN_ALLOC_ORDER) return { type: "alloc-order", lines: formatAllocOrderWarn(r, ctx, frames(), site) };
    if (r.flags & abi.RF_OBJECT) {
      const x = src.exports, c = r.cache;
      return { type: "slab-out-of-memory", lines: formatSlabOom(r, {
        name: src.cacheName(c), objectSize: x.cache_info(c, abi.KC_OBJECT_SIZE), size: x.cache_info(c, abi.KC_SIZE), order: x.cache_info(c, abi.KC_ORDER),
        nrSlabs: x.cache_info(c, abi.KC_NR_SLABS), objects: x.cache_info(c, abi.KC_OBJECTS), live: x.cache_info(c, abi.KC_LIVE) }) };
    }
    return { type: "page-allocation-failure", lines: formatAllocFailure(r, ctx, frames(), src.memInfo(Number(r.arg2), r.cpu), site) };
  }
  if (id === abi.WARN_CALLBACK) return { type: "callback-failed", lines: src.callbackWarn(r, ctx, frames()) };
  return undefined;
}
