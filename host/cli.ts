#!/usr/bin/env node
// The shadowfence command line.
import { Command, Option } from "commander";
import { createRequire } from "node:module";
import { createEngine, ConfigError, EnginePanicError } from "./index.js";
import { GuestError } from "./guest/runner.js";
import { DEMO_CASES, INITCALL_FRAMES } from "./demo.js";
import { runCommand, ccCommand } from "./guest/cli.js";

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

// ── guests ──
program.enablePositionalOptions();
program
  .command("run")
  .description("run a WASI guest program (C built with shadowfence cc) on the engine; reports go to stderr")
  .argument("<prog>", "the guest .wasm")
  .argument("[args...]", "arguments for the guest (options too: everything after <prog> is the guest's)")
  .addOption(cmdlineOption())
  .addOption(new Option("--format <format>", "how reports are printed").choices(["text", "json"]).default("text"))
  .option("--dmesg", "print the kernel log of the boot first")
  .option("--dir <dir...>", "give the guest access to a directory (WASI preopen; none by default)")
  .passThroughOptions()
  .action(runCommand);
program
  .command("cc")
  .description("build a C guest with clang-16: shadowfence cc prog.c -o prog.wasm [--no-asan] [--kernel-abi] [-v] [clang flags]")
  .argument("<args...>", "sources, -o <out>, and flags for clang")
  .helpOption(false)
  .allowUnknownOption()
  .passThroughOptions()
  .action(ccCommand);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof EnginePanicError || err instanceof RangeError || err instanceof TypeError ||
      err instanceof GuestError) {
    process.stderr.write(`shadowfence: ${(err as Error).message}\n`);
    process.exit(2);
  }
  throw err;
});
