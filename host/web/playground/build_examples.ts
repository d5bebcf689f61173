// `npm run build:examples`: rebuild the playground's prebuilt guests
// (host/web/playground/examples/*.wasm, committed) from examples/*.c with
// clang-16. `npm run build` copies the committed files, so building the
// package never needs the toolchain; with clang-16 present it rebuilds them.
import { readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { cc, findToolchain } from "../../guest/cc.js";

const root = fileURLToPath(new URL("../../../../", import.meta.url));
const out = path.join(root, "host/web/playground/examples");
const onlyIfToolchain = process.argv.includes("--if-toolchain");
try {
  findToolchain();
} catch (e) {
  if (onlyIfToolchain) {
    process.stdout.write("build:examples: no clang-16 toolchain; keeping the committed prebuilt guests\n");
    process.exit(0);
  }
  throw e;
}
const names = readdirSync(path.join(root, "examples")).filter((f) => f.endsWith(".c")).map((f) => f.slice(0, -2)).sort();
// relative source paths: ASan's global descriptors keep the path, and the files are committed
process.chdir(root);
for (const n of names) cc({ sources: [`examples/${n}.c`], output: path.join(out, `${n}.wasm`), stdio: "pipe" });
writeFileSync(path.join(out, "index.json"), JSON.stringify(names) + "\n");
process.stdout.write(`build:examples: ${names.length} guests in ${path.relative(root, out)}\n`);
