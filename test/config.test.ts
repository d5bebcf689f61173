// The command line and the typed options: same meaning, clear errors.
import { describe, it, expect } from "vitest";
import { resolveOptions, ConfigError, MAX_RAM_MB } from "../host/config.js";
import { boot } from "./helpers.js";

describe("kernel command line", () => {
  it("means the same as the typed options", () => {
    const a = resolveOptions({ cmdline: "ram=64 kasan=on kasan.fault=panic kfence.sample_interval=10 kasan_multi_shot arch=arm64 kasan.mode=sw_tags" });
    const b = resolveOptions({ ram: 64, kasan: true, kasanFault: "panic", kfenceSampleInterval: 10, kasanMultiShot: true, arch: "arm64", kasanMode: "sw_tags" });
    const { cmdline: _a, ...ra } = a;
    const { cmdline: _b, ...rb } = b;
    expect(ra).toEqual(rb);
  });

  it("uses the kernel's defaults", () => {
    const o = resolveOptions();
    expect(o).toMatchObject({ ram: 128, arch: "x86_64", kasan: true, kasanMode: "generic", kasanFault: "report",
      kasanMultiShot: false, kfenceSampleInterval: 100, kfenceNumObjects: 255, kfenceSkipCoveredThresh: 75, kfenceBurst: 0 });
  });

  it.each([
    ["ram=0", /invalid value "0" for ram: expected an integer from 16 to \d+/],
    ["ram=-5", /invalid value "-5" for ram/],
    ["ram=lots", /invalid value "lots" for ram: expected an integer/],
    [`ram=${MAX_RAM_MB + 1}`, /for ram: expected an integer from 16 to/],
    ["kasan=maybe", /invalid value "maybe" for kasan: expected on, off/],
    ["kasan.fault=explode", /invalid value "explode" for kasan.fault: expected report, panic, panic_on_write/],
    ["kfence.sample_interval=-1", /kfence.sample_interval: expected an integer from 0/],
    ["fail_page_alloc=1,200,0,1", /fail_page_alloc: expected <interval>,<probability>,<space>,<times>/],
    ["kasan.mode=sw_tags", /kasan.mode=sw_tags needs arch=arm64/],
    ["mem=5M", /invalid value "5M" for mem: expected a size with an optional K, M or G suffix, from 16M/],
    ["mem=lots", /invalid value "lots" for mem/],
    ["mem=64X", /invalid value "64X" for mem/],
  ])("rejects %s", (cmdline, msg) => {
    expect(() => resolveOptions({ cmdline })).toThrow(ConfigError);
    expect(() => resolveOptions({ cmdline })).toThrow(msg);
  });

  it("reads mem=nn[KMG] as the kernel's memparse() does", () => {
    expect(resolveOptions({ cmdline: "mem=256M" }).ram).toBe(256);
    expect(resolveOptions({ cmdline: "mem=1G" }).ram).toBe(1024);
    expect(resolveOptions({ cmdline: "mem=65536k" }).ram).toBe(64);
    expect(resolveOptions({ cmdline: "mem=0x4000000" }).ram).toBe(64);
    expect(resolveOptions({ cmdline: "mem=100000000" }).ram).toBe(95);        // rounded down to MiB
    expect(resolveOptions({ cmdline: "mem=32M ram=48" }).ram).toBe(48);       // the later one wins
  });

  it("rejects bad typed values and unknown option names", () => {
    expect(() => resolveOptions({ ram: 0 })).toThrow(/invalid value 0 for ram/);
    expect(() => resolveOptions({ ram: 1.5 })).toThrow(/for ram/);
    expect(() => resolveOptions({ kasanFault: "nope" as never })).toThrow(/for kasan.fault: expected report, panic, panic_on_write/);
    expect(() => resolveOptions({ colour: "blue" } as never)).toThrow(/unknown option "colour"/);
  });

  it("reports unknown parameters the way the kernel does", () => {
    const e = boot({ cmdline: "kasan=on foo=bar quiet", ram: 32 });
    expect(e.dmesg()).toContain(`Unknown kernel command line parameters "foo=bar quiet", will be passed to user space.`);
    expect(e.dmesg()).toContain("Command line: kasan=on foo=bar quiet");
  });
});
