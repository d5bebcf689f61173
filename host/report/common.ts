// What every kernel report shares: pointer formatting, the framing line, the
// dump_stack header (CPU:/Tainted:/Hardware name:/Call Trace:), taint text.
import type { Frame } from "../stackdepot.js";
import { formatFrame, arm64Trace, alignArm64 } from "../stackdepot.js";

export const KERNEL_RELEASE = "6.12.0";
export const KERNEL_VERSION = "#1 SMP PREEMPT_DYNAMIC";
export const HARDWARE_NAME = "shadowfence wasm machine, BIOS 0.1.0 11/22/2026";
export const SEPARATOR = "=".repeat(66);

/** %px: 16 lowercase hex digits, no 0x. */
export function px(v: bigint): string {
  return BigInt.asUintN(64, v).toString(16).padStart(16, "0");
}
/** 0x%016lx */
export function hex016(v: bigint): string {
  return "0x" + px(v);
}
/**
 * printk's %p: the low 32 bits of a keyed hash of the pointer, zero-padded to
 * 16 digits (keyed by kasan.seed, so a run is reproducible); the raw value
 * with no_hash_pointers.
 */
export function hashPointer(va: bigint, seed: number, noHashPointers: boolean): string {
  const v = BigInt.asUintN(64, va);
  if (noHashPointers) return v.toString(16).padStart(16, "0");
  let h = BigInt.asUintN(64, v ^ (BigInt(seed) * 0x9e3779b97f4a7c15n));
  h = BigInt.asUintN(64, (h ^ (h >> 30n)) * 0xbf58476d1ce4e5b9n);
  h = BigInt.asUintN(64, (h ^ (h >> 27n)) * 0x94d049bb133111ebn);
  h ^= h >> 31n;
  return (h & 0xffffffffn).toString(16).padStart(16, "0");
}
export function hex(v: bigint | number): string {
  return "0x" + BigInt.asUintN(64, BigInt(v)).toString(16);
}

// kernel/panic.c taint_flags[], in bit order: the character when set
const TAINT_CHARS = ["P", "F", "S", "R", "M", "B", "U", "D", "A", "W", "C", "I", "O", "E", "L", "K", "X", "T", "N"];
const TAINT_NAMES: Record<number, string> = {
  0: "PROPRIETARY_MODULE", 1: "FORCED_MODULE", 2: "CPU_OUT_OF_SPEC", 3: "FORCED_RMMOD", 4: "MACHINE_CHECK",
  5: "BAD_PAGE", 6: "USER", 7: "DIE", 8: "OVERRIDDEN_ACPI_TABLE", 9: "WARN", 10: "CRAP",
  11: "FIRMWARE_WORKAROUND", 12: "OOT_MODULE", 13: "UNSIGNED_MODULE", 14: "SOFTLOCKUP", 15: "LIVEPATCH",
  16: "AUX", 17: "RANDSTRUCT", 18: "TEST",
};

/** print_tainted(): "Not tainted" or "Tainted: G    B ..." (one column per flag). */
export function taintString(mask: number): string {
  if (mask === 0) return "Not tainted";
  let s = (mask & 1) ? "P" : "G";
  for (let bit = 1; bit < TAINT_CHARS.length; bit++) s += (mask >> bit) & 1 ? TAINT_CHARS[bit] : " ";
  return `Tainted: ${s}`;
}

/** The 6.11+ line after CPU: naming the taints, e.g. "Tainted: [B]=BAD_PAGE, [N]=TEST". */
export function taintNamesLine(mask: number): string | undefined {
  const parts: string[] = [];
  for (let bit = 0; bit < TAINT_CHARS.length; bit++) {
    if ((mask >> bit) & 1) parts.push(`[${TAINT_CHARS[bit]}]=${TAINT_NAMES[bit]}`);
  }
  return parts.length ? `Tainted: ${parts.join(", ")}` : undefined;
}

export interface TaskInfo {
  pid: number;
  comm: string;
}

/** dump_stack_print_info() lines: CPU:, optional Tainted:, Hardware name:. */
export function cpuLines(cpu: number, task: TaskInfo, taint: number, arch = "x86_64"): string[] {
  const lines = [`CPU: ${cpu} UID: 0 PID: ${task.pid} Comm: ${task.comm.slice(0, 20)} ${taintString(taint)} ${KERNEL_RELEASE} ${KERNEL_VERSION.split(" ")[0]}`];
  const names = taintNamesLine(taint);
  if (names) lines.push(names);
  // arm64 boots from a device tree: its machine description ends in " (DT)"
  lines.push(`Hardware name: ${arch === "arm64" ? `${HARDWARE_NAME.split(",")[0]} (DT)` : HARDWARE_NAME}`);
  return lines;
}

/** dump_stack_lvl(): the info lines then the Call Trace block. */
export function dumpStack(cpu: number, task: TaskInfo, taint: number, frames: Frame[], arch: string): string[] {
  return [
    ...cpuLines(cpu, task, taint, arch),
    ...callTrace(frames, arch),
  ];
}

/** show_regs()'s instruction pointer line: "RIP: 0010:" on x86_64, "pc : " on arm64. */
export function pcLine(frame: Frame | undefined, arch: string): string[] {
  if (!frame) return [];
  return [arch === "arm64" ? `pc : ${formatFrame(alignArm64(frame))}` : `RIP: 0010:${formatFrame(frame)}`];
}

export function callTrace(frames: Frame[], arch: string): string[] {
  if (arch === "arm64") return ["Call trace:", ...arm64Trace(frames).map((f) => ` ${formatFrame(f)}`)];
  return ["Call Trace:", " <TASK>", ...frames.map((f) => ` ${formatFrame(f)}`), " </TASK>"];
}

/** printk timestamp prefix: "[%5lu.%06lu] " */
export function printkTime(ns: bigint): string {
  const us = ns / 1000n;
  const sec = us / 1000000n;
  const frac = (us % 1000000n).toString().padStart(6, "0");
  return `[${sec.toString().padStart(5, " ")}.${frac}] `;
}
