// The debug build checks the engine's own invariants (asconfig.json's debug
// target defines SF_CHECKS; the checks are `if (isDefined(SF_CHECKS))` blocks):
// TLB fills, SLUB freelist heads and slab lists, quarantine lists, buddy free
// lists. The release build compiles them out. The suites that run on both
// builds (test/helpers.ts BUILDS, the KUnit suites) exercise them; the last
// block here makes one fail.
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Engine } from "../host/engine.js";
import { boot } from "./helpers.js";
import * as abi from "../abi/abi.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const CHECKS = ["TLB fill: ", "SLUB: ", "quarantine: ", "buddy: "];

/** UTF-16LE, as AssemblyScript lays out its static strings. */
const utf16 = (s: string) => Buffer.from(s, "utf16le");

function build(file: string): { bytes: Buffer; imports: string[] } {
  const bytes = readFileSync(`${root}/build/${file}`);
  const imports = WebAssembly.Module.imports(new WebAssembly.Module(bytes)).map((i) => `${i.module}.${i.name}`);
  return { bytes, imports };
}

describe("debug-build checks", () => {
  it("are compiled into the debug build, which imports abort for a failed check", () => {
    const debug = build("core.debug.wasm");
    for (const c of CHECKS) expect(debug.bytes.includes(utf16(c)), c).toBe(true);
    expect(debug.imports).toContain("env.abort");
  });

  it("are absent from the release build", () => {
    const release = build("core.wasm");
    for (const c of CHECKS) expect(release.bytes.includes(utf16(c)), c).toBe(false);
    expect(release.imports).not.toContain("env.abort");
  });
});

// A check that fires: the buddy allocator's per-zone, per-order free areas
// (page_alloc.ts's FREE_AREA: head pfn and nr_free, u32 each, zone-major) are
// engine statics no simulated access reaches, so the test writes the engine's
// memory itself. It finds the table by the values zone_nr_free() reports,
// zeroes the nr_free of the list the next order-4 allocation takes from (past
// PAGE_ALLOC_COSTLY_ORDER, so straight from the buddy, one block), and
// allocates: the debug build's check stops the core with its message and
// source line; the release build has no check and hands the page out.
// two zones (DMA, DMA32; arm64 has one), orders 0..MAX_PAGE_ORDER; an empty list's head is NO_PFN
const ZONES = 2, ORDERS = abi.MAX_PAGE_ORDER + 1, NO_PFN = 0xffffffff;
const srcLine = (file: string, text: string) =>
  readFileSync(`${root}/${file}`, "utf8").split("\n").findIndex((l) => l.includes(text)) + 1;

function freeAreaAddr(e: Engine): number {
  const words = new Uint32Array(e.memory.buffer, 0, e.exports.tlb_base() >>> 2);
  const want: number[] = [];
  for (let z = 0; z < ZONES; z++) for (let o = 0; o < ORDERS; o++) want.push(e.exports.zone_nr_free(z, o));
  const found: number[] = [];
  for (let i = 0; i + want.length * 2 <= words.length; i += 2) {
    let ok = true;
    for (let k = 0; k < want.length && ok; k++) {
      const head = words[i + 2 * k], nr = words[i + 2 * k + 1];
      ok = nr === want[k] && (nr === 0) === (head === NO_PFN);
    }
    if (ok) found.push(i * 4);
  }
  expect(found, "one table matches zone_nr_free()").toHaveLength(1);
  return found[0];
}

/** Byte address of the nr_free the next alloc_pages(4) decrements (allocPagesPfn's search order). */
const ORDER = 4;
function nextNrFree(e: Engine, table: number): number {
  for (let z = ZONES - 1; z >= 0; z--) for (let o = ORDER; o < ORDERS; o++) {
    if (e.exports.zone_nr_free(z, o) !== 0) return table + (z * ORDERS + o) * 8 + 4;
  }
  throw new Error("no free page");
}

describe("a debug-build check firing on corrupted engine state", () => {
  it("buddy: an nr_free that would go negative aborts the debug core with the check's message and line", () => {
    const e = boot({ kasan: false, ram: 32 }, "debug");
    const at = nextNrFree(e, freeAreaAddr(e));
    new DataView(e.memory.buffer).setUint32(at, 0, true);
    const line = srcLine("assembly/mm/page_alloc.ts", '"buddy: negative nr_free"');
    expect(line).toBeGreaterThan(0);
    expect(() => e.alloc_pages(ORDER)).toThrow(
      new RegExp(`^shadowfence core aborted: buddy: negative nr_free \\(assembly/mm/page_alloc\\.ts:${line}:\\d+\\)$`));
  });

  it("the release build, on the same corruption, allocates and reports nothing (only the self-check sees it)", () => {
    const e = boot({ kasan: false, ram: 32 }, "release");
    const at = nextNrFree(e, freeAreaAddr(e));
    new DataView(e.memory.buffer).setUint32(at, 0, true);
    expect(e.alloc_pages(ORDER)).not.toBe(0n);
    expect(e.takeReports()).toEqual([]);
    expect(new DataView(e.memory.buffer).getUint32(at, true)).toBe(NO_PFN);   // -1: the count wrapped
    expect(e.selfCheck().length).toBeGreaterThan(0);
  });
});
