// Bounded host memory: the printk ring (log_buf_len=) and the retained report
// objects (shadowfence.max_reports) drop their oldest entries, count them and
// say so, however many reports a run raises.
import { describe, it, expect } from "vitest";
import * as abi from "../abi/abi.js";
import { resolveOptions, ConfigError, logBufLen } from "../host/config.js";
import { OpWriter, type TapeHeader } from "../host/fuzz/tape.js";
import { TapeExecutor } from "../host/fuzz/exec.js";
import { boot } from "./helpers.js";
import { guestBytes, haveToolchain } from "./guest/build.js";
import type { Engine } from "../host/engine.js";

const header = (): TapeHeader => ({
  slots: 1, cmdline: "kasan_multi_shot", profile: "test", seed: 1, unit: 0, caches: [], tasks: ["sf-fuzz/0"],
  sites: [{ name: "site_alloc", offset: 0x10, size: 0x80 }, { name: "site_uaf", offset: 0x2b, size: 0x100 }],
});

/** `n` use-after-free reads of one object, run by the tape interpreter, every report published with its text. */
function useAfterFree(e: Engine, n: number): void {
  const x = new TapeExecutor(e, header());
  const w = new OpWriter();
  w.sized(abi.FZ_KMALLOC, 0, 0, 64);
  w.free(abi.FZ_KFREE, 0, 0);
  x.run(w.bytes(), 2, 0);
  const chunk = new OpWriter();
  const per = 4096;
  for (let i = 0; i < per; i++) chunk.access(abi.FZ_LOAD1, 1, 0, i % 64);
  let op = 2;
  for (let left = n; left > 0; left -= per) {
    const k = Math.min(per, left);
    x.run(chunk.bytes().subarray(0, k * 9), k, op, { onFinding: () => true });
    op += k;
  }
  x.finish();
}

describe("log_buf_len=", () => {
  it("is read as memparse() and log_buf_len_update() read it", () => {
    const size = (cmdline: string) => logBufLen(resolveOptions({ cmdline }));
    expect(size("")).toBe(1 << 18);                         // x86_64_defconfig: CONFIG_LOG_BUF_SHIFT=18
    expect(size("arch=arm64")).toBe(1 << 17);               // the Kconfig default
    expect(size("log_buf_len=1M")).toBe(1 << 20);
    expect(size("log_buf_len=300k")).toBe(512 << 10);       // rounded up to a power of two
    expect(size("log_buf_len=0x100001")).toBe(2 << 20);
    expect(size("log_buf_len=4k")).toBe(1 << 18);           // smaller than the built-in buffer: ignored
    expect(logBufLen(resolveOptions({ logBufLen: 3_000_000 }))).toBe(4 << 20);
    const o = boot({ cmdline: "log_buf_len=1M" });
    expect(o.stats().printk.logBufLen).toBe(1 << 20);
    expect(o.dmesg()).toMatch(/\] log_buf_len: 1048576 bytes\n/);
    expect(boot().dmesg()).not.toMatch(/log_buf_len:/);
  });

  it.each([
    ["log_buf_len=lots", /invalid value "lots" for log_buf_len: expected a size in bytes with an optional K, M or G suffix, at most 256M/],
    ["log_buf_len=1G", /invalid value "1G" for log_buf_len/],
    ["log_buf_len=-1", /invalid value "-1" for log_buf_len/],
    ["log_buf_len", /invalid value undefined for log_buf_len/],
    ["shadowfence.max_reports=0", /invalid value "0" for shadowfence.max_reports: expected an integer from 1 to 1000000/],
  ])("rejects %s", (cmdline, msg) => {
    expect(() => resolveOptions({ cmdline })).toThrow(ConfigError);
    expect(() => resolveOptions({ cmdline })).toThrow(msg);
  });
  it("rejects bad typed values", () => {
    expect(() => resolveOptions({ logBufLen: 1.5 })).toThrow(/invalid value 1.5 for log_buf_len/);
    expect(() => resolveOptions({ maxReports: -3 })).toThrow(/invalid value -3 for shadowfence.max_reports/);
  });
});

describe("bounded reports and dmesg", () => {
  it("drops the oldest report objects past shadowfence.max_reports, counts them, says so once", () => {
    const e = boot({ cmdline: "kasan_multi_shot shadowfence.max_reports=5" });
    const p = e.kmalloc(32);
    e.kfree(p);
    for (let i = 0; i < 3; i++) e.load(p, 1);
    expect(e.takeReports()).toHaveLength(3);
    for (let i = 0; i < 9; i++) e.load(p + BigInt(i), 1);
    const s = e.stats().reports;
    expect(s).toMatchObject({ total: 12, retained: 5, dropped: 7 });
    const all = e.reports();
    expect(all.map((r) => r.address)).toEqual([4n, 5n, 6n, 7n, 8n].map((i) => p + i));
    // takeReports(): the reports since the last take that are still retained
    expect(e.takeReports().map((r) => r.address)).toEqual(all.map((r) => r.address));
    expect(e.takeReports()).toEqual([]);
    e.load(p, 2);
    expect(e.takeReports().map((r) => [r.address, r.size])).toEqual([[p, 2n]]);
    const notes = e.dmesg().split("\n").filter((l) => l.includes("shadowfence: keeping"));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/\] shadowfence: keeping the newest 5 report objects \(shadowfence.max_reports\); older ones are dropped, stats\(\).reports.dropped counts them$/);
  });

  // The reported failure: 1.45 GB of heap at 200k reports and dmesg() throwing
  // RangeError near 240k. Every report here is formatted and published (about
  // 40 us each); memory is judged by what the engine retains, not by timing or
  // heap size.
  it("keeps the newest reports and log_buf_len bytes of log over 1M reports", () => {
    const n = 1_000_000;
    const e = boot({ cmdline: "kasan_multi_shot" });
    const before = e.stats().reports.total;
    useAfterFree(e, n);
    const s = e.stats();
    const total = s.reports.total - before;
    expect(total).toBe(n);
    expect(s.reports.lost).toBe(0);
    expect(s.reports.retained).toBe(10_000);
    expect(s.reports.dropped).toBe(s.reports.total - 10_000);
    const all = e.reports();
    expect(all).toHaveLength(10_000);
    // the newest report is intact, line by line where the text is the tape's
    const last = all[all.length - 1];
    const lines = last.text.split("\n");
    expect(lines[0]).toBe("==================================================================");
    expect(lines[1]).toBe("BUG: KASAN: slab-use-after-free in site_uaf+0x2b/0x100");
    expect(lines[2]).toMatch(/^Read of size 1 at addr ffff888[0-9a-f]{9} by task sf-fuzz\/0\/1000$/);
    expect(lines[lines.length - 1]).toBe("==================================================================");
    expect(last.raw.seq).toBe(all[0].raw.seq + 9_999);
    // dmesg: at most log_buf_len bytes, the gap announced where it is, the newest report at the end
    const d = e.dmesg();
    expect(s.printk.logBufLen).toBe(1 << 18);
    expect(d.length).toBeLessThanOrEqual(s.printk.logBufLen);
    const dl = d.split("\n");
    expect(dl[0]).toBe(`** ${s.printk.dropped} printk messages dropped **`);
    expect(s.printk.dropped).toBeGreaterThan(n * 10);
    expect(dl[1]).toMatch(/^\[ *\d+\.\d{6}\] /);
    expect(d.endsWith(lines.map((l) => `${dl[dl.length - 2].slice(0, 15)}${l}`).join("\n") + "\n")).toBe(true);
    expect(s.printk.records).toBe(dl.length - 2);
  }, 600_000);

  it.skipIf(!haveToolchain())("keeps the newest shadowfence.max_reports of a guest's reports and counts the rest", () => {
    const e = boot({ cmdline: "kasan_multi_shot shadowfence.max_reports=7" });
    let seen = 0;
    const r = e.runGuest(guestBytes({ src: "test/guest/c/many_reports.c" }), { name: "many_reports", args: ["50"], onReport: () => seen++ });
    expect(seen).toBe(50);
    expect(r.reports).toHaveLength(7);
    expect(r.reportsDropped).toBe(43);
    expect(r.reports.every((x) => x.type === "slab-use-after-free")).toBe(true);
    expect(r.reports.map((x) => x.seq)).toEqual(e.reports().map((x) => x.seq));
    expect(e.stats().reports).toMatchObject({ retained: 7, dropped: 43 });
  });
});
