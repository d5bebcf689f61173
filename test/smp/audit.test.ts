// The SMP audit (docs/smp.md) classifies every mutable global of the core as
// boot-only machine state (M boot) or per-CPU (C); machine state that changes
// after boot lives in linear memory. A global added without a class fails here:
// with one instance per CPU, an unclassified global is a bug waiting for SMP.
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";

const root = new URL("../../", import.meta.url);

function watGlobals(): string[] {
  const wat = readFileSync(new URL("build/core.wat", root), "utf8");
  return [...wat.matchAll(/^ \(global \$assembly\/(\S+) \(mut /gm)].map((m) => m[1]);
}

/** file/name -> class (B: machine, boot-only; M: machine; C: per CPU), from the audit table's rows "| file.ts | `a`, `b` | class |". */
function audited(): Map<string, string> {
  const doc = readFileSync(new URL("docs/smp.md", root), "utf8");
  const out = new Map<string, string>();
  for (const line of doc.split("\n")) {
    const m = /^\| ([\w/]+)\.ts \| ((?:`\w+`(?:, )?)+) \| (M boot(?= \|$)|M|C)\b/.exec(line);
    if (!m) continue;
    for (const [, name] of m[2].matchAll(/`(\w+)`/g)) {
      const key = `${m[1]}/${name}`;
      expect(out.has(key), `${key} classified twice`).toBe(false);
      out.set(key, m[3] === "M boot" ? "B" : m[3]);
    }
  }
  return out;
}

describe("SMP audit of the core's mutable globals", () => {
  it("every mutable global of the release core is classified, and nothing else", () => {
    const globals = watGlobals();
    const table = audited();
    expect(globals.length).toBeGreaterThan(100);
    expect(globals.filter((g) => !table.has(g)), "globals missing from docs/smp.md").toEqual([]);
    expect([...table.keys()].filter((g) => !globals.includes(g)), "docs/smp.md names globals the core does not have").toEqual([]);
  });

  it("assembly/smp_state.ts is generated from the audit and copies exactly its boot-only rows", async () => {
    // @ts-expect-error: a plain .mjs script
    const gen = await import("../../scripts/gen-smp-state.mjs");
    const text: string = gen.generate();
    expect(readFileSync(new URL("assembly/smp_state.ts", root), "utf8"), "run node scripts/gen-smp-state.mjs").toBe(text);
    const fn = (name: string) => text.slice(text.indexOf(`export function ${name}(`), text.indexOf("\n}\n", text.indexOf(`export function ${name}(`)));
    const rows = [...audited()];
    const key = (k: string) => k.replace(/\//g, "_");
    const want = (c: string) => rows.filter(([, v]) => v === c).map(([k]) => key(k)).sort();
    const ids = (name: string) => [...fn(name).matchAll(/^ {2}(?:store<\w+>\(STATE \+ \d+, (?:changetype<\w+>\()?(\w+)|(\w+) = )/gm)].map((m) => m[1] ?? m[2]).sort();
    expect(ids("bootStateSave")).toEqual(want("B"));
    expect(ids("bootStateLoad")).toEqual(want("B"));
    expect(text).not.toContain("machineState");
  });

  it("machine state that changes after boot is in linear memory, not a global: the generator refuses such a row", async () => {
    expect([...audited().values()].filter((v) => v === "M")).toEqual([]);
    // @ts-expect-error: a plain .mjs script
    const gen = await import("../../scripts/gen-smp-state.mjs");
    const doc = readFileSync(new URL("docs/smp.md", root), "utf8") + "\n| kasan/shadow.ts | `newCounter` | M (a counter) |\n";
    expect(() => gen.generate(doc)).toThrow("kasan/shadow.ts: `newCounter` is machine state that changes after boot: keep it in linear memory (statics.ts MACHINE_STATE), not in a wasm global");
  });

  it("the totals the audit states match its table", () => {
    const table = audited();
    const count = (c: string) => [...table.values()].filter((v) => v === c).length;
    const doc = readFileSync(new URL("docs/smp.md", root), "utf8");
    const m = /Totals: (\d+) M \((\d+) boot-only, (\d+) mutable[^)]*\), (\d+) C\./.exec(doc);
    expect(m).not.toBeNull();
    expect(m!.slice(1).map(Number)).toEqual([count("B") + count("M"), count("B"), count("M"), count("C")]);
  });
});
