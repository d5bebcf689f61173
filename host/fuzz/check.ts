// --check: run a stream with the per-op log on and compare every verdict of
// the engine with the oracle's (host/fuzz/oracle.ts). A disagreement comes
// back with the tape prefix that shows it.
import * as abi from "../../abi/abi.js";
import { Engine } from "../engine.js";
import { resolveOptions, ConfigError } from "../config.js";
import { Generator, generateTape, type GeneratorOptions } from "./generator.js";
import { TapeExecutor, chunks, type Finding } from "./exec.js";
import { Oracle, type OracleFacts, type Disagreement } from "./oracle.js";
import type { Tape, TapeHeader } from "./tape.js";

/** The configuration --check runs in (generic KASAN, every report, no KFENCE), checked. */
export function checkCmdline(cmdline: string): string {
  const full = `${cmdline} kasan_multi_shot kfence.sample_interval=0`.trim();
  const o = resolveOptions({ cmdline: full });
  const why: string[] = [];
  if (!o.kasan || o.kasanMode !== "generic") why.push("generic KASAN (kasan=on kasan.mode=generic)");
  if (o.kfenceSampleInterval !== 0) why.push("KFENCE off");
  if (o.kasanFault !== "report") why.push("kasan.fault=report");
  if (o.panicOnWarn) why.push("no panic_on_warn");
  if (o.initOnAlloc || o.initOnFree) why.push("no init_on_alloc/init_on_free");
  if (!o.kasanVmalloc) why.push("kasan.vmalloc=on");
  if (why.length) throw new ConfigError(`--check models ${why.join(", ")}; the command line ${JSON.stringify(cmdline)} asks for something else`);
  return full;
}

/** The placement and configuration facts the oracle is given, read from a booted engine. */
export function oracleFacts(engine: Engine, exec: TapeExecutor): OracleFacts {
  const e = engine.exports;
  const o = engine.options;
  const slot = (id: number) => e.cache_info(id, abi.KC_SIZE);
  return {
    arch: o.arch,
    pageOffset: engine.layout.pageOffset,
    vmallocStart: engine.layout.vmallocStart,
    ramMb: o.ram,
    nrCpus: o.nrCpus,
    quarantine: o.kasanQuarantine,
    kmallocSlot: Array.from({ length: abi.NR_KMALLOC_CACHES }, (_, i) => slot(e.kmalloc_cache_id(i))),
    kmallocObj: Array.from({ length: abi.NR_KMALLOC_CACHES }, (_, i) => e.cache_info(e.kmalloc_cache_id(i), abi.KC_OBJECT_SIZE)),
    cacheSlot: exec.cacheIds.map(slot),
  };
}

export interface CheckResult {
  ops: number;
  reports: number;
  /** Ops whose verdict the oracle predicted exactly, and ops where it only bounded it. */
  certain: number;
  uncertain: number;
  quarantineWindow: number;
  status: number[];
  disagreement?: Disagreement & { prefix: Tape };
}

/**
 * Generate `ops` ops of a stream and check every verdict. Stops at the first
 * disagreement, returning the tape up to and including the op that shows it.
 */
export function checkStream(gen: GeneratorOptions, ops: number, cmdline = ""): CheckResult {
  const full = checkCmdline(cmdline);
  const engine = Engine.createSync({ cmdline: full });
  const g = new Generator({ ...gen, cmdline: full }, engine);
  const x = new TapeExecutor(engine, g.header);
  const oracle = new Oracle(g.header, oracleFacts(engine, x));
  const byOp = new Map<number, Finding[]>();
  const collect = (f: Finding) => {
    const l = byOp.get(f.op);
    if (l) l.push(f); else byOp.set(f.op, [f]);
    return false;
  };
  let op = 0;
  const e = engine.exports;
  while (op < ops) {
    const { ops: n, bytes } = g.fillBuffer(Math.min(abi.FZ_LOG_OPS, ops - op));
    const body = g.bufferView(bytes).slice();
    byOp.clear();
    const r = x.runBuffer(bytes, n, op, { log: true, onFinding: collect });
    if (r.panicked) throw new Error(`--check: the engine panicked at op ${op + r.ops}`);
    const log = new DataView(engine.memory.buffer, e.fuzz_log(), n * abi.FZ_LOG_SIZE);
    const d = oracle.check(body, op, log, byOp);
    if (d) {
      x.finish();
      return { ...summary(), disagreement: { ...d, prefix: generateTape({ ...gen, cmdline: full }, d.op + 1) } };
    }
    op += n;
  }
  x.finish();
  return summary();

  function summary(): CheckResult {
    const c = x.counters();
    return { ops: oracle.checked, reports: oracle.reportsSeen, certain: oracle.certain, uncertain: oracle.uncertain,
      quarantineWindow: oracle.quarantineWindow, status: c.status };
  }
}

/** Check a whole tape (a reproducer, a disagreement's prefix) against the oracle. */
export function checkTape(tape: Tape, cmdline = ""): Disagreement | undefined {
  const full = checkCmdline(`${tape.header.cmdline} ${cmdline}`);
  const engine = Engine.createSync({ cmdline: full });
  const header: TapeHeader = { ...tape.header, cmdline: full };
  const x = new TapeExecutor(engine, header);
  const oracle = new Oracle(header, oracleFacts(engine, x));
  const byOp = new Map<number, Finding[]>();
  let op = 0;
  for (const c of chunks(tape.body, abi.FZ_BUF_SIZE, abi.FZ_LOG_OPS)) {
    byOp.clear();
    x.run(c.bytes, c.ops, op, { log: true, onFinding: (f) => { const l = byOp.get(f.op); if (l) l.push(f); else byOp.set(f.op, [f]); return false; } });
    const d = oracle.check(c.bytes, op, new DataView(engine.memory.buffer, engine.exports.fuzz_log(), c.ops * abi.FZ_LOG_SIZE), byOp);
    if (d) return d;
    op += c.ops;
  }
  return undefined;
}
