// The hook ABI as the core exports it: every name clang 16 emits for wasm32
// (both flavours) is there, and the release build's check hooks are the
// inline fast path plus one out-of-line call (no allocation, no abort).
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const SIZES = ["1", "2", "4", "8", "16", "N"];
const CLANG_HOOKS = [
  ...["load", "store"].flatMap((k) => SIZES.flatMap((n) => [`__asan_${k}${n}`, `__asan_${k}${n}_noabort`])),
  "__asan_memset", "__asan_memcpy", "__asan_memmove",
  ...["00", "01", "02", "03", "04", "05", "06", "07", "f1", "f2", "f3", "f5", "f8"].map((v) => `__asan_set_shadow_${v}`),
  "__asan_alloca_poison", "__asan_allocas_unpoison", "__asan_handle_no_return", "__asan_register_globals",
  "__asan_unregister_globals", "__asan_init", "__asan_version_mismatch_check_v8", "__asan_before_dynamic_init",
  "__asan_after_dynamic_init",
];

describe("guest hook ABI", () => {
  it("exports every __asan_* function clang 16 emits for wasm32, with clang's signatures", () => {
    for (const file of ["core.wasm", "core.debug.wasm", "core.plain.wasm"]) {
      const exports = new Map(WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(`${root}/build/${file}`))).map((e) => [e.name, e.kind]));
      for (const h of CLANG_HOOKS) expect(exports.get(h), `${file}: ${h}`).toBe("function");
      for (const h of ["load", "store"].flatMap((k) => ["1", "2", "4", "8", "16"].map((n) => `__asan_${k}${n}_kasan_off`))) {
        expect(exports.get(h), `${file}: ${h}`).toBe("function");
      }
    }
  });

  it("the release build's checks are the inline fast path and one slow-path call", () => {
    const wat = readFileSync(`${root}/build/core.wat`, "utf8");
    const names = ["load", "store"].flatMap((k) => ["1", "2", "4", "8", "16"].flatMap((n) => [`__asan_${k}${n}`, `__asan_${k}${n}_kasan_off`]));
    for (const n of names) {
      const start = wat.indexOf(`(func $assembly/hooks/${n} `);
      expect(start, n).toBeGreaterThan(0);
      const body = wat.slice(start, wat.indexOf("\n (func ", start + 1));
      const calls = [...body.matchAll(/call (\S+)/g)].map((m) => m[1]);
      expect(calls, n).toEqual(["$assembly/hooks/hookSlow"]);
      expect(body).not.toMatch(/__new|abort|global\.get/);
    }
  });
});
