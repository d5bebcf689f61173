// `npm run bench -- [suite…] [--loops N]`: run the named suites (or all) and print their tables.
import { Command, InvalidArgumentError } from "commander";
import { printTable } from "./common.js";
import { BENCH_SUITES as SUITES } from "./suites.js";

const program = new Command("npm run bench --")
  .argument("[suites...]", `benchmarks to run: ${Object.keys(SUITES).join(", ")}, or all (the default)`)
  .option("--loops <n>", "test_loop_count for the suites that loop (vmalloc)", (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`a positive integer, got ${v}`);
    return n;
  })
  .action(async (wanted: string[], opts: { loops?: number }) => {
    const names = wanted.length === 0 || wanted.includes("all") ? Object.keys(SUITES) : wanted;
    const unknown = names.find((n) => !SUITES[n]);
    if (unknown !== undefined) program.error(`unknown suite ${JSON.stringify(unknown)}: expected one of ${Object.keys(SUITES).join(", ")}, all`, { exitCode: 2 });
    for (const n of names) {
      const mod = await SUITES[n]();
      for (const t of await mod.run({ loops: opts.loops })) printTable(t);
    }
  });

program.parseAsync().catch((e) => {
  console.error(e);
  process.exit(1);
});
