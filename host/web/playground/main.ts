// The playground page: scenarios with their reports and pictures, the KFENCE
// pool, guests, a fuzz worker, the KUnit suites and a command-line editor.
import { compileCore, resolveOptions, Engine, type Report } from "../index.js";
import { DEMO_CASES, INITCALL_FRAMES } from "../../demo.js";
import { runSuite } from "../../kunit/runner.js";
import { KUNIT_SUITES } from "../../kunit/suites.js";
import { PROFILES, DEFAULT_PLANT } from "../../fuzz/generator.js";
import type { BugRecord } from "../../fuzz/unit.js";
import { SCENARIOS, runScenario, type Scenario } from "./scenarios.js";
import { h, hex16, shadowPicture, kfenceMap, linkedText } from "./picture.js";
import type { FuzzMessage, FuzzRequest } from "./fuzz_worker.js";

let core: WebAssembly.Module;
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

// ── the command-line editor ──
const cmdlineInput = () => $<HTMLInputElement>("cmdline");
/** The editor's command line, or undefined (with the error shown inline) when it does not parse. */
function userCmdline(): string | undefined {
  const input = cmdlineInput(), out = $("cmdline-error");
  try {
    const o = resolveOptions({ cmdline: input.value });
    input.removeAttribute("aria-invalid");
    out.className = o.unknown.length ? "warn" : "";
    out.textContent = o.unknown.length ? `Unknown kernel command line parameters "${o.unknown.join(" ")}", will be passed to user space.` : "";
    return input.value.trim();
  } catch (e) {
    input.setAttribute("aria-invalid", "true");
    out.className = "error";
    out.textContent = (e as Error).message;
    return undefined;
  }
}

// ── tabs ──
const PANELS: Array<[string, string]> = [["scenarios", "Scenarios"], ["kfence", "KFENCE pool"], ["guests", "Guests"], ["fuzz", "Fuzz"], ["kunit", "KUnit"]];
function selectTab(id: string, focus = false): void {
  for (const [p] of PANELS) {
    const tab = $(`tab-${p}`), panel = $(`panel-${p}`);
    const on = p === id;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    panel.hidden = !on;
    if (on && focus) tab.focus();
  }
}
function buildTabs(): void {
  const nav = $("tabs");
  for (const [id, name] of PANELS) {
    nav.append(h("button", { role: "tab", id: `tab-${id}`, "aria-controls": `panel-${id}`, type: "button", text: name }));
    $("panels").append(h("section", { role: "tabpanel", id: `panel-${id}`, "aria-labelledby": `tab-${id}`, hidden: true }));
  }
  nav.addEventListener("click", (ev) => {
    const t = (ev.target as HTMLElement).closest("[role=tab]");
    if (t) selectTab(t.id.slice(4));
  });
  nav.addEventListener("keydown", (ev) => {
    const i = PANELS.findIndex(([p]) => $(`tab-${p}`).getAttribute("aria-selected") === "true");
    const step = ev.key === "ArrowRight" ? 1 : ev.key === "ArrowLeft" ? -1 : 0;
    if (ev.key === "Home" || ev.key === "End") { ev.preventDefault(); selectTab(PANELS[ev.key === "Home" ? 0 : PANELS.length - 1][0], true); }
    if (step) { ev.preventDefault(); selectTab(PANELS[(i + step + PANELS.length) % PANELS.length][0], true); }
  });
}

// ── reports with their pictures ──
let viewSeq = 0;
/** Each report: its title, its text (addresses linked) and its picture. */
function reportsView(reports: Report[], engine: Engine): HTMLElement {
  const box = h("div", { class: "reports" });
  if (!reports.length) box.append(h("p", { class: "note", text: "No report: this configuration does not detect it." }));
  for (const r of reports) {
    const prefix = `v${++viewSeq}`;
    const faultPage = r.kind === "kfence" ? kfenceMap(engine, prefix, r.address) : undefined;
    const shadow = faultPage ? undefined : shadowPicture(r, prefix);
    const pic = shadow ?? faultPage;
    const text = linkedText(r.text, (a) => pic?.cellFor(a));
    const art = h("article", { class: "report-view", "data-kind": r.kind, "data-type": r.type, "data-address": hex16(r.address) },
      h("h3", { class: "title", text: r.title }),
      h("div", { class: "side" }, text, pic ? pic.element
        : h("p", { class: "note", text: r.kind === "oops" || r.kind === "gpf" ? "No shadow to draw: the address is not mapped (the oops says why)."
          : r.kind === "kasan" ? "No memory state: the address has no shadow of its own (KASAN prints none for null-ptr-deref, user-memory-access and wild-memory-access)."
          : "This report has no memory state." })));
    box.append(art);
  }
  box.addEventListener("keydown", gridKeys);
  box.addEventListener("click", (ev) => {
    const a = (ev.target as HTMLElement).closest("a.addr") as HTMLAnchorElement | null;
    if (!a) return;
    ev.preventDefault();
    const cell = document.getElementById(a.dataset.target!);
    if (!cell) return;
    document.querySelectorAll(".flash").forEach((old) => old.classList.remove("flash"));
    cell.classList.add("flash");
    cell.focus();
  });
  return box;
}

// Arrow keys move between the cells of a picture (granules, pool pages); Tab enters at the marked one.
function gridKeys(ev: KeyboardEvent): void {
  const cell = (ev.target as HTMLElement).closest("[role=gridcell]") as HTMLElement | null;
  if (!cell) return;
  const row = cell.parentElement!, grid = row.parentElement!;
  const cells = Array.from(row.querySelectorAll<HTMLElement>("[role=gridcell]"));
  const rows = Array.from(grid.querySelectorAll<HTMLElement>("[role=row]"));
  const x = cells.indexOf(cell), y = rows.indexOf(row);
  const to = (nx: number, ny: number) => {
    const r = rows[Math.max(0, Math.min(rows.length - 1, ny))];
    const cs = r.querySelectorAll<HTMLElement>("[role=gridcell]");
    const next = cs[Math.max(0, Math.min(cs.length - 1, nx))];
    if (!next) return;
    ev.preventDefault();
    cell.tabIndex = -1;
    next.tabIndex = 0;
    next.focus();
  };
  if (ev.key === "ArrowRight") to(x + 1, y);
  else if (ev.key === "ArrowLeft") to(x - 1, y);
  else if (ev.key === "ArrowDown") to(x, y + 1);
  else if (ev.key === "ArrowUp") to(x, y - 1);
}

// ── scenarios ──
let lastEngine: Engine | undefined;
let lastFault: bigint | undefined;
let lastFaultIndex: number | undefined;
function noteKfence(reports: Report[]): void {
  const k = reports.filter((r) => r.kind === "kfence").pop();
  lastFault = k?.address;
  lastFaultIndex = k?.raw.kfIndex;
}
function buildScenarios(): void {
  const panel = $("panel-scenarios");
  const list = h("div", { class: "scenario-list", role: "toolbar", "aria-label": "scenarios", "aria-orientation": "vertical" });
  const out = h("div", { class: "scenario-out", id: "scenario-out", "aria-live": "polite" },
    h("p", { class: "note", text: "Pick a scenario: it boots a fresh engine, runs the bug and shows the kernel's report next to its picture." }));
  let group = "";
  for (const s of SCENARIOS) {
    if (s.group !== group) { group = s.group; list.append(h("h2", { text: group })); }
    list.append(h("button", { type: "button", class: "scenario", "data-scenario": s.id, title: s.describe, tabindex: s === SCENARIOS[0] ? 0 : -1 },
      h("b", { text: s.expectType }), h("span", { text: s.describe })));
  }
  list.addEventListener("click", (ev) => {
    const b = (ev.target as HTMLElement).closest("button.scenario") as HTMLButtonElement | null;
    if (b) showScenario(SCENARIOS.find((s) => s.id === b.dataset.scenario)!);
  });
  list.addEventListener("keydown", (ev) => {
    const buttons = Array.from(list.querySelectorAll<HTMLButtonElement>("button.scenario"));
    const i = buttons.indexOf(document.activeElement as HTMLButtonElement);
    const step = ev.key === "ArrowDown" ? 1 : ev.key === "ArrowUp" ? -1 : 0;
    if (!step || i < 0) return;
    ev.preventDefault();
    const next = buttons[(i + step + buttons.length) % buttons.length];
    buttons.forEach((b) => (b.tabIndex = b === next ? 0 : -1));
    next.focus();
  });
  panel.append(h("div", { class: "two" }, list, out));
}
function showScenario(s: Scenario): void {
  const out = $("scenario-out");
  const extra = userCmdline();
  if (extra === undefined) { out.replaceChildren(h("p", { class: "error", text: "Fix the kernel command line first." })); return; }
  out.dataset.state = "running";
  let view: HTMLElement;
  try {
    const run = runScenario(s, extra, core);
    lastEngine = run.engine;
    const first = run.reports[0];
    noteKfence(run.reports);
    view = h("div", {}, h("h2", { text: `${s.group}: ${s.expectType}` }),
      h("p", { class: "describe", text: `${s.describe}${s.kunit ? ` (KUnit ${s.kunit.suite}.${s.kunit.name}: ${run.kunit?.status})` : ` (demo: ${s.demo})`}; command line "${`${s.cmdline} ${extra}`.trim()}"` }),
      reportsView(run.reports, run.engine));
    out.dataset.firstType = first?.type ?? "";
    drawKfence();
  } catch (e) {
    view = h("p", { class: "error", text: `${s.id}: ${(e as Error).message}` });
  }
  out.dataset.scenario = s.id;
  out.replaceChildren(view);
  out.dataset.state = "done";
}

// ── the KFENCE pool ──
function buildKfence(): void {
  $("panel-kfence").append(
    h("p", { class: "note", text: "Every page of the KFENCE pool from engine.kfence's metadata. Run a scenario (the KFENCE ones fault here), or the whole demo:" }),
    h("button", { type: "button", id: "kfence-demo", text: "Run the demo on one engine" }),
    h("div", { id: "kfence-out", class: "kfence-out" }));
  $("kfence-demo").addEventListener("click", () => {
    const extra = userCmdline();
    if (extra === undefined) return;
    try {
      const e = Engine.createSync({ cmdline: `kasan_multi_shot ${extra}` }, { module: core });
      e.stackSuffix = INITCALL_FRAMES;
      for (const c of DEMO_CASES) c.run(e);
      noteKfence(e.takeReports());
      lastEngine = e;
      drawKfence();
    } catch (err) {
      $("kfence-out").replaceChildren(h("p", { class: "error", text: (err as Error).message }));
    }
  });
}
function drawKfence(): void {
  const out = $("kfence-out");
  const e = lastEngine;
  if (!e) return;
  const map = kfenceMap(e, "kf", lastFault);
  if (!map) { out.replaceChildren(h("p", { class: "note", text: "KFENCE is off in this engine (kfence.sample_interval=0)." })); return; }
  out.replaceChildren(h("div", { class: "two" }, map.element,
    h("div", {}, h("h3", { text: "/sys/kernel/debug/kfence/stats" }), h("pre", { id: "kfence-stats", text: e.kfence.stats() }),
      h("p", { text: `pool ${hex16(e.kfence.poolStart)}, ${e.kfence.numObjects} objects, ${Number(e.kfence.poolSize) / 4096} pages${lastFault !== undefined ? `; last fault at ${hex16(lastFault)}` : ""}` }),
      ...faultingObject(e))));
  out.dataset.fault = lastFault !== undefined ? hex16(lastFault) : "";
  out.onkeydown = gridKeys;
}

// The entry of /sys/kernel/debug/kfence/objects for the object the last KFENCE report names.
function faultingObject(e: Engine): HTMLElement[] {
  if (lastFaultIndex === undefined || lastFaultIndex >= e.kfence.numObjects) return [];
  const block = e.kfence.objects().split("---------------------------------\n")
    .find((b) => b.startsWith(`kfence-#${lastFaultIndex}:`) || b.startsWith(`kfence-#${lastFaultIndex} `));
  return block ? [h("h3", { text: `/sys/kernel/debug/kfence/objects: kfence-#${lastFaultIndex}` }), h("pre", { id: "kfence-object", text: block })] : [];
}

// ── guests ──
async function buildGuests(): Promise<void> {
  const panel = $("panel-guests");
  let names: string[] = [];
  try {
    names = await (await fetch("examples/index.json")).json() as string[];
  } catch { /* the list is optional: "open a .wasm" still works */ }
  const select = h("select", { id: "guest-select", "aria-label": "example guest" }, ...names.map((n) => h("option", { value: n, text: `examples/${n}.c` })));
  const file = h("input", { type: "file", id: "guest-file", accept: ".wasm,application/wasm", "aria-label": "open a .wasm" });
  const args = h("input", { id: "guest-args", placeholder: "arguments", "aria-label": "guest arguments", spellcheck: "false" });
  const run = h("button", { type: "button", id: "guest-run", text: "Run the example" });
  const out = h("div", { id: "guest-out", "aria-live": "polite" });
  panel.append(h("p", { class: "note", text: "C programs built with shadowfence cc (AddressSanitizer hooks bound to the engine), shipped prebuilt. Their bugs come out as kernel reports with their own function names." }),
    h("div", { class: "row" }, select, args, run, h("label", {}, "or open a .wasm: ", file)), out);
  const go = (bytes: Uint8Array, name: string) => {
    const extra = userCmdline();
    if (extra === undefined) return;
    out.dataset.state = "running";
    try {
      const e = Engine.createSync({ cmdline: extra }, { module: core });
      const r = e.runGuest(bytes, { name, args: args.value.split(/\s+/).filter(Boolean) });
      out.replaceChildren(h("p", { id: "guest-status", text: `${name}: ${r.status}, exit status ${r.exitCode}${r.message ? ` (${r.message})` : ""}; ${r.reports.length} report(s)` }),
        h("h3", { text: "stdout" }), h("pre", { id: "guest-stdout", text: r.stdout }),
        h("h3", { text: "stderr" }), h("pre", { id: "guest-stderr", text: r.stderr }),
        reportsView(r.reports, e));
      lastEngine = e;
    } catch (err) {
      out.replaceChildren(h("p", { class: "error", id: "guest-status", text: `${name}: ${(err as Error).message}` }));
    }
    out.dataset.state = "done";
  };
  run.addEventListener("click", async () => {
    const n = select.value;
    const res = await fetch(`examples/${n}.wasm`);
    go(new Uint8Array(await res.arrayBuffer()), n);
  });
  file.addEventListener("change", async () => {
    const f = file.files?.[0];
    if (f) go(new Uint8Array(await f.arrayBuffer()), f.name.replace(/\.wasm$/, "").replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 15) || "guest");
  });
}

// ── fuzz ──
function buildFuzz(): void {
  const panel = $("panel-fuzz");
  const profile = h("select", { id: "fuzz-profile", "aria-label": "profile" }, ...PROFILES.map((p) => h("option", { value: p, text: p, selected: p === "mixed" })));
  const ops = h("input", { id: "fuzz-ops", value: "1000000", inputmode: "numeric", "aria-label": "operations" });
  const seed = h("input", { id: "fuzz-seed", value: "1", inputmode: "numeric", "aria-label": "seed" });
  const start = h("button", { type: "button", id: "fuzz-start", text: "Start" });
  const stopB = h("button", { type: "button", id: "fuzz-stop", text: "Stop", disabled: true });
  const live = h("p", { id: "fuzz-live", role: "status", text: "idle" });
  const bugs = h("table", { id: "fuzz-bugs" }, h("thead", {}, h("tr", {}, ...["bug type", "title", "count", "access site", "allocation site"].map((t) => h("th", { text: t })))), h("tbody"));
  const err = h("p", { id: "fuzz-error", class: "error" });
  panel.append(h("p", { class: "note", text: "Seeded op tapes generated and interpreted inside wasm in a Web Worker (the same work units as shadowfence fuzz), planted bugs at the default rates, reports deduplicated by bug type + access site + allocation site." }),
    h("div", { class: "row" }, h("label", {}, "profile ", profile), h("label", {}, "ops ", ops), h("label", {}, "seed ", seed), start, stopB), live, err, bugs);
  let worker: Worker | undefined;
  let current: Int32Array | undefined;
  start.addEventListener("click", () => {
    const extra = userCmdline();
    const n = Number(ops.value.trim()), s = Number(seed.value.trim());
    err.textContent = "";
    if (extra === undefined) { err.textContent = "Fix the kernel command line first."; return; }
    if (!/^\d+$/.test(ops.value.trim()) || n < 1 || n > 1e10) { err.textContent = `ops must be an integer from 1 to 10000000000, got ${JSON.stringify(ops.value)}`; return; }
    if (!/^\d+$/.test(seed.value.trim()) || !Number.isSafeInteger(s)) { err.textContent = `seed must be a non-negative integer, got ${JSON.stringify(seed.value)}`; return; }
    bugs.tBodies[0].replaceChildren();
    const shared = typeof SharedArrayBuffer !== "undefined" && crossOriginIsolated;
    const counters = new Float64Array(shared ? new SharedArrayBuffer(32) : new ArrayBuffer(32));
    const stop = new Int32Array(shared ? new SharedArrayBuffer(4) : new ArrayBuffer(4));
    current = stop;
    delete panel.dataset.ops; delete panel.dataset.rate;
    live.textContent = "starting…";
    const all = new Map<string, BugRecord>();
    let done = 0;
    const t0 = performance.now();
    worker = new Worker(new URL("./fuzz_worker.js", import.meta.url), { type: "module" });
    start.disabled = true; stopB.disabled = false;
    panel.dataset.state = "running";
    const tick = () => {
      if (panel.dataset.state !== "running") return;   // the final line is the worker's own timing
      const seen = shared ? counters[0] : done;
      const sec = (performance.now() - t0) / 1000;
      live.textContent = `${Math.round(seen).toLocaleString("en")} ops, ${Math.round(seen / Math.max(sec, 1e-3)).toLocaleString("en")} ops/s, ${all.size} unique bug(s), ${sec.toFixed(1)} s`;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
    worker.onmessage = (ev: MessageEvent<FuzzMessage>) => {
      const m = ev.data;
      if (m.type === "unit") {
        done += m.result.ops;
        // e.g. kasan.fault=panic: the unit stops at the panic and the next unit boots afresh
        if (m.result.panicked) err.textContent = `unit ${m.result.unit}: panic after op ${m.result.panicked.op}: ${m.result.panicked.title}`;
        for (const b of m.result.bugs) {
          const have = all.get(b.signature);
          if (have) have.count += b.count; else all.set(b.signature, { ...b });
        }
        bugs.tBodies[0].replaceChildren(...[...all.values()].map((b) => h("tr", { "data-type": b.type },
          h("td", { text: b.type }), h("td", { text: b.title }), h("td", { text: String(b.count) }), h("td", { text: b.accessSite }), h("td", { text: b.allocSite }))));
      } else {
        worker?.terminate();
        start.disabled = false; stopB.disabled = true;
        panel.dataset.state = "done";
        if (m.type === "error") err.textContent = m.message;
        else {
          panel.dataset.ops = String(m.ops);
          panel.dataset.rate = String(Math.round(m.ops / (m.ms / 1000)));
          live.textContent = `${m.ops.toLocaleString("en")} ops in ${(m.ms / 1000).toFixed(2)} s: ${Math.round(m.ops / (m.ms / 1000)).toLocaleString("en")} ops/s in the worker, ${all.size} unique bug(s)`;
        }
      }
    };
    const q: FuzzRequest = { ops: n, unitOps: 1 << 20, seed: s, profile: profile.value as FuzzRequest["profile"],
      cmdline: `${extra} kasan_multi_shot`.trim(), plant: DEFAULT_PLANT, counters, stop };
    worker.postMessage(q);
  });
  stopB.addEventListener("click", () => {
    // shared flag: the worker finishes its chunk and reports; otherwise stop it outright
    if (current && typeof SharedArrayBuffer !== "undefined" && current.buffer instanceof SharedArrayBuffer) Atomics.store(current, 0, 1);
    else { worker?.terminate(); start.disabled = false; stopB.disabled = true; panel.dataset.state = "done"; live.textContent += " (stopped)"; }
  });
}

// ── KUnit ──
function buildKunit(): void {
  const panel = $("panel-kunit");
  const suite = h("select", { id: "kunit-suite", "aria-label": "suite" }, ...Object.keys(KUNIT_SUITES).map((n) => h("option", { value: n, text: n })));
  const run = h("button", { type: "button", id: "kunit-run", text: "Run the suite" });
  const summary = h("p", { id: "kunit-summary", role: "status" });
  const list = h("ol", { id: "kunit-list", class: "kunit" });
  panel.append(h("p", { class: "note", text: "The kernel's KASAN and KFENCE KUnit suites, ported case by case; each case boots a fresh engine here." }),
    h("div", { class: "row" }, suite, run), summary, list);
  run.addEventListener("click", async () => {
    const extra = userCmdline();
    if (extra === undefined) { summary.textContent = "Fix the kernel command line first."; return; }
    run.disabled = true;
    panel.dataset.state = "running";
    const s = await KUNIT_SUITES[suite.value]();
    list.replaceChildren();
    const count = { ok: 0, skip: 0, "not ok": 0 };
    for (const c of s.cases) {
      await new Promise((r) => setTimeout(r, 0));   // let the page paint between cases
      const { results, ktap } = runSuite(s, { cmdline: extra }, [c.name], { module: core });
      const r = results[0];
      if (!r) { list.append(h("li", { class: "not-ok", "data-status": "not ok", text: `${c.name}: ${ktap.split("\n").filter((l) => l.includes("#")).pop() ?? "did not run"}` })); count["not ok"]++; continue; }
      count[r.status]++;
      list.append(h("li", { class: r.status.replace(" ", "-"), "data-case": r.name, "data-status": r.status },
        h("b", { text: r.status === "ok" ? "pass" : r.status === "skip" ? "skip" : "FAIL" }), ` ${r.name}`,
        r.reason ? h("span", { class: "why", text: ` (${r.reason})` }) : "",
        ...r.failures.map((f) => h("div", { class: "why", text: f }))));
      summary.textContent = `${s.name}: pass ${count.ok}, skip ${count.skip}, fail ${count["not ok"]} of ${s.cases.length}`;
    }
    panel.dataset.state = "done";
    run.disabled = false;
  });
}

async function main(): Promise<void> {
  core = await compileCore();
  $("loading").remove();
  buildTabs();
  buildScenarios();
  buildKfence();
  await buildGuests();
  buildFuzz();
  buildKunit();
  selectTab("scenarios");
  cmdlineInput().addEventListener("input", () => userCmdline());
  $("cmdline-form").addEventListener("submit", (ev) => ev.preventDefault());
  document.body.dataset.ready = "true";
}

main().catch((e: Error) => {
  const p = document.getElementById("loading");
  if (p) { p.className = "error"; p.textContent = `The playground could not start: ${e.message}`; }
});
