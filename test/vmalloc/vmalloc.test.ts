// vmalloc space: areas, alignment, guard pages, lazy freeing and purges, vmap,
// vm_map_ram, vmalloc_to_page, the WARNs and warn_alloc() texts, and the
// reports a vmalloc bug gets (generic KASAN, x86_64).
import { describe, it, expect } from "vitest";
import { boot, BUILDS, expectReport, expectNoReport, lines } from "../helpers.js";
import type { Engine } from "../../host/engine.js";

const VMALLOC_START = 0xffffc90000000000n;
const VMEMMAP = 0xffffea0000000000n;
const PAGE = 4096n;
const px = (v: bigint) => v.toString(16).padStart(16, "0");

// Lines of a report from its first line matching `from`, up to the next blank line.
function section(text: string, from: string): string[] {
  const l = text.split("\n");
  const i = l.indexOf(from);
  if (i < 0) return [];
  const j = l.indexOf("", i);
  return l.slice(i, j < 0 ? undefined : j);
}

// A named caller: vm_struct->caller is the function that called vmalloc.
function allocThreePages(e: Engine): bigint {
  return e.vmalloc(3 * 4096);
}

describe.each(BUILDS)("vmalloc (%s build)", (build) => {
  it("places areas from VMALLOC_START with a guard page after each, honouring alignment", () => {
    const e = boot({ ram: 64 }, build);
    const a = e.vmalloc(100);
    const b = allocThreePages(e);
    const c = e.__vmalloc_node(4096, 1n << 20n);
    expect(a).toBe(VMALLOC_START);
    expect(b).toBe(VMALLOC_START + 2n * PAGE);               // a's page, a's guard page
    expect(c % (1n << 20n)).toBe(0n);
    expect(c).toBe(VMALLOC_START + (1n << 20n));
    const vm = e.find_vm_area(b + 5000n)!;
    expect(vm.addr).toBe(b);
    expect(vm.size).toBe(4n * PAGE);                          // vm->size includes the guard page
    expect(vm.nrPages).toBe(3);
    expect(vm.caller).toMatch(/^allocThreePages\+0x[0-9a-f]+\/0x[0-9a-f]+$/);
    expect(e.find_vm_area(b + 3n * PAGE)?.addr).toBe(b);     // the guard page belongs to the area
    expect(e.stats().vmalloc.pages).toBe(1 + 3 + 1);
    expect(e.stats().vmalloc.areas).toBe(3);
    expect(e.is_vmalloc_addr(b)).toBe(true);
    expect(e.is_vmalloc_addr(0xffff888000000000n)).toBe(false);
    for (const p of [a, b, c]) e.vfree(p);
    expect(e.stats().vmalloc.pages).toBe(0);
    expect(e.stats().vmalloc.areas).toBe(0);
    expect(e.takeReports()).toEqual([]);
  });

  it("reuses freed address space only after a purge, and purges past lazy_max_pages", () => {
    const e = boot({ ram: 64, nrCpus: 2 }, build);
    expect(e.vmallocLazyMaxPages).toBe(2 * 8192);            // fls(2) * 32 MiB / 4 KiB
    const a = e.vmalloc(4096);
    e.vfree(a);
    expect(e.stats().vmalloc.lazyPages).toBe(2);
    const b = e.vmalloc(4096);
    expect(b).toBe(a + 2n * PAGE);                           // a's range waits for the purge
    e.vfree(b);
    e.vm_unmap_aliases();
    expect(e.stats().vmalloc.lazyPages).toBe(0);
    expect(e.stats().vmalloc.purges).toBe(1);
    expect(e.vmalloc(4096)).toBe(a);
    // 8 MiB areas (2049 pages with the guard): the eighth free passes 16384 lazy
    // pages and purges by itself
    for (let i = 0; i < 8; i++) {
      const p = e.vmalloc(8n << 20n);
      expect(p).not.toBe(0n);
      if (i === 7) expect(e.stats().vmalloc.lazyPages).toBe(7 * 2049);
      e.vfree(p);
    }
    const s = e.stats().vmalloc;
    expect(s.purges).toBe(2);
    expect(s.lazyPages).toBe(0);
  });

  it("zeroes vzalloc and __GFP_ZERO memory", () => {
    const e = boot({ ram: 64 }, build);
    const a = e.vmalloc(8192);
    e.writeBytes(a, new Uint8Array(8192).fill(0xaa));
    e.vfree(a);
    e.vm_unmap_aliases();
    const z = e.vzalloc(8192);
    expect(z).toBe(a);
    expect(e.readBytes(z, 8192).every((x) => x === 0)).toBe(true);
    const g = e.__vmalloc(100, "GFP_KERNEL | __GFP_ZERO");
    expect(e.readBytes(g, 100).every((x) => x === 0)).toBe(true);
  });

  it("vmalloc_to_page and page_address reach the same bytes as the vmalloc address", () => {
    const e = boot({ ram: 64 }, build);
    const v = e.vmalloc(3 * 4096);
    e.store(v + 4096n + 8n, 8, 0x1122334455667788n);
    const page = e.vmalloc_to_page(v + 4096n);
    expect((page - VMEMMAP) % 64n).toBe(0n);
    expect(e.vmalloc_to_pfn(v + 4096n)).toBe(Number((page - VMEMMAP) / 64n));
    expect(e.load(e.page_address(page) + 8n, 8)).toBe(0x1122334455667788n);
    expect(e.vmalloc_to_page(v + 3n * PAGE)).toBe(0n);      // the guard page maps nothing
  });

  it("vmap maps caller pages, which cannot be freed while mapped", () => {
    const e = boot({ ram: 64 }, build);
    const p0 = e.alloc_pages(0), p1 = e.alloc_pages(0);
    e.store(p0, 8, 0xaan);
    e.store(p1 + 16n, 8, 0xbbn);
    const v = e.vmap([e.virt_to_page(p0), p1]);
    expect(v).not.toBe(0n);
    expect(e.load(v, 8)).toBe(0xaan);
    expect(e.load(v + 4096n + 16n, 8)).toBe(0xbbn);
    expect(e.vmalloc_to_page(v + 4096n)).toBe(e.virt_to_page(p1));
    expect(e.find_vm_area(v)!.size).toBe(3n * PAGE);
    expect(e.stats().vmalloc.pages).toBe(0);                 // vmap'd pages are not vmalloc's
    // freeing a mapped page is refused: the mapping must not reach a reused frame
    e.__free_pages(p0, 0);
    const [bad] = e.takeReports();
    expect(bad.kind).toBe("bad_page");
    expect(lines(bad)[0]).toMatch(/^BUG: Bad page state in process swapper\/0  pfn:[0-9a-f]{5}$/);
    expect(bad.text).toContain("page dumped because: nonzero mapcount");
    e.vunmap(v);
    expect(e.vmalloc_to_page(v)).toBe(0n);
    expectNoReport(e, () => { e.__free_pages(p0, 0); e.__free_pages(p1, 0); });
    expect(() => e.vmap([0xffffc90000000000n])).toThrow(RangeError);
  });

  it("vm_map_ram serves small mappings from a vmap block and large ones from their own area", () => {
    const e = boot({ ram: 64 }, build);
    const pages = [0, 1, 2, 3].map(() => e.alloc_pages(0));
    const a = e.vm_map_ram([pages[0]]);
    const b = e.vm_map_ram([pages[1], pages[2]]);
    expect(b).toBe(a + PAGE);                                 // no guard page inside a block
    expect(a % (4n << 20n)).toBe(0n);                         // blocks are VMAP_BLOCK_SIZE aligned
    expect(e.find_vm_area(a)).toBeUndefined();                // no vm_struct behind vm_map_ram
    e.store(b + 4096n, 4, 7);
    expect(e.load(pages[2], 4)).toBe(7);
    const big = e.vm_map_ram(Array.from({ length: 65 }, (_, i) => pages[i % 4]));
    expect(big).not.toBe(0n);
    e.vm_unmap_ram(big, 65);
    e.vm_unmap_ram(a, 1);
    e.vm_unmap_ram(b, 2);
    expect(() => e.vm_unmap_ram(a, 1)).toThrow(/not a vm_map_ram\(\) mapping of 1 page/);
    expect(() => e.vm_unmap_ram(VMALLOC_START + (64n << 30n), 1)).toThrow(RangeError);
    e.vm_unmap_aliases();
    expect(e.stats().vmalloc.areas).toBe(0);
    expect(e.takeReports()).toEqual([]);
  });

  it("WARNs on vfree of a bad address or no vm area, as mm/vmalloc.c does", () => {
    const e = boot({ ram: 64 }, build);
    e.vfree(0n);                                              // vfree(NULL) is fine
    expect(e.takeReports()).toEqual([]);
    function free_twice() {
      const p = e.vmalloc(64);
      e.vfree(p);
      e.vfree(p);
      return p;
    }
    const p = free_twice();
    const [w] = e.takeReports();
    expect(w.kind).toBe("warn");
    expect(w.type).toBe("vfree-nonexistent");
    const l = lines(w);
    expect(l.slice(0, 4)).toEqual([
      "------------[ cut here ]------------",
      `Trying to vfree() nonexistent vm area (${px(p)})`,
      "WARNING: CPU: 0 PID: 1 at mm/vmalloc.c:3345 vfree+0x1e8/0x4c8",
      "Modules linked in:",
    ]);
    expect(l[4]).toBe("CPU: 0 UID: 0 PID: 1 Comm: swapper/0 Tainted: G        W          6.12.0 #1");
    expect(l).toContain("RIP: 0010:vfree+0x1e8/0x4c8");
    expect(l[l.indexOf("Call Trace:") + 2]).toMatch(/^ free_twice\+0x[0-9a-f]+\/0x[0-9a-f]+$/);
    expect(l.at(-1)).toBe("---[ end trace 0000000000000000 ]---");
    e.vfree(VMALLOC_START + 0x10n);
    const [w2] = e.takeReports();
    expect(lines(w2).slice(1, 3)).toEqual([
      `Trying to vfree() bad address (${px(VMALLOC_START + 0x10n)})`,
      "WARNING: CPU: 0 PID: 1 at mm/vmalloc.c:3210 remove_vm_area+0x88/0x98",
    ]);
    e.vunmap(VMALLOC_START + (1n << 30n));
    expect(lines(e.takeReports()[0])[1]).toBe(`Trying to vunmap() nonexistent vm area (${px(VMALLOC_START + (1n << 30n))})`);
  });

  it("prints warn_alloc() when no aligned range exists (align_shift_alloc_test)", () => {
    const e = boot({ ram: 64 }, build);
    function align_shift() { return e.__vmalloc_node(4096, 1n << 50n, "GFP_KERNEL | __GFP_ZERO"); }
    expect(align_shift()).toBe(0n);
    const [range, warn] = e.takeReports();
    expect(range.text).toBe("vmalloc_node_range for size 8192 failed: Address range restricted to 0xffffc90000000000 - 0xffffe90000000000");
    const l = lines(warn);
    expect(l[0]).toBe("swapper/0: vmalloc error: size 4096, vm_struct allocation failed, mode:0xdc0(GFP_KERNEL|__GFP_ZERO), nodemask=(null),cpuset=/,mems_allowed=0");
    expect(l.slice(1, 5)).toEqual([
      "CPU: 0 UID: 0 PID: 1 Comm: swapper/0 Not tainted 6.12.0 #1",
      "Hardware name: shadowfence wasm machine, BIOS 0.1.0 11/22/2026",
      "Call Trace:",
      " <TASK>",
    ]);
    expect(l.slice(5, 9)).toEqual([" dump_stack_lvl+0x4d/0x70", " warn_alloc+0x165/0x1d0",
      " __vmalloc_node_range_noprof+0x2d7/0x1100", " __vmalloc_node_noprof+0x4a/0x60"]);
    expect(l[9]).toMatch(/^ align_shift\+0x/);
    // __GFP_NOWARN keeps it quiet
    expect(e.__vmalloc_node(4096, 1n << 50n, "GFP_KERNEL | __GFP_NOWARN")).toBe(0n);
    expect(e.takeReports()).toEqual([]);
  });

  it("arm64: vmalloc space starts after the kernel image, which stays reserved", () => {
    const e = boot({ ram: 64, arch: "arm64", cmdline: "kasan_multi_shot" }, build);
    const v = e.vmalloc(100);
    expect(v).toBe(0xffff800082200000n);                      // VMALLOC_START + image, 2 MiB aligned
    expect(e.find_vm_area(0xffff800080000000n)).toBeUndefined();  // the image has no vm_struct here
    e.vfree(0xffff800080000000n);                               // not vfree()able
    expect(e.takeReports()[0].type).toBe("vfree-nonexistent");
    function arm64_vmalloc_oob() { e.load(v + 100n, 1); }
    arm64_vmalloc_oob();
    const [r] = e.takeReports();
    expect(r.type).toBe("vmalloc-out-of-bounds");
    expect(r.text).toContain(` [${px(v)}, ${px(v + 2n * PAGE)}) created by:`);
    e.vfree(v);
    e.vm_unmap_aliases();
    expect(e.stats().vmalloc.shadowPages).toBe(0);
    // the image's own shadow (populated at boot) survived the purge next to it
    expect(e.shadowByte(BigInt.asUintN(64, e.exports.kimage_data_va()))).toBe(0);
  });

  it("rejects bad arguments with errors that name them", () => {
    const e = boot({ ram: 32 }, build);
    expect(() => e.vmalloc(-1)).toThrow(/^vmalloc: size must be an integer from 0 to 18446744073709551615, got -1$/);
    expect(() => e.__vmalloc_node(4096, 3)).toThrow(/align must be a power of two/);
    expect(() => e.vm_unmap_ram(VMALLOC_START, 0)).toThrow(/^vm_unmap_ram: count must be an integer from 1 to 4096, got 0$/);
    expect(() => e.free_percpu(VMALLOC_START)).toThrow(/not a live percpu allocation/);
    expect(e.vmalloc(0)).toBe(0n);
  });
});

// ── reports ──────────────────────────────────────────────────────────────────
function vmallocEngine(build: "release" | "debug", extra = ""): Engine {
  return boot({ ram: 64, cmdline: `kasan_multi_shot ${extra}` }, build);
}

describe.each(BUILDS)("vmalloc reports (%s build)", (build) => {
  it("prints vmalloc-out-of-bounds with the virtual mapping, line by line", () => {
    const e = vmallocEngine(build);
    function vmalloc_oob_right() {
      const v = e.vmalloc(2035);
      e.store(v + 2034n, 1, 1);                               // in bounds
      e.load(v + 2035n, 1);
      return v;
    }
    let v = 0n;
    const r = expectReport(e, "vmalloc-out-of-bounds", () => { v = vmalloc_oob_right(); });
    expect(r.address).toBe(v + 2035n);
    expect(r.kasan!.firstBadAddress).toBe(v + 2035n);
    const l = lines(r);
    expect(l[0]).toBe("=".repeat(66));
    expect(l[1]).toMatch(/^BUG: KASAN: vmalloc-out-of-bounds in vmalloc_oob_right\+0x[0-9a-f]+\/0x[0-9a-f]+$/);
    expect(l[2]).toBe(`Read of size 1 at addr ${px(v + 2035n)} by task swapper/0/1`);
    const mapping = section(r.text, "The buggy address belongs to the virtual mapping at");
    expect(mapping[1]).toBe(` [${px(v)}, ${px(v + 2n * PAGE)}) created by:`);
    expect(mapping[2]).toMatch(/^ vmalloc_oob_right\+0x[0-9a-f]+\/0x[0-9a-f]+$/);
    const page = section(r.text, "The buggy address belongs to the physical page:");
    const pfn = e.vmalloc_to_pfn(v);
    expect(page[1]).toBe(`page: refcount:1 mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x${pfn.toString(16)}`);
    expect(page.at(-1)).toBe("page dumped because: kasan: bad access detected");
    const f8 = Array(16).fill("f8").join(" ");
    expect(section(r.text, "Memory state around the buggy address:")).toEqual([
      "Memory state around the buggy address:",
      ` ${px(v + 0x680n)}: ${Array(16).fill("00").join(" ")}`,
      ` ${px(v + 0x700n)}: ${Array(16).fill("00").join(" ")}`,
      `>${px(v + 0x780n)}: ${Array(14).fill("00").join(" ")} 03 f8`,
      " ".repeat(19 + 3 * 14) + "^",
      ` ${px(v + 0x800n)}: ${f8}`,
      ` ${px(v + 0x880n)}: ${f8}`,
      "=".repeat(66),
    ]);
  });

  it("reports a use after vfree while the shadow is present, then the unmapped page oopses", () => {
    const e = vmallocEngine(build);
    const v = e.vmalloc(4096);
    e.vfree(v);
    function use_after_vfree() { e.load(v + 8n, 8); }
    use_after_vfree();
    const all = e.takeReports();
    expect(all.map((x) => x.type)).toEqual(["vmalloc-out-of-bounds", "page fault"]);
    const r = all[0];
    expect(r.address).toBe(v + 8n);
    // the area is gone: no mapping or page section, just the shadow
    expect(r.text).not.toContain("virtual mapping");
    expect(r.text).not.toContain("physical page");
    expect(section(r.text, "Memory state around the buggy address:")[3]).toBe(`>${px(v)}: ${Array(16).fill("f8").join(" ")}`);
    expect(lines(all[1])[0]).toBe(`BUG: unable to handle page fault for address: ${px(v + 8n)}`);
    expect(lines(all[1])[2]).toBe("#PF: error_code(0x0000) - not-present page");
  });

  it("after the purge the shadow is gone too: the shadow load itself faults", () => {
    const e = vmallocEngine(build);
    const v = e.vmalloc(4096);
    e.vfree(v);
    e.vm_unmap_aliases();
    expect(e.stats().vmalloc.shadowPages).toBe(0);
    e.store(v, 1, 0);
    const [oops] = e.takeReports();
    expect(oops.kind).toBe("oops");
    const shadow = ((v >> 3n) + 0xdffffc0000000000n) & 0xffffffffffffffffn;
    expect(lines(oops).slice(0, 3)).toEqual([
      `BUG: unable to handle page fault for address: ${px(shadow)}`,
      "#PF: supervisor read access in kernel mode",
      "#PF: error_code(0x0000) - not-present page",
    ]);
    expect(e.takeReports()).toEqual([]);
  });

  it("an access to the guard page: KASAN first (its shadow is poisoned), then the page fault", () => {
    const e = vmallocEngine(build);
    const v = e.vmalloc(4096);
    function guard_page_write() { e.store(v + 4096n, 4, 1); }
    guard_page_write();
    const [r, oops] = e.takeReports();
    expect(r.type).toBe("vmalloc-out-of-bounds");
    expect(lines(r)[1]).toMatch(/^BUG: KASAN: vmalloc-out-of-bounds in guard_page_write\+0x/);
    const mapping = section(r.text, "The buggy address belongs to the virtual mapping at");
    expect(mapping[1]).toBe(` [${px(v)}, ${px(v + 2n * PAGE)}) created by:`);
    expect(r.text).not.toContain("physical page");           // vmalloc_to_page(guard page) is NULL
    expect(lines(oops)[0]).toBe(`BUG: unable to handle page fault for address: ${px(v + 4096n)}`);
    expect(lines(oops)[1]).toBe("#PF: supervisor write access in kernel mode");
  });

  it("kasan.vmalloc=off: the vmalloc shadow is the early shadow, vmalloc bugs go unseen", () => {
    const e = vmallocEngine(build, "kasan.vmalloc=off");
    const v = e.vmalloc(100);
    expect(e.shadowByte(v + 100n)).toBe(0);
    expectNoReport(e, () => { e.load(v + 100n, 1); e.store(v + 4000n, 8, 1n); });
    e.vfree(v);
    expectNoReport(e, () => e.vm_unmap_aliases());
    expect(e.stats().vmalloc.shadowPages).toBe(0);
    e.load(v + 4096n, 1);                                     // the guard page: only the MMU sees it
    expect(e.takeReports().map((x) => x.kind)).toEqual(["oops"]);
  });

  it("kasan=off: the guard page fault is the plain oops", () => {
    const e = boot({ ram: 32, kasan: false }, build);
    const v = e.vmalloc(4096);
    e.load(v + 4096n, 1);
    const [oops] = e.takeReports();
    expect(lines(oops).slice(0, 5)).toEqual([
      `BUG: unable to handle page fault for address: ${px(v + 4096n)}`,
      "#PF: supervisor read access in kernel mode",
      "#PF: error_code(0x0000) - not-present page",
      expect.stringMatching(/^PGD [0-9a-f]+ P4D [0-9a-f]+ PUD [0-9a-f]+ PMD [0-9a-f]+ PTE 0$/),
      "Oops: Oops: 0000 [#1] PREEMPT SMP NOPTI",
    ]);
  });
});
