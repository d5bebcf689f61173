// The demo: a booted engine and a handful of real bugs, each in a function
// named for what it does, so the reports read like the kernel's. The names stay
// clear of the frames syzkaller skips when it titles a report ("slab_",
// "malloc", "pointer", ...), so its title names the buggy function.
import type { Engine } from "./engine.js";
import { pushStackFrame } from "./stack_frame.js";

export interface DemoCase {
  name: string;
  describe: string;
  run(e: Engine): void;
}

function write_past_object_end(e: Engine): void {
  const p = e.kmalloc(115);
  e.store(p + 120n, 1, 0x78);
  e.kfree(p);
}

function use_after_free_read(e: Engine): void {
  const p = e.kmalloc(64);
  e.kfree(p);
  e.load(p + 8n, 8);
}

function double_free(e: Engine): void {
  const p = e.kmalloc(32);
  e.kfree(p);
  e.kfree(p);
}

function global_out_of_bounds(e: Engine): void {
  const g = e.registerGlobal("demo_global_array", 10, { module: "shadowfence_demo" });
  e.load(g + 13n, 1);
}

function stack_out_of_bounds(e: Engine): void {
  const frame = pushStackFrame(e, { name: "stack_out_of_bounds", offset: 0, size: 0x120 }, [{ name: "buf", size: 10, line: 42 }]);
  e.load(frame.vars.get("buf")! + 26n, 1);
  frame.pop();
}

function write_past_vmap_area_end(e: Engine): void {
  const v = e.vmalloc(2000);
  e.store(v + 2000n, 1, 0);
  e.vfree(v);
}

function read_field_of_null(e: Engine): void {
  e.load(0x18n, 8);
}

// KFENCE samples one allocation per kfence.sample_interval of the engine's
// (virtual) clock: let an interval pass, and the next kmalloc is KFENCE's.
function wait_for_kfence_sample(e: Engine): void {
  e.tick(e.kfence.sampleInterval);
}

function kfence_out_of_bounds_read(e: Engine): void {
  wait_for_kfence_sample(e);
  const p = e.kmalloc(32);
  // the object sits at the left or right edge of its page: read just past that edge
  const edge = (p & 0xfffn) === 0n ? p - 1n : p + 32n;
  e.load(edge, 1);
  e.kfree(p);
}

function kfence_use_after_free_read(e: Engine): void {
  wait_for_kfence_sample(e);
  const p = e.kmalloc(64);
  e.kfree(p);
  e.load(p + 8n, 8);
}

function kfence_memory_corruption(e: Engine): void {
  wait_for_kfence_sample(e);
  const p = e.kmalloc(73);
  e.store(p + 73n, 1, 0x2a);
  e.kfree(p);
}

// A work item queued on CPU 1 frees an object that CPU 0 goes on reading: the
// report is CPU 0's, the free track is CPU 1's kworker, and the object holds the
// work struct, so KASAN also names where the work was queued.
function release_on_other_cpu(cpu1: Engine, p: bigint): void {
  cpu1.kfree(p);
}
function use_after_free_across_cpus(e: Engine): void {
  const p = e.kmalloc(96);
  const cpu1 = e.cpu(1);
  cpu1.queue_work(p, () => release_on_other_cpu(cpu1, p));
  cpu1.flush_workqueue();
  e.load(p + 16n, 4);
}

/** Below the demo's functions, pid 1 runs initcalls, as early kernel code does. */
export const INITCALL_FRAMES = [
  { name: "do_one_initcall", offset: 0x236, size: 0x820 },
  { name: "kernel_init_freeable", offset: 0x334, size: 0x4b0 },
  { name: "kernel_init", offset: 0x1d, size: 0x1d0 },
  { name: "ret_from_fork", offset: 0x2f, size: 0x70 },
  { name: "ret_from_fork_asm", offset: 0x19, size: 0x30 },
];

export const DEMO_CASES: DemoCase[] = [
  { name: "slab-out-of-bounds", describe: "a 1-byte write 5 bytes past a 115-byte kmalloc object", run: write_past_object_end },
  { name: "slab-use-after-free", describe: "an 8-byte read of a freed object", run: use_after_free_read },
  { name: "double-free", describe: "kfree of an already freed object", run: double_free },
  { name: "global-out-of-bounds", describe: "a read 3 bytes past a 10-byte global in a module", run: global_out_of_bounds },
  { name: "stack-out-of-bounds", describe: "a read 16 bytes past a 10-byte local, in its frame's redzone", run: stack_out_of_bounds },
  { name: "vmalloc-out-of-bounds", describe: "a write just past a 2000-byte vmalloc area (KASAN_VMALLOC shadow)", run: write_past_vmap_area_end },
  { name: "null-ptr-deref", describe: "a load from NULL + 0x18: KASAN's report, then the oops", run: read_field_of_null },
  { name: "kfence-out-of-bounds", describe: "a sampled 32-byte kmalloc object (KFENCE), read one byte past its page edge",
    run: kfence_out_of_bounds_read },
  { name: "kfence-use-after-free", describe: "a sampled object read after kfree: its page is protected", run: kfence_use_after_free_read },
  { name: "kfence-memory-corruption", describe: "a byte written past a sampled 73-byte object, found in the canary on kfree",
    run: kfence_memory_corruption },
];

/** Cases that need a second CPU (engine.nrCpus > 1: Node, or a cross-origin isolated page). */
export const SMP_DEMO_CASES: DemoCase[] = [
  { name: "slab-use-after-free-across-cpus", describe: "a work item on CPU 1 frees an object CPU 0 then reads (engine.cpu(1))", run: use_after_free_across_cpus },
];
