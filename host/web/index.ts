// Browser entry of the bundle: point the loader at the emitted core.wasm,
// then the same API as in Node.
import coreUrl from "shadowfence:core-url";
import { setCoreUrl } from "./platform.js";

setCoreUrl(coreUrl);

export * from "../index.js";
