// `shadowfence cc`: build a C guest with Debian's clang-16 for wasm32-wasi,
// with AddressSanitizer's outline instrumentation (every check a call into
// the engine), linked at the address the runner claims, with the heap shim.
// Node only (the CLI and tests import it; the browser bundle does not).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { GUEST_LINK_BASE } from "./runner.js";

export const DEBIAN_PACKAGES = "clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32";
/** The C stack each guest gets (bytes). */
export const GUEST_STACK_SIZE = 256 * 1024;

/** Flags that make every shadow access a call (reference: clang-wasm-asan.md). */
const OUTLINE = ["-mllvm", "-asan-instrumentation-with-call-threshold=0", "-mllvm", "-asan-max-inline-poisoning-size=0",
  "-mllvm", "-asan-use-after-return=never"];
/** Keep bugs the optimiser would fold away (malloc; free; free, NULL dereferences). */
const KEEP_BUGS = ["-fno-builtin-malloc", "-fno-builtin-free", "-fno-builtin-calloc", "-fno-builtin-realloc",
  "-fno-delete-null-pointer-checks"];
const HEAP_WRAPS = ["malloc", "free", "calloc", "realloc", "aligned_alloc", "posix_memalign", "malloc_usable_size",
  "__libc_malloc", "__libc_free", "__libc_calloc"];
const STRING_WRAPS = ["strlen", "strnlen", "strcpy", "strncpy", "strcat", "strncat"];
/** Wrapped in every build: the kernel ABI checks ranges, the user ABI makes each one memory.fill/copy (one checked call). */
const MEM_WRAPS = ["memcpy", "memmove", "memset"];
const ENGINE_IMPORTS = ["guest_kmalloc", "guest_kcalloc", "guest_kfree", "guest_krealloc", "guest_ksize",
  "guest_kmalloc_aligned", "guest_check_range"];
const HOOKS = [
  ...["load", "store"].flatMap((k) => ["1", "2", "4", "8", "16", "N"].flatMap((n) => [`__asan_${k}${n}`, `__asan_${k}${n}_noabort`])),
  "__asan_memset", "__asan_memcpy", "__asan_memmove",
  ...["00", "01", "02", "03", "04", "05", "06", "07", "f1", "f2", "f3", "f5", "f8"].map((v) => `__asan_set_shadow_${v}`),
  "__asan_alloca_poison", "__asan_allocas_unpoison", "__asan_handle_no_return", "__asan_register_globals",
  "__asan_unregister_globals", "__asan_init", "__asan_version_mismatch_check_v8", "__asan_before_dynamic_init",
  "__asan_after_dynamic_init",
];

export class ToolchainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ToolchainError";
  }
}

export interface Toolchain {
  clang: string;
  sysroot: string;
}

function runs(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: "ignore" });
  return r.status === 0;
}

/** Find clang-16, wasm-ld-16, wasi-libc and the wasm32 builtins, or say what to install. */
export function findToolchain(env: NodeJS.ProcessEnv = process.env): Toolchain {
  const clang = env.SHADOWFENCE_CLANG ?? "clang-16";
  const sysroot = env.SHADOWFENCE_WASI_SYSROOT ?? "/usr";
  const missing: string[] = [];
  if (!runs(clang, ["--version"])) missing.push(`${clang} (package clang-16)`);
  if (!env.SHADOWFENCE_CLANG && !runs("wasm-ld-16", ["--version"])) missing.push("wasm-ld-16 (package lld-16)");
  const libc = env.SHADOWFENCE_WASI_SYSROOT ? path.join(sysroot, "lib/wasm32-wasi/libc.a") : "/usr/lib/wasm32-wasi/libc.a";
  if (!existsSync(libc)) missing.push(`wasi-libc (${libc}; package wasi-libc)`);
  if (!env.SHADOWFENCE_CLANG && !existsSync("/usr/lib/llvm-16/lib/clang/16/lib/wasi/libclang_rt.builtins-wasm32.a")) {
    missing.push("the wasm32 compiler-rt builtins (package libclang-rt-16-dev-wasm32)");
  }
  if (missing.length) {
    throw new ToolchainError(`shadowfence cc needs ${missing.join(", ")}.\n` +
      `On Debian or Ubuntu: sudo apt-get install ${DEBIAN_PACKAGES}\n` +
      "(or point SHADOWFENCE_CLANG and SHADOWFENCE_WASI_SYSROOT at another clang 16 and wasi-libc)");
  }
  return { clang, sysroot };
}

/** The shim's source, shipped in the package (guest/shim.c). */
export function shimSource(): string {
  for (const rel of ["../../guest/shim.c", "../../../guest/shim.c"]) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new ToolchainError("shadowfence: guest/shim.c is missing from the package");
}

export interface CcOptions {
  sources: string[];
  output: string;
  /** Passed to clang after the defaults (so -O2 etc. override them). */
  cflags?: string[];
  /** AddressSanitizer instrumentation (default true); false builds a plain guest on the engine's heap. */
  asan?: boolean;
  /** "user" (default): -fsanitize=address; "kernel": -fsanitize=kernel-address (the _noabort ABI). */
  abi?: "user" | "kernel";
  stackSize?: number;
  /** Print the clang commands. */
  verbose?: boolean;
  /** Where clang's diagnostics go: inherited (CLI) or returned in the error. */
  stdio?: "inherit" | "pipe";
}

export interface CcCommands { shim: string[]; program: string[] }

/** The clang command lines cc runs (for --print-command and tests). */
export function ccCommands(o: CcOptions, tc: Toolchain, shimObject: string, undefinedFile: string): CcCommands {
  const asan = o.asan ?? true;
  const kernel = (o.abi ?? "user") === "kernel";
  const target = ["--target=wasm32-wasi", `--sysroot=${tc.sysroot}`];
  const shim = [...target, "-O2", "-mbulk-memory", ...(kernel && asan ? ["-DSHADOWFENCE_KERNEL_ABI"] : []), "-c", shimSource(), "-o", shimObject];
  const sanitize = !asan ? [] : kernel
    ? ["-Xclang", "-fsanitize=kernel-address", "-Xclang", "-fsanitize-recover=kernel-address", ...OUTLINE]
    : ["-Xclang", "-fsanitize=address", ...OUTLINE];
  const wraps = [...HEAP_WRAPS, ...(asan ? STRING_WRAPS : []), ...MEM_WRAPS];
  const link = ["--import-memory", "--export-memory", `--global-base=${GUEST_LINK_BASE}`, "-z", `stack-size=${o.stackSize ?? GUEST_STACK_SIZE}`,
    ...wraps.map((w) => `--wrap=${w}`), `--allow-undefined-file=${undefinedFile}`,
    "--export=__stack_low", "--export=__stack_high", "--export=__heap_base", "--export=__data_end"];
  const program = [...target, ...KEEP_BUGS, ...sanitize, ...(o.cflags ?? []), ...o.sources, shimObject, "-o", o.output,
    ...link.map((l) => `-Wl,${l}`)];
  return { shim, program };
}

/**
 * clang runs wasm-opt after linking at -O1 and above when it finds one on
 * PATH (binaryen's npm package puts one in node_modules/.bin, Debian's binaryen
 * in /usr/bin); wasm-opt drops the name section the reports need and
 * re-encodes the code. A do-nothing wasm-opt first on PATH keeps the output
 * as wasm-ld wrote it.
 */
const NO_WASM_OPT = `#!/bin/sh
# shadowfence cc: keep wasm-ld's output (and its name section) as it is
in="$1"; out="$1"
while [ $# -gt 0 ]; do [ "$1" = "-o" ] && out="$2"; shift; done
[ "$in" = "$out" ] || cp "$in" "$out"
`;

/** Build a guest. Throws ToolchainError (missing tools) or CcError (clang failed). */
export function cc(o: CcOptions): void {
  if (o.sources.length === 0) throw new RangeError("shadowfence cc: no source files");
  const tc = findToolchain();
  const dir = mkdtempSync(path.join(tmpdir(), "shadowfence-cc-"));
  try {
    writeFileSync(path.join(dir, "wasm-opt"), NO_WASM_OPT, { mode: 0o755 });
    const undefinedFile = path.join(dir, "engine-imports.txt");
    writeFileSync(undefinedFile, [...ENGINE_IMPORTS, ...HOOKS].join("\n") + "\n");
    const cmds = ccCommands(o, tc, path.join(dir, "shim.o"), undefinedFile);
    for (const args of [cmds.shim, cmds.program]) {
      if (o.verbose) process.stderr.write(`${tc.clang} ${args.join(" ")}\n`);
      const r = spawnSync(tc.clang, args, { stdio: o.stdio === "pipe" ? ["ignore", "pipe", "pipe"] : "inherit", encoding: "utf8",
        env: { ...process.env, PATH: `${dir}${path.delimiter}${process.env.PATH ?? ""}` } });
      if (r.error) throw new ToolchainError(`shadowfence cc: could not run ${tc.clang}: ${r.error.message}`);
      if (r.status !== 0) throw new CcError(`${tc.clang} failed (exit ${r.status})`, `${r.stdout ?? ""}${r.stderr ?? ""}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export class CcError extends Error {
  constructor(message: string, readonly output: string) {
    super(output ? `${message}:\n${output}` : message);
    this.name = "CcError";
  }
}
