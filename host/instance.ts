// Instantiating the core: compile it once per build, give it RAM as wasm
// memory and its host imports, write the configuration and boot it. A boot
// that fails is a ConfigError naming the stage that ran out of memory.
import * as abi from "../abi/abi.js";
import { configSlots, ConfigError, MAX_RAM_MB, type ResolvedOptions } from "./config.js";
import { loadCoreBytes, coreBuildShared, type CoreBuild } from "./platform.js";
import { instantiateCore, noteCoreModule } from "./core_memory.js";
import type { CoreExports } from "./exports.js";

const BOOT_STAGES: Record<number, string> = {
  [abi.BOOT_STAGE_MEM_MAP]: "mem_map", [abi.BOOT_STAGE_PAGING_INIT]: "paging_init", [abi.BOOT_STAGE_KASAN_INIT]: "kasan_init",
  [abi.BOOT_STAGE_KIMAGE]: "the kernel image", [abi.BOOT_STAGE_KIMAGE_SHADOW]: "KASAN shadow of the kernel image",
  [abi.BOOT_STAGE_STACK_DEPOT]: "stack_depot_init", [abi.BOOT_STAGE_STACK_RING]: "the KASAN stack ring",
  [abi.BOOT_STAGE_KMEM_CACHE_INIT]: "kmem_cache_init", [abi.BOOT_STAGE_VMALLOC_INIT]: "vmalloc_init",
};

export interface CreateOptions {
  /** Which core build to run: the optimised release (default), the debug build, or plain (release without shared memory). */
  build?: CoreBuild;
  /** Use this compiled module instead of loading one (e.g. in workers). */
  module?: WebAssembly.Module;
}

/** An AssemblyScript string of the core's static data (UTF-16, byte length in the word before it). */
function coreString(memory: WebAssembly.Memory, ptr: number): string {
  if (ptr < 4 || ptr >= abi.PHYS_BASE) return "?";
  const bytes = new DataView(memory.buffer).getUint32(ptr - 4, true);
  if (bytes > 1024) return "?";
  return String.fromCharCode(...new Uint16Array(memory.buffer.slice(ptr, ptr + (bytes & ~1))));
}

const moduleCache = new Map<CoreBuild, Promise<WebAssembly.Module>>();
export function compileCore(build: CoreBuild = "release"): Promise<WebAssembly.Module> {
  if (build !== "release" && build !== "debug" && build !== "plain") return Promise.reject(new TypeError(`compileCore: build must be "release", "debug" or "plain", got ${JSON.stringify(build)}`));
  let p = moduleCache.get(build);
  if (!p) {
    p = loadCoreBytes(build).then(async (b) => noteCoreModule(await WebAssembly.compile(b as BufferSource), coreBuildShared(build)));
    moduleCache.set(build, p);
  }
  return p;
}

/** The functions the core imports from the host (besides its memory). */
export interface CoreImports {
  /** A slab constructor: ctor id, object address (an i64 crosses the boundary signed). */
  sf_ctor(ctor: number, va: bigint): void;
  sf_wall_ns(): number;
  /** Sleep while the i32 at addr holds expected, at most ms (a lock's or barrier's sleep; Atomics.wait). */
  sf_futex_wait(addr: number, expected: number, ms: number): void;
  /** Reports are pending inside a guest's call: print them now. */
  sf_guest_reports(): void;
}

/** Instantiate `mod` with options.ram MiB of RAM and boot it. */
export function bootCore(options: ResolvedOptions, mod: WebAssembly.Module, imports: CoreImports): { memory: WebAssembly.Memory; exports: CoreExports } {
  if (options.ram > MAX_RAM_MB) throw new ConfigError(`invalid value ${options.ram} for ram: expected an integer from 16 to ${MAX_RAM_MB}`);
  const pages = Math.ceil((abi.PHYS_BASE + options.ram * 1048576) / abi.WASM_PAGE);
  let memory: WebAssembly.Memory | undefined;       // set once instantiated
  const env = {
    // a failed check of the debug build (SF_CHECKS): its message and source line
    abort: (msg: number, file: number, line: number, col: number) => {
      const str = (p: number) => (memory ? coreString(memory, p) : "?");
      throw new Error(`shadowfence core aborted: ${str(msg)} (${str(file)}:${line}:${col})`);
    },
    ...imports,
  };
  let core: { memory: WebAssembly.Memory; instance: WebAssembly.Instance };
  try {
    core = instantiateCore(mod, pages, env);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new ConfigError(`ram=${options.ram}: this host could not provide ${pages * abi.WASM_PAGE} bytes of wasm memory (${e.message})`);
  }
  memory = core.memory;
  const exports = core.instance.exports as unknown as CoreExports;
  for (const [slot, v] of configSlots(options)) exports.config_set(slot, v);
  const rc = exports.boot();
  if (rc === abi.BOOT_ENOMEM) {
    const stage = BOOT_STAGES[exports.boot_failed_stage()] ?? "boot";
    // fail_page_alloc is armed when boot completes, so only RAM can be short here
    throw new ConfigError(`ram=${options.ram}: too little memory for the kernel's tables and pools (out of memory in ${stage})`);
  }
  if (rc !== abi.BOOT_OK) throw new ConfigError(`boot failed (${rc})`);
  return { memory: core.memory, exports };
}
