// shadowfence: the Linux kernel's KASAN, KASAN_VMALLOC and KFENCE as a
// WebAssembly memory engine. Public API.
import { Engine, type CreateOptions } from "./engine.js";
import type { EngineOptions } from "./config.js";

export { Engine, EnginePanicError, EngineBusyError, compileCore, parseGfp, parseSlabFlags, globalRedzone } from "./engine.js";
export type { Report, ReportKind, EngineStats, KmemCache, Gfp, CreateOptions, CoreExports } from "./engine.js";
export { resolveOptions, ConfigError, PARAMS, MAX_RAM_MB, tokenize } from "./config.js";
export type { EngineOptions, ResolvedOptions, Arch, KasanMode, KasanFault } from "./config.js";
export type { KasanDetails } from "./report/kasan.js";
export type { Frame } from "./stackdepot.js";
// guests (the toolchain helper is Node-only: "shadowfence/cc")
export { GuestError, GUEST_LINK_BASE, EXIT_STOPPED, EXIT_TRAPPED } from "./guest/runner.js";
export type { GuestOptions, GuestResult, GuestStatus } from "./guest/runner.js";

/** Boot an engine: `await createEngine({ cmdline: "kasan=on kfence.sample_interval=100" })`. */
export function createEngine(options: EngineOptions = {}, create: CreateOptions = {}): Promise<Engine> {
  return Engine.create(options, create);
}
/** Boot an engine synchronously (Node only). */
export function createEngineSync(options: EngineOptions = {}, create: CreateOptions = {}): Engine {
  return Engine.createSync(options, create);
}
