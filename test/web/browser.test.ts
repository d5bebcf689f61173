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
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(path.join(WEB, "shadowfence.js"))) throw new Error("dist/web is missing: run `npm run build` first");
  server = createServer((req, res) => {
    const url = (req.url ?? "/").split("?")[0];
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
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  port = (server.address() as { port: number }).port;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
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
