// The browser bundle: the compiled host (dist/host) with the Node platform
// module swapped for the browser one, and core.wasm emitted next to it (the
// plain build: no shared memory, so it runs where pages are not cross-origin isolated).
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import terser from "@rollup/plugin-terser";

const root = path.dirname(fileURLToPath(import.meta.url));
const webPlatform = path.join(root, "dist/host/web/platform.js");
const nodePlatform = path.join(root, "dist/host/platform.js");

function shadowfenceWeb() {
  let ref;
  return {
    name: "shadowfence-web",
    buildStart() {
      ref = this.emitFile({ type: "asset", fileName: "core.wasm", source: readFileSync(path.join(root, "build/core.plain.wasm")) });
    },
    resolveId(source, importer) {
      if (source === "shadowfence:core-url") return "\0shadowfence:core-url";
      if (importer && path.resolve(path.dirname(importer), source) === nodePlatform) return webPlatform;
      return null;
    },
    load(id) {
      if (id === "\0shadowfence:core-url") return `export default import.meta.ROLLUP_FILE_URL_${ref};`;
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
