// The core/host boundary: abi/abi.ts is the one place both sides take their
// numbers from. Checked here in both directions: every export the host declares
// (host/exports.ts) exists in both core builds and every core export is declared
// (or is a guest-bound hook); record and structure fields stay inside their
// records without overlapping; the carve-up of the transfer buffers fits; and
// the layout the host reads from the core is the kernel's, and is the one the
// core's own page tables and allocators use.
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as abi from "../abi/abi.js";
import { OP_LEN } from "../host/fuzz/tape.js";
import { boot, BUILDS } from "./helpers.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const read = (p: string) => readFileSync(root + p, "utf8");

/** Names the host declares on CoreExports (methods, one per line). */
function declaredExports(): string[] {
  return [...read("host/exports.ts").matchAll(/^\s+([A-Za-z_$][\w$]*)\??\(/gm)].map((m) => m[1]);
}
/** Exports bound by name to guests rather than called by the host. */
const GUEST_BOUND = /^(__asan_\w+|guest_sealed_(load|store)(_kasan_off)?)$/;

interface Field { name: string; offset: number; size: number }
/** Fields `PREFIX* = offset; // <type> ...` of abi.ts, sized by their type comment. */
function fields(prefix: string, defaultSize?: number): Field[] {
  const out: Field[] = [];
  for (const m of read("abi/abi.ts").matchAll(/^export const (\w+) = (\d+);(?:\s*\/\/\s*(.*))?$/gm)) {
    const [, name, value, comment = ""] = m;
    if (!name.startsWith(prefix)) continue;
    let size = defaultSize;
    const t = /^(u8|u16|u32|i32|u64)\b/.exec(comment);
    if (t) size = { u8: 1, u16: 2, u32: 4, i32: 4, u64: 8 }[t[1]];
    else if (/^(\d+) x u64\b/.test(comment)) size = 8 * Number(/^(\d+)/.exec(comment)![1]);
    else if (/\((\d+) bytes\)|^(\d+) bytes\b/.test(comment)) {
      const b = /\((\d+) bytes\)|^(\d+) bytes\b/.exec(comment)!;
      size = Number(b[1] ?? b[2]);
    }
    if (size === undefined) throw new Error(`abi.ts: ${name} states no type (u8/u16/u32/u64/N bytes)`);
    out.push({ name, offset: Number(value), size });
  }
  return out;
}
/** Overlapping pairs and fields past `end`, as readable strings (empty: all good). */
function layoutProblems(list: Field[], end: number): string[] {
  const problems: string[] = [];
  const sorted = [...list].sort((a, b) => a.offset - b.offset);
  for (let i = 0; i < sorted.length; i++) {
    const f = sorted[i];
    if (f.offset + f.size > end) problems.push(`${f.name} [${f.offset}, ${f.offset + f.size}) past ${end}`);
    if (f.size <= 8 && f.offset % f.size !== 0) problems.push(`${f.name} at ${f.offset} is not ${f.size}-byte aligned`);
    const next = sorted[i + 1];
    if (next && f.offset + f.size > next.offset) problems.push(`${f.name} [${f.offset}, ${f.offset + f.size}) overlaps ${next.name} at ${next.offset}`);
  }
  return problems;
}

describe("abi/abi.ts", () => {
  it("is only integer constants, each name once (it compiles as AssemblyScript and TypeScript)", () => {
    const names = new Set<string>();
    for (const line of read("abi/abi.ts").split("\n")) {
      if (line.trim() === "" || line.trim().startsWith("//")) continue;
      const m = /^export const ([A-Z_][A-Z0-9_]*) = (-?(?:0x[0-9a-f]+|\d+));(\s*\/\/.*)?$/.exec(line);
      expect(m, `not an integer constant: ${line}`).not.toBeNull();
      expect(names.has(m![1]), `${m![1]} defined twice`).toBe(false);
      names.add(m![1]);
      expect((abi as Record<string, number>)[m![1]]).toBe(Number(m![2]));
    }
  });

  it.each(BUILDS)("every export host/exports.ts declares exists in the %s core, and every core export is declared", (build) => {
    const file = build === "release" ? "build/core.wasm" : "build/core.debug.wasm";
    const mod = new WebAssembly.Module(readFileSync(root + file));
    const core = new Map(WebAssembly.Module.exports(mod).map((e) => [e.name, e.kind]));
    const declared = declaredExports();
    expect(declared.length).toBeGreaterThan(100);
    expect(declared.filter((n) => core.get(n) !== "function"), "declared by the host, missing from the core").toEqual([]);
    const undeclared = [...core.keys()].filter((n) => n !== "memory" && !declared.includes(n) && !GUEST_BOUND.test(n));
    expect(undeclared, "exported by the core, unknown to host/exports.ts").toEqual([]);
    expect(core.get("memory")).toBe("memory");
  });

  it("report record fields do not overlap and fit in a record", () => {
    const r = fields("R_");
    expect(r.map((f) => f.name)).toContain("R_FUZZ_ALLOC_SITE");
    expect(layoutProblems(r, abi.REC_SIZE)).toEqual([]);
  });

  it("struct kfence_metadata, kfence_track, kmem_cache and the fuzz log entry: fields apart, inside their size", () => {
    expect(layoutProblems(fields("KF_M_"), abi.KF_META_SIZE)).toEqual([]);
    expect(layoutProblems(fields("KF_T_"), 24)).toEqual([]);
    const kc = fields("KC_", 4).filter((f) => f.name !== "KC_FIELDS_END");
    expect(kc).toHaveLength(22);
    expect(layoutProblems(kc, abi.KC_FIELDS_END)).toEqual([]);
    expect(abi.KC_FIELDS_END).toBeLessThanOrEqual(abi.KMEM_CACHE_OBJ_SIZE);
    expect(layoutProblems(fields("FZL_"), abi.FZ_LOG_SIZE)).toEqual([]);
  });

  it("the transfer buffers' regions fit and do not overlap", () => {
    expect(abi.HOST_BUF_IDS + abi.HOST_BUF_IDS_MAX * 4).toBeLessThanOrEqual(abi.HOST_BUF_BYTES);
    expect(abi.HOST_BUF_BYTES + abi.HOST_BUF_BYTES_SIZE).toBeLessThanOrEqual(abi.HOST_BUF_SIZE);
    // the largest arrays the engine passes: 512 bulk objects (u64), 4096 pfns (u32)
    expect(512 * 8).toBeLessThanOrEqual(abi.HOST_BUF_BYTES_SIZE);
    expect(4096 * 4).toBeLessThanOrEqual(abi.HOST_BUF_BYTES_SIZE);
    expect(abi.SCRATCH_LOAD16 + 16).toBeLessThanOrEqual(abi.SCRATCH_STORE16);
    expect(abi.SCRATCH_STORE16 + 16).toBeLessThanOrEqual(abi.SCRATCH_SIZE);
    expect(abi.STRUCT_PAGE_SIZE).toBe(1 << abi.STRUCT_PAGE_SHIFT);
  });

  it("the host's op lengths cover every opcode, from the shared FZ_LEN_* values", () => {
    expect(OP_LEN).toHaveLength(abi.FZ_OP_COUNT);
    expect(OP_LEN[0]).toBe(0);
    for (let op = 1; op < abi.FZ_OP_COUNT; op++) expect(OP_LEN[op], `op ${op}`).toBeGreaterThanOrEqual(3);
    expect(OP_LEN[abi.FZ_MEMCPY]).toBe(abi.FZ_LEN_MEMCPY);
    expect(OP_LEN[abi.FZ_TASK]).toBe(abi.FZ_LEN_TASK);
  });
});

// The kernel's documented layouts (Documentation/arch/x86/x86_64/mm.rst, arch/arm64/memory.rst)
const LAYOUTS = {
  "x86_64": {
    pageOffset: 0xffff888000000000n, vmemmapStart: 0xffffea0000000000n, kasanShadowOffset: 0xdffffc0000000000n,
    kasanShadowStart: 0xffffec0000000000n, kasanShadowEnd: 0xfffffc0000000000n, taskSize: 0x00007ffffffff000n,
    vmallocStart: 0xffffc90000000000n, vmallocEnd: 0xffffe90000000000n, kernelText: 0xffffffff81000000n,
  },
  "arm64 generic": {
    pageOffset: 0xffff000000000000n, vmemmapStart: 0xfffffc0000000000n, kasanShadowOffset: 0xdfff800000000000n,
    kasanShadowStart: 0xffff600000000000n, kasanShadowEnd: 0xffff800000000000n, taskSize: 0x0001000000000000n,
    vmallocStart: 0xffff800080000000n, vmallocEnd: 0xfffffbfff0000000n, kernelText: 0xffff800080000000n,
  },
  "arm64 sw_tags": {
    pageOffset: 0xffff000000000000n, vmemmapStart: 0xfffffc0000000000n, kasanShadowOffset: 0xefff800000000000n,
    kasanShadowStart: 0xffff700000000000n, kasanShadowEnd: 0xffff800000000000n, taskSize: 0x0001000000000000n,
    vmallocStart: 0xffff800080000000n, vmallocEnd: 0xfffffbfff0000000n, kernelText: 0xffff800080000000n,
  },
} as const;
const CMDLINES: Record<keyof typeof LAYOUTS, string> = {
  "x86_64": "", "arm64 generic": "arch=arm64", "arm64 sw_tags": "arch=arm64 kasan.mode=sw_tags",
};

describe.each(BUILDS)("the layout the host reads from the core (%s core)", (build) => {
  it.each(Object.keys(LAYOUTS) as (keyof typeof LAYOUTS)[])("%s: the kernel's, every slot read", (which) => {
    const e = boot({ cmdline: CMDLINES[which] }, build);
    expect(e.layout).toEqual(LAYOUTS[which]);
    expect(Object.keys(e.layout)).toHaveLength(abi.LAYOUT_COUNT);
    expect(e.exports.layout_value(abi.LAYOUT_COUNT)).toBe(0n);
  });

  it.each(Object.keys(LAYOUTS) as (keyof typeof LAYOUTS)[])("%s: the core's allocators and page tables use it", (which) => {
    const e = boot({ cmdline: CMDLINES[which], ram: 64 }, build);
    const L = e.layout, tags = which === "arm64 sw_tags";
    const untag = (a: bigint) => (tags ? BigInt.asUintN(64, a | 0xff00000000000000n) : a);
    const p = untag(e.kmalloc(64));
    expect(p >= L.pageOffset && p < L.pageOffset + 64n * 1048576n).toBe(true);
    const v = untag(e.vmalloc(8192));
    expect(v >= L.vmallocStart && v < L.vmallocEnd).toBe(true);
    // the shadow byte the core's page tables map at KASAN_SHADOW_OFFSET + (addr >> scale)
    // is the one KASAN checks: 0 inside the object, a redzone code (or tag) past it
    const scale = tags ? 4n : 3n, granule = tags ? 16n : 8n;
    for (const a of [p, p + 64n, p + 64n + granule]) {
      const shadow = L.kasanShadowOffset + (a >> scale);
      expect(shadow >= L.kasanShadowStart && shadow < L.kasanShadowEnd).toBe(true);
      expect(e.peek(shadow, 1)![0]).toBe(e.exports.kasan_shadow_byte(a) & 0xff);
    }
    if (!tags) expect(e.exports.kasan_shadow_byte(p + 64n) & 0xff).toBe(abi.KASAN_SLAB_REDZONE);
    // virt_to_page: the struct page of p's frame in the vmemmap array
    expect(e.virt_to_page(p)).toBe(L.vmemmapStart + ((p - L.pageOffset) >> 12n) * BigInt(abi.STRUCT_PAGE_SIZE));
  });
});

// Error returns the host maps to its messages: the codes come from abi.ts on both
// sides, so a change on one side fails here rather than printing the wrong error.
describe.each(BUILDS)("core return codes the host reads (%s core)", (build) => {
  it("__free_pages, vmap and vm_map_ram refuse bad input with -EINVAL; the API says which", () => {
    const e = boot({}, build);
    const x = e.exports;
    const page = e.alloc_pages(0);
    expect(x.__free_pages(page + 8n, 0)).toBe(-abi.EINVAL);
    expect(() => e.__free_pages(page + 8n, 0)).toThrow(/^__free_pages: 0x[0-9a-f]+ is not a page-aligned direct-map address$/);
    // a slab page is no page of alloc_pages(): it cannot be mapped
    const slabPage = e.kmalloc(64) & ~0xfffn;
    const pfn = Number((slabPage - e.layout.pageOffset) >> 12n);
    const buf = x.host_buf() + abi.HOST_BUF_BYTES;
    new DataView(e.memory.buffer).setUint32(buf, pfn, true);
    expect(x.vmap(buf, 1)).toBe(-BigInt(abi.EINVAL));
    expect(x.vm_map_ram(buf, 1, 0)).toBe(-BigInt(abi.EINVAL));
    expect(() => e.vmap([slabPage])).toThrow(/^vmap: only pages from alloc_pages\(\) can be mapped$/);
    expect(() => e.vm_map_ram([slabPage])).toThrow(/^vm_map_ram: only pages from alloc_pages\(\) can be mapped$/);
    expect(e.vmap([page])).not.toBe(0n);
  });

  it("guest_begin: -EOPNOTSUPP under sw_tags, -EINVAL for a region outside RAM, -EBUSY for frames in use", () => {
    const tags = boot({ cmdline: "arch=arm64 kasan.mode=sw_tags" }, build);
    const ram = abi.PHYS_BASE + 128 * 1048576;
    const lo = abi.PHYS_BASE + 32 * 1048576, ring = 65536;
    expect(tags.exports.guest_begin(lo, lo + 65536, lo, lo + 65536, lo + 1048576, ring, 100)).toBe(-abi.EOPNOTSUPP);
    const e = boot({ ram: 128 }, build);
    expect(e.exports.guest_begin(lo, lo + 65536, lo, lo + 65536, ram, ring, 100)).toBe(-abi.EINVAL);
    // the frames of a live allocation are taken
    const used = Number(e.kmalloc(64) - e.layout.pageOffset) + abi.PHYS_BASE;
    const at = used - (used % abi.PAGE_SIZE);
    expect(e.exports.guest_begin(at, at + abi.PAGE_SIZE, at, at + abi.PAGE_SIZE, lo + 2 * 1048576, ring, 100)).toBe(-abi.EBUSY);
    expect(e.exports.guest_stop_reason()).toBe(abi.GUEST_RUNNING);
  });
});
