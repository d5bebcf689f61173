// Virtual modules the browser bundle's rollup plugin provides: the URLs of its emitted assets.
declare module "shadowfence:core-url" {
  /** core.wasm: the plain core (ordinary memory, one CPU). */
  const url: string;
  export default url;
}
declare module "shadowfence:core-smp-url" {
  /** core.smp.wasm: the shared-memory core (cross-origin isolated pages: CPU threads). */
  const url: string;
  export default url;
}
declare module "shadowfence:cpu-worker-url" {
  /** The CPU threads' Web Worker script (host/web/cpu_worker.ts). */
  const url: string;
  export default url;
}
