// Argument checks of the public API. Every size, count, address and offset is
// range-checked as the C parameter it stands for (size_t, unsigned long, int):
// a value it cannot hold is an error naming the function, the argument and
// what it accepts, never taken modulo 2^64.

/** 2^64 - 1: size_t and unsigned long on a 64-bit kernel. */
export const U64_MAX = 0xffffffffffffffffn;

function show(v: unknown): string {
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v);
  if (typeof v === "number" || typeof v === "boolean" || v === undefined || v === null) return String(v);
  if (typeof v === "function") return "a function";
  return Array.isArray(v) ? "an array" : `a ${typeof v}`;
}

/**
 * An integer from min to max (number or bigint), as a bigint. Numbers must be
 * safe integers: 2^53 and above have already lost their low bits.
 */
export function intArg(fn: string, name: string, v: unknown, min: bigint, max: bigint): bigint {
  let b: bigint | undefined;
  if (typeof v === "bigint") b = v;
  else if (typeof v === "number" && Number.isSafeInteger(v)) b = BigInt(v);
  if (b === undefined || b < min || b > max) {
    const unsafe = typeof v === "number" && Number.isInteger(v) && !Number.isSafeInteger(v) ? " (a number past 2^53 is inexact: pass a bigint)" : "";
    throw new RangeError(`${fn}: ${name} must be an integer from ${min} to ${max}, got ${show(v)}${unsafe}`);
  }
  return b;
}

/** A size_t (0 .. 2^64-1). */
export function sizeArg(fn: string, name: string, v: unknown, max: bigint = U64_MAX): bigint {
  return intArg(fn, name, v, 0n, max);
}

/** A kernel address (unsigned long). */
export function addrArg(fn: string, name: string, v: unknown): bigint {
  return intArg(fn, name, v, 0n, U64_MAX);
}

/** A small integer (an int or unsigned int parameter) as a number. */
export function numArg(fn: string, name: string, v: unknown, min: number, max: number): number {
  return Number(intArg(fn, name, v, BigInt(min), BigInt(max)));
}

/** A callback: a function, checked where it is given (not where it would run). */
export function funcArg<T extends (...args: never[]) => unknown>(fn: string, name: string, v: unknown): T {
  if (typeof v !== "function") throw new TypeError(`${fn}: ${name} must be a function, got ${show(v)}`);
  return v as T;
}

/** TASK_COMM_LEN - 1: the bytes of a task's comm. */
export const COMM_MAX = 15;

/** Longest symbol name a report prints: kallsyms' KSYM_NAME_LEN - 1. */
export const NAME_MAX = 511;

/**
 * A name from outside (a guest's name section or globals, a task name) as
 * reports print it: printable ASCII only (anything else is `?`), at most `max`
 * characters, so no name can forge a line of a report.
 */
export function sanitizeName(s: string, max = NAME_MAX): string {
  const clean = s.replace(/[^\x20-\x7e]/g, "?");
  return clean.length > max ? clean.slice(0, max) : clean;
}

/**
 * A task name as the kernel keeps it (at most 15 bytes, like __set_task_comm's
 * strscpy into comm[TASK_COMM_LEN]), sanitised as every name is.
 */
export function sanitizeComm(fn: string, v: unknown): string {
  if (typeof v !== "string" || v.length === 0) throw new TypeError(`${fn}: comm must be a non-empty string, got ${show(v)}`);
  return sanitizeName(v, COMM_MAX);
}

/**
 * C flags (an unsigned int) given as a number or as names joined by "|"
 * ("GFP_KERNEL | __GFP_ZERO"), each name looked up in `names`.
 */
export function flagsArg(fn: string, kind: string, v: unknown, names: Record<string, number>, example: string): number {
  if (typeof v === "number") return numArg(fn, "flags", v, 0, 0xffffffff);
  if (typeof v !== "string") throw new TypeError(`${fn}: flags must be a number or a string like "${example}", got ${typeof v}`);
  let flags = 0;
  for (const part of v.split("|").map((x) => x.trim()).filter(Boolean)) {
    const n = names[part];
    if (n === undefined) throw new RangeError(`unknown ${kind} flag ${JSON.stringify(part)}: expected ${Object.keys(names).join(", ")}`);
    flags |= n;
  }
  return flags;
}
