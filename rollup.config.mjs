// The browser bundle: the compiled host (dist/host) with the Node platform
// module swapped for the browser one, and two cores emitted next to it:
// core.wasm (the plain build: no shared memory, so it runs where pages are not
// cross-origin isolated) and core.smp.wasm (the release build on shared memory,
// for isolated pages: CPU threads as Web Workers, whose script is emitted too).
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import terser from "@rollup/plugin-terser";

const root = path.dirname(fileURLToPath(import.meta.url));
const webPlatform = path.join(root, "dist/host/web/platform.js");
const nodePlatform = path.join(root, "dist/host/platform.js");

function shadowfenceWeb() {
  // virtual module -> the reference of the file whose URL it exports
  const refs = {};
  return {
    name: "shadowfence-web",
    buildStart() {
      refs["shadowfence:core-url"] = this.emitFile({ type: "asset", fileName: "core.wasm", source: readFileSync(path.join(root, "build/core.plain.wasm")) });
      refs["shadowfence:core-smp-url"] = this.emitFile({ type: "asset", fileName: "core.smp.wasm", source: readFileSync(path.join(root, "build/core.wasm")) });
      refs["shadowfence:cpu-worker-url"] = this.emitFile({ type: "chunk", id: path.join(root, "dist/host/web/cpu_worker.js") });
    },
    resolveId(source, importer) {
      if (Object.hasOwn(refs, source)) return `\0${source}`;
      if (importer && path.resolve(path.dirname(importer), source) === nodePlatform) return webPlatform;
      return null;
    },
    load(id) {
      if (id.startsWith("\0") && Object.hasOwn(refs, id.slice(1))) return `export default import.meta.ROLLUP_FILE_URL_${refs[id.slice(1)]};`;
      return null;
    },
  };
}

// The playground (host/web/playground): its page, styles and prebuilt example
// guests copied as they are, next to its scripts.
function playgroundAssets() {
  const src = path.join(root, "host/web/playground");
  return {
    name: "shadowfence-playground-assets",
    buildStart() {
      for (const f of ["index.html", "playground.css"]) this.emitFile({ type: "asset", fileName: `playground/${f}`, source: readFileSync(path.join(src, f)) });
      for (const f of readdirSync(path.join(src, "examples"))) {
        this.emitFile({ type: "asset", fileName: `playground/examples/${f}`, source: readFileSync(path.join(src, "examples", f)) });
      }
    },
  };
}

// One build, one file per module (as in dist/host): the engine tells its own
// stack frames from its callers' by file name, which a single-file bundle would
// hide. dist/web/shadowfence.js is the library's entry, dist/web/playground/ the page.
export default {
  input: {
    shadowfence: "dist/host/web/index.js",
    "playground/main": "dist/host/web/playground/main.js",
    "playground/fuzz_worker": "dist/host/web/playground/fuzz_worker.js",
  },
  output: { dir: "dist/web", format: "es", preserveModules: true, preserveModulesRoot: "dist", entryFileNames: "[name].js" },
  // terser only drops comments and whitespace: names stay (EngineBusyError names the
  // public method from class and function names) and so does one file per module
  plugins: [shadowfenceWeb(), playgroundAssets(), terser({ compress: false, mangle: false, format: { comments: false } })],
};
