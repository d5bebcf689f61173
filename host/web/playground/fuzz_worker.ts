// The playground's fuzz worker: the same work units `shadowfence fuzz` runs on
// worker_threads (runUnit: tape generated and interpreted inside wasm), with
// live op counts in a SharedArrayBuffer the page reads.
import { compileCore } from "../index.js";
import { runUnit, type UnitJob, type UnitResult, type Progress } from "../../fuzz/unit.js";

export interface FuzzRequest {
  ops: number;
  unitOps: number;
  seed: number;
  profile: UnitJob["profile"];
  cmdline: string;
  plant: UnitJob["plant"];
  /** [ops, reports, ...] per runUnit's progress slots; shared when the page is cross-origin isolated. */
  counters: Float64Array;
  stop: Int32Array;
}
export type FuzzMessage =
  | { type: "unit"; result: Omit<UnitResult, "status" | "disagreement"> }
  | { type: "done"; ops: number; ms: number }
  | { type: "error"; message: string };

const post = (m: FuzzMessage) => (self as unknown as Worker).postMessage(m);

self.onmessage = async (ev: MessageEvent<FuzzRequest>) => {
  const q = ev.data;
  try {
    await compileCore();                       // fetches core.wasm once; runUnit then boots synchronously
    const progress: Progress = { counters: q.counters, index: 0, stop: q.stop };
    const t0 = performance.now();
    let ops = 0;
    for (let unit = 0; ops < q.ops && Atomics.load(q.stop, 0) === 0; unit++) {
      const job: UnitJob = { unit, ops: Math.min(q.unitOps, q.ops - ops), seed: q.seed, profile: q.profile, cmdline: q.cmdline,
        plant: q.plant, plantWrites: true, check: false };
      const r = runUnit(job, progress);
      ops += r.ops;
      const { status: _s, disagreement: _d, ...rest } = r;
      post({ type: "unit", result: rest });
      if (r.ops < job.ops) break;              // stopped
    }
    post({ type: "done", ops, ms: performance.now() - t0 });
  } catch (e) {
    post({ type: "error", message: (e as Error).message });
  }
};
