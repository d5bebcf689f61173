// The browser bundle in headless Chromium (Debian's package, driven by
// playwright-core): boot an engine in the page, fault, read the oops back.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { createServer, type Server } from "node:http";
import { readFileSync, existsSync } from "node:fs";
import path from "node:path";
import type { Browser } from "playwright-core";
import { guestWasm, haveToolchain } from "../guest/build.js";
import { launchChromium } from "./chromium.js";

const root = path.resolve(__dirname, "../..");
const WEB = path.join(root, "dist/web");

let server: Server;
let port = 0;
// the same files with COOP/COEP on every response: the page is cross-origin isolated
let isolatedServer: Server;
let isolatedPort = 0;
let browser: Browser;
const ISOLATION = { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" };

function serveWeb(headers: Record<string, string>): Server {
  return createServer((req, res) => {
    const url = (req.url ?? "/").split("?")[0];
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    if (url === "/") {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<!doctype html><title>shadowfence</title><p>ok</p>");
      return;
    }
    // guests (test/guest/build.ts builds them): /guest/<example>.wasm, /test-guest/<test guest>.wasm
    const guest = /^\/(guest|test-guest)\/([a-z_]+)\.wasm$/.exec(url);
    if (guest) {
      res.writeHead(200, { "content-type": "application/wasm" });
      res.end(readFileSync(guestWasm({ src: guest[1] === "guest" ? `examples/${guest[2]}.c` : `test/guest/c/${guest[2]}.c` })));
      return;
    }
    const file = path.join(WEB, path.normalize(url).replace(/^\/+/, ""));
    if (!file.startsWith(WEB) || !existsSync(file)) { res.writeHead(404); res.end(); return; }
    const type = file.endsWith(".wasm") ? "application/wasm" : "text/javascript";
    res.writeHead(200, { "content-type": type });
    res.end(readFileSync(file));
  });
}
async function listen(s: Server): Promise<number> {
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", () => resolve()));
  return (s.address() as { port: number }).port;
}

beforeAll(async () => {
  if (!existsSync(path.join(WEB, "shadowfence.js"))) throw new Error("dist/web is missing: run `npm run build` first");
  server = serveWeb({});
  port = await listen(server);
  isolatedServer = serveWeb(ISOLATION);
  isolatedPort = await listen(isolatedServer);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  for (const s of [server, isolatedServer]) await new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()));
});

describe("browser bundle", () => {
  it("boots in Chromium and prints the oops of a faulting access", async () => {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    // a string, so the test runner's module transform leaves the page's import() alone
    const result: Array<{ kind: string; text: string }> = await page.evaluate(`(async () => {
      const sf = await import("/shadowfence.js");
      const e = await sf.createEngine({ cmdline: "kasan=on", ram: 32 });
      e.load(0x10n, 8);
      return e.reports().map((r) => ({ kind: r.kind, text: r.text }));
    })()`);
    const oops = result.find((r) => r.kind === "oops");
    expect(oops).toBeDefined();
    const l = oops!.text.split("\n");
    expect(l[0]).toBe("BUG: kernel NULL pointer dereference, address: 0000000000000010");
    expect(l[1]).toBe("#PF: supervisor read access in kernel mode");
    expect(l[2]).toBe("#PF: error_code(0x0000) - not-present page");
    expect(l[3]).toBe("PGD 0 P4D 0 ");
    expect(l[4]).toBe("Oops: Oops: 0000 [#1] PREEMPT SMP KASAN NOPTI");
    // KASAN's outline check reported first, as in the kernel
    expect(result[0].text).toContain("BUG: KASAN: null-ptr-deref in ");
    await page.close();
  });

  it("names the page's own function in a report's stacks, never the engine's", async () => {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    // the caller lives in a module file of the page's own (an inline or evaluated script has no file, like a builtin)
    await page.route("**/page_module.js", (route) => route.fulfill({ contentType: "text/javascript", body: `
      import { createEngine } from "/shadowfence.js";
      export async function run() {
        const e = await createEngine({ cmdline: "kasan=on", ram: 32 });
        function page_use_after_free() { const p = e.kmalloc(40); e.kfree(p); e.load(p, 8); }
        page_use_after_free();
        return e.reports()[0].text;
      }` }));
    const text: string = await page.evaluate(`import("/page_module.js").then((m) => m.run())`);
    const l = text.split("\n");
    expect(l[1]).toMatch(/^BUG: KASAN: slab-use-after-free in page_use_after_free\+0x[0-9a-f]+\/0x[0-9a-f]+$/);
    // the allocation and free stacks start at the kernel's frames, then the caller
    expect(text).toMatch(/__kasan_kmalloc\+0x8f\/0xa0\n page_use_after_free\+/);
    expect(text).not.toMatch(/captureHostStack|kernelCall|\bcall\+/);
    await page.close();
  });

  it.skipIf(!haveToolchain())("runs a C guest with the WASI subset and prints its KASAN report", async () => {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    const result: { exitCode: number; stdout: string; titles: string[]; selfCheck: string[] } = await page.evaluate(`(async () => {
      const sf = await import("/shadowfence.js");
      const e = await sf.createEngine({ cmdline: "ram=64" });
      const bytes = new Uint8Array(await (await fetch("/guest/use_after_free.wasm")).arrayBuffer());
      const r = e.runGuest(bytes, { name: "use_after_free" });
      return { exitCode: r.exitCode, stdout: r.stdout, titles: r.reports.map((x) => x.title), selfCheck: r.selfCheck };
    })()`);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe("refs=0\n");
    expect(result.titles).toHaveLength(1);
    expect(result.titles[0]).toMatch(/^BUG: KASAN: slab-use-after-free in report_session\+0x[0-9a-f]+\/0x[0-9a-f]+$/);
    expect(result.selfCheck).toEqual([]);
    await page.close();
  });

  it.skipIf(!haveToolchain())("stops an endless guest at timeoutMs, then runs the next one", async () => {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    const result: Array<{ status: string; exitCode: number; stdout: string; selfCheck: string[] }> = await page.evaluate(`(async () => {
      const sf = await import("/shadowfence.js");
      const e = await sf.createEngine({ cmdline: "ram=64" });
      const spin = new Uint8Array(await (await fetch("/test-guest/sealed.wasm")).arrayBuffer());
      const clean = new Uint8Array(await (await fetch("/guest/clean.wasm")).arrayBuffer());
      return [e.runGuest(spin, { name: "sealed", args: ["spin"], timeoutMs: 200 }), e.runGuest(clean, { name: "clean" })]
        .map((r) => ({ status: r.status, exitCode: r.exitCode, stdout: r.stdout, selfCheck: r.selfCheck }));
    })()`);
    expect(result).toEqual([
      { status: "timeout", exitCode: 124, stdout: "", selfCheck: [] },
      { status: "exit", exitCode: 0, stdout: "shadowfence guest:9 19\n", selfCheck: [] },
    ]);
    await page.close();
  });
});

// nr_cpus=2 in a page: CPU 1 is a Web Worker over the engine's shared memory where the page is
// cross-origin isolated; elsewhere the plain core runs one CPU.
describe("browser bundle: CPUs", () => {
  const SMP_RUN = `(async () => {
    const sf = await import("/shadowfence.js");
    const e = await sf.createEngine({ cmdline: "kasan=on kasan_multi_shot nr_cpus=2 kfence.sample_interval=0" });
    const err = (f) => { try { f(); return "no error"; } catch (x) { return x.constructor.name + ": " + x.message; } };
    const rej = async (p) => { try { await p; return "no error"; } catch (x) { return x.constructor.name + ": " + x.message; } };
    const out = { isolated: crossOriginIsolated, shared: typeof SharedArrayBuffer === "function" && e.memory.buffer instanceof SharedArrayBuffer,
      smp: e.dmesg().split("\\n").filter((l) => /smp: |CPUs: /.test(l)) };
    out.cpuBefore = err(() => e.cpu(1));
    if (out.shared) {
      await e.smpInit();
      out.cpuAfter = err(() => e.cpu(1));
      out.churn = await e.onCpus([{ cpu: 0, churn: { seed: 11, ops: 20000 } }, { cpu: 1, churn: { seed: 12, ops: 20000 } }]);
      out.churnReports = e.takeReports().length;
      out.planted = await e.onCpus([{ cpu: 0, churn: { seed: 3, ops: 4000, oobEvery: 200 } }, { cpu: 1, churn: { seed: 4, ops: 4000, oobEvery: 200 } }]);
    } else {
      out.onCpu1 = await rej(e.onCpus([{ cpu: 0, churn: { seed: 3, ops: 10 } }, { cpu: 1, churn: { seed: 4, ops: 10 } }]));
      out.planted = await e.onCpus([{ cpu: 0, churn: { seed: 3, ops: 4000, oobEvery: 200 } }]);
    }
    out.texts = e.takeReports().map((r) => r.text);
    out.lost = e.stats().reports.lost;
    out.selfCheck = e.selfCheck();
    await e.stopCpus();
    return out;
  })()`;
  type SmpRun = { isolated: boolean; shared: boolean; smp: string[]; cpuBefore: string; cpuAfter?: string; onCpu1?: string;
    churn?: Array<{ cpu: number; rc: number }>; churnReports?: number; planted: Array<{ cpu: number; rc: number }>; texts: string[]; lost: number; selfCheck: string[] };

  /** A planted churn report: slab-out-of-bounds one byte past a kmalloc object, read by `task` on `cpu`. */
  function expectPlanted(text: string, cpu: number, task: RegExp): void {
    const l = text.split("\n");
    expect(l[1]).toBe("BUG: KASAN: slab-out-of-bounds in smp_churn_thread+0xd6/0x3c0");
    const at = /^Read of size 1 at addr ([0-9a-f]{16}) by task (\S+)$/.exec(l[2]);
    expect(at, l[2]).not.toBeNull();
    expect(at![2]).toMatch(task);
    expect(l.find((x) => x.startsWith("CPU: "))).toMatch(new RegExp(`^CPU: ${cpu} UID: 0 `));
    expect(text).toContain(" kasan_report+0xde/0x110\n smp_churn_thread+0xd6/0x3c0\n kthread+0x289/0x360\n");
    // the read is the first byte after the object
    const region = /allocated \d+-byte region \[([0-9a-f]{16}), ([0-9a-f]{16})\)/.exec(text);
    expect(region).not.toBeNull();
    expect(region![2]).toBe(at![1]);
    expect(text).toContain("The buggy address is located 0 bytes to the right of");
  }

  it("cross-origin isolated: the shared core, two CPUs in dmesg, churn on CPUs 0 and 1 at once, planted reports from both", async () => {
    const page = await browser.newPage();
    const cores: string[] = [];
    page.on("request", (r) => { if (r.url().endsWith(".wasm")) cores.push(new URL(r.url()).pathname); });
    await page.goto(`http://127.0.0.1:${isolatedPort}/`);
    const r: SmpRun = await page.evaluate(SMP_RUN);
    expect(r.isolated).toBe(true);
    expect(cores).toEqual(["/core.smp.wasm"]);
    expect(r.shared).toBe(true);
    expect(r.smp).toEqual(["smp: Bringing up secondary CPUs ...", ".... node  #0, CPUs:      #1", "smp: Brought up 1 node, 2 CPUs"].map((l) => expect.stringMatching(new RegExp(`^\\[ *\\d+\\.\\d{6}\\] ${l.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`))));
    // engine.cpu(n) would block the page's thread: one line that says what works
    const cpuError = "Error: engine.cpu(n): a browser's main thread cannot block while another CPU runs a call; run work on several CPUs with await engine.onCpus([...])";
    expect(r.cpuBefore).toBe(cpuError);
    expect(r.cpuAfter).toBe(cpuError);
    expect(r.churn).toEqual([{ cpu: 0, rc: 0 }, { cpu: 1, rc: 0 }]);
    expect(r.churnReports).toBe(0);
    // every planted out-of-bounds read comes out once, each from its CPU (CPU 1 runs its idle task, swapper/1)
    expect(r.planted).toEqual([{ cpu: 0, rc: 20 }, { cpu: 1, rc: 20 }]);
    expect(r.texts).toHaveLength(40);
    const byCpu = (n: number) => r.texts.filter((t) => new RegExp(`^CPU: ${n} `, "m").test(t));
    expect(byCpu(0)).toHaveLength(20);
    expect(byCpu(1)).toHaveLength(20);
    for (const t of byCpu(0)) expectPlanted(t, 0, /^swapper\/0\/\d+$/);
    for (const t of byCpu(1)) expectPlanted(t, 1, /^swapper\/1\/0$/);
    expect(r.lost).toBe(0);
    expect(r.selfCheck).toEqual([]);
    await page.close();
  }, 120_000);

  it("cross-origin isolated, but the CPU worker script does not load: smpInit rejects in one line, CPU 0 goes on", async () => {
    const page = await browser.newPage();
    await page.route("**/cpu_worker.js", (route) => route.fulfill({ status: 404, body: "" }));
    await page.goto(`http://127.0.0.1:${isolatedPort}/`);
    const r: { init: string; jobs: string; leaked: string; selfCheck: string[] } = await page.evaluate(`(async () => {
      const sf = await import("/shadowfence.js");
      const e = await sf.createEngine({ cmdline: "kasan=on nr_cpus=2 kfence.sample_interval=0" });
      const rej = async (p) => { try { await p; return "no error"; } catch (x) { return x.constructor.name + ": " + x.message; } };
      const init = await rej(e.smpInit());
      const jobs = await rej(e.onCpus([{ cpu: 0, churn: { seed: 1, ops: 100 } }, { cpu: 1, churn: { seed: 2, ops: 100 } }]));
      const p = e.kmalloc(16); e.kfree(p); e.load(p, 1);
      return { init, jobs, leaked: e.takeReports().map((x) => x.text.split("\\n")[1]).join("|"), selfCheck: e.selfCheck() };
    })()`);
    expect(r.init).toMatch(/^Error: CPU 1: its worker \(http:\/\/127\.0\.0\.1:\d+\/host\/web\/cpu_worker\.js\) did not start$/);
    expect(r.jobs).toBe(r.init);
    expect(r.leaked).toMatch(/^BUG: KASAN: slab-use-after-free in /);
    expect(r.selfCheck).toEqual([]);
    await page.close();
  }, 60_000);

  it("not isolated: the plain core, one CPU in dmesg; jobs on CPU 1 and engine.cpu(1) are one-line errors, CPU 0 runs", async () => {
    const page = await browser.newPage();
    const cores: string[] = [];
    page.on("request", (r) => { if (r.url().endsWith(".wasm")) cores.push(new URL(r.url()).pathname); });
    await page.goto(`http://127.0.0.1:${port}/`);
    const r: SmpRun = await page.evaluate(SMP_RUN);
    expect(r.isolated).toBe(false);
    expect(cores).toEqual(["/core.wasm"]);
    expect(r.shared).toBe(false);
    expect(r.smp.map((l) => l.replace(/^\[ *\d+\.\d{6}\] /, ""))).toEqual(["smp: Bringing up secondary CPUs ...", "smp: Brought up 1 node, 1 CPU"]);
    const oneCpu = "Error: this engine runs one CPU: CPU threads need shared memory (SharedArrayBuffer; in a browser, a cross-origin isolated page)";
    expect(r.cpuBefore).toBe(oneCpu);
    expect(r.onCpu1).toBe(oneCpu);
    expect(r.planted).toEqual([{ cpu: 0, rc: 20 }]);
    expect(r.texts).toHaveLength(20);
    for (const t of r.texts) expectPlanted(t, 0, /^swapper\/0\/\d+$/);
    expect(r.selfCheck).toEqual([]);
    await page.close();
  }, 120_000);
});
