// `bench vmalloc --cpus N`: the KASAN_VMALLOC series' second table,
// "Sequential, 2 cpus": every lib/test_vmalloc.c test on N CPUs of one engine
// at once (engine.onCpus, one test_vmalloc job per CPU, as the module's
// nr_threads workers run the same test), under the same three configurations
// and columns as the one-CPU table (bench/vmalloc.ts). A test's time is the
// wall time from the CPUs' common start until the last one is done.
//
// The kernel's figures for this table: KASAN 5.70x and KASAN+vmalloc 12.01x
// the baseline, 2.11x over KASAN.
import os from "node:os";
import { Engine } from "../host/engine.js";
import { fmt, ratio, nowNs, type Table } from "./common.js";
import { TESTS, CONFIGS, COMMON, REPEAT, COLUMNS, tableRows } from "./vmalloc.js";

interface Sample { ms: number; rcs: number[]; peakShadow: number; peakPages: number }

async function runOne(e: Engine, test: string, cpus: number, loops: number, seed: number): Promise<Sample> {
  e.exports.vmalloc_reset_peaks();
  const jobs = Array.from({ length: cpus }, (_, cpu) => ({ cpu, test_vmalloc: { test, loops, seed: seed * cpus + cpu } }));
  const t = nowNs();
  const res = await e.onCpus(jobs);
  const ms = (nowNs() - t) / 1e6;
  e.takeReports();                      // align_shift_alloc_test's expected warn_alloc, once per CPU
  const s = e.stats();
  return { ms, rcs: res.map((r) => r.rc), peakShadow: s.vmalloc.shadowPagesPeak, peakPages: s.vmalloc.pagesPeak };
}

export async function runOnCpus(loops: number, cpus: number): Promise<Table> {
  const common = COMMON.replace(/nr_cpus=\d+/, `nr_cpus=${cpus}`);
  const engines = CONFIGS.map((c) => Engine.createSync({ cmdline: `${common} ${c.cmdline}` }));
  try {
    await Promise.all(engines.map((e) => e.smpInit()));
    for (const e of engines) for (const t of TESTS) await runOne(e, t.name, cpus, Math.max(1, Math.floor(loops / 50)), 99);
    const samples: Sample[][][] = TESTS.map(() => CONFIGS.map(() => []));
    for (let id = 0; id < TESTS.length; id++) {
      for (let rep = 0; rep < REPEAT; rep++) {
        for (let c = 0; c < engines.length; c++) samples[id][c].push(await runOne(engines[c], TESTS[id].name, cpus, loops, rep + 1));
      }
    }
    const { rows, notes } = tableRows(loops, samples, (id) => {
      // the kernel's summary counts each thread's run of a test
      const runs = REPEAT * cpus, t = TESTS[id];
      const failed = samples[id][2].reduce((n, s) => n + s.rcs.filter((rc) => rc !== 0).length, 0);
      return `Summary: ${t.name} passed: ${runs - failed} failed: ${failed} repeat: ${REPEAT} loops: ${t.loops ? loops : "-"} threads: ${cpus}`;
    });
    const hostCores = os.availableParallelism();
    return {
      title: `vmalloc: lib/test_vmalloc.c, Sequential, ${cpus} cpus (every test on all CPUs at once), ms per test (median of ${REPEAT}), ${common}`,
      columns: COLUMNS,
      rows,
      notes: [
        `ms: from the ${cpus} CPUs' common start until the last is done; every CPU runs the test's loops (${cpus}x the one-CPU table's work)`,
        "all kernel code runs under one kernel lock (docs/smp.md): the CPUs' vmalloc calls take turns",
        "shadow pages/MiB: peak KASAN_VMALLOC shadow pages per MiB of peak vmalloc'd (and percpu) memory",
        "kernel (KASAN_VMALLOC series, Sequential, 2 cpus): KASAN 5.70x, KASAN+vmalloc 12.01x baseline, 2.11x KASAN",
        "targets: KASAN <= 3x baseline, KASAN+vmalloc <= 1.3x KASAN",
        ...(cpus > hostCores ? [`${cpus} CPU threads on ${hostCores} host cores: a lock holder can be descheduled, times are not comparable`] : []),
        ...notes,
      ],
    };
  } finally {
    await Promise.all(engines.map((e) => e.stopCpus()));
  }
}
