// The SMP audit (docs/smp.md) classifies every mutable global of the core as
// machine state (M) or per-CPU (C). A global added without a class fails here:
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

  it("assembly/smp.ts publishes and copies exactly the boot-only globals", () => {
    const src = readFileSync(new URL("assembly/smp.ts", root), "utf8");
    const body = (fn: string) => src.slice(src.indexOf(`export function ${fn}(`), src.indexOf("\n}\n", src.indexOf(`export function ${fn}(`)));
    const alias = (key: string) => {
      const [file, name] = [key.slice(0, key.lastIndexOf("/")), key.slice(key.lastIndexOf("/") + 1)];
      const m = new RegExp(`import \\{[^}]*\\b${name} as (\\w+)[^}]*\\} from "\\./${file}"`).exec(src);
      return m ? m[1] : name;
    };
    const boot = [...audited()].filter(([, c]) => c === "B").map(([k]) => alias(k));
    const saved = [...body("smp_boot_state_save").matchAll(/store<\w+>\(BOOT_STATE \+ \d+, (?:changetype<\w+>\()?(\w+)/g)].map((m) => m[1]);
    const loaded = [...body("smp_secondary_start").matchAll(/^ {2}(\w+) = .*\bload</gm)].map((m) => m[1]);
    expect(saved.sort()).toEqual([...boot].sort());
    expect(loaded.sort()).toEqual([...boot].sort());
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
