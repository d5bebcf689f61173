#!/usr/bin/env node
// The shadowfence command line.
import { Command, CommanderError, Option } from "commander";
import { createRequire } from "node:module";
import { createEngine, ConfigError, EnginePanicError, EngineBusyError } from "./index.js";
import { GuestError } from "./guest/runner.js";
import { DEMO_CASES, SMP_DEMO_CASES, INITCALL_FRAMES } from "./demo.js";
import { runSuite } from "./kunit/runner.js";
import { KUNIT_SUITES } from "./kunit/suites.js";
import { BENCH_SUITES, checkCpusOption, checkCpusSuites } from "../bench/suites.js";
import { runCommand, ccCommand } from "./guest/cli.js";
import { fuzzCommand, replayCommand } from "./fuzz/cli.js";
import { TapeError } from "./fuzz/tape.js";
import { registerCampaignCommands } from "./fuzz/campaign/cli.js";

const require = createRequire(import.meta.url);
const pkg = require("../../package.json") as { version: string };

// Exit statuses: 0 done, 1 a failure while running (a failed KUnit case, a file
// or pipe error), 2 a usage error (bad command, option, argument or parameter).
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

// A reader that goes away (`shadowfence demo | head -1`) ends the command with one line.
let stdoutClosed = false;
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (stdoutClosed) return;                 // later writes fail the same way: said once
  stdoutClosed = true;
  if (err.code !== "EPIPE") return fail(err);
  process.stderr.write("shadowfence: standard output was closed (EPIPE): output stopped\n", () => process.exit(EXIT_FAILURE));
});
process.stderr.on("error", () => process.exit(EXIT_FAILURE));     // nowhere left to say anything

/** One line on stderr for anything that ends the command, and the exit status for its kind. */
function fail(err: unknown): never {
  if (err instanceof CommanderError) {
    // commander printed its own one-line message (or the help / version)
    const done = err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help";
    process.exit(done ? 0 : EXIT_USAGE);
  }
  const e = err as NodeJS.ErrnoException;
  if (e instanceof ConfigError || e instanceof EnginePanicError || e instanceof RangeError || e instanceof TypeError ||
      e instanceof GuestError || e instanceof TapeError) {
    process.stderr.write(`shadowfence: ${e.message.split("\n")[0]}\n`);
    process.exit(EXIT_USAGE);
  }
  if (e instanceof EngineBusyError) {
    process.stderr.write(`shadowfence: ${e.message}\n`);
    process.exit(EXIT_FAILURE);
  }
  if (e && typeof e.code === "string" && typeof e.syscall === "string") {
    // a file-system or stream error: the path and what went wrong, no stack
    const what = FILE_ERRORS[e.code] ?? e.code;
    process.stderr.write(`shadowfence: ${e.path ? `${e.path}: ` : ""}${what}\n`);
    process.exit(EXIT_FAILURE);
  }
  // a bug of ours: one line, the stack only when asked for
  process.stderr.write(`shadowfence: internal error: ${e instanceof Error ? e.message.split("\n")[0] : String(err)}` +
    `${process.env.SHADOWFENCE_DEBUG ? `\n${(e as Error)?.stack ?? ""}` : " (SHADOWFENCE_DEBUG=1 shows where)"}\n`);
  process.exit(EXIT_FAILURE);
}
const FILE_ERRORS: Record<string, string> = {
  EISDIR: "is a directory", ENOTDIR: "a component of the path is not a directory", ENOENT: "no such file or directory",
  EEXIST: "already exists (remove it or choose another path)", EACCES: "permission denied", EPERM: "operation not permitted",
  ENOSPC: "no space left on the device", EROFS: "read-only file system", EPIPE: "the reader closed the pipe (EPIPE)",
  EMFILE: "too many open files", ENAMETOOLONG: "file name too long",
};

const program = new Command();
// usage errors come back here (exit status 2), for every subcommand defined below
program.exitOverride();
program.configureOutput({ outputError: (text, write) => write(`shadowfence: ${text.replace(/^error: /, "")}`) });
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
  .option("--slab", "run on SLAB (mm/slab.c of 6.1) instead of SLUB: shadowfence.slab=slab")
  .action(async (opts: { cmdline: string; json?: boolean; slab?: boolean }) => {
    const engine = await createEngine({ cmdline: `kasan_multi_shot no_hash_pointers ${opts.slab ? "shadowfence.slab=slab " : ""}${opts.cmdline}` });
    engine.stackSuffix = INITCALL_FRAMES;
    if (!opts.json) process.stdout.write(engine.dmesg() + "\n");
    const out: unknown[] = [];
    for (const c of [...DEMO_CASES, ...(engine.nrCpus > 1 ? SMP_DEMO_CASES : [])]) {
      engine.takeReports();
      if (!opts.json) process.stdout.write(`### ${c.name}: ${c.describe}\n\n`);
      c.run(engine);
      const reports = engine.takeReports();
      // e.g. sw_tags: a write inside the object's last 16-byte granule matches its tag
      if (!reports.length && !opts.json) process.stdout.write("(no report: this configuration does not detect it)\n\n");
      for (const r of reports) {
        if (opts.json) out.push({ case: c.name, kind: r.kind, type: r.type, address: "0x" + r.address.toString(16), text: r.text });
        else process.stdout.write(r.text + "\n\n");
      }
    }
    if (opts.json) process.stdout.write(JSON.stringify(out, null, 2) + "\n");
  });

program
  .command("kfence-stats")
  .description("run the demo, then print /sys/kernel/debug/kfence/stats (and objects)")
  .addOption(cmdlineOption())
  .option("--objects", "also print /sys/kernel/debug/kfence/objects")
  .option("--json", "print JSON instead of the debugfs text")
  .action(async (opts: { cmdline: string; objects?: boolean; json?: boolean }) => {
    const engine = await createEngine({ cmdline: `kasan_multi_shot no_hash_pointers ${opts.cmdline}` });
    engine.stackSuffix = INITCALL_FRAMES;
    for (const c of DEMO_CASES) c.run(engine);
    engine.takeReports();
    if (opts.json) {
      const out = { stats: engine.kfence.statsData(), ...(opts.objects ? { objects: engine.kfence.objectsData() } : {}) };
      process.stdout.write(JSON.stringify(out, (_k, v) => (typeof v === "bigint" ? "0x" + v.toString(16) : v), 2) + "\n");
      return;
    }
    process.stdout.write(engine.kfence.stats());
    if (opts.objects) process.stdout.write(engine.kfence.objects());
  });

program
  .command("kunit")
  .description(`run a KUnit suite and print KTAP (suites: ${Object.keys(KUNIT_SUITES).join(", ")})`)
  .argument("<suite>", "suite name")
  .argument("[cases...]", "run only these cases")
  .addOption(cmdlineOption())
  .option("--reports", "also print each case's reports, inside its subtest before its ok line")
  .action(async (name: string, cases: string[], opts: { cmdline: string; reports?: boolean }) => {
    const load = KUNIT_SUITES[name];
    if (!load) throw new RangeError(`unknown KUnit suite ${JSON.stringify(name)}: expected one of ${Object.keys(KUNIT_SUITES).join(", ")}`);
    const suite = await load();
    for (const c of cases) {
      if (!suite.cases.some((k) => k.name === c)) throw new RangeError(`suite ${name} has no case ${JSON.stringify(c)}`);
    }
    const { ktap, ok } = runSuite(suite, { cmdline: opts.cmdline }, cases.length ? cases : undefined, {}, { reports: opts.reports });
    process.stdout.write(ktap);
    if (!ok) process.exitCode = 1;
  });

program
  .command("bench")
  .description(`run a benchmark and print its tables (suites: ${Object.keys(BENCH_SUITES).join(", ")})`)
  .argument("<suite>", "benchmark to run")
  .option("--loops <n>", "test_loop_count for the looping tests (default: about a minute in all)", (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`--loops must be a positive integer, got ${v}`);
    return n;
  })
  .option("--cpus <n>", "CPUs of one engine running the work at once (vmalloc: the \"Sequential, N cpus\" table)", checkCpusOption)
  .action(async (name: string, opts: { loops?: number; cpus?: number }) => {
    const load = BENCH_SUITES[name];
    if (!load) throw new RangeError(`unknown benchmark ${JSON.stringify(name)}: expected one of ${Object.keys(BENCH_SUITES).join(", ")}`);
    checkCpusSuites([name], opts.cpus);
    const { printTable } = await import("../bench/common.js");
    for (const t of await (await load()).run({ loops: opts.loops, cpus: opts.cpus })) printTable(t);
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
  .option("--timeout <seconds>", "stop the guest after this many seconds (exit status 124; no limit by default)")
  .option("--no-leaks", "do not scan for leaked heap objects at exit (kmemleak; on by default, as LeakSanitizer)")
  .option("--leaks-exit-code <n>", "exit with status n when the scan finds leaks (default: the guest's own status)")
  .option("--cpu <n>", "run the guest as a task on CPU n, as taskset -c n would (0 by default; nr_cpus= in --cmdline sets the CPUs)")
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

// ── fuzz ──
program
  .command("fuzz")
  .description("run seeded fuzz workloads on worker threads; deduplicate reports, shrink one reproducer tape per bug")
  .option("--seconds <s>", "run for this long (default 10 when --ops is not given)")
  .option("--ops <n>", "run exactly this many ops (deterministic: same seed, same bugs, any number of workers)")
  .option("--workers <n>", "worker threads, one engine each (default: all cores, divided by --cpus)")
  .option("--cpus <n>", "CPUs each unit runs on at once, their threads interleaving op by op (1..nr_cpus, at most 8; default 1)")
  .option("--segment-ops <n>", "with --cpus: ops between two barriers, where slots change CPU (1..16384, default 8192)")
  .option("--seed <n>", "seed of the workload", "1")
  .addOption(new Option("--profile <p>", "operation mix").choices(["slab-churn", "vmalloc-heavy", "mixed"]).default("mixed"))
  .addOption(cmdlineOption())
  .option("--out <dir>", "where reproducers and the summary go", "fuzz-out")
  .option("--plant <rates>", "planted bugs per op: oob=2e-6,underflow=2e-6,uaf=2e-6,double-free=1e-6,invalid-free=1e-6 (the default), or none")
  .option("--check", "compare every verdict of the engine with the oracle (generic KASAN, KFENCE off; planted bugs only read)")
  .option("--study <what>", "kfence: measure KFENCE's detection probability per bug class against the sampling model")
  .option("--unit-ops <n>", "ops per work unit (each on a fresh engine)")
  .option("--no-minimise", "keep the unshrunk reproducers (faster)")
  .option("--max-output <size>", "byte budget of the output folder (K/M/G suffix; default 256M)")
  .option("--max-reproducer <size>", "largest reproducer written as a tape, larger ones by reference (default 1M)")
  .option("--unit-timeout <s>", "seconds a unit may run before its worker is stopped (default 120)")
  .option("--no-progress", "no progress bar")
  .option("--json", "print the summary as JSON")
  .action(fuzzCommand);
registerCampaignCommands(program);
program
  .command("replay")
  .description("replay a tape (a fuzz reproducer) on a fresh engine and print its reports")
  .argument("<tape>", "the .tape file, or a .ref reproducer stored by reference")
  .addOption(cmdlineOption())
  .option("--ops", "list the tape's ops instead")
  .option("--check", "replay with the oracle checking every verdict")
  .option("--json", "reports as JSON")
  .action(replayCommand);

// ── the browser playground ──
program
  .command("serve")
  .description("serve the browser playground (dist/web) on 127.0.0.1, cross-origin isolated; prints its URL")
  .option("--port <n>", "port (0: any free port)", "8080")
  .option("--host <addr>", "interface to bind", "127.0.0.1")
  .action(async (opts: { port: string; host: string }) => {
    const { serve, checkPort } = await import("./web/playground/serve.js");
    const s = await serve({ port: checkPort(opts.port), host: opts.host });
    process.stdout.write(`shadowfence playground: ${s.url}\n`);
  });

program.parseAsync(process.argv).catch(fail);
