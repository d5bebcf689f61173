// The core's memory: the Node builds (release, debug) import a shared
// WebAssembly.Memory so that several CPUs (one instance each, on worker
// threads) can run over one RAM; the plain build (the browser bundle, pages
// that are not cross-origin isolated) imports an ordinary one. A module's
// memory kind is known from how it was loaded; for a module handed in by a
// caller, the first instantiation tries shared memory and falls back.

const sharedModules = new WeakMap<WebAssembly.Module, boolean>();

/** Whether SharedArrayBuffer (and so a shared wasm memory) is available here. */
export function sharedMemoryAvailable(): boolean {
  if (typeof SharedArrayBuffer !== "function") return false;
  // browsers expose SharedArrayBuffer only to cross-origin isolated pages
  const g = globalThis as { crossOriginIsolated?: boolean };
  return g.crossOriginIsolated !== false;
}

/** Record whether `mod` (compiled from a known build) imports shared memory. */
export function noteCoreModule(mod: WebAssembly.Module, shared: boolean): WebAssembly.Module {
  sharedModules.set(mod, shared);
  return mod;
}

/** Whether `mod` imports shared memory; undefined when it was not loaded here. */
export function coreModuleShared(mod: WebAssembly.Module): boolean | undefined {
  return sharedModules.get(mod);
}

function newMemory(pages: number, shared: boolean): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: pages, maximum: pages, shared } as WebAssembly.MemoryDescriptor);
}

/**
 * Instantiate `mod` over a new memory of `pages` wasm pages (shared when the
 * module imports shared memory). `env` gets the memory added.
 */
export function instantiateCore(mod: WebAssembly.Module, pages: number, env: Record<string, unknown>): { memory: WebAssembly.Memory; instance: WebAssembly.Instance } {
  const known = coreModuleShared(mod);
  const tries = known !== undefined ? [known] : sharedMemoryAvailable() ? [true, false] : [false];
  let lastError: unknown;
  for (const shared of tries) {
    const memory = newMemory(pages, shared);
    try {
      const instance = new WebAssembly.Instance(mod, { env: { ...env, memory } } as WebAssembly.Imports);
      sharedModules.set(mod, shared);
      return { memory, instance };
    } catch (e) {
      // only a memory kind mismatch is worth the other kind
      if (!(e instanceof WebAssembly.LinkError)) throw e;
      lastError = e;
    }
  }
  throw lastError;
}
