// Shared test helpers: engines on either core build, and the KUnit-style
// "exactly this report happened inside this call" assertion.
import { expect } from "vitest";
import { Engine, type Report } from "../host/engine.js";
import type { EngineOptions } from "../host/config.js";

export type Build = "release" | "debug";
export const BUILDS: Build[] = ["release", "debug"];

export function boot(opts: EngineOptions = {}, build: Build = "release"): Engine {
  return Engine.createSync(opts, { build });
}

type Match = string | RegExp | ((r: Report) => boolean);
function matches(r: Report, m: Match): boolean {
  if (typeof m === "function") return m(r);
  if (typeof m === "string") return r.type === m || r.kind === m;
  return m.test(r.title);
}

/**
 * KUNIT_EXPECT_KASAN_FAIL for the engine: nothing pending before, then `run`
 * produces reports whose first one matches `m`. Returns that report.
 */
export function expectReport(e: Engine, m: Match, run: () => void): Report {
  expect(e.takeReports().map((r) => r.title), "reports pending before the call").toEqual([]);
  run();
  const got = e.takeReports();
  expect(got.length, `expected a report matching ${String(m)}, got none`).toBeGreaterThan(0);
  expect(matches(got[0], m), `first report was: ${got[0]?.title}`).toBe(true);
  return got[0];
}

/** `run` must not report anything. */
export function expectNoReport(e: Engine, run: () => void): void {
  e.takeReports();
  run();
  expect(e.takeReports().map((r) => r.title)).toEqual([]);
}

/** The lines of a report's text. */
export function lines(r: Report): string[] {
  return r.text.split("\n");
}
