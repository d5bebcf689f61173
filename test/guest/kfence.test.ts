// Guests and KFENCE: a guest's kmalloc goes through the sampling gate like
// any other, and a guest write into a guard page is KFENCE's report, raised
// by the page-table walk of the guest's checked access. (Runs once KFENCE is
// in the core; until then the engine boots without it and this is skipped.)
import { describe, it, expect } from "vitest";
import { boot } from "../helpers.js";
import { guestBytes, haveToolchain } from "./build.js";

describe.skipIf(!haveToolchain())("guests and KFENCE", () => {
  it("a guest write into a KFENCE guard page is a KFENCE report naming the guest function", (ctx) => {
    const e = boot({ cmdline: "kfence.sample_interval=1 kasan_multi_shot" });
    if (!e.dmesg().includes("kfence: initialized")) ctx.skip();
    e.tick(10);
    const r = e.runGuest(guestBytes({ src: "test/guest/c/kfence.c" }), { name: "kfence" });
    const k = r.reports.find((x) => x.kind === "kfence");
    expect(k, r.reports.map((x) => x.title).join("\n")).toBeDefined();
    expect(k!.title).toMatch(/^BUG: KFENCE: out-of-bounds write in scribble\+0x[0-9a-f]+\/0x[0-9a-f]+$/);
    expect(r.selfCheck).toEqual([]);
  });
});
