// lib/test_vmalloc.c's test cases, run inside the engine (as the kernel module
// runs inside the kernel) for bench/vmalloc.ts: the same loops, sizes and
// alignments, the same instrumented accesses to the memory they get.
import { PAGE_SIZE, GFP_KERNEL, GFP_ZERO, CFG_NR_CPUS, TEST_VMALLOC_FIX_SIZE, TEST_VMALLOC_FULL_FIT, TEST_VMALLOC_LONG_BUSY_LIST,
         TEST_VMALLOC_RANDOM_SIZE, TEST_VMALLOC_FIX_ALIGN, TEST_VMALLOC_RANDOM_SIZE_ALIGN, TEST_VMALLOC_ALIGN_SHIFT,
         TEST_VMALLOC_PCPU } from "../../abi/abi";
import { vmallocNodeRange, vfreeAddr as vfreeAddrLocked } from "./vmalloc";
import { allocPercpu as allocPercpuLocked, freePercpu as freePercpuLocked } from "./percpu";
import { VMALLOC_START, VMALLOC_END } from "./layout";
import { checkedStore as checkedStoreLocked, checkedLoad as checkedLoadLocked } from "./access";
import { threadSize } from "../task_stack";
import { currentStack } from "../stackdepot";
import { cfg } from "../config";
import { xorshiftStep } from "../random";
import { kernelEnter, kernelLeave } from "../smp";

// The module's own generator (get_random_*), seeded per run so that every
// configuration does exactly the same work.
let rs: u64 = 1;
function rnd(): u32 {
  rs = xorshiftStep(rs);
  return <u32>((rs * 0x2545f4914f6cdd1d) >> 32);
}
// get_random_u32_inclusive(lo, hi)
function inclusive(lo: u32, hi: u32): u32 { return lo + <u32>((<u64>rnd() * <u64>(hi - lo + 1)) >> 32); }

// Each call the module makes into the kernel enters it on its own (on SMP the
// kernel lock is taken per call, so CPUs running the tests interleave).
function vmNode(size: u64, align: u64, gfp: u32): u64 {
  const d = kernelEnter();
  const p = vmallocNodeRange(size, align, VMALLOC_START, VMALLOC_END, gfp, currentStack, 0);
  kernelLeave(d);
  return p;
}
// @ts-ignore: decorator
@inline function vm(size: u64): u64 { return vmNode(size, 1, GFP_KERNEL); }
function vfreeAddr(p: u64): void { const d = kernelEnter(); vfreeAddrLocked(p); kernelLeave(d); }
function allocPercpu(size: u32, align: u32): u64 { const d = kernelEnter(); const p = allocPercpuLocked(size, align); kernelLeave(d); return p; }
function freePercpu(p: u64): void { const d = kernelEnter(); freePercpuLocked(p); kernelLeave(d); }
function checkedStore<T>(va: u64, v: T): void { const d = kernelEnter(); checkedStoreLocked<T>(va, v); kernelLeave(d); }
function checkedLoad<T>(va: u64): T { const d = kernelEnter(); const v = checkedLoadLocked<T>(va); kernelLeave(d); return v; }

function fix_size_alloc_test(loops: u32, nrPages: u32): i32 {
  for (let i: u32 = 0; i < loops; i++) {
    const ptr = vm(<u64>(nrPages > 0 ? nrPages : 1) * PAGE_SIZE);
    if (ptr == 0) return -1;
    checkedStore<u8>(ptr, 0);
    vfreeAddr(ptr);
  }
  return 0;
}

function full_fit_alloc_test(loops: u32): i32 {
  const cpus = <u32>cfg(CFG_NR_CPUS);
  const junkLength: u32 = (32 - clz<u32>(cpus)) * <u32>((32 * 1024 * 1024) / PAGE_SIZE);
  const ptr = vm(<u64>junkLength * 8);
  if (ptr == 0) return -1;
  const junk = vm(<u64>junkLength * 8);
  if (junk == 0) { vfreeAddr(ptr); return -1; }
  for (let i: u32 = 0; i < junkLength; i++) {
    checkedStore<u64>(ptr + (<u64>i << 3), vm(PAGE_SIZE));
    checkedStore<u64>(junk + (<u64>i << 3), vm(PAGE_SIZE));
  }
  for (let i: u32 = 0; i < junkLength; i++) vfreeAddr(checkedLoad<u64>(junk + (<u64>i << 3)));
  let rv: i32 = 0;
  for (let i: u32 = 0; i < loops; i++) {
    const tmp = vm(PAGE_SIZE);
    if (tmp == 0) { rv = -1; break; }
    checkedStore<u8>(tmp, 1);
    vfreeAddr(tmp);
  }
  for (let i: u32 = 0; i < junkLength; i++) vfreeAddr(checkedLoad<u64>(ptr + (<u64>i << 3)));
  vfreeAddr(ptr);
  vfreeAddr(junk);
  return rv;
}

function long_busy_list_alloc_test(loops: u32): i32 {
  const ptr = vm(8 * 15000);
  if (ptr == 0) return -1;
  for (let i: u32 = 0; i < 15000; i++) checkedStore<u64>(ptr + (<u64>i << 3), vm(PAGE_SIZE));
  let rv: i32 = 0;
  for (let i: u32 = 0; i < loops; i++) {
    const p1 = vm(100 * PAGE_SIZE);
    if (p1 == 0) { rv = -1; break; }
    const p2 = vm(PAGE_SIZE);
    if (p2 == 0) { vfreeAddr(p1); rv = -1; break; }
    checkedStore<u8>(p1, 0);
    checkedStore<u8>(p2, 1);
    vfreeAddr(p1);
    vfreeAddr(p2);
  }
  for (let i: u32 = 0; i < 15000; i++) vfreeAddr(checkedLoad<u64>(ptr + (<u64>i << 3)));
  vfreeAddr(ptr);
  return rv;
}

function random_size_alloc_test(loops: u32): i32 {
  for (let i: u32 = 0; i < loops; i++) {
    const n = inclusive(1, 100);
    const p = vm(<u64>n * PAGE_SIZE);
    if (p == 0) return -1;
    checkedStore<u8>(p, 1);
    vfreeAddr(p);
  }
  return 0;
}

function fix_align_alloc_test(loops: u32): i32 {
  // THREAD_ALIGN << 1: THREAD_ALIGN is THREAD_SIZE, 32 KiB with KASAN, 16 KiB without
  const align = <u64>threadSize() << 1;
  for (let i: u32 = 0; i < loops; i++) {
    const ptr = vmNode(5 * PAGE_SIZE, align, GFP_KERNEL | GFP_ZERO);
    if (ptr == 0) return -1;
    vfreeAddr(ptr);
  }
  return 0;
}

function random_size_align_alloc_test(loops: u32): i32 {
  for (let i: u32 = 0; i < loops; i++) {
    const r = rnd() & 0xff;                               // get_random_u8()
    const align: u64 = <u64>1 << (r % 23);
    const size: u64 = <u64>((r % 10) + 1) * PAGE_SIZE;
    const ptr = vmNode(size, align, GFP_KERNEL | GFP_ZERO);
    if (ptr == 0) return -1;
    vfreeAddr(ptr);
  }
  return 0;
}

// "This test case is supposed to be failed."
function align_shift_alloc_test(): i32 {
  for (let i: u32 = 0; i < 64; i++) {
    const ptr = vmNode(PAGE_SIZE, <u64>1 << i, GFP_KERNEL | GFP_ZERO);
    if (ptr == 0) return -1;
    vfreeAddr(ptr);
  }
  return 0;
}

function pcpu_alloc_test(): i32 {
  let rv: i32 = 0;
  const pcpu = vm(8 * 35000);
  if (pcpu == 0) return -1;
  for (let i: u32 = 0; i < 35000; i++) {
    const size = inclusive(1, PAGE_SIZE / 4);
    const align: u32 = 1 << inclusive(1, 11);
    const p = allocPercpu(size, align);
    checkedStore<u64>(pcpu + (<u64>i << 3), p);
    if (p == 0) rv = -1;
  }
  for (let i: u32 = 0; i < 35000; i++) freePercpu(checkedLoad<u64>(pcpu + (<u64>i << 3)));
  vfreeAddr(pcpu);
  return rv;
}

// Run test `id` (test_case_array order) once: 0 passed, -1 failed.
export function test_vmalloc_run(id: i32, loops: u32, nrPages: u32, seed: u32): i32 {
  rs = <u64>seed * 0x9e3779b97f4a7c15 + 1;
  switch (id) {
    case TEST_VMALLOC_FIX_SIZE: return fix_size_alloc_test(loops, nrPages);
    case TEST_VMALLOC_FULL_FIT: return full_fit_alloc_test(loops);
    case TEST_VMALLOC_LONG_BUSY_LIST: return long_busy_list_alloc_test(loops);
    case TEST_VMALLOC_RANDOM_SIZE: return random_size_alloc_test(loops);
    case TEST_VMALLOC_FIX_ALIGN: return fix_align_alloc_test(loops);
    case TEST_VMALLOC_RANDOM_SIZE_ALIGN: return random_size_align_alloc_test(loops);
    case TEST_VMALLOC_ALIGN_SHIFT: return align_shift_alloc_test();
    case TEST_VMALLOC_PCPU: return pcpu_alloc_test();
  }
  return -1;
}
