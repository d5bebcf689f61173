// `npm run bench -- <suite>`: run one suite (or all) and print its tables.
import { printTable, type Table } from "./common.js";

const SUITES: Record<string, () => Promise<{ run(): Promise<Table[]> }>> = {
  tlb: () => import("./tlb.js"),
  guest: () => import("./guest.js"),
};

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
  const names = wanted.length === 0 || wanted.includes("all") ? Object.keys(SUITES) : wanted;
  for (const n of names) {
    if (!SUITES[n]) {
      console.error(`unknown suite ${JSON.stringify(n)}: expected one of ${Object.keys(SUITES).join(", ")}, all`);
      process.exit(2);
    }
  }
  for (const n of names) {
    const mod = await SUITES[n]();
    for (const t of await mod.run()) printTable(t);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
