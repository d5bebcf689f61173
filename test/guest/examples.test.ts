// The C guests in examples/: each one's report (type, access, object, the
// guest function in the trace) and exit code, on both core builds.
import { describe, it, expect } from "vitest";
import { boot, BUILDS, lines } from "../helpers.js";
import { guestBytes, haveToolchain } from "./build.js";
import type { Engine, Report } from "../../host/engine.js";
import type { GuestResult } from "../../host/guest/runner.js";

function run(e: Engine, example: string, args: string[] = []): GuestResult {
  return e.runGuest(guestBytes({ src: `examples/${example}.c` }), { name: example, args });
}

function only(r: GuestResult): Report {
  expect(r.reports.map((x) => x.title)).toHaveLength(1);
  return r.reports[0];
}

/** The frame names of a printed stack, without offsets. */
const names = (stack: string[] | undefined) => (stack ?? []).map((f) => f.split("+")[0]);

describe.skipIf(!haveToolchain()).each(BUILDS)("examples (%s core)", (build) => {
  it("heap_overflow: slab-out-of-bounds write of 1 byte right of a 13-byte object", async () => {
    const e = boot({}, build);
    const r = run(e, "heap_overflow");
    expect([r.status, r.exitCode, r.stdout]).toEqual(["exit", 0, "abcdefghijklm\n"]);
    const rep = only(r);
    expect(rep.type).toBe("slab-out-of-bounds");
    expect(rep.title).toMatch(/^BUG: KASAN: slab-out-of-bounds in fill_name\+0x[0-9a-f]+\/0x[0-9a-f]+$/);
    expect([rep.isWrite, rep.size, rep.comm, rep.pid]).toEqual([true, 1n, "heap_overflow", 100]);
    expect(rep.kasan!.object).toMatchObject({ cache: "kmalloc-16", objectSize: 16, region: 13, relation: "to the right", bytes: 0 });
    expect(rep.address).toBe(rep.kasan!.object!.address + 13n);
    // the guest's own pointer: a constant offset below the direct map
    expect(rep.extra!.guestAddress).toBe("0x" + (rep.address - 0xffff888000000000n + 0x1000000n).toString(16));
    expect(names(rep.kasan!.allocStack)).toEqual(["kasan_save_stack", "kasan_save_track", "__kasan_kmalloc", "main", "_start", "_start.command_export"]);
    await expect(rep.text + "\n").toMatchFileSnapshot("__snapshots__/heap_overflow.txt");
    expect(r.selfCheck).toEqual([]);
  });

  it("heap_underflow: a read just left of an object is described from the previous slot", () => {
    const r = run(boot({}, build), "heap_underflow");
    expect(r.exitCode).toBe(0);
    const rep = only(r);
    expect(rep.title).toMatch(/^BUG: KASAN: slab-out-of-bounds in sum_window\+/);
    expect([rep.isWrite, rep.size]).toEqual([false, 4n]);
    // kmalloc-64 slots are 128 bytes with KASAN: v[-1] is in the redzone of the slot before
    expect(rep.kasan!.object).toMatchObject({ cache: "kmalloc-64", region: 64, relation: "to the right", bytes: 60 });
    expect(lines(rep)).toContain(" allocated 64-byte region [" + rep.kasan!.object!.address.toString(16).padStart(16, "0") +
      ", " + (rep.kasan!.object!.address + 64n).toString(16).padStart(16, "0") + ")");
  });

  it("use_after_free: slab-use-after-free read with the allocation and free stacks", () => {
    const r = run(boot({}, build), "use_after_free");
    expect([r.exitCode, r.stdout]).toEqual([0, "refs=0\n"]);   // the freed object's first granule holds free meta
    const rep = only(r);
    expect(rep.title).toMatch(/^BUG: KASAN: slab-use-after-free in report_session\+/);
    expect([rep.isWrite, rep.size]).toEqual([false, 4n]);
    expect(rep.kasan!.object).toMatchObject({ cache: "kmalloc-32", region: 32, relation: "inside", bytes: 4 });
    expect(lines(rep)).toContain(" freed 32-byte region [" + rep.kasan!.object!.address.toString(16).padStart(16, "0") +
      ", " + (rep.kasan!.object!.address + 32n).toString(16).padStart(16, "0") + ")");
    expect(names(rep.kasan!.allocStack).slice(3, 5)).toEqual(["new_session", "main"]);
    expect(names(rep.kasan!.freeStack).slice(0, 7)).toEqual(["kasan_save_stack", "kasan_save_track", "kasan_save_free_info",
      "__kasan_slab_free", "kfree", "end_session", "main"]);
  });

  it("double_free: double-free reported at the second free, which is refused", () => {
    const e = boot({}, build);
    const before = e.stats().slab.frees;
    const r = run(e, "double_free");
    expect([r.exitCode, r.stdout]).toEqual([0, "done\n"]);
    const rep = only(r);
    expect(rep.title).toMatch(/^BUG: KASAN: double-free in release_buffer\+/);
    expect(lines(rep)[2]).toMatch(/^Free of addr [0-9a-f]{16} by task double_free\/100$/);
    expect(rep.performed).toBe(false);
    expect(names(rep.kasan!.freeStack)).toContain("release_buffer");
    expect(e.stats().slab.frees - before).toBe(1);
  });

  it("invalid_free: invalid-free of a pointer 8 bytes into an object", () => {
    const r = run(boot({}, build), "invalid_free");
    expect(r.exitCode).toBe(0);
    const rep = only(r);
    expect(rep.title).toMatch(/^BUG: KASAN: invalid-free in drop_tail\+/);
    expect(rep.kasan!.object).toMatchObject({ cache: "kmalloc-64", relation: "inside", bytes: 8 });
  });

  it("global_overflow: global-out-of-bounds naming the variable", () => {
    const r = run(boot({}, build), "global_overflow");
    expect([r.exitCode, r.stdout]).toEqual([0, "1\n"]);
    const rep = only(r);
    expect(rep.title).toMatch(/^BUG: KASAN: global-out-of-bounds in bump\+/);
    expect([rep.isWrite, rep.size]).toEqual([false, 4n]);
    const l = lines(rep);
    expect(l.slice(l.indexOf("The buggy address belongs to the variable:"), l.indexOf("The buggy address belongs to the variable:") + 2))
      .toEqual(["The buggy address belongs to the variable:", " counters+0x28/0x60"]);   // kallsyms: the size runs to the next symbol (redzone included)
  });

  it("stack_overflow: stack-out-of-bounds with the guest's frame and object", async () => {
    const r = run(boot({}, build), "stack_overflow");
    expect(r.exitCode).toBe(0);
    const rep = only(r);
    expect(rep.title).toMatch(/^BUG: KASAN: stack-out-of-bounds in parse_tag\+/);
    expect([rep.isWrite, rep.size]).toEqual([true, 1n]);
    const l = lines(rep);
    const at = l.indexOf("The buggy address belongs to stack of task stack_overflow/100");
    expect(at).toBeGreaterThan(0);
    expect(l[at + 1]).toBe(" and is located at offset 32 in frame:");
    expect(l[at + 2]).toMatch(/^ parse_tag\+0x0\/0x[0-9a-f]+$/);
    expect(l.slice(at + 3, at + 6)).toEqual(["", "This frame has 1 object:", " [16, 32) 'tag'"]);
    await expect(rep.text + "\n").toMatchFileSnapshot("__snapshots__/stack_overflow.txt");
  });

  it("clean: no report, the program's output, exit 0", () => {
    const e = boot({}, build);
    const r = run(e, "clean");
    expect([r.status, r.exitCode, r.stdout, r.reports]).toEqual(["exit", 0, "shadowfence guest:9 19\n", []]);
    expect(e.reports()).toEqual([]);
  });

  it("wordfreq: the planted off-by-one in a real-size program", () => {
    const r = run(boot({}, build), "wordfreq", ["--sample", "-n", "3"]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe("129 words, 67 distinct, 128 buckets, 1 arena chunks\n    15 the\n    12 of\n    11 was\n");
    const rep = only(r);
    expect(rep.title).toMatch(/^BUG: KASAN: slab-out-of-bounds in long_word_copy\+/);
    expect([rep.isWrite, rep.size]).toEqual([true, 1n]);
    expect(rep.kasan!.object).toMatchObject({ relation: "to the right", bytes: 0 });
    expect(names(rep.kasan!.allocStack).slice(3, 6)).toEqual(["long_word_copy", "table_add", "main"]);
  });
});
