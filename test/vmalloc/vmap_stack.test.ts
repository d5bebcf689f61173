// VMAP_STACK: task stacks in vmalloc space, created by copy_process, with
// ASan stack frames on them and stack-out-of-bounds reported there; the
// kernel's refusal of VMAP_STACK with KASAN but without KASAN_VMALLOC.
import { describe, it, expect } from "vitest";
import { boot, BUILDS, lines } from "../helpers.js";
import { ConfigError } from "../../host/config.js";

const px = (v: bigint) => v.toString(16).padStart(16, "0");

describe.each(BUILDS)("VMAP_STACK (%s build)", (build) => {
  it("refuses vmap_stack=on with KASAN but without kasan.vmalloc", () => {
    expect(() => boot({ ram: 32, cmdline: "vmap_stack=on kasan.vmalloc=off" }, build)).toThrow(ConfigError);
    expect(() => boot({ ram: 32, cmdline: "vmap_stack=on kasan.vmalloc=off" }, build))
      .toThrow("vmap_stack=on needs kasan.vmalloc=on: VMAP_STACK depends on !KASAN || KASAN_HW_TAGS || KASAN_VMALLOC");
    expect(() => boot({ ram: 32, cmdline: "vmap_stack=on kasan=off" }, build)).not.toThrow();
  });

  it("allocates THREAD_SIZE stacks in vmalloc space, THREAD_ALIGN-aligned, created by copy_process", () => {
    const e = boot({ ram: 64, cmdline: "vmap_stack=on" }, build);
    const t = e.createTask("worker");
    expect(t.stackSize).toBe(32768);                           // KASAN doubles THREAD_SIZE
    expect(e.is_vmalloc_addr(t.stack)).toBe(true);
    expect(t.stack % 32768n).toBe(0n);
    const vm = e.find_vm_area(t.stack)!;
    expect(vm.addr).toBe(t.stack);
    expect(vm.size).toBe(0x9000n);                              // + the guard page
    expect(vm.caller).toBe("copy_process+0x5d1/0x3d90");
    expect(e.stats().vmalloc.pages).toBe(8);
    e.exitTask(t.pid);
    e.vm_unmap_aliases();
    expect(e.stats().vmalloc.pages).toBe(0);
    expect(e.stats().vmalloc.shadowPages).toBe(0);
    const off = boot({ ram: 64 }, build).createTask("worker");
    expect(off.stack >> 40n).toBe(0xffff88n);                 // without VMAP_STACK: the direct map
  });

  it("reports stack-out-of-bounds on a vmapped stack with the frame and the mapping", () => {
    const e = boot({ ram: 64, cmdline: "vmap_stack=on" }, build);
    const t = e.createTask("stack_test");
    e.setTask({ pid: t.pid });
    const f = e.stackFrame(t.pid, "kasan_stack_oob", [{ name: "stack_array", size: 10 }]);
    expect(f.locals[0]).toBe(f.base + 32n);
    expect(e.shadowByte(f.base)).toBe(0xf1);
    expect(e.shadowByte(f.locals[0] + 8n)).toBe(2);
    function kasan_stack_oob() { return e.load(f.locals[0] + 10n, 1); }
    kasan_stack_oob();
    const [r] = e.takeReports();
    expect(r.type).toBe("stack-out-of-bounds");
    const l = lines(r);
    expect(l[1]).toMatch(/^BUG: KASAN: stack-out-of-bounds in kasan_stack_oob\+0x[0-9a-f]+\/0x[0-9a-f]+$/);
    expect(l[2]).toBe(`Read of size 1 at addr ${px(f.locals[0] + 10n)} by task stack_test/${t.pid}`);
    const i = l.indexOf(`The buggy address belongs to stack of task stack_test/${t.pid}`);
    expect(i).toBeGreaterThan(0);
    expect(l.slice(i + 1, i + 13)).toEqual([
      " and is located at offset 42 in frame:",
      ` kasan_stack_oob+0x0/${l[1].split("/").pop()}`,   // the function's one size, as its Call Trace frame has it
      "",
      "This frame has 1 object:",
      " [32, 42) 'stack_array'",
      "",
      "The buggy address belongs to the virtual mapping at",
      ` [${px(t.stack)}, ${px(t.stack + 0x9000n)}) created by:`,
      " copy_process+0x5d1/0x3d90",
      "",
      "The buggy address belongs to the physical page:",
      `page: refcount:1 mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x${e.vmalloc_to_pfn(f.base).toString(16)}`,
    ]);
    const row = (f.locals[0] + 10n) & ~127n;
    const g = Number(((f.locals[0] + 10n) - row) / 8n);
    const state = l.slice(l.indexOf("Memory state around the buggy address:"));
    expect(state[3].startsWith(`>${px(row)}: `)).toBe(true);
    expect(state[3].split(": ")[1].split(" ").slice(g - 5, g + 3)).toEqual(["f1", "f1", "f1", "f1", "00", "02", "f3", "f3"]);
    expect(state[4]).toBe(" ".repeat(19 + 3 * g) + "^");
    f.pop();
    expect(e.shadowByte(f.locals[0] + 10n)).toBe(0);
    e.setTask({ pid: 1 });
    e.exitTask(t.pid);
  });

  it("an overflow off the bottom of a vmapped stack is caught: poisoned shadow, then the fault", () => {
    const e = boot({ ram: 64, cmdline: "vmap_stack=on kasan_multi_shot" }, build);
    const a = e.createTask("a");
    const b = e.createTask("b");
    expect(b.stack - a.stack).toBe(0x10000n);                  // 36 KiB areas, 32 KiB aligned
    e.load(b.stack - 8n, 8);                                    // below b's stack: shadow shared with a's guard page
    const [r, oops] = e.takeReports();
    expect(r.type).toBe("vmalloc-out-of-bounds");
    expect(oops.kind).toBe("oops");
  });
});
