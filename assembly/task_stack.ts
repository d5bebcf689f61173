// Task stacks: a THREAD_SIZE stack per task (32 KiB with KASAN on x86_64:
// KASAN_STACK_ORDER adds an order), from the page allocator or, with
// VMAP_STACK, from vmalloc. Frames are pushed and popped by the host or a guest
// runner; KASAN's report walks the stack of the current task.
import { PAGE_SHIFT, PAGE_SIZE, USE_PAGES, MAX_TASKS } from "../abi/abi";
import { allocPagesPfn, freePagesPfn, pageFreeProblem } from "./mm/page_alloc";
import { NO_PFN, nrFrames, pgUse } from "./mm/phys";
import { PAGE_OFFSET } from "./mm/layout";
import { kasanMode, KASAN_OFF } from "./kasan/kasan";
import { kasanUnpoison } from "./kasan/shadow";
import { vmallocStack, vfreeStack } from "./mm/vmalloc";
import { TASK_TABLE, MACHINE_STATE } from "./statics";

// Slots are found by pid (open addressing from pid % MAX_TASKS), and a slot
// records its pid, so pids never alias. Per slot: base u64, size u32, pid u32,
// sp u64, pfn u32, word u8 (8 kernel, 4 wasm32 guest), kind u8 (0 pages,
// 1 vmalloc, 2 described by the host), state u8 (0 never used, 1 live, 2 freed).
// @ts-ignore: decorator
@inline const TASKS: usize = TASK_TABLE;
// @ts-ignore: decorator
@inline const SLOT_BYTES: usize = 32;
// @ts-ignore: decorator
@inline const SLOT_NEVER: u8 = 0;
// @ts-ignore: decorator
@inline const SLOT_LIVE: u8 = 1;
// @ts-ignore: decorator
@inline const SLOT_FREED: u8 = 2;
export let vmapStack: bool = false;
export function setVmapStack(on: bool): void { vmapStack = on; }
// the machine's, not this CPU's: linear memory (docs/smp.md, "The audit")
// @ts-ignore: decorator
@unmanaged class TaskStackState { liveTasks: u32; }
export const TSS = changetype<TaskStackState>(MACHINE_STATE + 0x100);
if (offsetof<TaskStackState>() > 0x100) ERROR("TaskStackState outgrew its MACHINE_STATE slot");

// @ts-ignore: decorator
@inline function slotAt(i: u32): usize { return TASKS + <usize>(i & (MAX_TASKS - 1)) * SLOT_BYTES; }

// The live slot of pid, or 0.
function findSlot(pid: u32): usize {
  const start = pid & (MAX_TASKS - 1);
  for (let n: u32 = 0; n < <u32>MAX_TASKS; n++) {
    const s = slotAt(start + n);
    const state = load<u8>(s, 30);
    if (state == SLOT_NEVER) return 0;
    if (state == SLOT_LIVE && load<u32>(s, 12) == pid) return s;
  }
  return 0;
}
// A new slot for pid (which has none), or 0 when all MAX_TASKS are live.
function takeSlot(pid: u32): usize {
  const start = pid & (MAX_TASKS - 1);
  for (let n: u32 = 0; n < <u32>MAX_TASKS; n++) {
    const s = slotAt(start + n);
    if (load<u8>(s, 30) != SLOT_LIVE) {
      memory.fill(s, 0, SLOT_BYTES);
      store<u32>(s, pid, 12);
      store<u8>(s, SLOT_LIVE, 30);
      TSS.liveTasks++;
      return s;
    }
  }
  return 0;
}

export function threadSize(): u32 { return kasanMode != KASAN_OFF ? 32768 : 16384; }
// Tasks with a stack now (at most MAX_TASKS).
export function task_count(): u32 { return TSS.liveTasks; }

// Allocate the kernel stack of pid. Returns its base (lowest address) or 0
// (out of memory, or the task table is full: see task_count).
export function task_stack_alloc(pid: u32): u64 {
  const found = findSlot(pid);
  if (found != 0) return load<u64>(found);
  const size = threadSize();
  let base: u64 = 0;
  let pfn: u32 = NO_PFN;
  if (TSS.liveTasks >= <u32>MAX_TASKS) return 0;
  if (vmapStack) {
    base = vmallocStack(size);
  } else {
    const order: u32 = size == 32768 ? 3 : 2;
    pfn = allocPagesPfn(order, USE_PAGES);
    if (pfn != NO_PFN) base = PAGE_OFFSET + (<u64>pfn << PAGE_SHIFT);
  }
  if (base == 0) return 0;
  const s = takeSlot(pid);
  kasanUnpoison(base, size, 0xff);
  store<u64>(s, base);
  store<u32>(s, size, 8);
  store<u64>(s, base + size, 16);
  store<u32>(s, pfn, 24);
  store<u8>(s, 8, 28);
  store<u8>(s, vmapStack ? 1 : 0, 29);
  return base;
}

// A stack the host describes (a guest's stack region), with its word size.
// false when the task table is full.
export function task_stack_set(pid: u32, base: u64, size: u32, word: u32): bool {
  let s = findSlot(pid);
  if (s == 0) s = takeSlot(pid);
  if (s == 0) return false;
  store<u64>(s, base);
  store<u32>(s, size, 8);
  store<u64>(s, base + size, 16);
  store<u32>(s, NO_PFN, 24);
  store<u8>(s, <u8>word, 28);
  store<u8>(s, 2, 29);
  return true;
}

// Free pid's stack; 0 done, -1 pid has no stack.
export function task_stack_free(pid: u32): i32 {
  const s = findSlot(pid);
  if (s == 0) return -1;
  const base = load<u64>(s);
  const kind = load<u8>(s, 29);
  const pfn = load<u32>(s, 24);
  const order: u32 = load<u32>(s, 8) == 32768 ? 3 : 2;
  if (kind == 1) vfreeStack(base);
  // the frames must still be this stack's block: never hand the buddy anything else
  else if (kind == 0 && pfn < nrFrames && pgUse(pfn) == USE_PAGES && pageFreeProblem(pfn, order) == 0) freePagesPfn(pfn, order);
  memory.fill(s, 0, SLOT_BYTES);
  store<u8>(s, SLOT_FREED, 30);
  TSS.liveTasks--;
  return 0;
}

// Push a frame of `size` bytes (16-aligned) on pid's stack; 0 if it overflows.
export function stack_frame_push(pid: u32, size: u32): u64 {
  const s = findSlot(pid);
  if (s == 0) return 0;
  const base = load<u64>(s);
  const sp = (load<u64>(s, 16) - size) & ~<u64>15;
  if (sp < base) return 0;
  store<u64>(s, sp, 16);
  return sp;
}
// Pop back to (and including) the frame at va: the stack above it is unpoisoned.
export function stack_frame_pop(pid: u32, va: u64, size: u32): void {
  const s = findSlot(pid);
  if (s == 0) return;
  kasanUnpoison(va & ~<u64>7, (<u64>size + 7) & ~<u64>7, 0xff);
  const top = load<u64>(s) + load<u32>(s, 8);
  let sp = va + size;
  if (sp > top) sp = top;
  store<u64>(s, (sp + 15) & ~<u64>15, 16);
}

// Bottom of pid's stack if va lies on it, else 0 (object_is_on_stack).
export function taskStackOf(pid: u32, va: u64): u64 {
  const s = findSlot(pid);
  if (s == 0) return 0;
  const base = load<u64>(s);
  if (va - base >= <u64>load<u32>(s, 8)) return 0;
  return base;
}
export function taskStackWord(pid: u32): u32 {
  const s = findSlot(pid);
  const w = s == 0 ? 0 : <u32>load<u8>(s, 28);
  return w == 4 ? 4 : 8;
}
export function task_stack_base(pid: u32): u64 { const s = findSlot(pid); return s == 0 ? 0 : load<u64>(s); }
export function task_stack_size(pid: u32): u32 { const s = findSlot(pid); return s == 0 ? 0 : load<u32>(s, 8); }
