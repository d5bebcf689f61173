// What the simulated kernel was built with, for the KASAN suite's cases
// (IS_ENABLED(...) and KASAN_TEST_NEEDS_CONFIG_ON/_OFF in kasan_test_c.c): the
// engine's boot options stand in for Kconfig.
import type { Engine } from "../engine.js";
import type { KunitTest } from "./runner.js";

export function config(e: Engine, name: string): boolean {
  const o = e.options;
  switch (name) {
    case "CONFIG_KASAN_GENERIC": return o.kasanMode === "generic";
    case "CONFIG_KASAN_SW_TAGS": return o.kasanMode === "sw_tags";
    case "CONFIG_KASAN_HW_TAGS": return false;
    case "CONFIG_KASAN_STACK": return true;              // the host and guests instrument frames
    case "CONFIG_KASAN_VMALLOC": return o.kasanVmalloc;
    case "CONFIG_CC_IS_CLANG": return true;              // globals get left redzones from the previous global
    case "CONFIG_AMD_MEM_ENCRYPT": return false;
    case "CONFIG_SLUB": return o.slabAllocator !== "slab";
    case "CONFIG_SLAB": return o.slabAllocator === "slab";
    case "CONFIG_SLUB_RCU_DEBUG": return o.slabAllocator !== "slab";   // depends on SLUB_DEBUG
  }
  throw new Error(`unknown config ${name}`);
}
export function needsOn(t: KunitTest, name: string): void {
  if (!config(t.engine, name)) t.skip(`Test requires ${name}=y`);
}
export function needsOff(t: KunitTest, name: string): void {
  if (config(t.engine, name)) t.skip(`Test requires ${name}=n`);
}

// get_tag(): a pointer's top byte
export const tagOf = (p: bigint): number => Number(BigInt.asUintN(64, p) >> 56n);
export const KASAN_TAG_MIN = 0x00;
export const KASAN_TAG_KERNEL = 0xff;
