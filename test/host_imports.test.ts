// The host's modules import one another without cycles (type-only imports count:
// a cycle of types still ties the modules' designs together). Subsystems reach
// the engine through narrow interfaces (KfenceEngine, SlabEngine, CallbacksEngine, GuestEngine, ...)
// and leaf modules (report/context.ts, report/report.ts, errors.ts).
import { describe, it, expect } from "vitest";
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const hostDir = fileURLToPath(new URL("../host", import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith(".ts") && !p.endsWith(".d.ts") ? [p] : [];
  });
}

/** module -> host modules it imports or re-exports from (static and dynamic, types included) */
function importGraph(): Map<string, string[]> {
  const files = sources(hostDir);
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const src = readFileSync(f, "utf8");
    const specs = [
      ...[...src.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']/gms)].map((m) => m[1]),
      ...[...src.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]),
    ];
    const deps = specs.filter((s) => s.startsWith("."))
      .map((s) => path.resolve(path.dirname(f), s.replace(/\.js$/, ".ts")))
      .filter((d) => known.has(d));
    graph.set(path.relative(hostDir, f), [...new Set(deps.map((d) => path.relative(hostDir, d)))]);
  }
  return graph;
}

/** Strongly connected components of more than one module (or a module importing itself). */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [], onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next); low.set(v, next); next++;
    stack.push(v); onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do { w = stack.pop()!; onStack.delete(w); scc.push(w); } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out.sort((a, b) => a[0].localeCompare(b[0]));
}

// None left: guest/runner.ts takes a narrow interface (GuestEngine) as kfence.ts does.
const KNOWN: string[][] = [];

describe("host import graph", () => {
  it("the walk sees the host's imports (engine.ts imports its subsystems)", () => {
    const g = importGraph();
    expect(g.size).toBeGreaterThan(40);
    expect(g.get("engine.ts")).toEqual(expect.arrayContaining(["kfence.ts", "stack_frame.ts", "report/kasan.ts", "layout.ts"]));
    expect(g.get("report/kasan.ts")).toContain("report/page.ts");
  });

  it("has no import cycle", () => {
    expect(cycles(importGraph())).toEqual(KNOWN);
  });

  it("finds a cycle when there is one", () => {
    const g = new Map([["a.ts", ["b.ts"]], ["b.ts", ["c.ts"]], ["c.ts", ["a.ts"]], ["d.ts", ["a.ts"]]]);
    expect(cycles(g)).toEqual([["a.ts", "b.ts", "c.ts"]]);
  });
});
