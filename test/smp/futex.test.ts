// The core's locks and barriers sleep through the host's Atomics.wait
// (sf_futex_wait), never memory.atomic.wait32: Node 20's first tier (Liftoff)
// stores that instruction's address operand as 8 bytes into a 4-byte stack
// slot, zeroing the local next to it. A sleeping lock's address became 0 that
// way and a CPU thread waited for ever on word 0 (bench fuzz, 2026-12-07).
// The hang was rare (one bench run in six) and no short run reproduced it, so
// what is tested is the rule: no such instruction in any build of the core.
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import binaryen from "binaryen";

const root = new URL("../../build/", import.meta.url);

describe("sleeping on a word of the core's memory", () => {
  it.each(["core.wasm", "core.debug.wasm", "core.plain.wasm"])("%s has no memory.atomic.wait and imports sf_futex_wait", (file) => {
    const bytes = readFileSync(new URL(file, root));
    const mod = binaryen.readBinary(bytes);
    try {
      const text = mod.emitText();
      expect(text).not.toMatch(/atomic\.wait/);
    } finally {
      mod.dispose();
    }
    const imports = WebAssembly.Module.imports(new WebAssembly.Module(bytes)).map((i) => i.name);
    expect(imports).toContain("sf_futex_wait");
  });
});
