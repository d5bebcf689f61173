// Build the C guests the tests use once and cache them under build/guest/:
// a build is redone only when its source, the shim, or its flags change.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { cc, findToolchain, type CcOptions } from "../../host/guest/cc.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
export const OUT = path.join(root, "build/guest");

/**
 * Is the toolchain installed? Guest suites skip when it is not on a developer
 * machine; under CI (npm test's pretest installs it) a missing toolchain is an error, so
 * the guest tests can never pass by not running.
 */
export function haveToolchain(): boolean {
  try {
    findToolchain();
    return true;
  } catch (e) {
    if (process.env.CI) throw e;
    return false;
  }
}

export interface GuestBuild {
  /** Source relative to the repository root. */
  src: string;
  asan?: boolean;
  abi?: "user" | "kernel";
  cflags?: string[];
  /** Output name (default: the source's base name, plus flags). */
  name?: string;
}

/** The path of the built .wasm, built now if stale. */
export function guestWasm(b: GuestBuild): string {
  mkdirSync(OUT, { recursive: true });
  const src = path.join(root, b.src);
  const opts: Omit<CcOptions, "output"> = { sources: [src], asan: b.asan ?? true, abi: b.abi ?? "user", cflags: b.cflags ?? [] };
  const stamp = createHash("sha256")
    .update(readFileSync(src))
    .update(readFileSync(path.join(root, "guest/shim.c")))
    .update(readFileSync(path.join(root, "host/guest/cc.ts")))
    .update(JSON.stringify(opts))
    .digest("hex");
  const base = b.name ?? `${path.basename(b.src, ".c")}${opts.asan ? "" : "-plain"}${opts.abi === "kernel" ? "-kabi" : ""}`;
  const out = path.join(OUT, `${base}.wasm`);
  const stampFile = `${out}.stamp`;
  if (existsSync(out) && existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp) return out;
  // test files run in parallel workers: build aside, then rename (atomic) into place
  const tmp = `${out}.${process.pid}.tmp`;
  cc({ ...opts, output: tmp, stdio: "pipe" });
  renameSync(tmp, out);
  writeFileSync(`${stampFile}.${process.pid}`, stamp);
  renameSync(`${stampFile}.${process.pid}`, stampFile);
  return out;
}

export function guestBytes(b: GuestBuild): Uint8Array {
  return readFileSync(guestWasm(b));
}
