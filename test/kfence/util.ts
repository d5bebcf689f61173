// KFENCE test helpers: getting a KFENCE object on a chosen side of its page
// (the sampling timer runs on the virtual clock), and line-by-line matching
// of report text where JS frame offsets are the only free parts.
import { expect } from "vitest";
import type { Engine, KmemCache, Report } from "../../host/engine.js";

export type Side = "left" | "right" | "any";

/**
 * Let one sample interval pass, so the next allocation is KFENCE's; repeat
 * (freeing what came back) until the object sits on `side` of its page.
 */
export function kfenceObject(e: Engine, size: number, side: Side = "any", cache?: KmemCache): bigint {
  for (let i = 0; i < 64; i++) {
    e.tick(e.kfence.sampleInterval);
    const p = cache ? e.kmem_cache_alloc(cache) : e.kmalloc(size);
    expect(e.kfence.isKfenceAddress(p), "the allocation after a sample interval is KFENCE's").toBe(true);
    const left = (p & 0xfffn) === 0n;
    if (side === "any" || (side === "left") === left) return p;
    if (cache) e.kmem_cache_free(cache, p); else e.kfree(p);
  }
  throw new Error(`no KFENCE object on the ${side} side`);
}

/** The kfence-#N index of a pool address (object pages only). */
export function kfenceIndex(e: Engine, p: bigint): number {
  return Number((p - e.kfence.poolStart) / 8192n) - 1;
}

export const SEP = "=".repeat(66);
export const HW = "Hardware name: shadowfence wasm machine, BIOS 0.1.0 11/22/2026";
export function hex(v: bigint): string {
  return "0x" + BigInt.asUintN(64, v).toString(16).padStart(16, "0");
}
/** "0x%p" as KFENCE prints it: hashed, or raw with no_hash_pointers. */
export function ptr(e: Engine, v: bigint): string {
  return "0x" + e.hashPointer(v);
}

/** One or more " func+0xoff/0xsize" stack lines, the first naming `first`. */
export interface Frames { frames: string }
export function frames(first: string): Frames {
  return { frames: first };
}
type Line = string | RegExp | Frames;
const FRAME = /^ [^ ]+\+0x[0-9a-f]+\/0x[0-9a-f]+( \[[^\]]+\])?$/;

/** Match report text line by line; a Frames entry consumes a whole stack. */
export function expectLines(text: string, want: Line[]): void {
  const got = text.split("\n");
  let i = 0;
  for (const [k, w] of want.entries()) {
    const at = `line ${i} (expected entry ${k})`;
    if (typeof w === "string") {
      expect(got[i], at).toBe(w);
      i++;
    } else if (w instanceof RegExp) {
      expect(got[i], at).toMatch(w);
      i++;
    } else {
      expect(got[i], at).toMatch(new RegExp(`^ ${w.frames.replace(/[$]/g, "\\$")}\\+0x[0-9a-f]+/0x[0-9a-f]+$`));
      i++;
      while (i < got.length && FRAME.test(got[i])) i++;
    }
  }
  expect(i, `all ${got.length} lines matched`).toBe(got.length);
}

/** The KFENCE reports among `reports`. */
export function kfenceReports(reports: Report[]): Report[] {
  return reports.filter((r) => r.kind === "kfence");
}
