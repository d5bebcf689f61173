// vmalloc's own messages in 6.12's text: the WARNs of vfree()/vunmap() on a
// pointer that is no vm area, warn_alloc()'s "vmalloc error: size N, ..."
// with its stack dump, and alloc_vmap_area()'s "vmalloc_node_range for size N
// failed" line. (The engine appends warn_alloc()'s Mem-Info: host/report/alloc.ts.)
import * as abi from "../../abi/abi.js";
import type { RawRecord } from "./record.js";
import { px, cpuLines, callTrace } from "./common.js";
import { warnBlock } from "./oops.js";
import type { Frame } from "../stackdepot.js";
import type { FormatContext } from "./context.js";

interface Formatted { kind: "warn"; type: string; title: string; performed: boolean; text: string }

const F = (name: string, offset: number, size: number): Frame => ({ name, offset, size });

const WARNS: Record<number, { type: string; what: string; file: string; fn: Frame }> = {
  [abi.VMW_VFREE_NONEXISTENT]: { type: "vfree-nonexistent", what: "Trying to vfree() nonexistent vm area",
    file: "mm/vmalloc.c:3345", fn: F("vfree", 0x1e8, 0x4c8) },
  [abi.VMW_VFREE_BAD_ADDR]: { type: "vfree-bad-address", what: "Trying to vfree() bad address",
    file: "mm/vmalloc.c:3210", fn: F("remove_vm_area", 0x88, 0x98) },
  [abi.VMW_VUNMAP_NONEXISTENT]: { type: "vunmap-nonexistent", what: "Trying to vunmap() nonexistent vm area",
    file: "mm/vmalloc.c:3401", fn: F("vunmap", 0x5e, 0x70) },
};

const WHY: Record<number, string> = {
  [abi.VMF_VM_STRUCT]: "vm_struct allocation failed",
  [abi.VMF_PAGES]: "failed to allocate pages",
  [abi.VMF_MAP]: "failed to map pages",
  [abi.VMF_TOTAL_PAGES]: "exceeds total pages",
};

// %pGg: include/trace/events/mmflags.h order, compound names first; each name
// whose bits are all still set is printed and its bits cleared.
const GFP_HARDWALL = 0x100000;
const GFP_RECLAIM = abi.GFP_DIRECT_RECLAIM | abi.GFP_KSWAPD_RECLAIM;
const GFP_FLAG_NAMES: Array<[number, string]> = [
  [abi.GFP_KERNEL | GFP_HARDWALL, "GFP_USER"],
  [abi.GFP_KERNEL | abi.GFP_ACCOUNT, "GFP_KERNEL_ACCOUNT"],
  [abi.GFP_KERNEL, "GFP_KERNEL"],
  [GFP_RECLAIM | abi.GFP_IO, "GFP_NOFS"],
  [abi.GFP_ATOMIC, "GFP_ATOMIC"],
  [GFP_RECLAIM, "GFP_NOIO"],
  [abi.GFP_NOWAIT, "GFP_NOWAIT"],
  [abi.GFP_DMA, "GFP_DMA"],
  [abi.GFP_HIGH, "__GFP_HIGH"],
  [abi.GFP_IO, "__GFP_IO"],
  [abi.GFP_FS, "__GFP_FS"],
  [abi.GFP_NOWARN, "__GFP_NOWARN"],
  [abi.GFP_NOFAIL, "__GFP_NOFAIL"],
  [abi.GFP_NORETRY, "__GFP_NORETRY"],
  [abi.GFP_COMP, "__GFP_COMP"],
  [abi.GFP_ZERO, "__GFP_ZERO"],
  [GFP_HARDWALL, "__GFP_HARDWALL"],
  [abi.GFP_THISNODE, "__GFP_THISNODE"],
  [abi.GFP_ACCOUNT, "__GFP_ACCOUNT"],
  [GFP_RECLAIM, "__GFP_RECLAIM"],
  [abi.GFP_DIRECT_RECLAIM, "__GFP_DIRECT_RECLAIM"],
  [abi.GFP_KSWAPD_RECLAIM, "__GFP_KSWAPD_RECLAIM"],
];
export function gfpNames(gfp: number): string {
  if (gfp === 0) return "none";
  const parts: string[] = [];
  let left = gfp;
  for (const [mask, name] of GFP_FLAG_NAMES) {
    if ((left & mask) === mask && mask !== 0) { parts.push(name); left &= ~mask; }
  }
  if (left) parts.push("0x" + left.toString(16));
  return parts.join("|");
}

export function formatVmallocWarn(r: RawRecord, ctx: FormatContext, frames: Frame[]): Formatted {
  const id = Number(r.arg0);
  const task = ctx.task(r.pid, r.cpu);
  const w = WARNS[id];
  if (w) {
    const lines = warnBlock(r, ctx, frames, [`${w.what} (${px(r.addr)})`], w);
    return { kind: "warn", type: w.type, title: lines[2], performed: false, text: lines.join("\n") };
  }
  if (id === abi.VMW_RANGE_FAILED) {
    const line = `vmalloc_node_range for size ${r.size} failed: Address range restricted to 0x${r.object.toString(16)} - 0x${r.frameBase.toString(16)}`;
    return { kind: "warn", type: "vmalloc-range-failed", title: line, performed: false, text: line };
  }
  // warn_alloc()
  const gfp = Number(r.arg2);
  const first = `${task.comm}: vmalloc error: size ${r.size}, ${WHY[Number(r.arg1)] ?? "allocation failed"}, ` +
    `mode:${gfp === 0 ? "0" : "0x" + gfp.toString(16)}(${gfpNames(gfp)}), nodemask=(null),cpuset=/,mems_allowed=0`;
  const trace = [F("dump_stack_lvl", 0x4d, 0x70), F("warn_alloc", 0x165, 0x1d0), F("__vmalloc_node_range_noprof", 0x2d7, 0x1100),
    F("__vmalloc_node_noprof", 0x4a, 0x60), ...frames];
  // messages warn_alloc's ratelimit dropped since its last window (shared with the page allocator's)
  const suppressed = r.firstBad > 0n ? [`warn_alloc: ${r.firstBad} callbacks suppressed`] : [];
  const lines = [...suppressed, first, ...cpuLines(r.cpu, task, r.taint, ctx.arch), ...callTrace(trace, ctx.arch)];
  return { kind: "warn", type: "warn_alloc", title: first, performed: false, text: lines.join("\n") };
}
