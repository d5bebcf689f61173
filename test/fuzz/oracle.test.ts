// The differential oracle: it agrees with the engine over millions of ops on
// every profile (planted bugs included), predicting almost every verdict
// exactly; and it catches a wrong verdict, a wrong status and an allocator
// that hands out live memory (so agreement means something).
import { describe, it, expect } from "vitest";
import * as abi from "../../abi/abi.js";
import { boot } from "../helpers.js";
import { checkStream, checkCmdline, oracleFacts, checkTape } from "../../host/fuzz/check.js";
import { Oracle, quarantineWindow } from "../../host/fuzz/oracle.js";
import { Generator, generateTape, type Profile } from "../../host/fuzz/generator.js";
import { TapeExecutor, replay, type Finding } from "../../host/fuzz/exec.js";
import { OpWriter, type TapeHeader } from "../../host/fuzz/tape.js";

const PLANT = { oob: 1e-4, underflow: 1e-4, uaf: 1e-4, "double-free": 1e-4, "invalid-free": 1e-4 };

describe("differential oracle", () => {
  // 5.5 million ops in all; ram=256 gives the quarantine a budget the oracle can rely on
  const runs: Array<[Profile, number, number]> = [["slab-churn", 2_500_000, 21], ["mixed", 2_000_000, 22], ["vmalloc-heavy", 1_000_000, 23]];
  it.each(runs)("agrees with every verdict on %s (%i ops, planted bugs)", (profile, ops, seed) => {
    const r = checkStream({ seed, profile, plant: PLANT, plantWrites: false }, ops, "ram=256");
    expect(r.disagreement && `op ${r.disagreement.op}: ${r.disagreement.what}: expected ${r.disagreement.expected}, got ${r.disagreement.got}`).toBeUndefined();
    expect(r.ops).toBe(ops);
    expect(r.quarantineWindow).toBeGreaterThan(1 << 20);
    expect(r.reports).toBeGreaterThan(ops * 4e-4);
    // nearly everything predicted exactly; the rest (an underflow off the slab's first page,
    // a vmalloc guard page) bounded
    expect(r.certain / ops).toBeGreaterThan(0.9999);
  });

  it("computes the quarantine's guaranteed window from the kernel's budget rules", () => {
    const f = { arch: "x86_64" as const, nrCpus: 2, quarantine: -1, kmallocSlot: [], cacheSlot: [] };
    expect(quarantineWindow({ ...f, ramMb: 128 })).toBe(0);                  // 4 MiB - 2 MiB per-CPU leaves less than a batch
    expect(quarantineWindow({ ...f, ramMb: 256 })).toBe(8 * 2 ** 20 - 2 * 2 ** 20 - 2 ** 20 - 2 * 2 ** 20 - 16384);
    expect(quarantineWindow({ ...f, ramMb: 256, quarantine: 0 })).toBe(0);
  });

  it("only runs in the configuration it models", () => {
    expect(checkCmdline("ram=256")).toBe("ram=256 kasan_multi_shot kfence.sample_interval=0");
    expect(() => checkCmdline("kasan=off")).toThrow("--check models generic KASAN (kasan=on kasan.mode=generic)");
    expect(() => checkCmdline("kasan.fault=panic")).toThrow("--check models kasan.fault=report");
  });

  // one chunk run with the log on, then judged with a doctored verdict
  function judged(tamper: (findings: Map<number, Finding[]>, log: DataView) => void) {
    const cmd = checkCmdline("ram=256");
    const e = boot({ cmdline: cmd });
    const g = new Generator({ seed: 5, profile: "slab-churn", plant: { oob: 5e-3, uaf: 5e-3 }, plantWrites: false, cmdline: cmd }, e);
    const x = new TapeExecutor(e, g.header);
    const oracle = new Oracle(g.header, oracleFacts(e, x));
    const { ops, bytes } = g.fillBuffer(abi.FZ_LOG_OPS);
    const body = g.bufferView(bytes).slice();
    const byOp = new Map<number, Finding[]>();
    x.runBuffer(bytes, ops, 0, { log: true, onFinding: (f) => { const l = byOp.get(f.op) ?? []; l.push(f); byOp.set(f.op, l); return false; } });
    const log = new DataView(e.memory.buffer, e.exports.fuzz_log(), ops * abi.FZ_LOG_SIZE);
    tamper(byOp, log);
    return { d: oracle.check(body, 0, log, byOp), byOp };
  }

  it("catches a missing report, a wrong status, and live memory handed out twice", () => {
    expect(judged(() => {}).d).toBeUndefined();
    // a report the engine did not make
    let first = -1;
    const missing = judged((byOp) => { first = Math.min(...byOp.keys()); byOp.delete(first); }).d!;
    expect(missing.op).toBe(first);
    expect(missing.expected).toMatch(/^done \["kasan:(slab-out-of-bounds|slab-use-after-free):R@[0-9a-f]+"\]$/);
    expect(missing.got).toBe("done []");
    // an op the engine claims it skipped
    const skipped = judged((_, log) => log.setUint32(3 * abi.FZ_LOG_SIZE + abi.FZL_STATUS, abi.FZS_UNSAFE, true)).d!;
    expect(skipped.op).toBe(3);
    expect(skipped.got).toMatch(/^unsafe page /);
    // an allocation placed on top of a live object: the first two allocations are ops 0 and 1
    const twice = judged((_, log) => {
      for (const f of [abi.FZL_ADDR, abi.FZL_HOME_LO, abi.FZL_HOME_HI]) {
        log.setBigUint64(1 * abi.FZ_LOG_SIZE + f, log.getBigUint64(0 * abi.FZ_LOG_SIZE + f, true), true);
      }
    }).d!;
    expect(twice.op).toBe(1);
    expect(twice.what).toMatch(/allocated memory at \+0 is still a live object's/);
  });

  it("checks a tape file's ops (replay --check)", () => {
    const t = generateTape({ seed: 8, profile: "mixed", plant: { "double-free": 1e-3, "invalid-free": 1e-3 }, plantWrites: false }, 60_000);
    expect(checkTape(t, "ram=256")).toBeUndefined();
    // a hand-made tape: the oracle's exact verdicts for a double free and a krealloc in place
    const h: TapeHeader = { ...t.header, cmdline: "" };
    const w = new OpWriter();
    w.sized(abi.FZ_KMALLOC, 0, 0, 100);
    w.sized(abi.FZ_KREALLOC, 0, 0, 120);          // kmalloc-128: in place
    w.access(abi.FZ_LOAD8, 0, 0, 112);            // fine now
    w.access(abi.FZ_LOAD1, 0, 0, 120);            // one past
    w.free(abi.FZ_KFREE, 0, 0);
    w.free(abi.FZ_KFREE, 0, 0);                   // double free
    const hand = { header: h, body: w.bytes().slice(), ops: w.ops };
    expect(checkTape(hand)).toBeUndefined();
    const r = replay(hand, { cmdline: "kasan_multi_shot kfence.sample_interval=0" });
    expect(r.findings.map((f) => [f.op, f.type])).toEqual([[3, "KASAN: slab-out-of-bounds Read"], [5, "KASAN: double-free"]]);
  });
});
