// The kernel's string and bit helpers as instrumented kernel code runs them
// (lib/string.c, include/asm-generic/bitops/instrumented-*.h): every byte a
// string function touches is a checked 1-byte load inside that function, so a
// report names it ("in strlen+0x.."); bitops check the whole long they touch.
import * as abi from "../abi/abi.js";
import type { Engine } from "./engine.js";
import type { Frame } from "./stackdepot.js";
import { addrArg, numArg } from "./args.js";

const F = (name: string, offset: number, size: number): Frame => ({ name, offset, size });

function byteAt(e: Engine, fn: Frame, p: bigint): number {
  return e.withFrames([fn], () => e.load(p, 1));
}

export function memchr(e: Engine, s: bigint, c: number, n: number): bigint {
  addrArg("memchr", "s", s); numArg("memchr", "c", c, -128, 255); numArg("memchr", "n", n, 0, 0x7fffffff);
  const fn = F("memchr", 0x2f, 0x50);
  for (let i = 0; i < n; i++) if (byteAt(e, fn, s + BigInt(i)) === (c & 0xff)) return s + BigInt(i);
  return 0n;
}
export function memcmp(e: Engine, a: bigint, b: bigint, n: number): number {
  addrArg("memcmp", "cs", a); addrArg("memcmp", "ct", b); numArg("memcmp", "count", n, 0, 0x7fffffff);
  const fn = F("memcmp", 0x3f, 0x70);
  for (let i = 0; i < n; i++) {
    const d = byteAt(e, fn, a + BigInt(i)) - byteAt(e, fn, b + BigInt(i));
    if (d) return d;
  }
  return 0;
}
export function strlen(e: Engine, s: bigint): number {
  addrArg("strlen", "s", s);
  const fn = F("strlen", 0x1a, 0x30);
  let n = 0;
  while (byteAt(e, fn, s + BigInt(n)) !== 0) n++;
  return n;
}
export function strnlen(e: Engine, s: bigint, max: number): number {
  addrArg("strnlen", "s", s); numArg("strnlen", "count", max, 0, 0x7fffffff);
  const fn = F("strnlen", 0x25, 0x40);
  let n = 0;
  while (n < max && byteAt(e, fn, s + BigInt(n)) !== 0) n++;
  return n;
}
export function strchr(e: Engine, s: bigint, c: number): bigint {
  addrArg("strchr", "s", s); numArg("strchr", "c", c, -128, 255);
  const fn = F("strchr", 0x22, 0x40);
  for (let p = s; ; p++) {
    const b = byteAt(e, fn, p);
    if (b === (c & 0xff)) return p;
    if (b === 0) return 0n;
  }
}
export function strrchr(e: Engine, s: bigint, c: number): bigint {
  addrArg("strrchr", "s", s); numArg("strrchr", "c", c, -128, 255);
  const fn = F("strrchr", 0x1e, 0x40);
  let last = 0n;
  for (let p = s; ; p++) {
    const b = byteAt(e, fn, p);
    if (b === (c & 0xff)) last = p;
    if (b === 0) return last;
  }
}
/** Compare a kernel string with a JS string (the constant operand of the tests). */
export function strcmp(e: Engine, s: bigint, t: string): number {
  return strncmp(e, s, t, Infinity, F("strcmp", 0x3e, 0x80));
}
export function strncmp(e: Engine, s: bigint, t: string, n: number, fn = F("strncmp", 0x4d, 0xa0)): number {
  addrArg(fn.name, "cs", s);
  if (n !== Infinity) numArg("strncmp", "count", n, 0, 0x7fffffff);
  if (typeof t !== "string") throw new TypeError(`${fn.name}: ct must be a string`);
  for (let i = 0; i < n; i++) {
    const a = byteAt(e, fn, s + BigInt(i));
    const b = i < t.length ? t.charCodeAt(i) & 0xff : 0;
    if (a !== b) return a < b ? -1 : 1;
    if (a === 0) return 0;
  }
  return 0;
}

// ── bitops ───────────────────────────────────────────────────────────────────
// instrument_atomic_{read,write,read_write} on the whole long, then the
// operation on the (unchecked) memory. Returns the old long, or undefined when
// the check faulted and nothing was done.
function checkedRmw(e: Engine, word: bigint, write: boolean, update: (old: bigint) => bigint): bigint | undefined {
  const x = e.exports;
  return e.kernelCall(false, () => {
    if (x.kasan_check_range(word, 8n, write ? 1 : 0, abi.PATH_BITOPS) < 0) return undefined;
    const buf = x.host_buf() + abi.HOST_BUF_BYTES;
    if (!x.mem_copy_out(word, buf, 8n)) return undefined;
    const dv = new DataView(e.memory.buffer, buf, 8);
    const old = dv.getBigUint64(0, true);
    if (write) {
      dv.setBigUint64(0, BigInt.asUintN(64, update(old)), true);
      x.mem_copy_in(word, buf, 8n);
    }
    return old;
  });
}

type BitOp = "set" | "clear" | "change" | "test";
function bitop(e: Engine, op: BitOp, nr: number, addr: bigint): boolean {
  numArg(`${op}_bit`, "nr", nr, 0, 0x7fffffff);
  addrArg(`${op}_bit`, "addr", addr);
  const word = addr + BigInt(Math.floor(nr / 64)) * 8n;
  if (word > 0xfffffffffffffff8n) throw new RangeError(`${op}_bit: bit ${nr} of 0x${addr.toString(16)} lies past the end of the address space`);
  const mask = 1n << BigInt(nr % 64);
  const old = checkedRmw(e, word, op !== "test",
    (v) => (op === "set" ? v | mask : op === "clear" ? v & ~mask : v ^ mask));
  return old !== undefined && (old & mask) !== 0n;
}
export const set_bit = (e: Engine, nr: number, a: bigint): void => void bitop(e, "set", nr, a);
export const __set_bit = set_bit;
export const clear_bit = (e: Engine, nr: number, a: bigint): void => void bitop(e, "clear", nr, a);
export const __clear_bit = clear_bit;
export const clear_bit_unlock = clear_bit;
export const __clear_bit_unlock = clear_bit;
export const change_bit = (e: Engine, nr: number, a: bigint): void => void bitop(e, "change", nr, a);
export const __change_bit = change_bit;
export const test_and_set_bit = (e: Engine, nr: number, a: bigint): boolean => bitop(e, "set", nr, a);
export const __test_and_set_bit = test_and_set_bit;
export const test_and_set_bit_lock = test_and_set_bit;
export const test_and_clear_bit = (e: Engine, nr: number, a: bigint): boolean => bitop(e, "clear", nr, a);
export const __test_and_clear_bit = test_and_clear_bit;
export const test_and_change_bit = (e: Engine, nr: number, a: bigint): boolean => bitop(e, "change", nr, a);
export const __test_and_change_bit = test_and_change_bit;
export const test_bit = (e: Engine, nr: number, a: bigint): boolean => bitop(e, "test", nr, a);

/** xor_unlock_is_negative_byte(mask, addr): xor the low byte; is it negative now? */
export function xor_unlock_is_negative_byte(e: Engine, mask: number, addr: bigint): boolean {
  numArg("xor_unlock_is_negative_byte", "mask", mask, 0, 255);
  addrArg("xor_unlock_is_negative_byte", "addr", addr);
  const old = checkedRmw(e, addr, true, (v) => v ^ BigInt(mask & 0xff));
  return old !== undefined && ((Number(old & 0xffn) ^ mask) & 0x80) !== 0;
}
