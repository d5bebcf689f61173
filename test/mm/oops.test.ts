// The kernel's oops texts, line by line.
import { describe, it, expect } from "vitest";
import { boot, BUILDS, lines } from "../helpers.js";

const VMALLOC_HOLE = 0xffffd90000000000n;

describe.each(BUILDS)("oops text (%s build)", (build) => {
  it("prints the NULL-pointer variant for addresses in the first page", () => {
    const e = boot({ kasan: false, ram: 32 }, build);
    function read_null_plus_8() { return e.load(8n, 8); }
    expect(read_null_plus_8()).toBe(0n);
    const [r] = e.takeReports();
    expect(r.kind).toBe("oops");
    expect(r.performed).toBe(false);
    const l = lines(r);
    expect(l.slice(0, 5)).toEqual([
      "BUG: kernel NULL pointer dereference, address: 0000000000000008",
      "#PF: supervisor read access in kernel mode",
      "#PF: error_code(0x0000) - not-present page",
      "PGD 0 P4D 0 ",
      "Oops: Oops: 0000 [#1] PREEMPT SMP NOPTI",
    ]);
    expect(l[5]).toBe("CPU: 0 UID: 0 PID: 1 Comm: swapper/0 Not tainted 6.12.0 #1");
    expect(l[6]).toMatch(/^Hardware name: /);
    expect(l[7]).toMatch(/^RIP: 0010:read_null_plus_8\+0x[0-9a-f]+\/0x[0-9a-f]+$/);
    expect(l[8]).toBe("Call Trace:");
    expect(l[9]).toBe(" <TASK>");
    expect(l[10]).toMatch(/^ read_null_plus_8\+0x/);
    expect(l.slice(-5)).toEqual([" </TASK>", "Modules linked in:", "CR2: 0000000000000008",
      "---[ end trace 0000000000000000 ]---", "shadowfence: the faulting access was not performed; the engine continues"]);
  });

  it("prints the page-table walk, error code and die counter of a not-present fault", () => {
    const e = boot({ kasan: false, ram: 32 }, build);
    const f = BigInt.asUintN(64, e.exports.pt_alloc_frame());
    e.exports.pt_map(VMALLOC_HOLE, f, 1);
    e.exports.pt_unmap(VMALLOC_HOLE);
    e.store(VMALLOC_HOLE + 0x10n, 4, 1);
    const [r] = e.takeReports();
    const l = lines(r);
    expect(l[0]).toBe("BUG: unable to handle page fault for address: ffffd90000000010");
    expect(l[1]).toBe("#PF: supervisor write access in kernel mode");
    expect(l[2]).toBe("#PF: error_code(0x0002) - not-present page");
    expect(l[3]).toMatch(/^PGD [0-9a-f]+067 P4D [0-9a-f]+067 PUD [0-9a-f]+067 PMD [0-9a-f]+067 PTE 0$/);
    expect(l[4]).toBe("Oops: Oops: 0002 [#1] PREEMPT SMP NOPTI");
    // the engine keeps going, the die counter keeps counting
    expect(e.load(0x2000n, 1)).toBe(0);
    expect(lines(e.takeReports()[0])[4]).toBe("Oops: Oops: 0000 [#2] PREEMPT SMP NOPTI");
    expect(e.load(0xffff888000100000n, 8)).toBeTypeOf("bigint");
    expect(e.takeReports()).toEqual([]);
  });

  it("prints a permissions violation for a write to a read-only page", () => {
    const e = boot({ kasan: false, ram: 32 }, build);
    const f = BigInt.asUintN(64, e.exports.pt_alloc_frame());
    e.exports.pt_map(VMALLOC_HOLE, f, 0);
    e.store(VMALLOC_HOLE, 8, 1n);
    const l = lines(e.takeReports()[0]);
    expect(l[0]).toBe("BUG: unable to handle page fault for address: ffffd90000000000");
    expect(l[1]).toBe("#PF: supervisor write access in kernel mode");
    expect(l[2]).toBe("#PF: error_code(0x0003) - permissions violation");
    expect(l[3]).toMatch(/ PTE [0-9a-f]+161$/);
  });

  it("prints a general protection fault, with KASAN's decoded range for shadow-derived addresses", () => {
    const e = boot({ ram: 32, kasanMultiShot: true }, build);
    e.load(0xdead000000000100n, 8);
    const [kasan, gpf] = e.takeReports();
    expect(kasan.title).toMatch(/^BUG: KASAN: wild-memory-access in /);
    expect(lines(gpf)[0]).toBe("Oops: general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] PREEMPT SMP KASAN NOPTI");
    // D is added after the oops prints (oops_end), so the first one shows only B
    expect(lines(gpf)[1]).toMatch(/^CPU: 0 UID: 0 PID: 1 Comm: swapper\/0 Tainted: G    B  /);
    // the shadow address of NULL + 0x28: what an inline check would have touched
    e.load(0xdffffc0000000005n, 1);
    const reports = e.takeReports();
    const g = reports.find((r) => r.kind === "gpf")!;
    expect(lines(g)[0]).toBe("Oops: general protection fault, probably for non-canonical address 0xdffffc0000000005: 0000 [#2] PREEMPT SMP KASAN NOPTI");
    expect(lines(g)[1]).toBe("KASAN: null-ptr-deref in range [0x0000000000000028-0x000000000000002f]");
    e.load(0xdffffc0020000017n, 1);
    const g2 = e.takeReports().find((r) => r.kind === "gpf")!;
    expect(lines(g2)[1]).toBe("KASAN: probably user-memory-access in range [0x00000001000000b8-0x00000001000000bf]");
  });

  it("prints the arm64 paging-request oops", () => {
    const e = boot({ kasan: false, ram: 32, arch: "arm64" }, build);
    e.load(0n, 4);
    const l = lines(e.takeReports()[0]);
    expect(l.slice(0, 12)).toEqual([
      "Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000",
      "Mem abort info:",
      "  ESR = 0x0000000096000004",
      "  EC = 0x25: DABT (current EL), IL = 32 bits",
      "  SET = 0, FnV = 0",
      "  EA = 0, S1PTW = 0",
      "  FSC = 0x04: level 0 translation fault",
      "Data abort info:",
      "  ISV = 0, ISS = 0x00000004, ISS2 = 0x00000000",
      "  CM = 0, WnR = 0, TnD = 0, TagAccess = 0",
      "  GCS = 0, Overlay = 0, DirtyBit = 0, Xs = 0",
      "[0000000000000000] user address but active_mm is swapper",
    ]);
    expect(l[12]).toBe("Internal error: Oops: 0000000096000004 [#1] PREEMPT SMP");
    expect(l).toContain("Call trace:");
  });
});
