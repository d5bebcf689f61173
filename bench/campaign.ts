// `npm run bench -- campaign`: fuzz campaigns on BullMQ and Redis against the
// local runner. Starts its own redis-server on a free loopback port; runs one
// campaign locally on 2 worker threads, then the same campaign on 1, 2 and 3
// `campaign worker` processes of one thread each; and measures what a
// campaign stores in Redis per million ops and per unique bug.
// Target: 3 worker processes >= 0.9x the local 2-worker run.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { fuzz } from "../host/fuzz/runner.js";
import { DEFAULT_PLANT } from "../host/fuzz/generator.js";
import { startCampaign, campaignStatus, campaignReport, deleteCampaign, keys } from "../host/fuzz/campaign/campaign.js";
import { fmt, ratio, type Table } from "./common.js";

const CLI = fileURLToPath(new URL("../host/cli.js", import.meta.url));
const OPS = Number(process.env.SHADOWFENCE_BENCH_OPS ?? 24_000_000);
const UNIT_OPS = 2_000_000;
const SIZE_OPS = 4_000_000;
const ROUNDS = Number(process.env.SHADOWFENCE_BENCH_ROUNDS ?? 2);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => { const p = (s.address() as { port: number }).port; s.close(() => res(p)); });
  });
}

async function startRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort(), dir = mkdtempSync(path.join(tmpdir(), "sf-bench-redis-")), pidfile = path.join(dir, "redis.pid");
  const r = spawnSync("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir,
    "--daemonize", "yes", "--pidfile", pidfile, "--logfile", path.join(dir, "redis.log")], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`redis-server: ${r.stderr || r.error?.message}`);
  for (let i = 0; i < 100 && spawnSync("redis-cli", ["-p", String(port), "ping"], { encoding: "utf8" }).stdout.trim() !== "PONG"; i++) await sleep(50);
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (!existsSync(pidfile)) return;
      process.kill(Number(readFileSync(pidfile, "utf8")), "SIGTERM");
      for (let i = 0; i < 100 && existsSync(pidfile); i++) await sleep(50);
    },
  };
}

function workers(url: string, n: number, name?: string): ChildProcess[] {
  return Array.from({ length: n }, () => spawn(process.execPath, [CLI, "campaign", "worker", "--redis", url, "--workers", "1",
    ...(name ? ["--name", name] : [])], { stdio: "ignore" }));
}

async function stop(ws: ChildProcess[]): Promise<void> {
  await Promise.all(ws.map((w) => new Promise<void>((res) => { if (w.exitCode !== null) return res(); w.once("exit", () => res()); w.kill("SIGTERM"); })));
}

async function waitDone(url: string, name: string): Promise<void> {
  for (;;) {
    const s = await campaignStatus({ redis: url, name });
    if (s.finished) return;
    if (s.failed) throw new Error(`campaign ${name}: ${s.failed} unit(s) failed`);
    await sleep(200);
  }
}

/** ops/s from the first unit's start to the last unit's end, and the units' own time (for the queue's share). */
async function measured(url: string, name: string): Promise<{ opsPerSecond: number; wallMs: number; unitMs: number; units: number }> {
  const r = new Redis(url);
  const all = Object.values(await r.hgetall(keys(name).results)).map((v) => JSON.parse(v) as { ops: number; ms: number; started: number; finished: number });
  r.disconnect();
  const first = Math.min(...all.map((u) => u.started)), last = Math.max(...all.map((u) => u.finished));
  const ops = all.reduce((a, u) => a + u.ops, 0);
  return { opsPerSecond: (ops / (last - first)) * 1000, wallMs: last - first, unitMs: all.reduce((a, u) => a + u.ms, 0), units: all.length };
}

async function memoryOf(r: Redis, pattern: string): Promise<number> {
  let total = 0;
  for (const k of await r.keys(pattern)) total += Number(await r.call("MEMORY", "USAGE", k, "SAMPLES", "0")) || 0;
  return total;
}

export async function run(): Promise<Table[]> {
  const redis = await startRedis();
  const campaign = { ops: OPS, unitOps: UNIT_OPS, seed: 1, profile: "mixed" as const, plant: DEFAULT_PLANT };
  const rows: Array<Array<string | number>> = [];
  const notes: string[] = [];
  let localRate = 0, localSeconds = 0;
  try {
    // the machine is shared: rounds alternate local and campaign runs, each figure the best of its rounds
    const best = new Map<number, { opsPerSecond: number; wallMs: number; queueShare: number }>();
    for (let round = 0; round < ROUNDS; round++) {
      const local = await fuzz({ ...campaign, workers: 2, minimise: false, progress: false, handleSignals: false });
      if (local.timing.opsPerSecond > localRate) { localRate = local.timing.opsPerSecond; localSeconds = local.timing.seconds; }
      for (const procs of [1, 2, 3]) {
        const name = `bench-${procs}-${round}`;
        const ws = workers(redis.url, procs, name);
        try {
          await sleep(1500);     // the processes boot and find the campaign before it is queued: the table measures units, not Node's start
          await startCampaign({ redis: redis.url, name, ...campaign });
          await waitDone(redis.url, name);
          const m = await measured(redis.url, name);
          // the queue's share: wall time x processes not spent inside units
          const queueShare = Math.max(0, 1 - m.unitMs / (m.wallMs * Math.min(procs, m.units)));
          if (m.opsPerSecond > (best.get(procs)?.opsPerSecond ?? 0)) best.set(procs, { opsPerSecond: m.opsPerSecond, wallMs: m.wallMs, queueShare });
        } finally {
          await stop(ws);
        }
        await deleteCampaign({ redis: redis.url, name });
      }
    }
    rows.push(["local fuzz, 2 worker threads", 2, fmt(localSeconds), fmt(localRate / 1e6), ratio(1), "-"]);
    for (const [procs, m] of best) {
      rows.push([`campaign, ${procs} worker process(es) x 1 thread`, procs, fmt(m.wallMs / 1000), fmt(m.opsPerSecond / 1e6), ratio(m.opsPerSecond / localRate),
        `${(m.queueShare * 100).toFixed(1)}%`]);
    }
    // what a campaign stores: a small campaign, reported (reproducers shrunk as jobs) with 2 workers
    const name = "bench-size";
    const ws = workers(redis.url, 2, name);
    try {
      await startCampaign({ redis: redis.url, name, ...campaign, ops: SIZE_OPS });
      await waitDone(redis.url, name);
      const rep = await campaignReport({ redis: redis.url, name, minimiseMs: 5000 });
      const bugs = rep.kind === "fuzz" ? rep.summary.bugs.length : 0;
      const r = new Redis(redis.url);
      const k = keys(name);
      const results = await memoryOf(r, k.results), repro = await memoryOf(r, k.repro);
      const queue = await memoryOf(r, `bull:sf-${name}:*`), all = await memoryOf(r, `*${name}*`);
      r.disconnect();
      notes.push(`Redis storage, campaign of ${SIZE_OPS / 1e6}M ops in ${SIZE_OPS / UNIT_OPS} units with ${bugs} unique bugs (MEMORY USAGE): ` +
        `${(all / 1024).toFixed(1)} KiB in all; unit results ${(results / 1024).toFixed(1)} KiB (${((results / (SIZE_OPS / 1e6)) / 1024).toFixed(1)} KiB per M ops), ` +
        `BullMQ's jobs and events ${(queue / 1024).toFixed(1)} KiB, shrunk reproducers ${(repro / 1024).toFixed(1)} KiB (${bugs ? (repro / bugs / 1024).toFixed(2) : "-"} KiB per unique bug)`);
    } finally {
      await stop(ws);
    }
  } finally {
    await redis.stop();
  }
  return [{
    title: `Fuzz campaigns on BullMQ/Redis: ${OPS / 1e6}M ops (profile mixed, default planted bugs) in ${OPS / UNIT_OPS} units of ${UNIT_OPS / 1e6}M ops (target: 3 processes >= 0.9x local)`,
    columns: ["run", "processes", "seconds", "M ops/s", "vs local", "queue share"],
    rows,
    notes: [`best of ${ROUNDS} alternating rounds; seconds: the first unit's start to the last unit's end (campaigns), the fuzz phase (local); queue share: worker time spent outside units (fetching, storing, engine boot is inside)`, ...notes],
  }];
}
