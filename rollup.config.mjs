// The browser bundle: the compiled host (dist/host) with the Node platform
// module swapped for the browser one, and core.wasm emitted next to it.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.dirname(fileURLToPath(import.meta.url));
const webPlatform = path.join(root, "dist/host/web/platform.js");
const nodePlatform = path.join(root, "dist/host/platform.js");

function shadowfenceWeb() {
  let ref;
  return {
    name: "shadowfence-web",
    buildStart() {
      ref = this.emitFile({ type: "asset", fileName: "core.wasm", source: readFileSync(path.join(root, "build/core.wasm")) });
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

export default {
  input: "dist/host/web/index.js",
  output: { dir: "dist/web", format: "es", entryFileNames: "shadowfence.js" },
  plugins: [shadowfenceWeb()],
};
