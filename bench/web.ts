// `npm run bench -- web`: the playground's fuzz worker in headless Chromium
// against Node on the same work units (same profile, seed, units of 2^20 ops,
// planted bugs at the default rates), best of REPS each, in one run.
// Needs `npm run build` (dist/web) and Debian's chromium (CHROMIUM_PATH).
import { existsSync } from "node:fs";
import { serve } from "../host/web/playground/serve.js";
import { runUnit } from "../host/fuzz/unit.js";
import { DEFAULT_PLANT, type Profile } from "../host/fuzz/generator.js";
import { fmt, type Table } from "./common.js";

const UNIT = 1 << 20;
const UNITS = Number(process.env.SHADOWFENCE_BENCH_UNITS ?? 8);
const REPS = 3;
const PROFILES: Profile[] = ["mixed", "slab-churn"];

function nodeRate(profile: Profile): number {
  const t0 = performance.now();
  for (let unit = 0; unit < UNITS; unit++) {
    runUnit({ unit, ops: UNIT, seed: 1, profile, cmdline: "kasan_multi_shot", plant: DEFAULT_PLANT, plantWrites: true, check: false });
  }
  return (UNITS * UNIT) / ((performance.now() - t0) / 1000);
}

export async function run(): Promise<Table[]> {
  const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
  if (!existsSync(chromiumPath)) throw new RangeError(`bench web: ${chromiumPath} is missing (install Debian's chromium or set CHROMIUM_PATH)`);
  const { chromium } = await import("playwright-core");
  const served = await serve({ port: 0 });
  const browser = await chromium.launch({ executablePath: chromiumPath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
  const rows: Table["rows"] = [];
  try {
    const page = await browser.newPage();
    await page.goto(served.url);
    await page.waitForSelector("body[data-ready=true]", { timeout: 60000 });
    await page.click("#tab-fuzz");
    for (const profile of PROFILES) {
      let web = 0, node = 0;
      for (let rep = 0; rep < REPS; rep++) {
        await page.selectOption("#fuzz-profile", profile);
        await page.fill("#fuzz-ops", String(UNITS * UNIT));
        await page.click("#fuzz-start");
        await page.waitForSelector("#panel-fuzz[data-state=done]", { timeout: 600000 });
        web = Math.max(web, Number(await page.getAttribute("#panel-fuzz", "data-rate")));
        node = Math.max(node, nodeRate(profile));
      }
      rows.push([profile, fmt(node / 1e6), fmt(web / 1e6), `${((web / node) * 100).toFixed(0)}%`]);
    }
  } finally {
    await browser.close();
    await served.close();
  }
  return [{
    title: `fuzz workload, ${UNITS} units of 2^20 ops, seed 1, default planted bugs: Chromium Web Worker vs Node (best of ${REPS})`,
    columns: ["profile", "Node Mops/s", "browser worker Mops/s", "browser/Node"], rows,
    notes: ["Each unit boots a fresh engine, as `shadowfence fuzz` does; both sides run the same runUnit()."],
  }];
}
