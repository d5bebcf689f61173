// Guests and KFENCE: a guest's kmalloc goes through the sampling gate like
// any other, and a guest write into a guard page is KFENCE's report, raised
// by the page-table walk of the guest's checked access.
import { describe, it, expect } from "vitest";
import { boot } from "../helpers.js";
import { guestBytes, haveToolchain } from "./build.js";

describe.skipIf(!haveToolchain())("guests and KFENCE", () => {
  it("a guest write into a KFENCE guard page is a KFENCE report naming the guest function", () => {
    // no_hash_pointers: the report's %p addresses are the raw ones the arithmetic below needs
    const e = boot({ cmdline: "kfence.sample_interval=1 kasan_multi_shot no_hash_pointers" });
    expect(e.dmesg()).toContain("kfence: initialized");
    e.tick(10);
    const r = e.runGuest(guestBytes({ src: "test/guest/c/kfence.c" }), { name: "kfence" });
    const k = r.reports.find((x) => x.kind === "kfence");
    expect(k, r.reports.map((x) => x.title).join("\n")).toBeDefined();
    expect(k!.title).toMatch(/^BUG: KFENCE: out-of-bounds write in scribble\+0x[0-9a-f]+\/0x[0-9a-f]+$/);
    const lines = k!.text.split("\n");
    // p[4096] from the object's start: 4096 bytes right of it, whichever page edge it sits on
    const at = lines.find((l) => l.startsWith("Out-of-bounds write at "))!;
    expect(at).toMatch(/^Out-of-bounds write at 0x[0-9a-f]{16} \(4096B right of kfence-#\d+\):$/);
    const obj = lines.find((l) => /^kfence-#\d+: /.test(l))!;
    expect(obj).toMatch(/^kfence-#\d+: 0x[0-9a-f]{16}-0x[0-9a-f]{16}, size=32, cache=kmalloc-32$/);
    const start = BigInt(obj.match(/: (0x[0-9a-f]+)-/)![1]);
    expect(BigInt(at.match(/at (0x[0-9a-f]+)/)![1])).toBe(start + 4096n);
    // the stacks are the guest's own frames
    expect(lines[lines.indexOf(at) + 1]).toMatch(/^ scribble\+0x[0-9a-f]+\/0x[0-9a-f]+$/);
    expect(lines[lines.indexOf(at) + 2]).toMatch(/^ main\+0x[0-9a-f]+\/0x[0-9a-f]+$/);
    const alloc = lines.findIndex((l) => /^allocated by task \d+ on cpu 0 at /.test(l));
    expect(lines[alloc + 1]).toMatch(/^ main\+0x[0-9a-f]+\/0x[0-9a-f]+$/);
    expect(r.selfCheck).toEqual([]);
  });
});
