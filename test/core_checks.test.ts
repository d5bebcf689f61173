// The debug build checks the engine's own invariants (asconfig.json's debug
// target defines SF_CHECKS; the checks are `if (isDefined(SF_CHECKS))` blocks):
// TLB fills, SLUB freelist heads and slab lists, quarantine lists, buddy free
// lists. The release build compiles them out. The suites that run on both
// builds (test/helpers.ts BUILDS, the KUnit suites) exercise them.
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const CHECKS = ["TLB fill: ", "SLUB: ", "quarantine: ", "buddy: "];

/** UTF-16LE, as AssemblyScript lays out its static strings. */
const utf16 = (s: string) => Buffer.from(s, "utf16le");

function build(file: string): { bytes: Buffer; imports: string[] } {
  const bytes = readFileSync(`${root}/build/${file}`);
  const imports = WebAssembly.Module.imports(new WebAssembly.Module(bytes)).map((i) => `${i.module}.${i.name}`);
  return { bytes, imports };
}

describe("debug-build checks", () => {
  it("are compiled into the debug build, which imports abort for a failed check", () => {
    const debug = build("core.debug.wasm");
    for (const c of CHECKS) expect(debug.bytes.includes(utf16(c)), c).toBe(true);
    expect(debug.imports).toContain("env.abort");
  });

  it("are absent from the release build", () => {
    const release = build("core.wasm");
    for (const c of CHECKS) expect(release.bytes.includes(utf16(c)), c).toBe(false);
    expect(release.imports).not.toContain("env.abort");
  });
});
