// Browser specifics: the core comes from a URL next to the bundle (rollup
// emits it as an asset); script sources are not readable. Two cores ship: the
// shared-memory one (several CPUs: Web Workers over one memory) for pages that
// are cross-origin isolated, the plain one (one CPU) for the others.
import { sharedMemoryAvailable } from "../core_memory.js";
import { WebCpuThreads, syncUnavailableReason } from "./cpu_threads.js";
import type { CpuRunner } from "../smp/types.js";

export type CoreBuild = "release" | "debug" | "plain";

const coreUrls: { plain?: string | URL; shared?: string | URL } = {};
let cpuWorkerUrl: string | URL | undefined;
/**
 * Whether `build` runs on shared memory here: release (and debug, which the
 * bundle serves with the release core) where the page is cross-origin
 * isolated; plain never.
 */
export function coreBuildShared(build: CoreBuild): boolean {
  return build !== "plain" && coreUrls.shared !== undefined && sharedMemoryAvailable();
}

// kept once fetched, so synchronous creation (KUnit, fuzz units) works afterwards
const coreBytes: { plain?: Uint8Array; shared?: Uint8Array } = {};
/**
 * Where the bundle finds its cores: `url` the plain core (core.wasm),
 * `sharedUrl` the shared-memory one (core.smp.wasm; without it, one CPU everywhere).
 */
export function setCoreUrl(url: string | URL, sharedUrl?: string | URL): void {
  coreUrls.plain = url;
  coreUrls.shared = sharedUrl;
}
/** Where the bundle finds the CPU threads' worker script. */
export function setCpuWorkerUrl(url: string | URL): void {
  cpuWorkerUrl = url;
}
function kind(build: CoreBuild): "plain" | "shared" {
  return coreBuildShared(build) ? "shared" : "plain";
}

export async function loadCoreBytes(build: CoreBuild): Promise<Uint8Array> {
  const k = kind(build);
  const url = coreUrls[k];
  if (!url) throw new Error("shadowfence: setCoreUrl() was not called with the location of core.wasm");
  const res = await fetch(url);
  if (!res.ok) throw new Error(`shadowfence: fetching ${url} failed: ${res.status}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  coreBytes[k] = bytes;
  return bytes;
}
export function loadCoreBytesSync(build: CoreBuild): Uint8Array {
  const bytes = coreBytes[kind(build)];
  if (bytes) return bytes;
  throw new Error("shadowfence: synchronous loading needs core.wasm fetched first: await createEngine() or compileCore() once");
}

export function readSource(_file: string): string | undefined {
  return undefined;
}

export function wallNs(): number {
  return Math.round(performance.now() * 1e6);
}

/** CPU threads in a browser: Web Workers over the engine's shared memory (host/web/cpu_threads.ts). */
export async function startCpuThreads(mod: WebAssembly.Module, memory: WebAssembly.Memory, cpu0: WebAssembly.Exports, nrCpus: number): Promise<CpuRunner> {
  if (!cpuWorkerUrl) throw new Error("shadowfence: setCpuWorkerUrl() was not called with the location of the CPU worker script");
  return WebCpuThreads.start(mod, memory, cpu0, nrCpus, cpuWorkerUrl);
}
export function startCpuThreadsSync(_mod: WebAssembly.Module, _memory: WebAssembly.Memory, _cpu0: WebAssembly.Exports, _nrCpus: number): CpuRunner {
  throw new Error(syncUnavailableReason());
}
