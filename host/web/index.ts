// Browser entry of the bundle: point the loader at the emitted cores and the
// CPU worker, then the same API as in Node.
import coreUrl from "shadowfence:core-url";
import coreSmpUrl from "shadowfence:core-smp-url";
import cpuWorkerUrl from "shadowfence:cpu-worker-url";
import { setCoreUrl, setCpuWorkerUrl } from "./platform.js";

setCoreUrl(coreUrl, coreSmpUrl);
setCpuWorkerUrl(cpuWorkerUrl);

export * from "../index.js";
