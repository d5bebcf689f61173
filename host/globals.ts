// Globals in the kernel image (or a module): registered with the compiler's
// right redzone and poisoned as __asan_register_globals does; %pS resolves an
// address inside one; kmemleak scans them as roots.
import * as abi from "../abi/abi.js";
import type { CoreExports } from "./exports.js";
import type { Frame } from "./stackdepot.js";
import { numArg } from "./args.js";

/** The right redzone clang gives a global of `size` bytes (ASan's MinRZ = 32 rule). */
export function globalRedzone(size: number): number {
  numArg("globalRedzone", "size", size, 1, 1 << 30);
  const minRz = 32;
  let rz = Math.max(minRz, Math.min(1 << 18, Math.floor(size / minRz / 4) * minRz));
  if (size % minRz) rz += minRz - (size % minRz);
  return rz;
}

interface Global { start: bigint; size: bigint; name: string; module?: string }

export class Globals {
  private readonly list: Global[] = [];

  /** `core` is read when needed: the globals exist before the core is instantiated. */
  constructor(private readonly core: { readonly exports: CoreExports }) {}

  register(name: string, size: number, opts: { module?: string } = {}): bigint {
    if (typeof name !== "string" || !/^[\x21-\x7e]{1,128}$/.test(name)) throw new TypeError(`registerGlobal: name must be 1 to 128 printable characters without spaces, got ${JSON.stringify(String(name)).slice(0, 60)}`);
    if (opts.module !== undefined && (typeof opts.module !== "string" || !/^[\w-]{1,55}$/.test(opts.module))) throw new TypeError("registerGlobal: module must be a module name (letters, digits, _ and -, at most 55)");
    if (!Number.isInteger(size) || size < 1 || size > 1 << 19) throw new RangeError(`registerGlobal: size must be 1..${1 << 19}, got ${size}`);
    const x = this.core.exports;
    const rz = globalRedzone(size);
    const va = x.kimage_global_alloc(size + rz, opts.module ? 1 : 0);
    if (va === 0n) throw new RangeError("registerGlobal: the kernel image's data area is full");
    const start = BigInt.asUintN(64, va);
    const aligned = (BigInt(size) + 7n) & ~7n;
    x.kasan_unpoison_range(start, BigInt(size));
    x.kasan_poison_range(start + aligned, BigInt(size + rz) - aligned, abi.KASAN_GLOBAL_REDZONE);
    this.list.push({ start, size: BigInt(size), name, module: opts.module });
    return start;
  }

  /** %pS of an address in a global: the nearest symbol at or below it. */
  symbolize(a: bigint): Frame | undefined {
    let best: Global | undefined;
    for (const g of this.list) if (g.start <= a && (!best || g.start > best.start)) best = g;
    if (!best) return undefined;
    const next = this.list.filter((g) => g.start > best!.start).reduce<bigint | undefined>((m, g) => (m === undefined || g.start < m ? g.start : m), undefined);
    if (next !== undefined && a >= next) return undefined;
    if (a - best.start > 4096n) return undefined;
    // kallsyms sizes a symbol up to the next one: the compiler's redzone is part of it
    const size = Number(best.size) + globalRedzone(Number(best.size));
    return { name: best.name, offset: Number(a - best.start), size, module: best.module };
  }

  /** kmemleak's roots: each mapped global's bytes, scanned as 8-byte words. */
  roots(): Array<{ lin: number; len: number; width: 8 }> {
    const out: Array<{ lin: number; len: number; width: 8 }> = [];
    for (const g of this.list) {
      const lin = Number(this.core.exports.translate_lin(g.start));
      if (lin) out.push({ lin, len: Number(g.size), width: 8 });
    }
    return out;
  }
}
