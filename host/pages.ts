// The page allocator's API (alloc_pages, __free_pages) and fail_page_alloc's
// run-time knobs; the Engine's methods of the same names delegate here.
import * as abi from "../abi/abi.js";
import type { CoreExports } from "./exports.js";
import { parseGfp, type Gfp } from "./gfp.js";
import { addrArg, numArg, intArg } from "./args.js";

/** What the page API uses of the engine (the Engine provides it). */
export interface PagesEngine {
  readonly exports: CoreExports;
  kernelCall<T>(capture: boolean, fn: () => T): T;
}

export class Pages {
  constructor(private readonly e: PagesEngine) {}

  alloc_pages(order: number, gfp: Gfp = "GFP_KERNEL"): bigint {
    // an unsigned int; past MAX_PAGE_ORDER the kernel WARNs once and returns NULL
    const o = numArg("alloc_pages", "order", order, 0, 0xffffffff);
    const g = parseGfp(gfp);
    return BigInt.asUintN(64, this.e.kernelCall(true, () => this.e.exports.alloc_pages(o, g)));
  }

  __free_pages(addr: bigint | number, order: number): void {
    const a = addrArg("__free_pages", "page", addr);
    if (!Number.isInteger(order) || order < 0 || order > abi.MAX_PAGE_ORDER) throw new RangeError(`__free_pages: order must be 0..${abi.MAX_PAGE_ORDER}, got ${order}`);
    const rc = this.e.kernelCall(true, () => this.e.exports.__free_pages(a, order));
    if (rc === -abi.EINVAL) throw new RangeError(`__free_pages: ${"0x" + a.toString(16)} is not a page-aligned direct-map address`);
  }

  /** fail_page_alloc's debugfs knobs: "<interval>,<probability>,<space>,<times>". */
  failPageAlloc(spec: string): void {
    const parts = typeof spec === "string" ? spec.split(",") : [];
    if (parts.length !== 4 || parts.some((x) => !/^-?\d+$/.test(x.trim()))) throw new RangeError(`failPageAlloc: expected <interval>,<probability>,<space>,<times>, got ${JSON.stringify(spec)}`);
    const [interval, probability, space, times] = parts.map((x) => BigInt(x.trim()));
    // the fault_attr fields: unsigned long interval, probability 0..100, atomic_t space and times
    const i = numArg("failPageAlloc", "interval", interval, 0, 0x7fffffff);
    const p = numArg("failPageAlloc", "probability", probability, 0, 100);
    const sp = intArg("failPageAlloc", "space", space, 0n, 0x7fffffffn);
    const t = numArg("failPageAlloc", "times", times, -1, 0x7fffffff);
    this.e.exports.fail_page_alloc_set(i, p, sp, t);
  }
}
