// The `shadowfence run` and `shadowfence cc` commands (Node only).
import { readFileSync, writeSync, existsSync } from "node:fs";
import path from "node:path";
import { createEngine } from "../index.js";
import type { Report } from "../engine.js";
import { GuestError } from "./runner.js";
import { cc, ToolchainError, CcError } from "./cc.js";

/** Reports and messages go to fd 2 synchronously, so they interleave with the guest's own writes in order. */
function err(text: string): void {
  writeSync(2, text);
}

function jsonReport(r: Report): string {
  const fn = r.kasan?.ip;
  return JSON.stringify({
    event: "report", seq: r.seq, kind: r.kind, type: r.type, title: r.title,
    address: "0x" + r.address.toString(16), guestAddress: r.extra?.guestAddress, size: Number(r.size), isWrite: r.isWrite,
    performed: r.performed, pid: r.pid, comm: r.comm, function: fn, allocStack: r.kasan?.allocStack,
    freeStack: r.kasan?.freeStack, text: r.text,
  }) + "\n";
}

// node:wasi warns that it is experimental on first use; that line is not the guest's
async function loadNodeWasi(): Promise<typeof import("node:wasi")> {
  const emit = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (String(warning).includes("WASI is an experimental feature")) return;
    return (emit as (...a: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  return import("node:wasi");
}

const RUN_OPTIONS = ["--cmdline", "--format", "--dmesg", "--dir", "--timeout", "--no-leaks", "--leaks-exit-code", "--cpu"];

/** Everything after the program is the guest's; say so once when that looks like one of ours. */
function warnGuestGotOurOptions(prog: string, args: string[]): void {
  const ours = args.filter((a) => RUN_OPTIONS.includes(a.split("=")[0]));
  if (!ours.length) return;
  err(`shadowfence: ${ours.join(" ")} went to the guest (arguments after the program are its own); ` +
    `to give shadowfence an option, put it before the program: shadowfence run ${ours[0]} ... ${path.basename(prog)}\n`);
}

export async function runCommand(prog: string, args: string[],
  opts: { cmdline: string; format: "text" | "json"; dmesg?: boolean; dir?: string[]; timeout?: string; leaks?: boolean; leaksExitCode?: string; cpu?: string }): Promise<void> {
  if (opts.cpu !== undefined && !/^\d{1,2}$/.test(opts.cpu)) throw new RangeError(`--cpu: expected a CPU number (0 to nr_cpus-1), got ${JSON.stringify(opts.cpu)}`);
  let timeoutMs: number | undefined;
  let leaksExitCode: number | undefined;
  if (opts.leaksExitCode !== undefined) {
    if (!/^\d{1,3}$/.test(opts.leaksExitCode) || Number(opts.leaksExitCode) > 255) {
      throw new RangeError(`--leaks-exit-code: expected an exit status from 0 to 255, got ${JSON.stringify(opts.leaksExitCode)}`);
    }
    leaksExitCode = Number(opts.leaksExitCode);
  }
  if (opts.timeout !== undefined) {
    const secs = Number(opts.timeout);
    if (!/^\d+(\.\d+)?$/.test(opts.timeout) || !(secs > 0) || secs * 1000 > 2 ** 31) {
      throw new RangeError(`--timeout: expected a number of seconds greater than 0 (at most ${2 ** 31 / 1000}), got ${JSON.stringify(opts.timeout)}`);
    }
    timeoutMs = secs * 1000;
  }
  if (!existsSync(prog)) throw new GuestError(`${prog}: no such file`);
  if (args[0] === "--") args = args.slice(1);     // `run prog.wasm -- args`: the guest's argv starts after it
  else warnGuestGotOurOptions(prog, args);
  const bytes = readFileSync(prog);
  const engine = await createEngine({ cmdline: opts.cmdline });
  let cpu = engine;
  try {
    if (opts.cpu !== undefined) cpu = engine.cpu(Number(opts.cpu));
  } catch (e) {
    // cpu()'s error names the CPUs this engine has
    throw new RangeError(`--cpu: ${(e as Error).message.replace(/^cpu\(\): /, "")}`);
  }
  if (opts.dmesg) err(engine.dmesg());
  const json = opts.format === "json";
  const wasi = await loadNodeWasi();
  const result = cpu.runGuest(bytes, {
    name: path.basename(prog),
    args,
    env: { ...(process.env.SHADOWFENCE_GUEST_ENV ? JSON.parse(process.env.SHADOWFENCE_GUEST_ENV) : {}) },
    nodeWasi: { module: wasi as never, preopens: Object.fromEntries((opts.dir ?? []).map((d) => [d, path.resolve(d)])) },
    onReport: (r) => err(json ? jsonReport(r) : r.text + "\n"),
    timeoutMs,
    leaks: opts.leaks !== false,
  });
  if (opts.dmesg && result.uninstrumented && !json) err(result.uninstrumented + "\n");
  const leaks = result.leaks ?? [];
  for (const l of leaks) err(json ? JSON.stringify({ event: "leak", address: "0x" + l.address.toString(16), guestAddress: l.guestAddress,
    size: l.size, pid: l.pid, comm: l.comm, backtrace: l.backtrace, text: l.text }) + "\n" : l.text + "\n");
  if (leaks.length && !json) err(`kmemleak: ${leaks.length} new suspected memory leaks (see /sys/kernel/debug/kmemleak)\n`);
  const exitCode = leaks.length && leaksExitCode !== undefined && result.exitCode === 0 ? leaksExitCode : result.exitCode;
  if (json) {
    err(JSON.stringify({ event: "exit", exitCode, status: result.status, message: result.message,
      reports: result.reports.length, leaks: leaks.length, selfCheck: result.selfCheck }) + "\n");
  } else {
    if (result.message) err(`shadowfence: ${result.message}\n`);
    if (result.selfCheck.length) err(`shadowfence: engine self-check failed after the guest: ${result.selfCheck.join("; ")}\n`);
  }
  process.exitCode = exitCode;
}

export async function ccCommand(argv: string[]): Promise<void> {
  let output = "a.wasm";
  let asan = true, verbose = false;
  let abi: "user" | "kernel" = "user";
  let stackSize: number | undefined;
  const sources: string[] = [], cflags: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-o") output = argv[++i] ?? output;
    else if (a.startsWith("-o") && a.length > 2) output = a.slice(2);
    else if (a === "--no-asan") asan = false;
    else if (a === "--kernel-abi") abi = "kernel";
    else if (a === "-v" || a === "--verbose") verbose = true;
    else if (a.startsWith("--stack-size=")) stackSize = Number(a.slice("--stack-size=".length));
    else if (/\.(c|o|a)$/.test(a) && existsSync(a)) sources.push(a);
    else cflags.push(a);
  }
  if (stackSize !== undefined && (!Number.isInteger(stackSize) || stackSize < 4096)) throw new RangeError("--stack-size must be an integer of at least 4096 bytes");
  if (sources.length === 0) throw new RangeError("shadowfence cc: no source files (usage: shadowfence cc prog.c -o prog.wasm [flags])");
  try {
    cc({ sources, output, cflags, asan, abi, stackSize, verbose, stdio: "inherit" });
  } catch (e) {
    if (e instanceof ToolchainError) { err(`${e.message}\n`); process.exitCode = 127; return; }
    if (e instanceof CcError) { process.exitCode = 1; return; }
    throw e;
  }
}
