// The boot log: the lines start_kernel() and the subsystems' init functions
// print (version, command line, memory, KASAN, KFENCE, unknown parameters),
// all at timestamp 0.
import { LOG_BUF_DEFAULT, type ResolvedOptions } from "./config.js";
import { KERNEL_RELEASE } from "./report/common.js";

const NOTICE_ROW = (text: string) => `** ${text.padEnd(52)} **`;
const NO_HASH_POINTERS_NOTICE = [
  "*".repeat(58), NOTICE_ROW("  NOTICE NOTICE NOTICE NOTICE NOTICE NOTICE NOTICE"), NOTICE_ROW(""),
  NOTICE_ROW("This system shows unhashed kernel memory addresses"), NOTICE_ROW("via the console, logs, and other interfaces. This"),
  NOTICE_ROW("might reduce the security of your system."), NOTICE_ROW(""),
  NOTICE_ROW("If you see this message and you are not debugging"), NOTICE_ROW("the kernel, report this immediately to your system"),
  NOTICE_ROW("administrator!"), NOTICE_ROW(""), NOTICE_ROW("  NOTICE NOTICE NOTICE NOTICE NOTICE NOTICE NOTICE"), "*".repeat(58),
];

/**
 * The boot lines in order. `frames` are the page frames after boot, `logBufLen`
 * the printk ring's size; `hooks` give the lines of subsystems that print at
 * boot (KFENCE), after KASAN's.
 */
export function bootLines(o: ResolvedOptions, frames: { framesTotal: number; framesFree: number }, logBufLen: number,
                          hooks: ReadonlyArray<() => string[]>, cpus: number): string[] {
  const out: string[] = [];
  out.push(`Linux version ${KERNEL_RELEASE} (shadowfence@wasm) (AssemblyScript 0.28) #1 SMP PREEMPT_DYNAMIC`);
  // x86's setup_arch() echoes "Command line:"; arm64 has only start_kernel()'s line
  out.push(`${o.arch === "arm64" ? "Kernel command line" : "Command line"}: ${o.cmdline.trim()}`);
  const totalK = frames.framesTotal * 4, freeK = frames.framesFree * 4;
  if (logBufLen > LOG_BUF_DEFAULT[o.arch]) out.push(`log_buf_len: ${logBufLen} bytes`);
  out.push(`Memory: ${freeK}K/${totalK}K available (${totalK - freeK}K reserved)`);
  // lib/vsprintf.c's notice when booted with no_hash_pointers (6.12 prints it right after "Memory:")
  if (o.noHashPointers) out.push(...NO_HASH_POINTERS_NOTICE);
  if (o.kasan) {
    if (o.kasanMode === "sw_tags") out.push(`kasan: KernelAddressSanitizer initialized (sw-tags, stacktrace=${o.kasanStacktrace ? "on" : "off"})`);
    // x86's kasan_init() prints no mode; arm64's generic init names it
    else out.push(`kasan: KernelAddressSanitizer initialized${o.arch === "arm64" ? " (generic)" : ""}`);
  }
  for (const hook of hooks) out.push(...hook());
  // smp_init(): nr_cpus CPUs, each a thread once it is used (docs/smp.md); one where memory cannot be shared
  out.push("smp: Bringing up secondary CPUs ...");
  if (cpus > 1 && o.arch !== "arm64") out.push("smpboot: x86: Booting SMP configuration:", `.... node  #0, CPUs:      ${Array.from({ length: cpus - 1 }, (_, i) => `#${i + 1}`).join(" ")}`);
  out.push(`smp: Brought up 1 node, ${cpus} CPU${cpus === 1 ? "" : "s"}`);
  if (o.unknown.length) out.push(`Unknown kernel command line parameters "${o.unknown.join(" ")}", will be passed to user space.`);
  return out;
}
