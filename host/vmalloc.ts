// The vmalloc, KASAN_VMALLOC and percpu API (engine.vmalloc(), ...): argument
// checks and the core calls; the Engine's methods of the same names delegate here.
import * as abi from "../abi/abi.js";
import type { CoreExports } from "./exports.js";
import type { ResolvedOptions } from "./config.js";
import type { Layout } from "./layout.js";
import type { OopsContext } from "./report/oops.js";
import { formatFrame, type Frame } from "./stackdepot.js";
import { sizeArg, addrArg, numArg } from "./args.js";
import { parseGfp, type Gfp } from "./gfp.js";

// sizeof(struct page): vmemmap arithmetic
const STRUCT_PAGE = BigInt(abi.STRUCT_PAGE_SIZE);

/** What the vmalloc API uses of the engine (the Engine provides it). */
export interface VmallocEngine {
  readonly exports: CoreExports;
  readonly memory: WebAssembly.Memory;
  readonly layout: Layout;
  readonly options: ResolvedOptions;
  readonly current: { cpu: number };
  kernelCall<T>(capture: boolean, fn: () => T): T;
  stackFrames(handle: number): Frame[];
  formatContext(): OopsContext;
  stats(): { framesTotal: number };
}

export class Vmalloc {
  constructor(private readonly e: VmallocEngine) {}

  private vmSize(n: number | bigint, what: string): bigint {
    const [fn, arg] = what.split(" ");
    return sizeArg(fn, arg, n);
  }
  pfnOfPage(p: bigint | number, what: string): number {
    const a = addrArg(what, "page", p);
    const ctx = this.e.formatContext();
    const frames = BigInt(this.e.stats().framesTotal);
    if (a >= ctx.vmemmapStart && a < ctx.vmemmapStart + frames * STRUCT_PAGE && (a - ctx.vmemmapStart) % STRUCT_PAGE === 0n) {
      return Number((a - ctx.vmemmapStart) / STRUCT_PAGE);
    }
    const u = ctx.tags ? BigInt.asUintN(64, a | 0xff00000000000000n) : a;
    if (u >= ctx.pageOffset && u < ctx.pageOffset + frames * 4096n && (u & 0xfffn) === 0n) return Number((u - ctx.pageOffset) >> 12n);
    throw new RangeError(`${what}: ${"0x" + a.toString(16)} is neither a struct page nor a page-aligned direct-map address`);
  }
  private pfnArray(pages: Array<bigint | number>, what: string): number {
    if (!Array.isArray(pages) || pages.length === 0) throw new RangeError(`${what}: pages must be a non-empty array`);
    if (pages.length > 4096) throw new RangeError(`${what}: at most 4096 pages per call, got ${pages.length}`);
    const pfns = pages.map((p, i) => this.pfnOfPage(p, `${what}: pages[${i}]`));
    // past the first 4 KiB of the host buffer: kernelCall() stores the captured stack there
    const buf = this.e.exports.host_buf() + abi.HOST_BUF_BYTES;
    new Uint32Array(this.e.memory.buffer, buf, pfns.length).set(pfns);
    return buf;
  }

  /** vmalloc(size): a vmalloc-space address (tagged under sw_tags with kasan.vmalloc=on), 0n on failure. */
  vmalloc(size: number | bigint): bigint {
    const n = this.vmSize(size, "vmalloc size");
    return BigInt.asUintN(64, this.e.kernelCall(true, () => this.e.exports.vmalloc(n)));
  }
  /** vzalloc(size): zeroed vmalloc memory. */
  vzalloc(size: number | bigint): bigint {
    const n = this.vmSize(size, "vzalloc size");
    return BigInt.asUintN(64, this.e.kernelCall(true, () => this.e.exports.vzalloc(n)));
  }
  /** __vmalloc(size, gfp) */
  __vmalloc(size: number | bigint, gfp: Gfp = "GFP_KERNEL"): bigint {
    const n = this.vmSize(size, "__vmalloc size");
    const g = parseGfp(gfp);
    return BigInt.asUintN(64, this.e.kernelCall(true, () => this.e.exports.__vmalloc(n, g)));
  }
  /** __vmalloc_node(size, align, gfp): align is a power of two. */
  __vmalloc_node(size: number | bigint, align: number | bigint, gfp: Gfp = "GFP_KERNEL"): bigint {
    const n = this.vmSize(size, "__vmalloc_node size");
    const a = this.vmSize(align, "__vmalloc_node align");
    if (a === 0n || (a & (a - 1n)) !== 0n) throw new RangeError(`__vmalloc_node: align must be a power of two up to 2^63, got ${a}`);
    const g = parseGfp(gfp);
    return BigInt.asUintN(64, this.e.kernelCall(true, () => this.e.exports.__vmalloc_node(n, a, g)));
  }
  /** vfree(addr); NULL is a no-op; anything else that is no vmalloc area gets the kernel's WARN. */
  vfree(addr: bigint | number): void {
    const a = addrArg("vfree", "addr", addr);
    this.e.kernelCall(false, () => this.e.exports.vfree(a));
  }
  /** vmap(pages): map pages (struct page pointers or their direct-map addresses) contiguously; 0n on failure. */
  vmap(pages: Array<bigint | number>): bigint {
    const buf = this.pfnArray(pages, "vmap");
    const r = this.e.kernelCall(true, () => this.e.exports.vmap(buf, pages.length));
    if (r === -BigInt(abi.EINVAL)) throw new RangeError("vmap: only pages from alloc_pages() can be mapped");
    return BigInt.asUintN(64, r);
  }
  vunmap(addr: bigint | number): void {
    const a = addrArg("vunmap", "addr", addr);
    this.e.kernelCall(false, () => this.e.exports.vunmap(a));
  }
  /** vm_map_ram(pages): small counts come from the current CPU's vmap block; 0n on failure. */
  vm_map_ram(pages: Array<bigint | number>): bigint {
    const buf = this.pfnArray(pages, "vm_map_ram");
    const cpu = this.e.current.cpu;
    const r = this.e.kernelCall(true, () => this.e.exports.vm_map_ram(buf, pages.length, cpu));
    if (r === -BigInt(abi.EINVAL)) throw new RangeError("vm_map_ram: only pages from alloc_pages() can be mapped");
    return BigInt.asUintN(64, r);
  }
  vm_unmap_ram(addr: bigint | number, count: number): void {
    const a = addrArg("vm_unmap_ram", "mem", addr);
    numArg("vm_unmap_ram", "count", count, 1, 4096);
    const r = this.e.kernelCall(false, () => this.e.exports.vm_unmap_ram(a, count));
    if (r < 0) throw new RangeError(`vm_unmap_ram: ${"0x" + a.toString(16)} is not a vm_map_ram() mapping of ${count} page(s)`);
  }
  /** Purge lazily freed vmap areas (and idle vmap blocks): their address space and KASAN shadow go back. */
  vm_unmap_aliases(): void {
    this.e.kernelCall(false, () => this.e.exports.vm_unmap_aliases());
  }
  /** lazy_max_pages(): lazily freed pages that trigger a purge. */
  get lazyMaxPages(): number {
    return this.e.exports.vmalloc_lazy_max_pages();
  }
  is_vmalloc_addr(addr: bigint | number): boolean {
    return this.e.exports.is_vmalloc_addr(addrArg("is_vmalloc_addr", "addr", addr)) === 1;
  }
  /** vmalloc_to_pfn(addr): the frame mapped there, -1 when none. */
  vmalloc_to_pfn(addr: bigint | number): number {
    return Number(this.e.exports.vmalloc_to_pfn(addrArg("vmalloc_to_pfn", "addr", addr)));
  }
  /** vmalloc_to_page(addr): the struct page pointer (vmemmap), 0n when nothing is mapped. */
  vmalloc_to_page(addr: bigint | number): bigint {
    const pfn = this.vmalloc_to_pfn(addr);
    return pfn < 0 ? 0n : this.e.layout.vmemmapStart + BigInt(pfn) * STRUCT_PAGE;
  }
  /** virt_to_page(addr) for a direct-map address. */
  virt_to_page(addr: bigint | number): bigint {
    return this.e.layout.vmemmapStart + BigInt(this.pfnOfPage(addr, "virt_to_page")) * STRUCT_PAGE;
  }
  /** page_address(page): the page's direct-map address (with its KASAN tag under sw_tags). */
  page_address(page: bigint | number): bigint {
    const ctx = this.e.formatContext();
    const va = ctx.pageOffset + BigInt(this.pfnOfPage(page, "page_address")) * 4096n;
    if (!ctx.tags) return va;
    const tag = this.e.exports.kasan_shadow_byte(va);
    return tag < 0 ? va : BigInt.asUintN(64, (va & 0x00ffffffffffffffn) | (BigInt(tag) << 56n));
  }
  /** find_vm_area(addr): the vm_struct of a live area, as the KASAN report prints it. */
  find_vm_area(addr: bigint | number): { addr: bigint; size: bigint; caller: string; nrPages: number } | undefined {
    const a = addrArg("find_vm_area", "addr", addr);
    const out = this.e.exports.host_buf();
    if (this.e.exports.find_vm_area(a, out) !== 1) return undefined;
    const dv = new DataView(this.e.memory.buffer, out, 28);
    const vm = { addr: dv.getBigUint64(0, true), size: dv.getBigUint64(8, true), nrPages: dv.getUint32(24, true) };
    const caller = this.e.stackFrames(dv.getUint32(16, true))[0];      // reuses the host buffer
    return { ...vm, caller: caller ? formatFrame(caller) : "0x0" };
  }

  /** __alloc_percpu(size, align): the percpu pointer (CPU 0's copy), 0n on failure. */
  __alloc_percpu(size: number, align: number): bigint {
    // the core takes 32-bit values: a size or align past that is refused here, not cut
    numArg("__alloc_percpu", "size", size, 1, 0xffffffff);
    numArg("__alloc_percpu", "align", align, 1, 0x80000000);
    if ((align & (align - 1)) !== 0) throw new RangeError(`__alloc_percpu: align must be a power of two, got ${align}`);
    return BigInt.asUintN(64, this.e.kernelCall(true, () => this.e.exports.__alloc_percpu(size, align)));
  }
  free_percpu(ptr: bigint | number): void {
    const a = addrArg("free_percpu", "ptr", ptr);
    const r = this.e.kernelCall(false, () => this.e.exports.free_percpu(a));
    if (r < 0) throw new RangeError(`free_percpu: ${"0x" + a.toString(16)} is not a live percpu allocation`);
  }
  per_cpu_ptr(ptr: bigint | number, cpu: number): bigint {
    numArg("per_cpu_ptr", "cpu", cpu, 0, this.e.options.nrCpus - 1);
    return BigInt.asUintN(64, this.e.exports.per_cpu_ptr(addrArg("per_cpu_ptr", "ptr", ptr), cpu));
  }
}
