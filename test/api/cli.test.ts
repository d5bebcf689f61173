// The shadowfence command's error handling: usage errors exit 2 with one line,
// file errors and a closed stdout pipe get one line (no stack trace).
import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
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
      [["bench", "vmalloc", "--cpus", "9"], "shadowfence: --cpus must be an integer from 1 to 8, got 9"],
      [["bench", "vmalloc", "--cpus", "2x"], "shadowfence: --cpus must be an integer from 1 to 8, got 2x"],
      [["bench", "tlb", "--cpus", "2"], "shadowfence: --cpus applies to vmalloc only, not tlb"],
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

  it("a reader that closes the pipe (kunit … | head -c 100): one line on stderr, no stack trace", () => {
    // head exits after 100 bytes; the rest (far more than a pipe buffers) meets the closed pipe
    const err = path.join(mkdtempSync(path.join(tmpdir(), "sf-pipe-")), "stderr");
    const r = spawnSync("bash", ["-c", `"$0" "$1" kunit kasan --reports 2>"$2" | head -c 100; exit \${PIPESTATUS[0]}`,
      process.execPath, CLI, err], { encoding: "utf8", cwd: root });
    expect(r.stdout.startsWith("KTAP version 1\n")).toBe(true);
    expect(r.stdout.length).toBe(100);
    expect(r.status).toBe(1);
    expect(oneLine(readFileSync(err, "utf8"))).toEqual(["shadowfence: standard output was closed (EPIPE): output stopped"]);
  });
});
