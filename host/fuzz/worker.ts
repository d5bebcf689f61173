// A fuzz worker thread: one engine at a time, units and minimisations as the
// runner hands them out. Progress goes through shared memory (a busy worker
// does not read messages until its job is done).
import { parentPort, workerData } from "node:worker_threads";
import { runUnit, runMinimise, type UnitJob, type MinimiseJob } from "./unit.js";
import { runStudyUnit, runStudyUnitSmp, type StudyJob } from "./study.js";
import { runUnitSmp } from "./smp.js";

interface Data { counters: SharedArrayBuffer; stop: SharedArrayBuffer; index: number }
const data = workerData as Data;
const progress = { counters: new Float64Array(data.counters), stop: new Int32Array(data.stop), index: data.index };

type Msg = { type: "unit"; job: UnitJob } | { type: "minimise"; job: MinimiseJob } | { type: "study"; job: StudyJob } | { type: "exit" };

parentPort!.on("message", async (m: Msg) => {
  try {
    if (m.type === "exit") { parentPort!.close(); return; }
    if (m.type === "unit") {
      progress.counters[data.index * 4 + 2] = 1;
      const r = (m.job.cpus ?? 1) > 1 ? await runUnitSmp(m.job, progress) : runUnit(m.job, progress);
      progress.counters[data.index * 4 + 2] = 0;
      parentPort!.postMessage({ type: "unit", result: r });
    } else if (m.type === "minimise") {
      progress.counters[data.index * 4 + 2] = 2;
      const r = runMinimise(m.job, progress);
      progress.counters[data.index * 4 + 2] = 0;
      parentPort!.postMessage({ type: "minimise", result: r }, [r.tape.buffer as ArrayBuffer]);
    } else if (m.type === "study") {
      progress.counters[data.index * 4 + 2] = 1;
      const r = (m.job.cpus ?? 1) > 1 ? await runStudyUnitSmp(m.job, progress) : runStudyUnit(m.job, progress);
      progress.counters[data.index * 4 + 2] = 0;
      parentPort!.postMessage({ type: "study", result: r });
    }
  } catch (err) {
    const e = err as Error;
    parentPort!.postMessage({ type: "error", message: e.message, stack: e.stack });
  }
});
parentPort!.postMessage({ type: "ready" });
