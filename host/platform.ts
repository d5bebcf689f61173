// Node specifics the engine needs: the core's bytes and script sources (for
// function-relative offsets in captured JS stacks). The browser bundle swaps
// this file for host/web/platform.ts.
import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CpuThreads } from "./smp/cpus.js";
import type { CpuRunner } from "./smp/types.js";

export type CoreBuild = "release" | "debug" | "plain";

const CORE_FILES: Record<CoreBuild, string> = { release: "core.wasm", debug: "core.debug.wasm", plain: "core.plain.wasm" };
/** Whether a build imports shared memory: release and debug do, plain (the browser's fallback) does not. */
export function coreBuildShared(build: CoreBuild): boolean {
  return build !== "plain";
}

function coreFile(build: CoreBuild): string {
  const name = CORE_FILES[build];
  // host/ (source, vitest) and dist/host/ (compiled) both sit below the package root
  for (const rel of [`../build/${name}`, `../../build/${name}`]) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error(`shadowfence: ${name} not found; run "npm run asbuild" to build the core`);
}

export async function loadCoreBytes(build: CoreBuild): Promise<Uint8Array> {
  return readFileSync(coreFile(build));
}
export function loadCoreBytesSync(build: CoreBuild): Uint8Array {
  return readFileSync(coreFile(build));
}

const sources = new Map<string, string | undefined>();
export function readSource(file: string): string | undefined {
  if (sources.has(file)) return sources.get(file);
  let text: string | undefined;
  try {
    const path = file.startsWith("file://") ? fileURLToPath(file) : file;
    if (path.startsWith("/") && /\.[cm]?js$/.test(path)) text = readFileSync(path, "utf8");
  } catch {
    text = undefined;
  }
  sources.set(file, text);
  return text;
}

export function wallNs(): number {
  return Number(process.hrtime.bigint());
}

/** CPU threads (issue 14): worker threads over the engine's shared memory (host/smp/cpus.ts). */
export async function startCpuThreads(mod: WebAssembly.Module, memory: WebAssembly.Memory, cpu0: WebAssembly.Exports, nrCpus: number): Promise<CpuRunner> {
  return CpuThreads.start(mod, memory, cpu0, nrCpus);
}
export function startCpuThreadsSync(mod: WebAssembly.Module, memory: WebAssembly.Memory, cpu0: WebAssembly.Exports, nrCpus: number): CpuRunner {
  return CpuThreads.startSync(mod, memory, cpu0, nrCpus);
}
