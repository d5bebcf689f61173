// The shadowfence command's error handling: usage errors exit 2 with one line,
// file errors and a closed stdout pipe get one line (no stack trace).
import { describe, it, expect } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const CLI = `${root}/dist/host/cli.js`;
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", cwd: root });
const oneLine = (s: string) => s.split("\n").filter(Boolean);

describe("shadowfence command: errors", () => {
  it("usage errors: one line naming the problem, exit status 2", () => {
    for (const [args, line] of [
      [["demo", "--bogus"], "shadowfence: unknown option '--bogus'"],
      [["nosuch"], "shadowfence: unknown command 'nosuch'"],
      [["kunit"], "shadowfence: missing required argument 'suite'"],
      [["demo", "--cmdline", "kasan.fault=sometimes"], expect.stringMatching(/^shadowfence: invalid value "sometimes" for kasan\.fault: /)],
      [["bench", "tlb", "--loops", "-3"], "shadowfence: --loops must be a positive integer, got -3"],
    ] as Array<[string[], unknown]>) {
      const r = cli(...args);
      expect(r.status, args.join(" ")).toBe(2);
      expect(oneLine(r.stderr), args.join(" ")).toEqual([line]);
      expect(r.stdout).toBe("");
    }
  });

  it("--help and --version exit 0", () => {
    expect(cli("--version")).toMatchObject({ status: 0, stdout: expect.stringMatching(/^\d+\.\d+\.\d+\n$/) });
    expect(cli("demo", "--help")).toMatchObject({ status: 0, stdout: expect.stringContaining("Usage: shadowfence demo") });
  });

  it("a file where a directory is needed: one line with the path, exit status 1", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sf-cli-"));
    const file = path.join(dir, "taken");
    writeFileSync(file, "x");
    const r = cli("fuzz", "--ops", "1000", "--workers", "1", "--out", file, "--no-progress");
    expect(r.status).not.toBe(0);
    expect(oneLine(r.stderr)).toEqual([expect.stringMatching(new RegExp(`^shadowfence: ${file}: `))]);
    const t = cli("replay", dir);
    expect(t.status).toBe(2);
    expect(oneLine(t.stderr)).toEqual([`shadowfence: ${dir}: is a directory, not a tape`]);
  });

  it("a reader that closes the pipe (kunit … | head -1): one line on stderr, no stack trace", async () => {
    // far more output than a pipe buffers, so the writer meets the closed pipe whatever the timing
    const child = spawn(process.execPath, [CLI, "kunit", "kasan", "--reports"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const first = await new Promise<string>((resolve) => child.stdout.once("data", (d: Buffer) => resolve(d.toString())));
    child.stdout.destroy();
    const status = await new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    expect(first).toContain("BUG: KASAN: ");
    expect(status).toBe(1);
    expect(oneLine(stderr)).toEqual(["shadowfence: standard output was closed (EPIPE): output stopped"]);
  });
});
