// The engine's own errors (a leaf module: subsystems throw and test them
// without importing engine.ts).

/** The engine panicked (kasan.fault=panic, panic_on_warn, ...): every later call throws this. */
export class EnginePanicError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EnginePanicError";
  }
}

/** An engine call made from a report callback (GuestOptions.onReport): refused, the engine is mid-report. */
export class EngineBusyError extends Error {
  constructor(what: string) {
    super(`${what} cannot be called from a report callback (the engine is publishing a report); act on the report after the call that raised it returns`);
    this.name = "EngineBusyError";
  }
}

// Classes whose methods sit between a public engine method and the busy check:
// the error names the outermost of their methods, the one the callback called.
const FACADE_FRAME = /^\s*at (?:Engine|Kfence|Mempool|Slab|Vmalloc|Pages|MemAccess|Callbacks|Tasks)\.(?:(?:get|set) )?([\w$]+)/;
const PLUMBING = ["call", "kernelCall", "callWithStack", "enter", "withFrames", "asTask"];

/** The EngineBusyError for the engine call whose stack is `stack` (taken in the busy check: its first two lines are skipped). */
export function engineBusy(stack: string | undefined): EngineBusyError {
  let name: string | undefined;
  for (const line of (stack ?? "").split("\n").slice(2)) {
    const m = FACADE_FRAME.exec(line);
    if (!m) break;
    if (!PLUMBING.includes(m[1])) name = m[1];
  }
  return new EngineBusyError(name ? `engine.${name}()` : "this engine call");
}
