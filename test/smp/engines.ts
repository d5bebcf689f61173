// What the SMP suites share: engines whose CPU threads stop after each test,
// and SLUB's per-CPU slab of a cache as the core reports it.
import { afterEach } from "vitest";
import * as abi from "../../abi/abi.js";
import { Engine } from "../../host/engine.js";
import type { EngineOptions } from "../../host/config.js";

/** A boot function for this suite: every engine it makes has its CPU threads stopped after the test. */
export function smpBoot(): (cmdline: string, opts?: EngineOptions, build?: "release" | "debug") => Engine {
  let engines: Engine[] = [];
  afterEach(async () => { await Promise.all(engines.map((e) => e.stopCpus())); engines = []; });
  return (cmdline, opts = {}, build = "release") => {
    const e = Engine.createSync({ cmdline, ...opts }, { build });
    engines.push(e);
    return e;
  };
}

/** A cpu slab slot that holds no slab. */
export const NO_PFN = 0xffffffff;
/** kmalloc_cache_id's index of kmalloc-64 (kmalloc-8, -16, -32, -64). */
export const KMALLOC_64 = 3;
/** CPU `cpu`'s cpu slab (pfn) of cache `id`. */
export const cpuSlab = (e: Engine, id: number, cpu: number): number => e.exports.slub_cpu_info(id, cpu, abi.KCC_SLAB) >>> 0;
