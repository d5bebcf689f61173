// scripts/test-deps.sh, npm test's pretest: on a machine missing the packages
// and without root or sudo it stops with one line naming them. (Installing is
// exercised by .ci/run on a fresh machine.)
import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, symlinkSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const sh = spawnSync("sh", ["-c", "command -v sh"], { encoding: "utf8" }).stdout.trim();

describe("npm test's pretest", () => {
  it("is what package.json runs before the tests, and what .ci/run relies on", () => {
    const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
    expect(pkg.scripts.pretest).toBe("sh scripts/test-deps.sh");
    const commands = readFileSync(path.join(root, ".ci/run"), "utf8").split("\n").filter((l) => /^npm /.test(l));
    expect(commands).toEqual(["npm install --no-audit --no-fund", "npm test"]);
  });

  it("without root, sudo or the packages: one line naming them, exit 1", () => {
    // a PATH with nothing on it but sh and an id that says "not root"
    const bin = mkdtempSync(path.join(tmpdir(), "sf-deps-"));
    try {
      symlinkSync(sh, path.join(bin, "sh"));
      writeFileSync(path.join(bin, "id"), "#!/bin/sh\necho 1000\n", { mode: 0o755 });
      const r = spawnSync(path.join(bin, "sh"), [path.join(root, "scripts/test-deps.sh")], { encoding: "utf8", env: { PATH: bin } });
      expect(r.status).toBe(1);
      expect(r.stdout).toBe("");
      const lines = r.stderr.split("\n").filter(Boolean);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^npm test needs (?:clang-16 lld-16 .*chromium gcc redis-server openssl), which are missing: install them as root \(apt-get install .*\) or run it with sudo available$/);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});
