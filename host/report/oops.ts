// Oopses, WARNs and panics in 6.12's text: the x86 page-fault oops
// (arch/x86/mm/fault.c), the general protection fault with KASAN's
// non-canonical hook line, the arm64 paging-request oops, SLUB's BUG, the
// "Bad page state" report, kernel WARNs, and panic().
//
// A simulation has no register file: the RIP/Code/register lines of a real
// oops are left out; everything else is printed as the kernel prints it.
import * as abi from "../../abi/abi.js";
import type { RawRecord } from "./record.js";
import { px, hex016, cpuLines, callTrace, pcLine, dumpStack, taintString, type TaskInfo } from "./common.js";
import { formatFrame, alignArm64, type Frame } from "../stackdepot.js";
import type { FormatContext } from "./context.js";
import { dumpPage, pageFlags } from "./page.js";

export const END_TRACE = "---[ end trace 0000000000000000 ]---";
export const SKIPPED_NOTE = "shadowfence: the faulting access was not performed; the engine continues";

/** " PREEMPT SMP KASAN NOPTI": the flags after a die header. */
function dieFlags(kasan: boolean): string {
  return ` PREEMPT SMP${kasan ? " KASAN" : ""} NOPTI`;
}

export interface OopsContext extends FormatContext {
  kasan: boolean;
  kasanShadowOffset: bigint;
  kasanShadowStart: bigint;
  kasanShadowEnd: bigint;
  taskSize: bigint;
}

// x86 page-fault oops
function x86PageFault(r: RawRecord, ctx: OopsContext, frames: Frame[], task: TaskInfo): string[] {
  const addr = r.addr;
  const code = r.errcode;
  const lines: string[] = [];
  if (addr < 4096n) lines.push(`BUG: kernel NULL pointer dereference, address: ${px(addr)}`);
  else lines.push(`BUG: unable to handle page fault for address: ${px(addr)}`);
  const access = code & abi.PF_INSTR ? "instruction fetch" : code & abi.PF_WRITE ? "write access" : "read access";
  lines.push(`#PF: supervisor ${access} in kernel mode`);
  const why = !(code & abi.PF_PROT) ? "not-present page" : code & abi.PF_RSVD ? "reserved bit violation" : "permissions violation";
  lines.push(`#PF: error_code(0x${code.toString(16).padStart(4, "0")}) - ${why}`);
  lines.push(pgdLine(r));
  lines.push(`Oops: Oops: ${code.toString(16).padStart(4, "0")} [#${r.die}]${dieFlags(ctx.kasan)}`);
  lines.push(...cpuLines(r.cpu, task, r.taint), ...pcLine(frames[0], "x86_64"), ...callTrace(frames, "x86_64"));
  lines.push("Modules linked in:", `CR2: ${px(addr)}`, END_TRACE);
  return lines;
}

// dump_pagetable(): PGD and (folded) P4D always, then as far as present.
function pgdLine(r: RawRecord): string {
  const names = ["PGD", "P4D", "PUD", "PMD", "PTE"];
  let s = "";
  for (let i = 0; i < r.pgwalkLevels; i++) {
    const v = r.pgwalk[i];
    s += `${names[i]} ${v.toString(16)}`;
    const last = i === 4;
    const leaf = i === 3 && (v & 0x80n) !== 0n;
    if (!last) s += " ";
    // the P4D level is folded into the PGD: both always print
    if (i >= 1 && ((v & 1n) === 0n || leaf)) break;
  }
  return s;
}

// arm64: do_translation_fault / die_kernel_fault
function arm64PageFault(r: RawRecord, ctx: OopsContext, frames: Frame[], task: TaskInfo): string[] {
  const addr = r.addr;
  const write = (r.errcode & abi.PF_WRITE) !== 0;
  const perm = (r.errcode & abi.PF_PROT) !== 0;
  const level = perm ? 3 : Math.max(0, r.pgwalkLevels - 2);
  const fsc = (perm ? 0x0c : 0x04) + level;
  const esr = 0x96000000 + fsc + (write ? 0x40 : 0);
  const lines: string[] = [];
  lines.push(addr < 4096n
    ? `Unable to handle kernel NULL pointer dereference at virtual address ${px(addr)}`
    : `Unable to handle kernel paging request at virtual address ${px(addr)}`);
  lines.push(
    "Mem abort info:",
    `  ESR = 0x${esr.toString(16).padStart(16, "0")}`,
    "  EC = 0x25: DABT (current EL), IL = 32 bits",
    "  SET = 0, FnV = 0",
    "  EA = 0, S1PTW = 0",
    `  FSC = 0x${fsc.toString(16).padStart(2, "0")}: level ${level} ${perm ? "permission" : "translation"} fault`,
    "Data abort info:",
    `  ISV = 0, ISS = 0x${(esr & 0x1ffffff).toString(16).padStart(8, "0")}, ISS2 = 0x00000000`,
    `  CM = 0, WnR = ${write ? 1 : 0}, TnD = 0, TagAccess = 0`,
    "  GCS = 0, Overlay = 0, DirtyBit = 0, Xs = 0",
  );
  // is_ttbr1_addr() resets a KASAN tag before comparing with PAGE_OFFSET
  if (addr < ctx.taskSize) lines.push(`[${px(addr)}] user address but active_mm is swapper`);
  else if ((ctx.tags ? addr | 0xff00000000000000n : addr) < ctx.pageOffset) lines.push(`[${px(addr)}] address between user and kernel address ranges`);
  else lines.push(`swapper pgtable: 4k pages, 48-bit VAs, pgdp=0000000000000000`, arm64WalkLine(r));
  lines.push(`Internal error: Oops: ${esr.toString(16).padStart(16, "0")} [#${r.die}] PREEMPT SMP`, "Modules linked in:");
  lines.push(...cpuLines(r.cpu, task, r.taint, "arm64"));
  lines.push(...pcLine(frames[0], "arm64"), ...callTrace(frames, "arm64"), END_TRACE);
  return lines;
}

// The same walk in arm64 descriptor terms: table 0x3, page 0x703 (+AP[2] if RO), block 0x701.
function arm64WalkLine(r: RawRecord): string {
  const names = ["pgd", "p4d", "pud", "pmd", "pte"];
  const parts: string[] = [];
  for (let i = 0; i < r.pgwalkLevels; i++) {
    const v = r.pgwalk[i];
    const pa = v & 0x000ffffffffff000n;
    let d = 0n;
    if (v & 1n) {
      const leaf = i === 4 || (i === 3 && (v & 0x80n) !== 0n);
      d = leaf ? pa | 0x0060000000000701n | (i === 4 ? 2n : 0n) | ((v & 2n) ? 0n : 0x80n) : pa | 3n;
    }
    parts.push(`${names[i]}=${px(d)}`);
    if (!(v & 1n)) break;
  }
  return `[${px(r.addr)}] ${parts.join(", ")}`;
}

export function formatOops(r: RawRecord, ctx: OopsContext, frames: Frame[]): string[] {
  const task = ctx.task(r.pid, r.cpu);
  const body = ctx.arch === "arm64" ? arm64PageFault(r, ctx, frames, task) : x86PageFault(r, ctx, frames, task);
  return [...body, SKIPPED_NOTE];
}

// general protection fault on a non-canonical address (x86), with KASAN's hook line
export function formatGpf(r: RawRecord, ctx: OopsContext, frames: Frame[]): string[] {
  const task = ctx.task(r.pid, r.cpu);
  if (ctx.arch === "arm64") {
    const asPf = { ...r, errcode: r.errcode, pgwalkLevels: 0 };
    return [...arm64PageFault(asPf, ctx, frames, task), SKIPPED_NOTE];
  }
  const lines = [`Oops: general protection fault, probably for non-canonical address ${hex(r.addr)}: 0000 [#${r.die}]${dieFlags(ctx.kasan)}`];
  const hook = kasanNonCanonicalHook(r.addr, ctx);
  if (hook) lines.push(hook);
  lines.push(...cpuLines(r.cpu, task, r.taint), ...pcLine(frames[0], "x86_64"), ...callTrace(frames, "x86_64"));
  lines.push("Modules linked in:", END_TRACE, SKIPPED_NOTE);
  return lines;
}

function hex(v: bigint): string {
  return "0x" + BigInt.asUintN(64, v).toString(16);
}

/** kasan_non_canonical_hook(): decode a shadow-derived address back to the range it shadows. */
export function kasanNonCanonicalHook(addr: bigint, ctx: OopsContext): string | undefined {
  if (!ctx.kasan || addr < ctx.kasanShadowOffset) return undefined;
  const shift = ctx.tags ? 4n : 3n;
  const orig = BigInt.asUintN(64, (addr - ctx.kasanShadowOffset) << shift);
  let type: string;
  if (orig < 4096n) type = "null-ptr-deref";
  else if (orig < ctx.taskSize) type = "probably user-memory-access";
  else if (addr >= ctx.kasanShadowStart && addr < ctx.kasanShadowEnd) type = "probably wild-memory-access";
  else type = "maybe wild-memory-access";
  return `KASAN: ${type} in range [${hex016(orig)}-${hex016(orig + (1n << shift) - 1n)}]`;
}

const WARN_SITES: Record<number, { file: string; fn: Frame }> = {
  [abi.WARN_CACHE_DESTROY_BUSY]: { file: "mm/slab_common.c:532", fn: { name: "kmem_cache_destroy", offset: 0x16b, size: 0x170 } },
  [abi.WARN_KFREE_NOT_HEAP]: { file: "mm/slub.c:4650", fn: { name: "free_large_kmalloc", offset: 0x58, size: 0x160 } },
  [abi.WARN_WRONG_CACHE]: { file: "mm/slub.c:4655", fn: { name: "kmem_cache_free", offset: 0x2a5, size: 0x2f0 } },
  [abi.WARN_CACHE_NOT_SLAB]: { file: "mm/slub.c:4678", fn: { name: "kmem_cache_free", offset: 0x2c1, size: 0x2f0 } },
  [abi.WARN_KFENCE]: { file: "mm/kfence/core.c:254", fn: { name: "kfence_protect", offset: 0x5a, size: 0x70 } },
};

/** __warn(): the WARN() text, TAINT_WARN added to the taint it prints. */
export function warnBlock(r: RawRecord, ctx: FormatContext, frames: Frame[], message: string[], site: { file: string; fn: Frame }): string[] {
  const task = ctx.task(r.pid, r.cpu);
  const fn = ctx.arch === "arm64" ? alignArm64(site.fn) : site.fn;
  return [
    "------------[ cut here ]------------",
    ...message,
    `WARNING: CPU: ${r.cpu} PID: ${task.pid} at ${site.file} ${formatFrame(fn)}`,
    "Modules linked in:",
    ...cpuLines(r.cpu, task, r.taint | (1 << 9), ctx.arch),
    ...pcLine(fn, ctx.arch),
    ...callTrace(frames, ctx.arch),
    END_TRACE,
  ];
}

const BAD_PAGE_REASONS: Record<number, string> = {
  1: "nonzero mapcount",
  3: "PAGE_FLAGS_CHECK_AT_FREE flag(s) set",
  4: "nonzero compound_mapcount",
};

// print_hex_dump(KERN_ERR, prefix, DUMP_PREFIX_ADDRESS, 16, 1, buf, len, true)
function hexDump(prefix: string, va: bigint, bytes: Uint8Array, ctx: FormatContext): string[] {
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    const row = bytes.subarray(i, i + 16);
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    out.push(`${prefix}${ctx.pointer(va + BigInt(i))}: ${hex.padEnd(49 - 2)}  ${ascii}`);
  }
  return out;
}

// SLUB's object_err(s, slab, object, "Freechain corrupt"), then slab_fix():
// slab_bug's banner, print_trailer (slab, object, sections, dump_stack), FIX.
function slubFreechain(r: RawRecord, ctx: FormatContext, frames: Frame[], task: TaskInfo): string[] {
  const name = ctx.cacheName(r.cache);
  const slabVa = ctx.pageOffset + (r.headPfn << 12n);
  const slab = ctx.vmemmapStart + r.headPfn * BigInt(abi.STRUCT_PAGE_SIZE);
  const inuse = Number(r.arg2) & 0xffff;
  const objects = (Number(r.arg2) >>> 16) & 0x7fff;
  const freelist = r.arg1 === 0n ? 0n : ctx.pageOffset + (r.arg1 - BigInt(abi.PHYS_BASE));
  const obj = r.addr;
  const lines = [
    "=".repeat(77),
    `BUG ${name} (${taintString(r.taint)}): Freechain corrupt`,
    "-".repeat(77),
    "",
    `Slab 0x${ctx.pointer(slab)} objects=${objects} used=${inuse} fp=0x${ctx.pointer(freelist)} flags=${pageFlags(r, ctx)}`,
    `Object 0x${ctx.pointer(obj)} @offset=${obj - slabVa} fp=0x${ctx.pointer(r.firstBad)}`,
    "",
  ];
  if (obj > slabVa + 16n) {
    const b4 = ctx.peek(obj - 16n, 16);
    if (b4) lines.push(...hexDump("Bytes b4 ", obj - 16n, b4, ctx));
  }
  const body = ctx.peek(obj, Math.min(r.objectSize, 4096));
  if (body) lines.push(...hexDump("Object   ", obj, body, ctx));
  if (r.region < r.slot) {
    const pad = ctx.peek(obj + BigInt(r.region), r.slot - r.region);
    if (pad) lines.push(...hexDump("Padding  ", obj + BigInt(r.region), pad, ctx));
  }
  lines.push(...dumpStack(r.cpu, task, r.taint, [
    { name: "dump_stack_lvl", offset: 0x4d, size: 0x70 },
    { name: "print_trailer", offset: 0x17e, size: 0x290 },
    { name: "object_err", offset: 0x38, size: 0x60 },
    { name: "___slab_alloc", offset: 0x5e1, size: 0xf70 },
    ...frames,
  ], ctx.arch));
  lines.push(`FIX ${name}: Isolate corrupted freechain`);
  return lines;
}

// SLUB's slab_err(): slab_bug's banner, print_slab_info, dump_stack, then the slab_fix() line.
const SLAB_ERR_FRAMES: Record<number, Frame> = {
  [abi.SLAB_ERR_NOT_SLAB]: { name: "check_slab", offset: 0x7b, size: 0x110 },
  [abi.SLAB_ERR_OBJECTS]: { name: "check_slab", offset: 0xb9, size: 0x110 },
  [abi.SLAB_ERR_INUSE]: { name: "check_slab", offset: 0xe4, size: 0x110 },
  [abi.SLAB_ERR_FREEPOINTER]: { name: "on_freelist", offset: 0x1d2, size: 0x2a0 },
};
function slabErr(r: RawRecord, ctx: FormatContext, frames: Frame[], task: TaskInfo): string[] {
  const name = ctx.cacheName(r.cache);
  const msg = r.errcode === abi.SLAB_ERR_OBJECTS ? `objects ${r.size} > max ${r.firstBad}`
    : r.errcode === abi.SLAB_ERR_INUSE ? `inuse ${r.size} > max ${r.firstBad}`
    : r.errcode === abi.SLAB_ERR_FREEPOINTER ? "Freepointer corrupt" : "Not a valid slab page";
  const slab = ctx.vmemmapStart + r.headPfn * BigInt(abi.STRUCT_PAGE_SIZE);
  const inuse = Number(r.arg2) & 0xffff;
  const objects = (Number(r.arg2) >>> 16) & 0xffff;
  const freelist = r.arg1 === 0n ? 0n : ctx.pageOffset + (BigInt.asUintN(32, r.arg1) - BigInt(abi.PHYS_BASE));
  const lines = [
    "=".repeat(77),
    `BUG ${name} (${taintString(r.taint)}): ${msg}`,
    "-".repeat(77),
    "",
    `Slab 0x${ctx.pointer(slab)} objects=${objects} used=${inuse} fp=0x${ctx.pointer(BigInt.asUintN(64, freelist))} flags=${pageFlags(r, ctx)}`,
    ...dumpStack(r.cpu, task, r.taint, [
      { name: "dump_stack_lvl", offset: 0x4d, size: 0x70 },
      { name: "slab_err", offset: 0x110, size: 0x150 },
      SLAB_ERR_FRAMES[r.errcode] ?? SLAB_ERR_FRAMES[abi.SLAB_ERR_NOT_SLAB],
      { name: "___slab_alloc", offset: 0x5e1, size: 0xf70 },
      ...frames,
    ], ctx.arch),
  ];
  if (r.region === abi.SLAB_FIX_MARK_USED) lines.push(`FIX ${name}: Marking all objects used`);
  else if (r.region === abi.SLAB_FIX_FREELIST_CLEARED) lines.push(`FIX ${name}: Freelist cleared`);
  return lines;
}

export function formatWarn(r: RawRecord, ctx: FormatContext, frames: Frame[]): { lines: string[]; type: string } {
  const id = Number(r.arg0);
  const task = ctx.task(r.pid, r.cpu);
  switch (id) {
    case abi.WARN_CACHE_DESTROY_BUSY: {
      const name = ctx.cacheName(r.cache);
      const caller = frames[0] ? formatFrame(frames[0]) : "0x0";
      return {
        type: "kmem_cache_destroy",
        lines: warnBlock(r, ctx, frames, [`kmem_cache_destroy ${name}: Slab cache still has objects when called from ${caller}`],
          WARN_SITES[id]),
      };
    }
    case abi.WARN_WRONG_CACHE: {
      const wanted = ctx.cacheName(Number(r.arg1));
      return {
        type: "wrong-cache",
        lines: warnBlock(r, ctx, frames, [`cache_from_obj: Wrong slab cache. ${wanted} but object is from ${ctx.cacheName(r.cache)}`],
          WARN_SITES[id]),
      };
    }
    case abi.WARN_KFENCE:
      return { type: "kfence-warn", lines: warnBlock(r, ctx, frames, [], WARN_SITES[id]) };
    case abi.WARN_CACHE_NOT_SLAB:
    case abi.WARN_KFREE_NOT_HEAP: {
      const lines = warnBlock(r, ctx, frames, [], WARN_SITES[id]);
      lines.push(`object pointer: 0x${px(r.addr)}`);
      return { type: "free-non-slab", lines };
    }
    case abi.WARN_BAD_PAGE_FREE: {
      const why = BAD_PAGE_REASONS[Number(r.arg2)] ?? "nonzero mapcount";
      const lines = [
        `BUG: Bad page state in process ${task.comm}  pfn:${r.pfn.toString(16).padStart(5, "0")}`,
        ...((r.flags & abi.RF_PAGE) ? dumpPage(r, ctx) : []),
        `page dumped because: ${why}`,
        "Modules linked in:",
        ...cpuLines(r.cpu, task, r.taint | (1 << 5), ctx.arch),
        ...callTrace([
          { name: "dump_stack_lvl", offset: 0x4d, size: 0x70 },
          { name: "bad_page", offset: 0x6b, size: 0x110 },
          { name: "free_page_is_bad_report", offset: 0x80, size: 0x90 },
          { name: "__free_pages_ok", offset: 0x34b, size: 0x4e0 },
          ...frames,
        ], ctx.arch),
        "Disabling lock debugging due to kernel taint",
      ];
      return { type: "bad-page-state", lines };
    }
    case abi.WARN_SLAB_ERR:
      return { type: "slub-slab-err", lines: slabErr(r, ctx, frames, task) };
    case abi.WARN_LIST_DEL: {
      // CHECK_DATA_CORRUPTION() in __list_del_entry_valid_or_report (CONFIG_DEBUG_LIST)
      const prev = r.errcode === abi.LIST_DEL_PREV;
      const p = (v: bigint) => px(BigInt.asUintN(64, v));   // %px: never hashed
      const message = `list_del corruption. ${prev ? "prev->next" : "next->prev"} should be ${p(r.addr)}, but was ${p(r.arg1)}. (${prev ? "prev" : "next"}=${p(r.size)})`;
      return {
        type: "list-del-corruption",
        lines: warnBlock(r, ctx, frames, [message],
          { file: `lib/list_debug.c:${prev ? 62 : 65}`, fn: { name: "__list_del_entry_valid_or_report", offset: prev ? 0x10c : 0x13b, size: 0x1a0 } }),
      };
    }
    case abi.WARN_SLUB_FREECHAIN:
      return { type: "slub-freechain-corrupt", lines: slubFreechain(r, ctx, frames, task) };
    case abi.WARN_SLUB_DOUBLE_FREE: {
      if (ctx.arch === "arm64") {
        // BUG() is a BRK on arm64: die() with the BUG ESR
        const bug = { name: "__slab_free", offset: 0x1c0, size: 0x2f0 };
        return {
          type: "slub-double-free",
          lines: [
            "------------[ cut here ]------------",
            "kernel BUG at mm/slub.c:467!",
            `Internal error: Oops - BUG: 00000000f2000800 [#${r.die}] PREEMPT SMP`,
            "Modules linked in:",
            ...cpuLines(r.cpu, task, r.taint, ctx.arch),
            `pc : ${formatFrame(bug)}`,
            ...callTrace([bug, ...frames], ctx.arch),
            END_TRACE,
          ],
        };
      }
      const lines = [
        "------------[ cut here ]------------",
        "kernel BUG at mm/slub.c:467!",
        `Oops: invalid opcode: 0000 [#${r.die}] PREEMPT SMP NOPTI`,
        ...cpuLines(r.cpu, task, r.taint, ctx.arch),
        "RIP: 0010:__slab_free+0x1c1/0x2f0",
        ...callTrace(frames, ctx.arch),
        "Modules linked in:",
        END_TRACE,
      ];
      return { type: "slub-double-free", lines };
    }
  }
  return { type: "warn", lines: warnBlock(r, ctx, frames, [], { file: "kernel/panic.c:742", fn: { name: "__warn", offset: 0, size: 1 } }) };
}

export function formatPanic(r: RawRecord, ctx: FormatContext, frames: Frame[]): string[] {
  const reason = Number(r.arg0);
  let msg: string;
  if (reason === abi.PANIC_KASAN_FAULT) msg = Number(r.arg1) === abi.KASAN_FAULT_PANIC_ON_WRITE ? "kasan.fault=panic_on_write set ..." : "kasan.fault=panic set ...";
  else if (reason === abi.PANIC_ON_WARN) msg = `${Number(r.arg1) === abi.PANIC_ORIGIN_KFENCE ? "KFENCE" : "KASAN"}: panic_on_warn set ...`;
  else msg = "Fatal exception";
  const task = ctx.task(r.pid, r.cpu);
  return [
    `Kernel panic - not syncing: ${msg}`,
    ...cpuLines(r.cpu, task, r.taint, ctx.arch),
    ...callTrace([{ name: "panic", offset: 0x1f1, size: 0x5e0 }, { name: "end_report", offset: 0xaf, size: 0xc0 }, ...frames], ctx.arch),
    "Kernel Offset: disabled",
    `---[ end Kernel panic - not syncing: ${msg} ]---`,
  ];
}
