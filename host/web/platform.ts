// Browser specifics: the core comes from a URL next to the bundle (rollup
// emits it as an asset); script sources are not readable.
export type CoreBuild = "release" | "debug" | "plain";
/** The bundle ships the plain build (no shared memory): one CPU. */
export function coreBuildShared(_build: CoreBuild): boolean {
  return false;
}

let coreUrl: string | URL | undefined;
// kept once fetched, so synchronous creation (KUnit, fuzz units) works afterwards
let coreBytes: Uint8Array | undefined;
/** Where the bundle finds core.wasm; the bundle sets this to its emitted asset. */
export function setCoreUrl(url: string | URL): void {
  coreUrl = url;
}

export async function loadCoreBytes(_build: CoreBuild): Promise<Uint8Array> {
  if (!coreUrl) throw new Error("shadowfence: setCoreUrl() was not called with the location of core.wasm");
  const res = await fetch(coreUrl);
  if (!res.ok) throw new Error(`shadowfence: fetching ${coreUrl} failed: ${res.status}`);
  coreBytes = new Uint8Array(await res.arrayBuffer());
  return coreBytes;
}
export function loadCoreBytesSync(_build: CoreBuild): Uint8Array {
  if (coreBytes) return coreBytes;
  throw new Error("shadowfence: synchronous loading needs core.wasm fetched first: await createEngine() or compileCore() once");
}

export function readSource(_file: string): string | undefined {
  return undefined;
}

export function wallNs(): number {
  return Math.round(performance.now() * 1e6);
}

// CPU threads in a browser are Web Workers; until the bundle ships them the
// engine runs one CPU (CpuSet refuses before calling these on plain memory).
import type { CpuRunner } from "../smp/types.js";
export async function startCpuThreads(_mod: WebAssembly.Module, _memory: WebAssembly.Memory, _cpu0: WebAssembly.Exports, _nrCpus: number): Promise<CpuRunner> {
  throw new Error("this engine runs one CPU: the browser bundle has no CPU threads");
}
export function startCpuThreadsSync(_mod: WebAssembly.Module, _memory: WebAssembly.Memory, _cpu0: WebAssembly.Exports, _nrCpus: number): CpuRunner {
  throw new Error("this engine runs one CPU: a browser's main thread cannot wait for CPU threads to start; await engine.smpInit() first");
}
