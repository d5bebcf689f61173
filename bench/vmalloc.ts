// lib/test_vmalloc.c under three configurations in one process: no KASAN,
// KASAN without vmalloc shadow (the vmalloc shadow is the early shadow page),
// and KASAN with vmalloc shadow (KASAN_VMALLOC). The test cases run inside the
// engine (assembly/mm/test_vmalloc.ts) with the module's loop structure and
// sizes; test_loop_count is scaled (--loops) so the whole run takes about a
// minute. Each test runs test_repeat_count times per configuration, the
// configurations interleaved; the table shows the median time.
//
// The kernel's figures for this test set when KASAN_VMALLOC was merged:
// KASAN 6.40x and KASAN+vmalloc 11.66x the baseline, 1.82x over KASAN.
import { Engine } from "../host/engine.js";
import { fmt, ratio, nowNs, type Table } from "./common.js";

export const TESTS = [
  { name: "fix_size_alloc_test", loops: true },
  { name: "full_fit_alloc_test", loops: true },
  { name: "long_busy_list_alloc_test", loops: true },
  { name: "random_size_alloc_test", loops: true },
  { name: "fix_align_alloc_test", loops: true },
  { name: "random_size_align_alloc_test", loops: true },
  { name: "align_shift_alloc_test", loops: false },     // 64 alignments, expected to fail
  { name: "pcpu_alloc_test", loops: false },            // 35000 percpu allocations
];

export const CONFIGS = [
  { name: "baseline", cmdline: "kasan=off" },
  { name: "KASAN", cmdline: "kasan=on kasan.vmalloc=off" },
  { name: "KASAN+vmalloc", cmdline: "kasan=on kasan.vmalloc=on" },
];
// full_fit_alloc_test keeps 2 x 32 MiB x fls(nr_cpus) of 1-page areas live
export const COMMON = "ram=512 nr_cpus=2 kfence.sample_interval=0";

export const DEFAULT_LOOPS = 400000;
export const REPEAT = 3;

interface Sample { ms: number; rc: number; peakShadow: number; peakPages: number }

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function runOne(e: Engine, id: number, loops: number, seed: number): Sample {
  e.exports.vmalloc_reset_peaks();
  const t = nowNs();
  const rc = e.kernelCall(true, () => e.exports.test_vmalloc_run(id, loops, 1, seed));
  const ms = (nowNs() - t) / 1e6;
  e.takeReports();                      // align_shift_alloc_test's expected warn_alloc
  const s = e.stats();
  return { ms, rc, peakShadow: s.vmalloc.shadowPagesPeak, peakPages: s.vmalloc.pagesPeak };
}

export const COLUMNS = ["test", "loops", "baseline ms", "KASAN ms", "x baseline", "KASAN+vmalloc ms", "x baseline", "x KASAN",
  "shadow pages/MiB"];
/**
 * The table's rows from the samples (per test, per configuration: baseline,
 * KASAN, KASAN+vmalloc), with the total, and a summary line per test:
 * median times and ratios, KASAN+vmalloc's peak shadow pages per MiB.
 */
export function tableRows(loops: number, samples: Array<Array<Array<{ ms: number; peakShadow: number; peakPages: number }>>>,
                          summary: (id: number) => string): { rows: Array<Array<string | number>>; notes: string[] } {
  const rows: Array<Array<string | number>> = [];
  const totals = [0, 0, 0];
  let peakShadow = 0, peakPages = 0;
  const notes: string[] = [];
  TESTS.forEach((t, id) => {
    const ms = samples[id].map((ss) => median(ss.map((s) => s.ms)));
    ms.forEach((m, c) => (totals[c] += m));
    const vm = samples[id][2];
    const shadow = Math.max(...vm.map((s) => s.peakShadow));
    const pages = Math.max(...vm.map((s) => s.peakPages));
    peakShadow = Math.max(peakShadow, shadow);
    peakPages = Math.max(peakPages, pages);
    rows.push([t.name, t.loops ? loops : "-", fmt(ms[0], 1), fmt(ms[1], 1), ratio(ms[1] / ms[0]), fmt(ms[2], 1), ratio(ms[2] / ms[0]),
      ratio(ms[2] / ms[1]), pages ? fmt(shadow / (pages / 256), 1) : "-"]);
    notes.push(summary(id) + (t.name === "align_shift_alloc_test" ? " (expected to fail, as in the kernel)" : ""));
  });
  rows.push(["Total", "", fmt(totals[0], 1), fmt(totals[1], 1), ratio(totals[1] / totals[0]), fmt(totals[2], 1),
    ratio(totals[2] / totals[0]), ratio(totals[2] / totals[1]), peakPages ? fmt(peakShadow / (peakPages / 256), 1) : "-"]);
  return { rows, notes };
}

export async function run(opts: { loops?: number; cpus?: number } = {}): Promise<Table[]> {
  const loops = opts.loops ?? (Number(process.env.SF_VMALLOC_LOOPS) || DEFAULT_LOOPS);
  if ((opts.cpus ?? 1) > 1) return [await (await import("./vmalloc_smp.js")).runOnCpus(loops, opts.cpus!)];
  const engines = CONFIGS.map((c) => Engine.createSync({ cmdline: `${COMMON} ${c.cmdline}` }));
  // warm the JIT up on every path first
  for (const e of engines) for (let id = 0; id < TESTS.length; id++) runOne(e, id, Math.max(1, Math.floor(loops / 50)), 99);
  const samples: Sample[][][] = TESTS.map(() => CONFIGS.map(() => []));
  for (let id = 0; id < TESTS.length; id++) {
    for (let rep = 0; rep < REPEAT; rep++) {
      engines.forEach((e, c) => samples[id][c].push(runOne(e, id, loops, rep + 1)));
    }
  }
  const { rows, notes } = tableRows(loops, samples, (id) => {
    const failed = samples[id][2].filter((s) => s.rc !== 0).length;
    const t = TESTS[id];
    return `Summary: ${t.name} passed: ${REPEAT - failed} failed: ${failed} repeat: ${REPEAT} loops: ${t.loops ? loops : "-"}`;
  });
  return [{
    title: `vmalloc: lib/test_vmalloc.c, ms per test (median of ${REPEAT}), ${COMMON}`,
    columns: COLUMNS,
    rows,
    notes: [
      "shadow pages/MiB: peak KASAN_VMALLOC shadow pages per MiB of peak vmalloc'd (and percpu) memory",
      "kernel (KASAN_VMALLOC merge, x86 VM): KASAN 6.40x, KASAN+vmalloc 11.66x baseline, 1.82x KASAN",
      "targets: KASAN <= 3x baseline, KASAN+vmalloc <= 1.3x KASAN",
      ...notes,
    ],
  }];
}
