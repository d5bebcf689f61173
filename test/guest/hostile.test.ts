// A hostile guest never corrupts the engine: checked writes at the engine's
// own tables are reported and stopped, wild frees are refused, shadow writes
// and syscall pointers outside the guest are ignored or fail, and after every
// attack the engine's self-check passes, its tables are byte-for-byte intact
// and it keeps serving guests.
import { describe, it, expect } from "vitest";
import * as abi from "../../abi/abi.js";
import { boot, lines } from "../helpers.js";
import { guestBytes, haveToolchain } from "./build.js";
import type { Engine } from "../../host/engine.js";

const PAGE_OFFSET = 0xffff888000000000n;
const RAM = 128 * 1048576;
const hex = (n: number) => n.toString(16);

function hostile(e: Engine, ...args: string[]) {
  return e.runGuest(guestBytes({ src: "test/guest/c/hostile.c" }), { name: "hostile", args });
}

/** Linear addresses of engine metadata a guest could aim at. */
function targets(e: Engine): Record<string, number> {
  const x = e.exports;
  const lin = (va: bigint) => Number(BigInt.asUintN(64, va) - PAGE_OFFSET) + abi.PHYS_BASE;
  x.pt_translate(PAGE_OFFSET);
  const pudTable = abi.PHYS_BASE + Number(x.walk_entry(0) & 0x000ffffffffff000n);
  const shadowLin = x.translate_lin((PAGE_OFFSET >> 3n) + 0xdffffc0000000000n + 0x100n);
  const memMapFrames = (RAM / 4096) * 64 / 4096;
  const t: Record<string, number> = {
    "the TLB (engine statics)": x.tlb_base(),
    "the report ring": x.ring_base() + 8,
    "a kmem_cache descriptor": lin(x.cache_va(x.kmalloc_cache_id(3))),
    "a page-table page": pudTable + 16,
    "KASAN shadow": shadowLin,
    "mem_map (struct page of pfn 0)": abi.PHYS_BASE + RAM - memMapFrames * 4096 + 8,
    "past the end of RAM": abi.PHYS_BASE + RAM + 0x100,
  };
  if (!shadowLin) delete t["KASAN shadow"];     // kasan=off: there is none
  return t;
}

function snapshot(e: Engine, lin: number, n = 32): Uint8Array {
  const u8 = e.u8view();
  return lin + n <= u8.length ? u8.slice(lin, lin + n) : new Uint8Array(0);
}

describe.skipIf(!haveToolchain()).each(["", "kasan=off"])("hostile guest (%s)", (cmdline) => {
  const kasan = cmdline !== "kasan=off";

  it("checked writes at engine memory are reported, not performed, and stop the guest", () => {
    const e = boot({ cmdline: `kasan_multi_shot ${cmdline}` });
    for (const [what, lin] of Object.entries(targets(e))) {
      const before = snapshot(e, lin);
      const r = hostile(e, "write", hex(lin));
      expect([r.status, r.exitCode, r.stdout], what).toEqual(["stopped", 139, ""]);
      expect(r.message).toMatch(/hostile\[100\] was stopped/);
      const va = BigInt.asUintN(64, PAGE_OFFSET + BigInt(lin - abi.PHYS_BASE));
      const kinds = r.reports.map((x) => x.kind);
      expect(kinds, what).toEqual(kasan ? ["kasan", "oops"] : ["oops"]);
      if (kasan) {
        const k = r.reports[0];
        expect(k.title, what).toMatch(/^BUG: KASAN: wild-memory-access in poke\+0x[0-9a-f]+\/0x[0-9a-f]+$/);
        expect(lines(k)[2]).toBe(`Write of size 4 at addr ${va.toString(16).padStart(16, "0")} by task hostile/100`);
      }
      const oops = r.reports[kinds.indexOf("oops")];
      expect(oops.title).toBe(`BUG: unable to handle page fault for address: ${va.toString(16).padStart(16, "0")}`);
      expect(lines(oops)).toContain(" poke+" + lines(oops).find((l) => l.startsWith(" poke+"))!.slice(6));
      expect(snapshot(e, lin), what).toEqual(before);
      expect(r.selfCheck, what).toEqual([]);
    }
    expect(hostile(e, "heap", "5000").stdout).toBe("heap ok\n");
  });

  it("a NULL dereference is a null-ptr-deref and the kernel's NULL oops", () => {
    const e = boot({ cmdline });
    const r = hostile(e, "read", "8");
    expect([r.status, r.exitCode]).toEqual(["stopped", 139]);
    const titles = r.reports.map((x) => x.title);
    if (kasan) expect(titles[0]).toMatch(/^BUG: KASAN: null-ptr-deref in peek\+/);
    expect(titles[titles.length - 1]).toBe("BUG: kernel NULL pointer dereference, address: 0000000000000008");
    expect(r.selfCheck).toEqual([]);
  });

  it("a sweep of writes stops at the first page the guest may not touch", () => {
    const e = boot({ cmdline });
    const cache = targets(e)["a kmem_cache descriptor"];
    const before = snapshot(e, cache, 256);
    const r = hostile(e, "sweep", hex(abi.PHYS_BASE + 4096), "40000");
    expect(r.status).toBe("stopped");
    expect(r.reports.filter((x) => x.kind === "oops")).toHaveLength(1);
    expect(snapshot(e, cache, 256)).toEqual(before);
    expect(r.selfCheck).toEqual([]);
  });

  it("mem* and string functions aimed at engine memory are stopped before they write", () => {
    const e = boot({ cmdline: `kasan_multi_shot ${cmdline}` });
    const t = targets(e);
    for (const cmd of ["memset", "memcpy", "strcpy"]) {
      for (const lin of [t["a kmem_cache descriptor"], t["a page-table page"]]) {
        const before = snapshot(e, lin, 64);
        const r = hostile(e, cmd, hex(lin), "48");
        expect([cmd, r.status]).toEqual([cmd, "stopped"]);
        expect(snapshot(e, lin, 64)).toEqual(before);
        expect(r.selfCheck).toEqual([]);
      }
    }
  });

  it("wild frees and reallocs are refused with the kernel's report", () => {
    const e = boot({ cmdline: `kasan_multi_shot ${cmdline}` });
    const t = targets(e);
    const frees = e.stats().slab.frees;
    for (const lin of [t["a kmem_cache descriptor"], t["the TLB (engine statics)"], t["a page-table page"], abi.PHYS_BASE + 0x400010]) {
      const before = snapshot(e, lin, 64);
      for (const cmd of ["free", "realloc"]) {
        const r = hostile(e, cmd, hex(lin), "32");
        expect(r.status).toBe("exit");
        expect(r.stdout).toMatch(/survived\n$/);
        expect(r.reports).toHaveLength(1);
        if (kasan) expect(r.reports[0].title).toMatch(/^BUG: KASAN: invalid-free in main\+/);
        else expect(r.reports[0].text).toContain("WARNING: CPU: 0 PID: 100 at mm/slub.c:4650 free_large_kmalloc+0x58/0x160");
        expect(r.selfCheck).toEqual([]);
      }
      expect(snapshot(e, lin, 64)).toEqual(before);
    }
    expect(e.stats().slab.frees).toBe(frees);
    expect(hostile(e, "heap", "100").stdout).toBe("heap ok\n");
  });

  it("use-after-free writes over the allocator's metadata in freed objects are survived", () => {
    const e = boot({ cmdline: `kasan_multi_shot ${cmdline}` });
    const r = e.runGuest(guestBytes({ src: "test/guest/c/hostile.c" }), { name: "hostile", args: ["uaf_scribble", "0"] });
    expect([r.status, r.stdout]).toEqual(["exit", "survived\n"]);
    if (kasan) expect(r.reports.length).toBeGreaterThan(0);
    expect(r.reports.every((x) => x.type === "slab-use-after-free" || x.kind === "warn")).toBe(true);
    expect(r.selfCheck).toEqual([]);
    // what the guest scribbled on was found and isolated, not followed
    expect(e.stats().slab.freelistCorruptions + e.exports.quarantine_corruptions()).toBeGreaterThan(0);
    expect(hostile(e, "heap", "3000").stdout).toBe("heap ok\n");
  });

  it("shadow writes and globals outside the guest's stack are ignored", () => {
    const e = boot({ cmdline });
    const obj = e.kmalloc(64);
    const lin = Number(obj - PAGE_OFFSET) + abi.PHYS_BASE;
    for (const cmd of ["shadow", "globals"]) {
      const r = hostile(e, cmd, hex(lin), "8");
      expect([r.status, r.stdout, r.reports]).toEqual(["exit", "survived\n", []]);
      // two __asan_set_shadow_* calls (nothing to poison without KASAN), one descriptor array
      expect(e.exports.guest_ignored_shadow_writes()).toBe(cmd === "globals" ? 1 : kasan ? 2 : 0);
    }
    if (kasan) {
      expect(e.shadowByte(obj)).toBe(0);
      expect(e.shadowByte(obj + 64n)).toBe(0xfc);
    }
    e.kfree(obj);
    expect(e.selfCheck()).toEqual([]);
  });

  it("syscalls cannot write outside the guest (EFAULT)", () => {
    const e = boot({ cmdline });
    const lin = targets(e)["a kmem_cache descriptor"];
    const before = snapshot(e, lin, 64);
    expect(hostile(e, "clock", hex(lin)).stdout).toBe("errno 21\nsurvived\n");
    expect(e.runGuest(guestBytes({ src: "test/guest/c/hostile.c" }), { name: "hostile", args: ["read_fd", hex(lin), "64"], stdin: "x".repeat(64) }).stdout)
      .toBe("errno 21\nsurvived\n");
    expect(snapshot(e, lin, 64)).toEqual(before);
  });
});
