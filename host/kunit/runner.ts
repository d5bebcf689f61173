// A small KUnit for the engine: suites of named cases, each run on a fresh
// engine (with TAINT_TEST set, as loading a KUnit module does), printing KTAP
// as the kernel's KUnit does (tools/testing/kunit parses it unchanged).
import { Engine, type Report, type CreateOptions } from "../engine.js";
import type { EngineOptions } from "../config.js";

export class KunitSkip extends Error {}

/** What a KASAN expectation must see: bug type(s) in order, address, direction, size. */
export interface KasanWant {
  type?: string | string[];
  addr?: bigint;
  write?: boolean;
  size?: number | bigint;
}
export class KunitFailure extends Error {}

/** What a case can do: the engine, expectations, skipping. */
export class KunitTest {
  readonly failures: string[] = [];
  /** kunit_info()/kunit_warn() lines, printed as "# name: ..." diagnostics. */
  readonly log: string[] = [];
  /** Reports each expectation saw, for tests that check more than the kind. */
  readonly seen: Report[] = [];
  constructor(readonly engine: Engine, readonly name: string) {}

  /** KUNIT_EXPECT_TRUE */
  expect(cond: boolean, what: string): void {
    if (!cond) this.failures.push(`Expectation failed: ${what}`);
  }
  /** For each log line, the seq of the last report printed before it (the console's order). */
  readonly logAfterSeq: number[] = [];
  /** kunit_info() / kunit_warn() */
  info(msg: string): void {
    this.log.push(msg);
    const all = this.engine.reports();
    this.logAfterSeq.push(all.length ? all[all.length - 1].seq : -1);
  }
  /** KUNIT_ASSERT_TRUE: stop the case. */
  assert(cond: boolean, what: string): void {
    if (!cond) throw new KunitFailure(`Assertion failed: ${what}`);
  }
  /** kunit_skip() */
  skip(reason: string): never {
    throw new KunitSkip(reason);
  }
  /**
   * KUNIT_EXPECT_KASAN_FAIL: no report pending before, at least one KASAN
   * report after `fn`. Returns the first one (or undefined).
   */
  expectKasanFail(what: string, fn: () => void, want?: KasanWant): Report | undefined {
    const before = this.engine.takeReports();
    if (before.length) this.failures.push(`unexpected report before "${what}": ${before[0].title}`);
    fn();
    const after = this.engine.takeReports();
    this.seen.push(...after);
    const kasan = after.filter((r) => r.kind === "kasan");
    if (!kasan.length) {
      this.failures.push(`KASAN failure expected in "${what}", but none occurred`);
      return undefined;
    }
    if (want) this.checkWant(what, kasan, want);
    return kasan[0];
  }

  // Stricter than KUNIT_EXPECT_KASAN_FAIL: the kind, address, direction and size.
  private checkWant(what: string, kasan: Report[], want: KasanWant): void {
    const r = kasan[0];
    const types = Array.isArray(want.type) ? want.type : want.type ? [want.type] : [];
    const got = kasan.map((k) => k.type);
    if (types.length && types.some((ty, i) => got[i] !== ty)) {
      this.failures.push(`"${what}": expected ${types.join(", ")}, got ${got.join(", ")}`);
    }
    const hex = (v: bigint) => "0x" + BigInt.asUintN(64, v).toString(16);
    if (want.addr !== undefined && r.address !== BigInt.asUintN(64, want.addr)) {
      this.failures.push(`"${what}": expected the report at ${hex(want.addr)}, got ${hex(r.address)}`);
    }
    if (want.write !== undefined && r.isWrite !== want.write) {
      this.failures.push(`"${what}": expected a ${want.write ? "write" : "read"}, got a ${r.isWrite ? "write" : "read"}`);
    }
    if (want.size !== undefined && r.size !== BigInt.asUintN(64, BigInt(want.size))) {
      this.failures.push(`"${what}": expected size ${want.size}, got ${r.size}`);
    }
  }
  /** Nothing reported inside `fn` (the valid accesses around a bad one). */
  expectNoReport(what: string, fn: () => void): void {
    this.engine.takeReports();
    fn();
    const after = this.engine.takeReports();
    this.seen.push(...after);
    if (after.length) this.failures.push(`unexpected report in "${what}": ${after[0].title}`);
  }
}

export interface KunitCase {
  name: string;
  run(t: KunitTest): void;
}

export interface KunitSuite {
  name: string;
  /** The kernel module the suite comes from (printed as "# module:"). */
  module: string;
  /** Engine configuration every case boots with (the suite's .kunitconfig). */
  options: EngineOptions;
  cases: KunitCase[];
  /**
   * The suite's suite_init (e.g. kasan_multi_shot for the suite's duration),
   * run on each case's fresh engine. Nonzero on the first fails the whole
   * suite ("# failed to initialize (err)", no case runs), as KUnit does.
   */
  init?(e: Engine): number | void;
  /** Helpers of the port that are macros or inline code in the C suite. */
  transparent?: string[];
  /** Reports left over after a case that fail it (kasan_test_exit: any KASAN report). */
  unexpected?(r: Report): boolean;
  /** Per case, after it ran (the suite's .exit). */
  exit?(t: KunitTest): void;
}

export interface CaseResult {
  name: string;
  status: "ok" | "not ok" | "skip";
  reason?: string;
  failures: string[];
  reports: Report[];
}

const TAINT_TEST = 1 << 18;
// KUNIT_EXPECT_* are macros: their expressions run in the case function itself
const KUNIT_TRANSPARENT = ["expectKasanFail", "expectNoReport", "expect", "assert"];
// What a KUnit case's stack shows below the case function in 6.12.
const KUNIT_FRAMES = [
  { name: "kunit_try_run_case", offset: 0x1ad, size: 0x490 },
  { name: "kunit_generic_run_threadfn_adapter", offset: 0x7b, size: 0xe0 },
  { name: "kthread", offset: 0x289, size: 0x360 },
  { name: "ret_from_fork", offset: 0x2f, size: 0x70 },
  { name: "ret_from_fork_asm", offset: 0x19, size: 0x30 },
];

/**
 * Run a suite; extra options are merged over the suite's own. `run.reports`:
 * print each case's reports in the KTAP output; `run.cpu`: run the cases on
 * that CPU (its thread; engine.cpu(n)).
 */
export function runSuite(suite: KunitSuite, extra: EngineOptions = {}, only?: string[], create: CreateOptions = {},
                         run: { reports?: boolean; cpu?: number } = {}): { ktap: string; results: CaseResult[]; ok: boolean } {
  const cases = only ? suite.cases.filter((c) => only.includes(c.name)) : suite.cases;
  const out: string[] = ["KTAP version 1", "1..1", "    KTAP version 1", `    # Subtest: ${suite.name}`,
    `    # module: ${suite.module}`, `    1..${cases.length}`];
  const results: CaseResult[] = [];
  const opts: EngineOptions = { ...suite.options, ...extra, cmdline: [suite.options.cmdline, extra.cmdline].filter(Boolean).join(" ") };
  const machines: Engine[] = [];
  const boot = (i: number): Engine => {
    const machine = Engine.createSync(opts, create);
    machines.push(machine);
    const engine = machine.cpu(run.cpu ?? 0);
    engine.exports.set_taint(engine.exports.get_taint() | TAINT_TEST);
    engine.setTask({ pid: 100 + i, comm: "kunit_try_catch" });
    engine.stackSuffix = KUNIT_FRAMES;
    engine.transparentFrames = new Set([...KUNIT_TRANSPARENT, ...(suite.transparent ?? [])]);
    return engine;
  };
  let first: Engine | undefined;
  if (suite.init && cases.length) {
    first = boot(0);
    const booted = first.dmesg().length;
    const err = suite.init(first) ?? 0;
    if (err !== 0) {
      // what the suite printed (console lines), then KUnit's kunit_err() line
      out.push(...first.dmesg().slice(booted).split("\n").filter(Boolean));
      out.push(`    # ${suite.name}:     # failed to initialize (${err})`, `not ok 1 ${suite.name}`);
      for (const m of machines.splice(0)) void m.stopCpus();
      return { ktap: out.join("\n") + "\n", results, ok: false };
    }
  }
  cases.forEach((c, i) => {
    const engine = i === 0 && first ? first : boot(i);
    const t = new KunitTest(engine, c.name);
    let status: CaseResult["status"] = "ok";
    let reason: string | undefined;
    try {
      if (engine !== first) suite.init?.(engine);
      c.run(t);
    } catch (e) {
      if (e instanceof KunitSkip) { status = "skip"; reason = e.message; }
      else if (e instanceof KunitFailure) t.failures.push(e.message);
      else t.failures.push(`exception: ${(e as Error).stack ?? String(e)}`);
    }
    try {
      suite.exit?.(t);
    } catch (e) {
      t.failures.push(`exception in exit: ${(e as Error).stack ?? String(e)}`);
    }
    const leftover = engine.takeReports();
    const stray = leftover.filter((r) => suite.unexpected?.(r));
    if (status !== "skip" && stray.length) t.failures.push(`unexpected report: ${stray[0].title}`);
    t.seen.push(...leftover);
    if (status !== "skip" && t.failures.length) status = "not ok";
    // the console as a real run shows it: a case's reports inside its subtest, in order with
    // its kunit_info() lines, before its verdict
    // a case's machine is done: its CPU threads end (terminate() starts at once)
    for (const m of machines.splice(0)) void m.stopCpus();
    const reports = run.reports ? [...t.seen].sort((a, b) => a.seq - b.seq) : [];
    let next = 0;
    t.log.forEach((l, k) => {
      for (; next < reports.length && reports[next].seq <= t.logAfterSeq[k]; next++) out.push(...reports[next].text.split("\n"));
      out.push(`    # ${c.name}: ${l}`);
    });
    for (; next < reports.length; next++) out.push(...reports[next].text.split("\n"));
    for (const f of t.failures) out.push(`    # ${c.name}: ${f}`);
    const n = i + 1;
    if (status === "skip") out.push(`    ok ${n} ${c.name} # SKIP ${reason}`);
    else out.push(`    ${status} ${n} ${c.name}`);
    results.push({ name: c.name, status, reason, failures: t.failures, reports: t.seen });
  });
  const pass = results.filter((r) => r.status === "ok").length;
  const fail = results.filter((r) => r.status === "not ok").length;
  const skip = results.filter((r) => r.status === "skip").length;
  out.push(`# ${suite.name}: pass:${pass} fail:${fail} skip:${skip} total:${results.length}`);
  out.push(`# Totals: pass:${pass} fail:${fail} skip:${skip} total:${results.length}`);
  out.push(`${fail ? "not ok" : "ok"} 1 ${suite.name}`);
  return { ktap: out.join("\n") + "\n", results, ok: fail === 0 };
}
