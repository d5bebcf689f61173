// Allocation failures in 6.12's text: warn_alloc()'s "page allocation failure"
// with dump_stack() and show_mem() (mm/page_alloc.c, mm/show_mem.c), SLUB's
// slab_out_of_memory() lines, and __alloc_pages' WARN_ON_ONCE_GFP on an order
// past MAX_PAGE_ORDER.
import * as abi from "../../abi/abi.js";
import type { RawRecord } from "./record.js";
import { cpuLines, callTrace } from "./common.js";
import { warnBlock } from "./oops.js";
import { gfpNames } from "./vmalloc.js";
import type { Frame } from "../stackdepot.js";
import type { FormatContext } from "./context.js";

const F = (name: string, offset: number, size: number): Frame => ({ name, offset, size });

/** What show_mem() prints, as far as the engine models it (one node, no page cache, no swap). */
export interface MemInfo {
  /** Zones in index order with present pages: name, present and reserved frames, free blocks per order. */
  zones: Array<{ name: string; present: number; reserved: number; nrFree: number[]; freePcp: number; localPcp: number }>;
  slabPages: number;
  pageTablePages: number;
  kernelStackKb: number;
}

/** The slab cache an allocation failed in (slab_out_of_memory). */
export interface SlabOomInfo {
  name: string;
  objectSize: number;
  size: number;
  order: number;
  nrSlabs: number;
  objects: number;
  live: number;
}

const K = (pages: number) => pages * 4;
/** printf's %#x: no 0x prefix on zero. */
export const hashX = (v: number) => (v === 0 ? "0" : "0x" + v.toString(16));

// __setup_per_zone_wmarks(): min_free_kbytes (4 * sqrt(lowmem KiB), 128 KiB .. 256 MiB)
// shared by managed pages; low and high add max(min/4, managed * 10/10000).
function watermarks(managed: number, totalManaged: number): { min: number; low: number; high: number } {
  const minFreeKb = Math.min(262144, Math.max(128, Math.floor(Math.sqrt(K(totalManaged) * 16))));
  const min = Math.floor((minFreeKb / 4) * managed / Math.max(1, totalManaged));
  const step = Math.max(Math.floor(min / 4), Math.floor(managed * 10 / 10000));
  return { min, low: min + step, high: min + 2 * step };
}

/** show_mem(): "Mem-Info:" and what follows. */
export function memInfoLines(m: MemInfo): string[] {
  const free = m.zones.reduce((n, z) => n + z.nrFree.reduce((t, c, o) => t + (c << o), 0), 0);
  const managedAll = m.zones.reduce((n, z) => n + z.present - z.reserved, 0);
  const lines = [
    "Mem-Info:",
    "active_anon:0 inactive_anon:0 isolated_anon:0",
    " active_file:0 inactive_file:0 isolated_file:0",
    " unevictable:0 dirty:0 writeback:0",
    ` slab_reclaimable:0 slab_unreclaimable:${m.slabPages}`,
    ` mapped:0 shmem:0 pagetables:${m.pageTablePages}`,
    " sec_pagetables:0 bounce:0",
    " kernel_misc_reclaimable:0",
    ` free:${free} free_pcp:${m.zones.reduce((n, z) => n + z.freePcp, 0)} free_cma:0`,
    "Node 0 active_anon:0kB inactive_anon:0kB active_file:0kB inactive_file:0kB unevictable:0kB isolated(anon):0kB " +
      "isolated(file):0kB mapped:0kB dirty:0kB writeback:0kB shmem:0kB writeback_tmp:0kB " +
      `kernel_stack:${m.kernelStackKb}kB pagetables:${K(m.pageTablePages)}kB sec_pagetables:0kB all_unreclaimable? no`,
  ];
  const zoneCount = m.zones.length;
  m.zones.forEach((z, i) => {
    const zfree = z.nrFree.reduce((t, c, o) => t + (c << o), 0);
    const managed = z.present - z.reserved;
    const w = watermarks(managed, managedAll);
    lines.push(`Node 0 ${z.name} free:${K(zfree)}kB boost:0kB min:${K(w.min)}kB low:${K(w.low)}kB high:${K(w.high)}kB ` +
      "reserved_highatomic:0KB active_anon:0kB inactive_anon:0kB active_file:0kB inactive_file:0kB unevictable:0kB " +
      `writepending:0kB present:${K(z.present)}kB managed:${K(managed)}kB mlocked:0kB bounce:0kB free_pcp:${K(z.freePcp)}kB ` +
      `local_pcp:${K(z.localPcp)}kB free_cma:0kB`);
    // lowmem_reserve[] of the zones above this one: none are reserved for, in this model
    lines.push("lowmem_reserve[]:" + " 0".repeat(zoneCount + 2));
    void i;
  });
  for (const z of m.zones) {
    let total = 0;
    const parts = z.nrFree.map((n, o) => {
      total += n << o;
      return `${n}*${4 << o}kB ${n ? "(U) " : ""}`;
    });
    lines.push(`Node 0 ${z.name}: ${parts.join("")}= ${K(total)}kB`);
  }
  const present = m.zones.reduce((n, z) => n + z.present, 0);
  const reserved = m.zones.reduce((n, z) => n + z.reserved, 0);
  lines.push("0 total pagecache pages", "0 pages in swap cache", "Free swap  = 0kB", "Total swap = 0kB",
    `${present} pages RAM`, "0 pages HighMem/MovableOnly", `${reserved} pages reserved`);
  return lines;
}

// where the failing allocation came from (the caller's frames follow)
const PAGE_PATH = [F("alloc_pages_mpol_noprof", 0x15b, 0x3d0), F("alloc_pages_noprof", 0x5c, 0x140)];
const LARGE_KMALLOC_PATH = [F("___kmalloc_large_node", 0xb0, 0x120), F("__kmalloc_large_node_noprof", 0x1d, 0xb0),
  F("__kmalloc_noprof", 0x301, 0x480)];
const SLAB_PATH = [F("allocate_slab", 0x2a4, 0x350), F("___slab_alloc", 0xa3d, 0x1330), F("__slab_alloc.constprop.0", 0x56, 0xb0)];

/** Where a failed allocation came from: the page API, a large kmalloc, a kmalloc cache, another slab cache. */
export type AllocSite = "pages" | "large" | "kmalloc" | "cache";
function allocPath(site: AllocSite): Frame[] {
  switch (site) {
    case "pages": return PAGE_PATH;
    case "large": return LARGE_KMALLOC_PATH;
    case "kmalloc": return [...SLAB_PATH, F("__kmalloc_cache_noprof", 0x2ab, 0x3a0)];
    case "cache": return [...SLAB_PATH, F("kmem_cache_alloc_noprof", 0x26e, 0x390)];
  }
}

function suppressed(func: string, r: RawRecord): string[] {
  return r.firstBad > 0n ? [`${func}: ${r.firstBad} callbacks suppressed`] : [];
}

/** warn_alloc(gfp, NULL, "page allocation failure: order:%u", order) and show_mem(). */
export function formatAllocFailure(r: RawRecord, ctx: FormatContext, frames: Frame[], mem: MemInfo, site: AllocSite): string[] {
  const task = ctx.task(r.pid, r.cpu);
  const order = Number(r.arg1), gfp = Number(r.arg2);
  const first = `${task.comm}: page allocation failure: order:${order}, mode:${hashX(gfp)}(${gfpNames(gfp)}), ` +
    "nodemask=(null),cpuset=/,mems_allowed=0";
  const trace = [F("dump_stack_lvl", 0x4d, 0x70), F("warn_alloc", 0x165, 0x1d0),
    F("__alloc_pages_slowpath.constprop.0", 0x1a4b, 0x1c70), F("__alloc_pages_noprof", 0x3a3, 0x440),
    ...allocPath(site), ...frames];
  return [...suppressed("warn_alloc", r), first, ...cpuLines(r.cpu, task, r.taint, ctx.arch), ...callTrace(trace, ctx.arch),
    ...memInfoLines(mem)];
}

/** slab_out_of_memory(): after the page allocator's warning, SLUB's three lines (KERN_WARNING, no stack). */
export function formatSlabOom(r: RawRecord, c: SlabOomInfo): string[] {
  const gfp = Number(r.arg2);
  const objs = c.nrSlabs * c.objects;
  return [
    ...suppressed("slab_out_of_memory", r),
    `SLUB: Unable to allocate memory on node -1, gfp=${hashX(gfp)}(${gfpNames(gfp)})`,
    `  cache: ${c.name}, object size: ${c.objectSize}, buffer size: ${c.size}, default order: ${c.order}, min order: ${c.order}`,
    `  node 0: slabs: ${c.nrSlabs}, objs: ${objs}, free: ${Math.max(0, objs - c.live)}`,
  ];
}

const WARN_ORDER_SITE = { file: "mm/page_alloc.c:4734", fn: F("__alloc_pages_noprof", 0x3c8, 0x440) };
/** WARN_ON_ONCE_GFP(order > MAX_PAGE_ORDER, gfp) in __alloc_pages_noprof. */
export function formatAllocOrderWarn(r: RawRecord, ctx: FormatContext, frames: Frame[], site: AllocSite): string[] {
  return warnBlock(r, ctx, [...allocPath(site), ...frames], [], WARN_ORDER_SITE);
}
