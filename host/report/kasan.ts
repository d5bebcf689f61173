// KASAN report text, section by section as mm/kasan/report.c prints it (6.12):
// header, access line, (tags line), dump_stack, object stacks, object/region,
// variable, stack frame, vmalloc mapping, physical page, memory state.
import * as abi from "../../abi/abi.js";
import type { RawRecord } from "./record.js";
import type { FormatContext } from "./context.js";
export type { FormatContext } from "./context.js";
import { SEPARATOR, px, dumpStack, type TaskInfo } from "./common.js";
import { formatFrame, reportPathFrames, type Frame } from "../stackdepot.js";
import { dumpPage } from "./page.js";

export const BUG_NAMES: Record<number, string> = {
  [abi.BUG_OUT_OF_BOUNDS]: "out-of-bounds",
  [abi.BUG_SLAB_OOB]: "slab-out-of-bounds",
  [abi.BUG_GLOBAL_OOB]: "global-out-of-bounds",
  [abi.BUG_STACK_OOB]: "stack-out-of-bounds",
  [abi.BUG_USE_AFTER_FREE]: "use-after-free",
  [abi.BUG_SLAB_UAF]: "slab-use-after-free",
  [abi.BUG_ALLOCA_OOB]: "alloca-out-of-bounds",
  [abi.BUG_VMALLOC_OOB]: "vmalloc-out-of-bounds",
  [abi.BUG_UNKNOWN_CRASH]: "unknown-crash",
  [abi.BUG_NULL_PTR_DEREF]: "null-ptr-deref",
  [abi.BUG_USER_MEMORY_ACCESS]: "user-memory-access",
  [abi.BUG_WILD_MEMORY_ACCESS]: "wild-memory-access",
  [abi.BUG_DOUBLE_FREE]: "double-free",
  [abi.BUG_INVALID_FREE]: "invalid-free",
  [abi.BUG_INVALID_ACCESS]: "invalid-access",
};


/** Structured KASAN facts a test or tool relies on. */
export interface KasanDetails {
  bugType: string;
  isWrite: boolean;
  address: bigint;
  size: bigint;
  firstBadAddress: bigint;
  ip: string;
  object?: { address: bigint; cache: string; objectSize: number; region: number; relation: string; bytes: number };
  allocStack?: string[];
  freeStack?: string[];
  auxStacks?: string[][];
  pointerTag?: number;
  memoryTag?: number;
}

export function formatKasan(r: RawRecord, ctx: FormatContext, accessFrames: Frame[]): { lines: string[]; details: KasanDetails } {
  const bugType = BUG_NAMES[r.bug] ?? "unknown-crash";
  const task = ctx.task(r.pid, r.cpu);
  const isFree = r.kind === abi.REP_KASAN_FREE;
  const isWrite = (r.flags & abi.RF_WRITE) !== 0;
  const caller = accessFrames[0];
  const ip = caller ? formatFrame(caller) : "0x0";
  const lines: string[] = [SEPARATOR, `BUG: KASAN: ${bugType} in ${ip}`];
  if (isFree) lines.push(`Free of addr ${px(r.addr)} by task ${task.comm}/${task.pid}`);
  else lines.push(`${isWrite ? "Write" : "Read"} of size ${BigInt.asUintN(64, r.size)} at addr ${px(r.addr)} by task ${task.comm}/${task.pid}`);
  const hasMeta = (r.flags & abi.RF_SHADOW) !== 0;
  if (ctx.tags && hasMeta) {
    lines.push(`Pointer tag: [${r.ptrTag.toString(16).padStart(2, "0")}], memory tag: [${r.memTag.toString(16).padStart(2, "0")}]`);
  }
  lines.push("");
  const path = Number(r.arg0);
  lines.push(...dumpStack(r.cpu, task, r.taint, [...reportPathFrames(path, ctx.arch, ctx.tags), ...accessFrames], ctx.arch));
  const details: KasanDetails = {
    bugType, isWrite, address: r.addr, size: r.size, firstBadAddress: r.firstBad, ip,
  };
  if (ctx.tags && hasMeta) { details.pointerTag = r.ptrTag; details.memoryTag = r.memTag; }
  if (!hasMeta) {
    lines.push(SEPARATOR);
    return { lines, details };
  }
  lines.push("");
  const untagged = ctx.tags ? BigInt.asUintN(64, r.addr | 0xff00000000000000n) : r.addr;

  // object section: stacks, then object and region
  if (r.flags & abi.RF_OBJECT) {
    const stackBlock = (title: string, handle: number): string[] | undefined => {
      if (!handle) return undefined;
      const frames = ctx.stackFrames(handle).map(formatFrame);
      lines.push(title, ...frames.map((f) => ` ${f}`), "");
      return frames;
    };
    details.allocStack = stackBlock(`Allocated by task ${r.allocPid}:`, r.allocStack);
    details.freeStack = stackBlock(`Freed by task ${r.freePid}:`, r.freeStack);
    if (!ctx.tags) {
      const aux: string[][] = [];
      const a0 = stackBlock("Last potentially related work creation:", r.aux0);
      if (a0) aux.push(a0);
      const a1 = stackBlock("Second to last potentially related work creation:", r.aux1);
      if (a1) aux.push(a1);
      if (aux.length) details.auxStacks = aux;
    }
    const obj = r.object;
    let relation: string, bytes: bigint;
    if (untagged < obj) { relation = "to the left"; bytes = obj - untagged; }
    else if (untagged >= obj + BigInt(r.region)) { relation = "to the right"; bytes = untagged - (obj + BigInt(r.region)); }
    else { relation = "inside"; bytes = untagged - obj; }
    const state = ctx.tags ? "" : r.bug === abi.BUG_SLAB_OOB ? "allocated " : r.bug === abi.BUG_SLAB_UAF ? "freed " : "";
    const cache = ctx.cacheName(r.cache);
    lines.push(
      `The buggy address belongs to the object at ${px(obj)}`,
      ` which belongs to the cache ${cache} of size ${r.objectSize}`,
      `The buggy address is located ${bytes} bytes ${relation} of`,
      ` ${state}${r.region}-byte region [${px(obj)}, ${px(obj + BigInt(r.region))})`,
      "",
    );
    details.object = { address: obj, cache, objectSize: r.objectSize, region: r.region, relation, bytes: Number(bytes) };
  }

  // a global in the kernel image or a module
  const sym = ctx.symbolize(untagged);
  if (sym) lines.push("The buggy address belongs to the variable:", ` ${formatFrame(sym)}`, "");

  // the current task's stack
  if (r.taskPid) {
    const owner = ctx.task(r.taskPid);
    lines.push(`The buggy address belongs to stack of task ${owner.comm}/${owner.pid}`);
    if (r.frameBase && !ctx.tags) {
      const offset = untagged - r.frameBase;
      const pc = ctx.codeFrame(r.arg2);
      lines.push(` and is located at offset ${offset} in frame:`, ` ${pc ? formatFrame(pc) : "0x" + r.arg2.toString(16)}`);
      const descr = ctx.readCString(r.arg1);
      if (descr) lines.push(...decodeFrameDescr(descr));
    }
    lines.push("");
  }

  // a vmalloc mapping
  if (r.flags & abi.RF_VMALLOC) {
    const caller = ctx.stackFrames(r.vmCaller)[0];
    lines.push(
      "The buggy address belongs to the virtual mapping at",
      ` [${px(r.vmStart)}, ${px(r.vmStart + r.vmSize)}) created by:`,
      ` ${caller ? formatFrame(caller) : "0x0"}`,
      "",
    );
  }

  if (r.flags & abi.RF_PAGE) {
    lines.push("The buggy address belongs to the physical page:", ...dumpPage(r, ctx), "page dumped because: kasan: bad access detected", "");
  }

  lines.push(...memoryState(r, ctx.tags));
  lines.push(SEPARATOR);
  return { lines, details };
}

// print_decoded_frame_descr(): "n off size len name[:line] ..."
export function decodeFrameDescr(descr: string): string[] {
  const tok = descr.trim().split(/\s+/);
  const n = Number(tok[0]);
  if (!Number.isInteger(n) || n < 0 || tok.length < 1 + 4 * n) return [];
  const out = ["", `This frame has ${n} ${n === 1 ? "object" : "objects"}:`];
  for (let i = 0; i < n; i++) {
    const off = BigInt(tok[1 + 4 * i]);
    const size = BigInt(tok[2 + 4 * i]);
    const name = tok[4 + 4 * i].split(":")[0];
    out.push(` [${off}, ${off + size}) '${name}'`);
  }
  return out;
}

// print_memory_metadata(): 5 rows of 16 metadata bytes, '>' on the guilty row,
// then a caret under the first bad granule (19 + 3g spaces).
export function memoryState(r: RawRecord, tags: boolean): string[] {
  const granule = tags ? 16n : 8n;
  const rowBytes = granule * 16n;
  const out = ["Memory state around the buggy address:"];
  const firstBad = tags ? BigInt.asUintN(64, r.firstBad | 0xff00000000000000n) : r.firstBad;
  for (let row = 0; row < 5; row++) {
    const addr = r.shadowRow + BigInt(row) * rowBytes;
    const guilty = firstBad >= addr && firstBad < addr + rowBytes;
    const bytes = Array.from(r.shadow.subarray(row * 16, row * 16 + 16), (b) => b.toString(16).padStart(2, "0")).join(" ");
    out.push(`${guilty ? ">" : " "}${px(addr)}: ${bytes}`);
    if (guilty) {
      const g = Number((firstBad - addr) / granule);
      out.push(" ".repeat(19 + 3 * g) + "^");
    }
  }
  return out;
}
