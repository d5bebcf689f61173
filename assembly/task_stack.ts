// Task stacks: a THREAD_SIZE stack per task (32 KiB with KASAN on x86_64:
// KASAN_STACK_ORDER adds an order), from the page allocator or, with
// VMAP_STACK, from vmalloc. Frames are pushed and popped by the host or a guest
// runner; KASAN's report walks the stack of the current task.
import { PAGE_SHIFT, PAGE_SIZE, USE_PAGES } from "../abi/abi";
import { allocPagesPfn, freePagesPfn } from "./mm/page_alloc";
import { NO_PFN } from "./mm/phys";
import { PAGE_OFFSET } from "./mm/layout";
import { kasanMode, KASAN_OFF } from "./kasan/kasan";
import { kasanUnpoison } from "./kasan/shadow";
import { vmallocStack, vfreeStack } from "./mm/vmalloc";
import { TASK_TABLE } from "./statics";

// @ts-ignore: decorator
@inline const MAX_TASKS: u32 = 1024;
// per task: base u64, size u32, word u32 (8 kernel, 4 wasm32 guest), sp u64, vmap u32, pfn u32
// @ts-ignore: decorator
@inline const TASKS: usize = TASK_TABLE;
export let vmapStack: bool = false;
export function setVmapStack(on: bool): void { vmapStack = on; }

// @ts-ignore: decorator
@inline function slot(pid: u32): usize { return TASKS + <usize>(pid & (MAX_TASKS - 1)) * 32; }

export function threadSize(): u32 { return kasanMode != KASAN_OFF ? 32768 : 16384; }

// Allocate the kernel stack of pid. Returns its base (lowest address) or 0.
export function task_stack_alloc(pid: u32): u64 {
  const s = slot(pid);
  if (load<u64>(s) != 0) return load<u64>(s);
  const size = threadSize();
  let base: u64 = 0;
  let pfn: u32 = NO_PFN;
  if (vmapStack) {
    base = vmallocStack(size);
  } else {
    const order: u32 = size == 32768 ? 3 : 2;
    pfn = allocPagesPfn(order, USE_PAGES);
    if (pfn != NO_PFN) base = PAGE_OFFSET + (<u64>pfn << PAGE_SHIFT);
  }
  if (base == 0) return 0;
  kasanUnpoison(base, size, 0xff);
  store<u64>(s, base);
  store<u32>(s, size, 8);
  store<u32>(s, 8, 12);
  store<u64>(s, base + size, 16);
  store<u32>(s, vmapStack ? 1 : 0, 24);
  store<u32>(s, pfn, 28);
  return base;
}

// A stack the host describes (a guest's stack region), with its word size.
export function task_stack_set(pid: u32, base: u64, size: u32, word: u32): void {
  const s = slot(pid);
  store<u64>(s, base);
  store<u32>(s, size, 8);
  store<u32>(s, word, 12);
  store<u64>(s, base + size, 16);
  store<u32>(s, 2, 24);
  store<u32>(s, NO_PFN, 28);
}

export function task_stack_free(pid: u32): void {
  const s = slot(pid);
  const base = load<u64>(s);
  if (base == 0) return;
  const kind = load<u32>(s, 24);
  if (kind == 1) vfreeStack(base);
  else if (kind == 0) freePagesPfn(load<u32>(s, 28), load<u32>(s, 8) == 32768 ? 3 : 2);
  memory.fill(s, 0, 32);
}

// Push a frame of `size` bytes (16-aligned) on pid's stack; 0 if it overflows.
export function stack_frame_push(pid: u32, size: u32): u64 {
  const s = slot(pid);
  const base = load<u64>(s);
  if (base == 0) return 0;
  const sp = (load<u64>(s, 16) - size) & ~<u64>15;
  if (sp < base) return 0;
  store<u64>(s, sp, 16);
  return sp;
}
// Pop back to (and including) the frame at va: the stack above it is unpoisoned.
export function stack_frame_pop(pid: u32, va: u64, size: u32): void {
  const s = slot(pid);
  if (load<u64>(s) == 0) return;
  kasanUnpoison(va & ~<u64>7, (<u64>size + 7) & ~<u64>7, 0xff);
  const top = load<u64>(s) + load<u32>(s, 8);
  let sp = va + size;
  if (sp > top) sp = top;
  store<u64>(s, (sp + 15) & ~<u64>15, 16);
}

// Bottom of pid's stack if va lies on it, else 0 (object_is_on_stack).
export function taskStackOf(pid: u32, va: u64): u64 {
  const s = slot(pid);
  const base = load<u64>(s);
  if (base == 0 || va - base >= <u64>load<u32>(s, 8)) return 0;
  return base;
}
export function taskStackWord(pid: u32): u32 { const w = load<u32>(slot(pid), 12); return w == 0 ? 8 : w; }
export function task_stack_base(pid: u32): u64 { return load<u64>(slot(pid)); }
export function task_stack_size(pid: u32): u32 { return load<u32>(slot(pid), 8); }
