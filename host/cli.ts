#!/usr/bin/env node
// The shadowfence command line.
import { Command, Option } from "commander";
import { createRequire } from "node:module";
import { createEngine, ConfigError, EnginePanicError } from "./index.js";
import { DEMO_CASES, INITCALL_FRAMES } from "./demo.js";
import type { KunitSuite } from "./kunit/runner.js";
import type { Table } from "../bench/common.js";

const require = createRequire(import.meta.url);
const pkg = require("../../package.json") as { version: string };

const program = new Command();
program
  .name("shadowfence")
  .description("The Linux kernel's KASAN, KASAN_VMALLOC and KFENCE as a WebAssembly memory engine")
  .version(pkg.version);

const cmdlineOption = () => new Option("--cmdline <params>", "kernel command line, e.g. \"kasan=on kfence.sample_interval=100\"").default("");

program
  .command("demo")
  .description("boot the engine and show real KASAN/KFENCE reports and an oops")
  .addOption(cmdlineOption())
  .option("--json", "print reports as JSON instead of text")
  .action(async (opts: { cmdline: string; json?: boolean }) => {
    const engine = await createEngine({ cmdline: `kasan_multi_shot ${opts.cmdline}` });
    engine.stackSuffix = INITCALL_FRAMES;
    if (!opts.json) process.stdout.write(engine.dmesg() + "\n");
    const out: unknown[] = [];
    for (const c of DEMO_CASES) {
      engine.takeReports();
      if (!opts.json) process.stdout.write(`### ${c.name}: ${c.describe}\n\n`);
      c.run(engine);
      for (const r of engine.takeReports()) {
        if (opts.json) out.push({ case: c.name, kind: r.kind, type: r.type, address: "0x" + r.address.toString(16), text: r.text });
        else process.stdout.write(r.text + "\n\n");
      }
    }
    if (opts.json) process.stdout.write(JSON.stringify(out, null, 2) + "\n");
  });

// ── kunit / bench (vmalloc) ─────────────────────────────────────────────────
const KUNIT_SUITES: Record<string, () => Promise<KunitSuite>> = {
  vmalloc: async () => (await import("./kunit/vmalloc_test.js")).vmallocSuite,
};
program
  .command("kunit")
  .description(`run a KUnit suite and print KTAP (suites: ${Object.keys(KUNIT_SUITES).join(", ")})`)
  .argument("<suite>", "suite to run")
  .addOption(cmdlineOption())
  .option("--case <names...>", "run only these cases")
  .action(async (name: string, opts: { cmdline: string; case?: string[] }) => {
    const load = KUNIT_SUITES[name];
    if (!load) throw new RangeError(`unknown KUnit suite ${JSON.stringify(name)}: expected one of ${Object.keys(KUNIT_SUITES).join(", ")}`);
    const { runSuite } = await import("./kunit/runner.js");
    const { ktap, results } = runSuite(await load(), { cmdline: opts.cmdline }, opts.case);
    process.stdout.write(ktap);
    if (results.some((r) => r.status === "not ok")) process.exitCode = 1;
  });

const BENCH_SUITES: Record<string, () => Promise<{ run(opts?: { loops?: number }): Promise<Table[]> }>> = {
  vmalloc: () => import("../bench/vmalloc.js"),
};
program
  .command("bench")
  .description(`run a benchmark and print its tables (suites: ${Object.keys(BENCH_SUITES).join(", ")})`)
  .argument("<suite>", "benchmark to run")
  .option("--loops <n>", "test_loop_count for the looping tests (default: about a minute in all)", (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`--loops must be a positive integer, got ${v}`);
    return n;
  })
  .action(async (name: string, opts: { loops?: number }) => {
    const load = BENCH_SUITES[name];
    if (!load) throw new RangeError(`unknown benchmark ${JSON.stringify(name)}: expected one of ${Object.keys(BENCH_SUITES).join(", ")}`);
    const { printTable } = await import("../bench/common.js");
    for (const t of await (await load()).run({ loops: opts.loops })) printTable(t);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof EnginePanicError || err instanceof RangeError || err instanceof TypeError) {
    process.stderr.write(`shadowfence: ${(err as Error).message}\n`);
    process.exit(2);
  }
  throw err;
});
