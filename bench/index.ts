// `npm run bench -- [suite…] [--loops N]`: run the named suites (or all) and print their tables.
import { Command, InvalidArgumentError } from "commander";
import { printTable } from "./common.js";
import { BENCH_SUITES as SUITES, checkCpusOption, checkCpusSuites } from "./suites.js";

const program = new Command("npm run bench --")
  .argument("[suites...]", `benchmarks to run: ${Object.keys(SUITES).join(", ")}, or all (the default)`)
  .option("--loops <n>", "test_loop_count for the suites that loop (vmalloc)", (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`a positive integer, got ${v}`);
    return n;
  })
  .option("--cpus <n>", "CPUs running the work at once, for vmalloc (its \"Sequential, N cpus\" table)", (v) => {
    try { return checkCpusOption(v); } catch (e) { throw new InvalidArgumentError((e as Error).message); }
  })
  .action(async (wanted: string[], opts: { loops?: number; cpus?: number }) => {
    const names = wanted.length === 0 || wanted.includes("all") ? Object.keys(SUITES) : wanted;
    const unknown = names.find((n) => !SUITES[n]);
    if (unknown !== undefined) program.error(`unknown suite ${JSON.stringify(unknown)}: expected one of ${Object.keys(SUITES).join(", ")}, all`, { exitCode: 2 });
    try { checkCpusSuites(names, opts.cpus); } catch (e) { program.error((e as Error).message, { exitCode: 2 }); }
    for (const n of names) {
      const mod = await SUITES[n]();
      for (const t of await mod.run({ loops: opts.loops, cpus: opts.cpus })) printTable(t);
    }
  });

program.parseAsync().catch((e) => {
  console.error(e);
  process.exit(1);
});
