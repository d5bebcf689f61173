// The playground (dist/web/playground) served by the real `shadowfence serve`
// code on a free loopback port, driven in headless Chromium: every scenario's
// report title, the shadow granule and KFENCE page its picture marks (checked
// against the report's own text), a guest, a 1M-op fuzz run in a Worker
// (its bugs equal Node's for the same work unit), the KUnit list, the
// command-line editor. Screenshots go to test-results/playground/.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { spawn, spawnSync } from "node:child_process";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "./chromium.js";
import { serve, type Served } from "../../dist/host/web/playground/serve.js";
import { SCENARIOS } from "../../dist/host/web/playground/scenarios.js";
import { DEMO_CASES } from "../../dist/host/demo.js";
import { runUnit, type UnitJob } from "../../dist/host/fuzz/unit.js";
import { DEFAULT_PLANT } from "../../dist/host/fuzz/generator.js";
import { runSuite } from "../../dist/host/kunit/runner.js";
import { KUNIT_SUITES } from "../../dist/host/kunit/suites.js";
import { resolveOptions } from "../../dist/host/config.js";

const root = path.resolve(__dirname, "../..");
const SHOTS = path.join(root, "test-results/playground");

let served: Served;
let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(path.join(root, "dist/web/playground/index.html"))) throw new Error("dist/web/playground is missing: run `npm run build` first");
  mkdirSync(SHOTS, { recursive: true });
  served = await serve({ port: 0 });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  await page.goto(served.url);
  await page.waitForSelector("body[data-ready=true]", { timeout: 30000 });
}, 60000);

afterAll(async () => {
  await browser?.close();
  await served?.close();
});

const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

describe("shadowfence serve", () => {
  it("binds loopback, redirects / to the page, and sends the cross-origin isolation headers", async () => {
    expect(served.url).toBe(`http://127.0.0.1:${served.port}/playground/`);
    expect((served.server.address() as { address: string }).address).toBe("127.0.0.1");
    const top = await fetch(`http://127.0.0.1:${served.port}/`, { redirect: "manual" });
    expect(top.status).toBe(302);
    expect(top.headers.get("location")).toBe("/playground/");
    for (const f of ["playground/", "playground/main.js", "core.wasm", "playground/examples/clean.wasm"]) {
      const r = await fetch(`http://127.0.0.1:${served.port}/${f}`);
      expect(r.status, f).toBe(200);
      expect(r.headers.get("cross-origin-opener-policy")).toBe("same-origin");
      expect(r.headers.get("cross-origin-embedder-policy")).toBe("require-corp");
    }
    expect((await fetch(`http://127.0.0.1:${served.port}/core.wasm`)).headers.get("content-type")).toBe("application/wasm");
    // hostile paths and methods
    for (const bad of ["/..%2f..%2fpackage.json", "/playground/%00", "/nope.js", "/playground/examples/", "/%E0%A4%A"]) {
      expect((await fetch(`http://127.0.0.1:${served.port}${bad}`)).status, bad).toBeGreaterThanOrEqual(400);
    }
    expect((await fetch(`http://127.0.0.1:${served.port}/playground/`, { method: "POST" })).status).toBe(405);
    const dir = await fetch(`http://127.0.0.1:${served.port}/playground`, { redirect: "manual" });
    expect(dir.status).toBe(301);
    expect(dir.headers.get("location")).toBe("/playground/");
    expect(await page.evaluate("crossOriginIsolated")).toBe(true);
  });

  it("the CLI prints the URL it serves, and refuses a bad port in one line", async () => {
    const cli = path.join(root, "dist/host/cli.js");
    const bad = spawnSync(process.execPath, [cli, "serve", "--port", "70000"], { encoding: "utf8" });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe("shadowfence: --port must be an integer from 0 to 65535, got 70000\n");
    const child = spawn(process.execPath, [cli, "serve", "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (d) => { out += d; if (out.includes("\n")) resolve(out); });
        child.on("exit", (code) => reject(new Error(`serve exited with ${code}`)));
      });
      const m = /^shadowfence playground: (http:\/\/127\.0\.0\.1:\d+\/playground\/)\n$/.exec(line);
      expect(m, line).not.toBeNull();
      const r = await fetch(m![1]);
      expect(r.status).toBe(200);
      expect(await r.text()).toContain("<title>shadowfence playground");
    } finally {
      child.kill();
    }
  });
});

// The size budget the README states: everything the page loads (HTML, CSS,
// every script module including the workers', and its core: all of dist/web), without the
// example guests, which are fetched one at a time when run. A page fetches one of the two cores
// (core.smp.wasm where cross-origin isolated, core.wasm elsewhere): the larger is counted.
const PAGE_BUDGET = 640 * 1024;
const GUEST_BUDGET = 192 * 1024;
describe("playground size budget", () => {
  it(`the page with core.wasm fits ${PAGE_BUDGET / 1024} KiB, each example guest ${GUEST_BUDGET / 1024} KiB`, () => {
    const web = path.join(root, "dist/web");
    const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true })
      .flatMap((d) => (d.isDirectory() ? files(path.join(dir, d.name)) : [path.join(dir, d.name)]));
    // dist/web holds the library bundle's modules, which the page shares, and the page itself
    const pageFiles = files(web).filter((f) => !f.includes(`${path.sep}examples${path.sep}`));
    const cores = pageFiles.filter((f) => /[\\/]core(\.smp)?\.wasm$/.test(f)).map((f) => statSync(f).size);
    expect(cores).toHaveLength(2);
    const total = pageFiles.reduce((n, f) => n + statSync(f).size, 0) - Math.min(...cores);
    console.log(`playground page: ${pageFiles.length} files, ${total} bytes`);
    expect(total).toBeLessThanOrEqual(PAGE_BUDGET);
    for (const f of files(path.join(web, "playground/examples")).filter((f) => f.endsWith(".wasm"))) {
      expect(statSync(f).size, f).toBeLessThanOrEqual(GUEST_BUDGET);
    }
  });
});

/** The first report a scenario shows: title, text, and the granule/page its picture marks. */
async function showScenario(id: string) {
  await page.click(`#tab-scenarios`);
  await page.click(`button[data-scenario="${id}"]`);
  await page.waitForSelector(`#scenario-out[data-scenario="${id}"][data-state=done]`);
  return page.evaluate(`(() => {
    const views = [...document.querySelectorAll("#scenario-out .report-view")];
    return views.map((v) => ({
      kind: v.dataset.kind, type: v.dataset.type, title: v.querySelector("h3").textContent, text: v.querySelector("pre.report").textContent,
      bad: [...v.querySelectorAll(".shadow [data-bad]")].map((c) => ({ addr: c.dataset.addr, index: [...c.parentElement.children].indexOf(c) - 1,
        row: c.parentElement.querySelector(".saddr").textContent.trim(), granule: Number(v.querySelector(".shadow").dataset.granule) })),
      fault: [...v.querySelectorAll(".kfmap [data-fault]")].map((c) => ({ addr: c.dataset.addr, kind: c.dataset.kind, state: c.dataset.state })),
      links: [...v.querySelectorAll("a.addr")].map((a) => a.dataset.target).filter((t) => !document.getElementById(t)).length,
      linkCount: v.querySelectorAll("a.addr").length,
    }));
  })()`) as Promise<Array<{ kind: string; type: string; title: string; text: string; bad: Array<{ addr: string; index: number; row: string; granule: number }>;
    fault: Array<{ addr: string; kind: string; state: string }>; links: number; linkCount: number }>>;
}

describe("playground scenarios", () => {
  it.each(SCENARIOS.map((s) => [s.id, s] as const))("%s: the report title, and the picture marks the bad granule or page", async (id, s) => {
    const views = await showScenario(id);
    await shot(`scenario-${id}`);
    expect(views.length).toBeGreaterThan(0);
    const r = views[0];
    expect(r.type).toBe(s.expectType);
    const prefix = r.kind === "kasan" ? `BUG: KASAN: ${s.expectType} in ` : r.kind === "kfence" ? `BUG: KFENCE: ${s.expectType} in ` : "BUG: kernel NULL pointer dereference, address: 0000000000000018";
    expect(r.title.startsWith(prefix), r.title).toBe(true);
    // the caller is the demo function or the KUnit case, never the engine's or the page's own code
    const fn = s.demo ? DEMO_CASES.find((c) => c.name === s.demo)!.run.name : s.kunit!.name;
    if (r.kind !== "oops") expect(r.title).toMatch(new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}${fn}\\+0x[0-9a-f]+/0x[0-9a-f]+$`));
    expect(r.text).not.toMatch(/captureHostStack|runScenario|showScenario|runSuite/);
    expect(r.links).toBe(0);                         // every link has its target
    if (r.kind === "kasan" && /Memory state around the buggy address/.test(r.text)) {
      // the picture's bad granule is the kernel's caret: same row, same column
      const lines = r.text.split("\n");
      const at = lines.findIndex((l) => l.startsWith(">"));
      const rowAddr = lines[at].slice(1, 17);
      const caretGranule = (lines[at + 1].indexOf("^") - 19) / 3;
      expect(r.bad).toHaveLength(1);
      expect(r.bad[0].row).toBe(`>${rowAddr}`);
      expect(r.bad[0].index).toBe(caretGranule);
      // and it covers the reported access (the first bad byte lies in [addr, addr+size))
      const m = /(?:at addr|Free of addr) ([0-9a-f]{16})/.exec(r.text)!;
      const tagMask = r.bad[0].granule === 16 ? 0xff00000000000000n : 0n;
      const addr = BigInt("0x" + m[1]) | tagMask;
      const cell = BigInt("0x" + r.bad[0].addr);
      const size = /of size (\d+)/.exec(r.text);
      const end = addr + BigInt(size ? size[1] : 1);
      expect(cell < end && cell + BigInt(r.bad[0].granule) > addr - BigInt(r.bad[0].granule), `${r.bad[0].addr} vs ${m[1]}`).toBe(true);
      expect(r.linkCount).toBeGreaterThan(0);
    }
    if (r.kind === "kfence") {
      const m = /(?:at|of) 0x([0-9a-f]{16})/.exec(r.text.split("\n")[3] ?? "") ?? /(?:at|of) 0x([0-9a-f]{16})/.exec(r.text)!;
      const page4k = BigInt("0x" + m[1]) & ~0xfffn;
      expect(r.fault).toHaveLength(1);
      expect(BigInt("0x" + r.fault[0].addr)).toBe(page4k);
      const want = { "out-of-bounds read": "guard", "use-after-free read": "object", "memory corruption": "object", "invalid free": "object" }[s.expectType];
      expect(r.fault[0].kind).toBe(want);
      if (s.expectType === "use-after-free read") expect(r.fault[0].state).toBe("freed");
    }
  }, 60000);

  it("links: clicking an address in the report focuses its granule", async () => {
    await showScenario("slab-oob");
    const first = await page.$eval("#scenario-out a.addr", (a) => (a as HTMLElement).dataset.target!);
    await page.click("#scenario-out a.addr");
    expect(await page.evaluate("document.activeElement.id")).toBe(first);
    await page.emulateMedia({ colorScheme: "dark" });
    await shot("dark-slab-oob");
    await showScenario("kfence-oob");
    await shot("dark-kfence-oob");
    await page.emulateMedia({ colorScheme: "light" });
  });

  it("the KFENCE panel draws the pool with the faulting page and the debugfs stats", async () => {
    const views = await showScenario("kfence-uaf");
    await page.click("#tab-kfence");
    const fault = await page.$eval("#kfence-out .kfmap [data-fault]", (c) => ({ ...(c as HTMLElement).dataset }));
    expect(fault.kind).toBe("object");
    expect(fault.state).toBe("freed");
    expect(BigInt("0x" + fault.addr)).toBe(BigInt("0x" + views[0].fault[0].addr));
    const pages = await page.$$eval("#kfence-out .kfmap [data-page]", (c) => c.length);
    expect(pages).toBe((255 + 1) * 2);
    const stats = await page.textContent("#kfence-stats");
    expect(stats).toMatch(/^enabled: 1\ncurrently allocated: \d+\ntotal allocations: \d+\ntotal frees: \d+\n/);
    expect(stats).toContain("total bugs: 1\n");
    const idx = /\(in kfence-#(\d+)\):|kfence-#(\d+)\)/.exec(views[0].text)!;
    expect(await page.textContent("#kfence-object")).toMatch(new RegExp(`^kfence-#${idx[1] ?? idx[2]}: 0x[0-9a-f]{16}-0x[0-9a-f]{16}, size=64, cache=kmalloc-64\n\nallocated by task 1 `));
    await shot("kfence");
  });
});

describe("playground panels", () => {
  it("runs a prebuilt example guest", async () => {
    await page.click("#tab-guests");
    await page.selectOption("#guest-select", "use_after_free");
    await page.click("#guest-run");
    await page.waitForSelector("#guest-out[data-state=done]");
    expect(await page.textContent("#guest-stdout")).toBe("refs=0\n");
    expect(await page.textContent("#guest-status")).toMatch(/^use_after_free: exit, exit status 0; 1 report\(s\)$/);
    expect(await page.textContent("#guest-out .report-view h3")).toMatch(/^BUG: KASAN: slab-use-after-free in report_session\+0x[0-9a-f]+\/0x[0-9a-f]+$/);
    expect(await page.$$eval("#guest-out .shadow [data-bad]", (c) => c.length)).toBe(1);
    await shot("guest");
  });

  it("refuses a .wasm that is not a guest in one line, without a console error", async () => {
    await page.setInputFiles("#guest-file", { name: "junk.wasm", mimeType: "application/wasm", buffer: Buffer.from("\0asm junk") });
    await page.waitForSelector("#guest-status.error");
    const msg = (await page.textContent("#guest-status"))!;
    expect(msg.startsWith("junk: ")).toBe(true);
    expect(msg).not.toMatch(/RuntimeError|TypeError|RangeError|CompileError/);
    expect(msg.split("\n")).toHaveLength(1);
  });

  it("runs a 1M-op fuzz workload in a Worker and finds the bugs Node finds for the same unit", async () => {
    await page.click("#tab-fuzz");
    await page.fill("#fuzz-ops", "1000000");
    await page.click("#fuzz-start");
    await page.waitForSelector("#panel-fuzz[data-state=done]", { timeout: 120000 });
    expect(await page.textContent("#fuzz-error")).toBe("");
    expect(await page.getAttribute("#panel-fuzz", "data-ops")).toBe("1000000");
    const rows = await page.$$eval("#fuzz-bugs tbody tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    const job: UnitJob = { unit: 0, ops: 1000000, seed: 1, profile: "mixed", cmdline: "kasan_multi_shot", plant: DEFAULT_PLANT, plantWrites: true, check: false };
    const node = runUnit(job);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.map(([type, title, count]) => `${type}|${title}|${count}`).sort())
      .toEqual(node.bugs.map((b) => `${b.type}|${b.title}|${b.count}`).sort());
    await shot("fuzz");
  }, 180000);

  it("measures the Worker's fuzz rate against Node's on the same units (printed, not asserted)", async () => {
    const ops = 4 << 20;
    await page.fill("#fuzz-ops", String(ops));
    await page.click("#fuzz-start");
    await page.waitForSelector("#panel-fuzz[data-state=done]", { timeout: 180000 });
    const web = Number(await page.getAttribute("#panel-fuzz", "data-rate"));
    const t0 = performance.now();
    for (let unit = 0; unit < 4; unit++) runUnit({ unit, ops: 1 << 20, seed: 1, profile: "mixed", cmdline: "kasan_multi_shot", plant: DEFAULT_PLANT, plantWrites: true, check: false });
    const nodeRate = Math.round(ops / ((performance.now() - t0) / 1000));
    console.log(`fuzz mixed, ${ops} ops in units of 2^20: browser worker ${web} ops/s, Node ${nodeRate} ops/s, ratio ${(web / nodeRate * 100).toFixed(0)}%`);
    expect(web).toBeGreaterThan(0);
  }, 240000);

  it("refuses a bad op count inline", async () => {
    await page.fill("#fuzz-ops", "1e3");
    await page.click("#fuzz-start");
    expect(await page.textContent("#fuzz-error")).toBe('ops must be an integer from 1 to 10000000000, got "1e3"');
    expect(await page.getAttribute("#panel-fuzz", "data-state")).toBe("done");
  });

  it("stops a long fuzz run from the Stop button (the shared stop flag) with the ops it ran", async () => {
    await page.fill("#fuzz-ops", "1000000000");
    await page.click("#fuzz-start");
    await page.waitForFunction("/^[1-9][0-9,]* ops, /.test(document.getElementById('fuzz-live').textContent)", undefined, { timeout: 60000 });
    await page.click("#fuzz-stop");
    await page.waitForSelector("#panel-fuzz[data-state=done]", { timeout: 60000 });
    const ops = Number(await page.getAttribute("#panel-fuzz", "data-ops"));
    expect(ops).toBeGreaterThan(0);
    expect(ops).toBeLessThan(1000000000);
    expect(await page.textContent("#fuzz-error")).toBe("");
  }, 120000);

  it.each(["kfence", "kasan"])("runs the KUnit %s suite in the page with the verdicts Node gives", async (suite) => {
    await page.click("#tab-kunit");
    await page.selectOption("#kunit-suite", suite);
    await page.click("#kunit-run");
    await page.waitForSelector("#panel-kunit[data-state=done]", { timeout: 120000 });
    const got = await page.$$eval("#kunit-list li", (lis) => lis.map((li) => `${(li as HTMLElement).dataset.case} ${(li as HTMLElement).dataset.status}`));
    const { results } = runSuite(await KUNIT_SUITES[suite]());
    expect(got).toEqual(results.map((r) => `${r.name} ${r.status}`));
    expect(await page.textContent("#kunit-summary")).toMatch(new RegExp(`^${suite}: pass \\d+, skip \\d+, fail 0 of ${results.length}$`));
    await shot(`kunit-${suite}`);
  }, 180000);

  it("shows command-line errors inline, as the parser words them", async () => {
    await page.click("#tab-scenarios");
    await page.fill("#cmdline", "kasan.mode=bogus");
    let want = "";
    try { resolveOptions({ cmdline: "kasan.mode=bogus" }); } catch (e) { want = (e as Error).message; }
    expect(want).not.toBe("");
    expect(await page.textContent("#cmdline-error")).toBe(want);
    expect(await page.getAttribute("#cmdline", "aria-invalid")).toBe("true");
    await shot("cmdline-error");
    await page.click(`button[data-scenario="slab-oob"]`);
    await page.waitForSelector(`#scenario-out .error`);
    await page.fill("#cmdline", "foo=bar");
    expect(await page.textContent("#cmdline-error")).toBe('Unknown kernel command line parameters "foo=bar", will be passed to user space.');
    await page.fill("#cmdline", "");
    expect(await page.textContent("#cmdline-error")).toBe("");
    expect(await page.getAttribute("#cmdline", "aria-invalid")).toBeNull();
  });

  it("moves between panels and scenarios with the keyboard", async () => {
    await page.focus("#tab-scenarios");
    await page.keyboard.press("ArrowRight");
    expect(await page.getAttribute("#tab-kfence", "aria-selected")).toBe("true");
    expect(await page.evaluate("document.activeElement.id")).toBe("tab-kfence");
    await page.keyboard.press("Home");
    expect(await page.isVisible("#panel-scenarios")).toBe(true);
    await page.focus(`button[data-scenario="${SCENARIOS[0].id}"]`);
    await page.keyboard.press("ArrowDown");
    expect(await page.evaluate("document.activeElement.dataset.scenario")).toBe(SCENARIOS[1].id);
    await page.keyboard.press("Enter");
    await page.waitForSelector(`#scenario-out[data-scenario="${SCENARIOS[1].id}"][data-state=done]`);
    // into the picture: Tab reaches the marked granule, arrows walk the grid
    await page.focus("#scenario-out .shadow [data-bad]");
    const bad = await page.evaluate("document.activeElement.dataset.addr") as string;
    await page.keyboard.press("ArrowRight");
    const right = await page.evaluate("document.activeElement.dataset.addr") as string;
    expect(BigInt("0x" + right) - BigInt("0x" + bad)).toBe(8n);
    await page.keyboard.press("ArrowUp");
    const up = await page.evaluate("document.activeElement.dataset.addr") as string;
    expect(BigInt("0x" + right) - BigInt("0x" + up)).toBe(128n);
  });

  it("logged no console errors", () => {
    expect(consoleErrors).toEqual([]);
  });
});
