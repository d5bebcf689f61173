// Report callbacks (runGuest's onReport) run while the engine publishes a
// report: engine calls from inside get EngineBusyError, decided in one place;
// reads (stats, dmesg) work; a callback that throws ends the run with its
// error; and a guest's result never holds another guest's reports.
import { describe, it, expect } from "vitest";
import { boot, BUILDS } from "../helpers.js";
import { guestBytes, haveToolchain } from "../guest/build.js";
import { EngineBusyError } from "../../host/engine.js";

const UAF = { src: "examples/use_after_free.c" };
const OVERFLOW = { src: "examples/heap_overflow.c" };

describe.skipIf(!haveToolchain()).each(BUILDS)("report callbacks (%s core)", (build) => {
  it("an engine call from onReport is EngineBusyError naming the call; the next guest sees only its own reports", () => {
    const e = boot({ cmdline: "kasan_multi_shot" }, build);
    let seen = 0;
    let err: unknown;
    try {
      e.runGuest(guestBytes(UAF), { name: "uaf", onReport: () => { seen++; e.kmalloc(8); } });
    } catch (x) {
      err = x;
    }
    expect(err).toBeInstanceOf(EngineBusyError);
    expect((err as Error).message).toBe("engine.kmalloc() cannot be called from a report callback (the engine is publishing a report); " +
      "act on the report after the call that raised it returns");
    expect(seen).toBe(1);                          // once: the report is not published again for the nested call
    expect(e.reports().filter((r) => r.type === "slab-use-after-free")).toHaveLength(1);
    // the guest's name is data too: its comm is printable, 15 bytes at most
    const next = e.runGuest(guestBytes(OVERFLOW), { name: "over\nflow\u0007-and-more", pid: 101 });
    expect(next.reports.map((r) => r.type)).toEqual(["slab-out-of-bounds"]);
    expect(next.reports[0].comm).toBe("over?flow?-and-");
    expect(next.reports[0].text).toContain(" by task over?flow?-and-/101\n");
    expect(next.selfCheck).toEqual([]);
  });

  it("other engine calls are refused the same way; reads work inside the callback", () => {
    const e = boot({ cmdline: "kasan_multi_shot" }, build);
    for (const [call, name] of [[() => e.tick(1), "tick"], [() => e.setTask({ pid: 5 }), "setTask"],
      [() => e.rcu_barrier(), "rcu_barrier"], [() => e.kfence.sampleInterval = 5, "sampleInterval"],
      [() => e.load(0n, 1), "load"], [() => e.readBytes(0n, 1), "readBytes"], [() => e.createTask("t"), "createTask"],
      [() => e.exitTask(5), "exitTask"]] as Array<[() => void, string]>) {
      expect(() => e.runGuest(guestBytes(UAF), { pid: 200, onReport: () => call() }))
        .toThrow(new RegExp(`^engine\\.${name}\\(\\) cannot be called from a report callback`));
    }
    let dmesgHasIt = false, total = 0;
    const r = e.runGuest(guestBytes(UAF), { pid: 300, onReport: (rep) => {
      dmesgHasIt = e.dmesg().includes(rep.title);
      total = e.stats().reports.total;
    } });
    expect(r.reports.map((x) => x.type)).toEqual(["slab-use-after-free"]);
    expect(dmesgHasIt).toBe(true);
    expect(total).toBeGreaterThan(0);
  });

  it("a callback that throws ends the run with its error; the engine and the next guest are unaffected", () => {
    const e = boot({ cmdline: "kasan_multi_shot" }, build);
    expect(() => e.runGuest(guestBytes(UAF), { onReport: () => { throw new Error("listener failed"); } })).toThrow(/^listener failed$/);
    expect(e.selfCheck()).toEqual([]);
    const again = e.runGuest(guestBytes(OVERFLOW), { pid: 101, name: "overflow" });
    expect(again.reports.map((r) => r.type)).toEqual(["slab-out-of-bounds"]);
  });
});
