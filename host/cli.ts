#!/usr/bin/env node
// The shadowfence command line.
import { Command, Option } from "commander";
import { createRequire } from "node:module";
import { createEngine, ConfigError, EnginePanicError } from "./index.js";
import { DEMO_CASES, INITCALL_FRAMES } from "./demo.js";
import { SUITES } from "./kunit/suites.js";
import { runSuite } from "./kunit/runner.js";

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

program
  .command("kunit")
  .description(`run a ported KUnit suite in the engine and print KTAP (suites: ${Object.keys(SUITES).join(", ")})`)
  .argument("<suite>", "suite name")
  .addOption(cmdlineOption())
  .option("--case <names...>", "run only these cases")
  .option("--reports", "also print every report the cases produced")
  .action((name: string, opts: { cmdline: string; case?: string[]; reports?: boolean }) => {
    const suite = SUITES[name];
    if (!suite) throw new RangeError(`unknown suite ${JSON.stringify(name)}: expected one of ${Object.keys(SUITES).join(", ")}`);
    const { ktap, results } = runSuite(suite, { cmdline: opts.cmdline }, opts.case);
    if (opts.reports) for (const r of results) for (const rep of r.reports) process.stdout.write(rep.text + "\n\n");
    process.stdout.write(ktap);
    process.exitCode = results.some((r) => r.status === "not ok") ? 1 : 0;
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof EnginePanicError || err instanceof RangeError || err instanceof TypeError) {
    process.stderr.write(`shadowfence: ${(err as Error).message}\n`);
    process.exit(2);
  }
  throw err;
});
