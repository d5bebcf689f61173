// Pictures drawn from the engine's own data: the shadow rows a KASAN report
// record carries (the "Memory state around the buggy address" section), and
// the KFENCE pool from engine.kfence's metadata. Nothing is parsed from text.
import * as abi from "../../../abi/abi.js";
import type { Engine, Report } from "../../engine.js";

export const PAGE = 4096n;
const TAG_TOP = 0xff00000000000000n;

export function hex16(v: bigint): string {
  return BigInt.asUintN(64, v).toString(16).padStart(16, "0");
}
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | number | boolean | undefined> = {},
  ...kids: Array<Node | string>): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === "class") el.className = String(v);
    else if (k === "text") el.textContent = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const k of kids) el.append(k);
  return el;
}

/** The kernel's names of generic shadow codes (abi.ts holds the values). */
export const SHADOW_NAMES: Array<[number, string, string]> = [
  [abi.KASAN_PAGE_FREE, "KASAN_PAGE_FREE", "freed page"],
  [abi.KASAN_PAGE_REDZONE, "KASAN_PAGE_REDZONE", "redzone after a large kmalloc"],
  [abi.KASAN_SLAB_REDZONE, "KASAN_SLAB_REDZONE", "slab redzone or unused slot"],
  [abi.KASAN_SLAB_FREE, "KASAN_SLAB_FREE", "freed slab object"],
  [abi.KASAN_SLAB_FREE_META, "KASAN_SLAB_FREE_META", "freed object, free metadata inside"],
  [abi.KASAN_GLOBAL_REDZONE, "KASAN_GLOBAL_REDZONE", "redzone after a global"],
  [abi.KASAN_VMALLOC_INVALID, "KASAN_VMALLOC_INVALID", "vmalloc space outside a mapping"],
  [abi.KASAN_STACK_LEFT, "KASAN_STACK_LEFT", "stack redzone left of a frame"],
  [abi.KASAN_STACK_MID, "KASAN_STACK_MID", "stack redzone between variables"],
  [abi.KASAN_STACK_RIGHT, "KASAN_STACK_RIGHT", "stack redzone right of a frame"],
  [abi.KASAN_STACK_PARTIAL, "KASAN_STACK_PARTIAL", "stack partial redzone"],
  [abi.KASAN_ALLOCA_LEFT, "KASAN_ALLOCA_LEFT", "alloca left redzone"],
  [abi.KASAN_ALLOCA_RIGHT, "KASAN_ALLOCA_RIGHT", "alloca right redzone"],
];
const NAME_OF = new Map(SHADOW_NAMES.map(([c, n, d]) => [c, { name: n, what: d }]));

export function shadowName(code: number, tags: boolean): string {
  if (tags) {
    if (code === abi.KASAN_TAG_INVALID) return "KASAN_TAG_INVALID (freed or redzone)";
    if (code === abi.KASAN_TAG_KERNEL) return "KASAN_TAG_KERNEL (match-all)";
    return `memory tag ${code.toString(16).padStart(2, "0")}`;
  }
  if (code === 0) return "accessible (8 bytes)";
  if (code <= 7) return `${code} of 8 bytes accessible`;
  const n = NAME_OF.get(code);
  return n ? `${n.name} (${n.what})` : "unknown code";
}

/** The id of a granule's cell (addresses in the report text link to it). */
export function granuleId(prefix: string, addr: bigint): string {
  return `${prefix}-g-${hex16(addr)}`;
}

export interface ShadowPicture {
  element: HTMLElement;
  /** The cell id for an address inside the drawn range, if any. */
  cellFor(addr: bigint): string | undefined;
}

/** The report's five shadow rows as a grid of granules, or undefined when the record has none. */
export function shadowPicture(r: Report, prefix: string): ShadowPicture | undefined {
  const raw = r.raw;
  if ((raw.flags & abi.RF_SHADOW) === 0) return undefined;
  const tags = (raw.flags & abi.RF_TAGS) !== 0;
  const granule = tags ? 16n : 8n;
  const rowBytes = granule * 16n;
  const norm = (a: bigint) => BigInt.asUintN(64, tags ? a | TAG_TOP : a);
  const firstBad = norm(raw.firstBad);
  const start = norm(raw.shadowRow), end = start + 5n * rowBytes;
  const access = norm(r.address), accessEnd = access + (r.size > 0n ? r.size : 1n);
  const obj = r.kasan?.object;
  const objStart = obj ? norm(obj.address) : -1n, objEnd = obj ? objStart + BigInt(obj.objectSize) : -1n;
  const grid = h("div", { class: `shadow ${tags ? "tags" : "generic"}`, role: "grid", "aria-label": "memory state around the buggy address",
    "data-granule": Number(granule), "data-first-bad": hex16(firstBad) });
  const present = new Set<number>();
  for (let row = 0; row < 5; row++) {
    const rowAddr = start + BigInt(row) * rowBytes;
    const guilty = firstBad >= rowAddr && firstBad < rowAddr + rowBytes;
    const tr = h("div", { class: "srow" + (guilty ? " guilty" : ""), role: "row", id: `${prefix}-row-${hex16(rowAddr)}` },
      h("span", { class: "saddr", role: "rowheader", text: (guilty ? ">" : " ") + hex16(rowAddr) }));
    for (let g = 0; g < 16; g++) {
      const a = rowAddr + BigInt(g) * granule;
      const code = raw.shadow[row * 16 + g];
      present.add(code);
      const inAccess = a < accessEnd && a + granule > access;
      const inObj = obj !== undefined && a < objEnd && a + granule > objStart;
      const bad = firstBad >= a && firstBad < a + granule;
      const cls = ["g", tags ? "" : `c${code <= 7 ? (code === 0 ? "0" : "p") : code.toString(16)}`,
        inObj ? "obj" : "", inObj && a <= objStart ? "obj-l" : "", inObj && a + granule >= objEnd ? "obj-r" : "",
        inAccess ? "acc" : "", bad ? "bad" : ""].filter(Boolean).join(" ");
      const style = tags ? `--tag-h:${(code * 137) % 360}` : undefined;
      const label = `${hex16(a)}: ${code.toString(16).padStart(2, "0")} ${shadowName(code, tags)}${inObj ? ", the object" : ""}${inAccess ? ", the access" : ""}${bad ? ", first bad granule" : ""}`;
      tr.append(h("span", { class: cls, role: "gridcell", id: granuleId(prefix, a), tabindex: bad ? 0 : -1, style, title: label, "aria-label": label,
        "data-addr": hex16(a), "data-code": code.toString(16).padStart(2, "0"), "data-bad": bad || undefined,
        "data-access": inAccess || undefined, "data-object": inObj || undefined, text: code.toString(16).padStart(2, "0") }));
    }
    grid.append(tr);
  }
  const legend = h("ul", { class: "legend", "aria-label": "shadow codes in the picture" });
  const others = h("ul", { class: "legend", "aria-label": "other shadow codes" });
  const codes = tags ? [...present].sort((a, b) => b - a) : [0, 1, ...SHADOW_NAMES.map(([c]) => c)];
  for (const c of codes) {
    const shown = present.has(c) || (!tags && c === 1 && [...present].some((p) => p >= 1 && p <= 7));
    const cls = tags ? "g" : `g c${c <= 7 ? (c === 0 ? "0" : "p") : c.toString(16)}`;
    (shown ? legend : others).append(h("li", { class: shown ? "here" : "absent" },
      h("span", { class: cls, style: tags ? `--tag-h:${(c * 137) % 360}` : undefined, text: c === 1 && !tags ? "1-7" : c.toString(16).padStart(2, "0") }),
      ` ${c === 1 && !tags ? "first 1-7 bytes accessible" : shadowName(c, tags)}`));
  }
  if (obj) legend.append(h("li", { class: "here" }, h("span", { class: "g obj obj-l obj-r", text: "  " }), ` the object (${obj.objectSize} bytes)`));
  legend.append(h("li", { class: "here" }, h("span", { class: "g acc", text: "  " }), " the access"),
    h("li", { class: "here" }, h("span", { class: "g bad", text: "  " }), " first bad granule (the caret)"));
  if (tags) legend.prepend(h("li", { class: "here", text: `pointer tag ${raw.ptrTag.toString(16).padStart(2, "0")}, memory tag ${raw.memTag.toString(16).padStart(2, "0")}; one cell per 16-byte granule` }));
  const caption = h("figcaption", {}, legend);
  if (others.children.length) caption.append(h("details", {}, h("summary", { text: "the other shadow codes" }), others));
  const element = h("figure", { class: "picture" }, grid, caption);
  return {
    element,
    cellFor: (addr) => {
      const a = norm(addr);
      if (a < start || a >= end) return undefined;
      return granuleId(prefix, start + ((a - start) / granule) * granule);
    },
  };
}

export interface KfenceMap {
  element: HTMLElement;
  cellFor(addr: bigint): string | undefined;
}

/** Every page of the KFENCE pool: guard pages, and object pages by state and placement. */
export function kfenceMap(e: Engine, prefix: string, faultAddr?: bigint): KfenceMap | undefined {
  if (!e.kfence.initialized) return undefined;
  const pool = e.kfence.poolStart, pages = Number(e.kfence.poolSize / PAGE);
  const objects = e.kfence.objectsData();
  const fault = faultAddr !== undefined && e.kfence.isKfenceAddress(faultAddr) ? Number((BigInt.asUintN(64, faultAddr) - pool) / PAGE) : -1;
  const grid = h("div", { class: "kfmap", role: "grid", "aria-label": `KFENCE pool: ${pages} pages at ${hex16(pool)}` });
  let row: HTMLElement | undefined;
  const counts: Record<string, number> = {};
  for (let p = 0; p < pages; p++) {
    if (p % 32 === 0) { row = h("div", { role: "row", class: "kfrow" }); grid.append(row); }
    const va = pool + BigInt(p) * PAGE;
    const isObject = p >= 2 && p % 2 === 0;
    const o = isObject ? objects[(p - 2) / 2] : undefined;
    const state = o ? o.state : "guard";
    const placement = o && o.state !== "unused" ? ((o.start & (PAGE - 1n)) === 0n ? "left" : "right") : undefined;
    counts[state] = (counts[state] ?? 0) + 1;
    const label = `page ${p} at ${hex16(va)}: ${o ? `kfence-#${o.index} ${o.state}${placement ? `, ${o.size} bytes at the ${placement} edge (${hex16(o.start)}), cache ${o.cache}` : ""}` : "guard page"}${p === fault ? ", the faulting page" : ""}`;
    row!.append(h("span", { class: `kp ${o ? "obj" : "guard"} s-${state.replace(/ /g, "-")}${placement ? ` at-${placement}` : ""}${p === fault ? " fault" : ""}`,
      role: "gridcell", id: `${prefix}-kp-${p}`, tabindex: p === (fault >= 0 ? fault : 0) ? 0 : -1, title: label, "aria-label": label, "data-page": p, "data-addr": hex16(va),
      "data-kind": o ? "object" : "guard", "data-state": state, "data-placement": placement, "data-fault": p === fault || undefined,
      "data-index": o?.index }));
  }
  const legend = h("ul", { class: "legend" },
    ...[["guard", "guard page (not present: any access faults)"], ["unused", "object page, never used"], ["allocated", "object page, allocated"],
      ["freed", "object page, freed (protected)"]].map(([s, t]) => h("li", {}, h("span", { class: `kp ${s === "guard" ? "guard" : "obj"} s-${s}` }), ` ${t} (${counts[s] ?? 0})`)),
    h("li", {}, h("span", { class: "kp obj s-allocated at-left" }), " object at the page's left edge"),
    h("li", {}, h("span", { class: "kp obj s-allocated at-right" }), " object at the page's right edge"),
    h("li", {}, h("span", { class: "kp fault" }), " the faulting page"));
  return {
    element: h("figure", { class: "picture" }, grid, h("figcaption", {}, legend)),
    cellFor: (addr) => (e.kfence.isKfenceAddress(addr) ? `${prefix}-kp-${Number((BigInt.asUintN(64, addr) - pool) / PAGE)}` : undefined),
  };
}

/** The report's text with every address that lands in a picture turned into a link to its cell. */
export function linkedText(text: string, resolve: (addr: bigint) => string | undefined): HTMLElement {
  const pre = h("pre", { class: "report", tabindex: 0 });
  const re = /\b(?:0x)?([0-9a-f]{16})\b/g;
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const id = resolve(BigInt("0x" + m[1]));
    if (!id) continue;
    pre.append(text.slice(last, m.index), h("a", { href: `#${id}`, class: "addr", "data-target": id, text: m[0] }));
    last = m.index + m[0].length;
  }
  pre.append(text.slice(last));
  return pre;
}
