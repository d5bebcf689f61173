// Fuzz campaigns on BullMQ and Redis, end to end with the CLI: each test
// starts its own redis-server on a free loopback port and stops it. A worker
// process killed with SIGKILL in the middle of a unit, and Redis stopped and
// restarted during a campaign: every unit is counted once and the unique bugs
// equal a local run of the same seed; reproducers replay to their
// signatures. Units on 2 CPUs (--cpus) find the local fuzz --cpus run's bugs.
// Bad input gets one line and a non-zero exit, never a hang.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync, readdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, availableParallelism } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { fuzz, summaryJson } from "../../host/fuzz/runner.js";
import { decodeTape } from "../../host/fuzz/tape.js";
import { replay } from "../../host/fuzz/exec.js";
import { parsePlant, DEFAULT_PLANT } from "../../host/fuzz/generator.js";
import { campaignStatus, campaignReport, keys, queueName, startCampaign, campaignWorker, wilson, statusText, type CampaignStatus } from "../../host/fuzz/campaign/campaign.js";
import { kfenceStudy } from "../../host/fuzz/study.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const CLI = path.join(root, "dist/host/cli.js");
const PLANT = "oob=1e-6,uaf=1e-6,double-free=1e-6";
const UNIT = 400_000, UNITS = 6, SEED = 5;

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => { const p = (s.address() as { port: number }).port; s.close(() => res(p)); });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class RedisServer {
  readonly dir = mkdtempSync(path.join(tmpdir(), "sf-redis-"));
  constructor(readonly port: number, readonly extra: string[] = []) {}
  get url() { return `redis://127.0.0.1:${this.port}`; }
  async start(): Promise<void> {
    const r = spawnSync("redis-server", ["--port", String(this.port), "--bind", "127.0.0.1", "--dir", this.dir, "--daemonize", "yes",
      "--pidfile", path.join(this.dir, "redis.pid"), "--logfile", path.join(this.dir, "redis.log"), ...this.extra], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`redis-server: ${r.stderr}`);
    for (let i = 0; i < 100; i++) {
      const p = spawnSync("redis-cli", ["-p", String(this.port), ...(this.password ? ["-a", this.password, "--no-auth-warning"] : []), "ping"], { encoding: "utf8" });
      if (p.stdout.trim() === "PONG") return;
      await sleep(50);
    }
    throw new Error("redis-server did not answer");
  }
  get password() { const i = this.extra.indexOf("--requirepass"); return i >= 0 ? this.extra[i + 1] : undefined; }
  async stop(): Promise<void> {
    const f = path.join(this.dir, "redis.pid");
    if (!existsSync(f)) return;
    const pid = Number(readFileSync(f, "utf8"));
    try { process.kill(pid, "SIGTERM"); } catch { return; }
    for (let i = 0; i < 100 && existsSync(f); i++) await sleep(50);
  }
}

function cli(args: string[], env?: NodeJS.ProcessEnv) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 30_000, env: env && { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

function startWorker(url: string, threads = 1): ChildProcess {
  const p = spawn(process.execPath, [CLI, "campaign", "worker", "--redis", url, "--workers", String(threads), "--stall-ms", "1500"],
    { stdio: ["ignore", "ignore", "pipe"] });
  p.stderr!.setEncoding("utf8");
  let err = "";
  p.stderr!.on("data", (d: string) => { err += d; });
  Object.defineProperty(p, "log", { get: () => err });
  return p;
}

async function stopWorkers(ws: ChildProcess[]): Promise<void> {
  await Promise.all(ws.map((w) => new Promise<void>((res) => {
    if (w.exitCode !== null || w.signalCode !== null) return res();
    w.once("exit", () => res());
    w.kill("SIGTERM");
  })));
}

async function waitFor(url: string, name: string, until: (s: CampaignStatus) => boolean, ms = 120_000): Promise<CampaignStatus> {
  const end = Date.now() + ms;
  for (;;) {
    const s = await campaignStatus({ redis: url, name });
    if (until(s)) return s;
    if (Date.now() > end) throw new Error(`campaign ${name}: timed out: ${JSON.stringify({ done: s.done, active: s.active, queued: s.queued, failed: s.failed })}`);
    await sleep(100);
  }
}

function comparableBugs(bugs: Array<{ signature: string; count: number; first: { unit: number; op: number } }>) {
  return bugs.map((b) => ({ signature: b.signature, count: b.count, first: b.first }));
}

let local: Awaited<ReturnType<typeof fuzz>>;
beforeAll(async () => {
  local = await fuzz({ ops: UNIT * UNITS, unitOps: UNIT, seed: SEED, profile: "mixed", plant: parsePlant(PLANT), workers: 2,
    minimise: false, progress: false, handleSignals: false });
}, 120_000);

describe("fuzz campaigns on BullMQ and Redis", () => {
  it("survives a worker killed with SIGKILL in the middle of a unit: every unit once, the local run's bugs, reproducers that replay", async () => {
    const redis = new RedisServer(await freePort(), ["--save", "", "--appendonly", "no"]);
    await redis.start();
    const workers: ChildProcess[] = [];
    try {
      const name = "kill-test";
      const st = cli(["campaign", "start", "--redis", redis.url, "--name", name, "--ops", String(UNIT * UNITS), "--unit-ops", String(UNIT),
        "--seed", String(SEED), "--plant", PLANT]);
      expect(st.stderr).toBe("");
      expect(st.stdout).toBe(`campaign ${name}: ${UNITS} unit(s) queued (${UNIT * UNITS} ops)\n`);
      for (let i = 0; i < 3; i++) workers.push(startWorker(redis.url));
      // find a worker process with a unit in flight and kill it there
      const conn = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      const q = new Queue(queueName(name), { connection: conn });
      let victim: { pid: number; job: string } | undefined;
      for (let i = 0; i < 600 && !victim; i++) {
        for (const j of await q.getActive()) {
          const pid = Number(j.processedBy?.split("/").pop());
          if (workers.some((w) => w.pid === pid) && !(await conn.hexists(keys(name).results, j.id!))) { victim = { pid, job: j.id! }; break; }
        }
        if (!victim) await sleep(20);
      }
      await q.close();
      conn.disconnect();
      expect(victim).toBeDefined();
      workers.find((w) => w.pid === victim!.pid)!.kill("SIGKILL");
      const s = await waitFor(redis.url, name, (x) => x.finished);
      expect(s.done).toBe(UNITS);
      expect(s.ops).toBe(UNIT * UNITS);
      expect(s.failed).toBe(0);
      expect(s.retried).toBeGreaterThanOrEqual(1);

      const out = mkdtempSync(path.join(tmpdir(), "sf-campaign-"));
      const rep = cli(["campaign", "report", "--redis", redis.url, "--name", name, "--out", out]);
      expect(rep.stderr).toBe("");
      expect(rep.status).toBe(0);
      const sum = JSON.parse(readFileSync(path.join(out, "summary.json"), "utf8")) as ReturnType<typeof summaryJson> & {
        units: number; ops: number; reports: number; bugs: Array<{ id: number; signature: string; count: number; first: { unit: number; op: number };
          reproducer: { file: string; reproduced: boolean; shrunk: boolean } }> };
      expect(sum.units).toBe(UNITS);
      expect(sum.ops).toBe(local.ops);
      expect(sum.reports).toBe(local.reports);
      expect(local.bugs.length).toBeGreaterThan(2);
      expect(comparableBugs(sum.bugs)).toEqual(comparableBugs(local.bugs));
      // every reproducer, from its file, replays to its bug's signature
      for (const b of sum.bugs) {
        expect(b.reproducer.shrunk).toBe(true);
        expect(b.reproducer.reproduced).toBe(true);
        const r = replay(decodeTape(readFileSync(b.reproducer.file), b.reproducer.file));
        expect(r.findings.map((f) => f.signature)).toContain(b.signature);
      }
      expect(readdirSync(out).filter((f) => f.endsWith(".tape")).length).toBe(sum.bugs.length);
      expect(readFileSync(path.join(out, "summary.txt"), "utf8")).toContain(`unique bugs: ${local.bugs.length}`);
    } finally {
      await stopWorkers(workers);
      await redis.stop();
    }
  }, 240_000);

  it("finishes with nothing lost or counted twice when Redis is stopped and restarted during the campaign", async () => {
    const redis = new RedisServer(await freePort(), ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]);
    await redis.start();
    const workers: ChildProcess[] = [];
    try {
      const name = "restart-test";
      expect(cli(["campaign", "start", "--redis", redis.url, "--name", name, "--ops", String(UNIT * UNITS), "--unit-ops", String(UNIT),
        "--seed", String(SEED), "--plant", PLANT]).status).toBe(0);
      workers.push(startWorker(redis.url), startWorker(redis.url));
      // both workers connected (a worker that starts while Redis is down refuses to start), one unit done
      await waitFor(redis.url, name, (x) => x.done >= 1 && x.machines.length === 2);
      await redis.stop();
      await sleep(1500);
      await redis.start();
      const s = await waitFor(redis.url, name, (x) => x.finished);
      expect(s.done).toBe(UNITS);
      expect(s.ops).toBe(UNIT * UNITS);
      const rep = await campaignReport({ redis: redis.url, name, minimise: false });
      if (rep.kind !== "fuzz") throw new Error("not a fuzz report");
      expect(rep.summary.units).toBe(UNITS);
      expect(rep.summary.ops).toBe(local.ops);
      expect(rep.summary.reports).toBe(local.reports);
      expect(comparableBugs(rep.summary.bugs)).toEqual(comparableBugs(local.bugs));
      // every worker is still alive: they reconnected
      for (const w of workers) expect(w.exitCode, (w as unknown as { log: string }).log).toBeNull();
    } finally {
      await stopWorkers(workers);
      await redis.stop();
    }
  }, 240_000);

  it("runs the KFENCE study as a campaign (library API): the local study's counts, Wilson intervals, the uptime curve", async () => {
    const redis = new RedisServer(await freePort(), ["--save", "", "--appendonly", "no"]);
    await redis.start();
    const w = await campaignWorker({ redis: redis.url, workers: 2, stallMs: 1500, log: () => {} });
    try {
      const ops = 300_000, unitOps = 100_000;
      const meta = await startCampaign({ redis: redis.url, name: "study", ops, unitOps, seed: 9, study: "kfence" });
      expect(meta.jobs).toBe(3 * 3);
      await waitFor(redis.url, "study", (x) => x.finished);
      const rep = await campaignReport({ redis: redis.url, name: "study" });
      if (rep.kind !== "study") throw new Error("not a study report");
      const localRows = await kfenceStudy({ ops, unitOps, seed: 9, workers: 2, profile: "slab-churn" });
      expect(rep.rows.map(({ wilson: _w, curve: _c, ...row }) => row)).toEqual(localRows);
      for (const row of rep.rows) {
        const total = Object.values(row.classes).reduce((a, c) => a + c.detected, 0);
        expect(row.curve.map((p) => p.ops)).toEqual([100_000, 200_000, 300_000]);
        expect(row.curve[2].detected).toBe(total);
        for (const [c, t] of Object.entries(row.classes)) expect(row.wilson[c as keyof typeof row.wilson]).toEqual(wilson(t.detected, t.planted));
      }
      // on 2 CPUs a unit's KFENCE samples depend on the interleaving: no equality with a local run, the model still holds
      const meta2 = await startCampaign({ redis: redis.url, name: "study2", ops: 1_000_000, unitOps: 500_000, seed: 9, study: "kfence", cpus: 2 });
      expect([meta2.cpus, meta2.jobs]).toEqual([2, 2 * 3]);
      await waitFor(redis.url, "study2", (x) => x.finished);
      const rep2 = await campaignReport({ redis: redis.url, name: "study2" });
      if (rep2.kind !== "study") throw new Error("not a study report");
      for (const row of rep2.rows) {
        expect(row.ops).toBe(1_000_000);
        expect(row.seen / row.model).toBeGreaterThan(0.95);
        expect(row.seen / row.model).toBeLessThan(1.05);
      }
      expect(rep2.rows[0].classes.uaf.detected).toBeGreaterThan(10);
      expect(statusText(await campaignStatus({ redis: redis.url, name: "study2" })).split("\n")[0])
        .toBe("campaign study2: KFENCE study, profile slab-churn, seed 9, 1000000 ops in 2 unit(s) of up to 500000 x 3 intervals, on 2 CPUs each");
    } finally {
      await w.stop();
      await redis.stop();
    }
  }, 120_000);

  it("a campaign sized in seconds: its starter keeps units queued until the deadline, then it finishes and reports", async () => {
    const redis = new RedisServer(await freePort(), ["--save", "", "--appendonly", "no"]);
    await redis.start();
    const w = await campaignWorker({ redis: redis.url, workers: 1, stallMs: 1500, log: () => {} });
    try {
      const unitOps = 50_000;
      const t0 = Date.now();
      const meta = await startCampaign({ redis: redis.url, name: "timed", seconds: 4, unitOps, seed: 3, plant: DEFAULT_PLANT });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(4000);
      expect(meta.queuing).toBe(false);
      expect(meta.units % 16).toBe(0);
      expect(meta.units).toBeGreaterThan(16);          // the worker ran through the first batch and more were queued
      expect(meta.ops).toBe(meta.units * unitOps);
      const st = await waitFor(redis.url, "timed", (x) => x.finished);
      expect(st.done).toBe(meta.jobs);
      const rep = await campaignReport({ redis: redis.url, name: "timed", minimise: false });
      if (rep.kind !== "fuzz") throw new Error("not a fuzz report");
      expect(rep.summary.units).toBe(meta.units);
      expect(rep.summary.ops).toBe(meta.ops);
      // the same units as a local run of that size: the same bugs
      const local = await fuzz({ ops: meta.ops, unitOps, seed: 3, workers: 1, plant: DEFAULT_PLANT, progress: false, handleSignals: false, minimise: false });
      expect(local.bugs.length).toBeGreaterThan(0);
      expect(rep.summary.bugs.map((b) => [b.signature, b.count, b.first])).toEqual(local.bugs.map((b) => [b.signature, b.count, b.first]));
    } finally {
      await w.stop();
      await redis.stop();
    }
  }, 180_000);

  it("runs units on 2 CPUs (--cpus 2 --segment-ops 512): the local fuzz --cpus run's bugs, the CPUs in status and report", async () => {
    const redis = new RedisServer(await freePort(), ["--save", "", "--appendonly", "no"]);
    await redis.start();
    // planted use-after-frees and double frees only: what they find does not depend on the interleaving (docs/fuzz.md)
    const plant = "uaf=1e-3,double-free=1e-3", opts = { ops: 40_000, unitOps: 20_000, seed: 11, profile: "slab-churn" as const };
    const w = await campaignWorker({ redis: redis.url, stallMs: 1500, log: () => {} });   // threads sized by default
    try {
      const name = "cpus";
      const st = cli(["campaign", "start", "--redis", redis.url, "--name", name, "--ops", String(opts.ops), "--unit-ops", String(opts.unitOps),
        "--seed", String(opts.seed), "--profile", opts.profile, "--plant", plant, "--cpus", "2", "--segment-ops", "512"]);
      expect(st.stderr).toBe("");
      expect(st.stdout).toBe(`campaign ${name}: 2 unit(s) queued (40000 ops, on 2 CPUs each)\n`);
      const s = await waitFor(redis.url, name, (x) => x.finished);
      expect(s.meta).toMatchObject({ cpus: 2, segmentOps: 512 });
      // a unit's 2 CPU threads count against the cores
      expect(s.machines.map((m) => m.threads)).toEqual([Math.max(1, Math.floor(availableParallelism() / 2))]);
      expect(cli(["campaign", "status", "--redis", redis.url, "--name", name]).stdout.split("\n")[0])
        .toBe(`campaign ${name}: profile slab-churn, seed 11, 40000 ops in 2 unit(s) of up to 20000, on 2 CPUs each (512-op segments)`);

      const local = await fuzz({ ...opts, plant: parsePlant(plant), cpus: 2, segmentOps: 512, workers: 1, minimise: false, progress: false, handleSignals: false });
      const rep = await campaignReport({ redis: redis.url, name, minimise: false });
      if (rep.kind !== "fuzz") throw new Error("not a fuzz report");
      const sum = rep.summary;
      expect(local.bugs.length).toBeGreaterThan(3);
      expect(sum.cmdline).toBe(local.cmdline);
      expect(sum.cmdline).toContain("kfence.sample_interval=0");
      expect(sum.cpus).toBe(2);
      expect([sum.units, sum.ops, sum.reports, sum.reportsLost, sum.planted]).toEqual([local.units, local.ops, local.reports, local.reportsLost, local.planted]);
      expect(comparableBugs(sum.bugs)).toEqual(comparableBugs(local.bugs));
      // which CPU's task made each bug's first report, and whose frees it names, follows the 512-op segments
      // (the default segment size would give other tasks), not the addresses the interleaving chose
      const tasks = (x: typeof sum) => x.bugs.map((b) => x.texts[b.signature].split("\n").filter((l) => /by task /.test(l)).map((l) => l.replace(/\b[0-9a-f]{16}\b/g, "ADDR")));
      expect(tasks(sum)).toEqual(tasks(local));
      expect(tasks(sum).flat().some((l) => l.includes("sf-fuzz/1/1001"))).toBe(true);

      // the unshrunk reproducers: each bug's prefix of the stream made for 2 CPUs, which replays on one CPU to the bug at its op
      const out = mkdtempSync(path.join(tmpdir(), "sf-campaign-"));
      const r = cli(["campaign", "report", "--redis", redis.url, "--name", name, "--out", out, "--no-minimise"]);
      expect(r.stderr).toBe("");
      expect(r.stdout.split("\n")[0]).toBe(`shadowfence fuzz: profile slab-churn, seed 11, ${s.machines[0].threads} worker(s) of 2 CPUs each, 2 unit(s) of up to 20000 ops`);
      const json = JSON.parse(readFileSync(path.join(out, "summary.json"), "utf8")) as { cpus: number;
        bugs: Array<{ signature: string; first: { op: number }; reproducer: { file: string; ops: number } }> };
      expect(json.cpus).toBe(2);
      for (const b of json.bugs) {
        expect(b.reproducer.ops).toBe(b.first.op + 1);
        const found = replay(decodeTape(readFileSync(b.reproducer.file), b.reproducer.file)).findings;
        expect(found.some((f) => f.signature === b.signature && f.op === b.first.op)).toBe(true);
      }
      // shrunk on the worker (a short budget keeps the test quick): the same stream, each reproducer replaying to its bug
      const shrunk = await campaignReport({ redis: redis.url, name, minimiseMs: 500 });
      if (shrunk.kind !== "fuzz") throw new Error("not a fuzz report");
      for (const b of shrunk.summary.bugs) {
        expect(b.reproducer).toMatchObject({ shrunk: true, reproduced: true });
      }
    } finally {
      await w.stop();
      await redis.stop();
    }
  }, 120_000);

  it("works over TLS with a password (rediss://, a private CA through NODE_EXTRA_CA_CERTS); without the CA, one line", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sf-tls-"));
    const ssl = (args: string[]) => {
      const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
      if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
    };
    ssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=sf-test-ca"]);
    ssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]);
    writeFileSync(path.join(dir, "ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    ssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf"]);
    const port = await freePort();
    const redis = new RedisServer(0, ["--port", "0", "--tls-port", String(port), "--tls-cert-file", path.join(dir, "server.crt"),
      "--tls-key-file", path.join(dir, "server.key"), "--tls-ca-cert-file", path.join(dir, "ca.crt"), "--tls-auth-clients", "no",
      "--requirepass", "tls-pw", "--save", "", "--appendonly", "no"]);
    const r = spawnSync("redis-server", [...redis.extra, "--bind", "127.0.0.1", "--dir", redis.dir, "--daemonize", "yes",
      "--pidfile", path.join(redis.dir, "redis.pid"), "--logfile", path.join(redis.dir, "redis.log")], { encoding: "utf8" });
    expect(r.status).toBe(0);
    try {
      const url = `rediss://:tls-pw@localhost:${port}`, env = { NODE_EXTRA_CA_CERTS: path.join(dir, "ca.crt") };
      let st = cli(["campaign", "start", "--redis", url, "--name", "tls", "--ops", "1000"], env);
      for (let i = 0; i < 50 && st.status === 1 && /cannot reach/.test(st.stderr); i++) {   // the server may still be starting
        await sleep(100);
        st = cli(["campaign", "start", "--redis", url, "--name", "tls", "--ops", "1000"], env);
      }
      expect(st.stderr).toBe("");
      expect(st.stdout).toBe("campaign tls: 1 unit(s) queued (1000 ops)\n");
      expect(cli(["campaign", "status", "--redis", url, "--name", "tls"], env).stdout).toContain("units: queued 1, active 0, done 0");
      const bad = cli(["campaign", "status", "--redis", url, "--name", "tls"]);
      expect(bad.status).toBe(1);
      expect(bad.stderr).toBe(`shadowfence: cannot reach Redis at localhost:${port}: self-signed certificate in certificate chain\n`);
    } finally {
      await redis.stop();
    }
  }, 60_000);

  it("Wilson intervals", () => {
    expect(wilson(0, 0)).toEqual([0, 1]);
    const [lo, hi] = wilson(10, 100);
    expect(lo).toBeCloseTo(0.0552, 4);
    expect(hi).toBeCloseTo(0.1744, 4);
    expect(wilson(0, 50)[0]).toBe(0);
  });

  describe("bad input: one line, a non-zero exit, no hang", () => {
    const redis = new RedisServer(0, ["--save", "", "--appendonly", "no", "--requirepass", "s3cret"]);
    let url = "";
    beforeAll(async () => {
      (redis as { port: number }).port = await freePort();
      await redis.start();
      url = `redis://:s3cret@127.0.0.1:${redis.port}`;
    });
    afterAll(async () => { await redis.stop(); });
    const oneLine = (r: ReturnType<typeof cli>, status: number, text: RegExp) => {
      expect(r.signal).toBeNull();
      expect(r.status).toBe(status);
      expect(r.stdout).toBe("");
      expect(r.stderr.split("\n")).toHaveLength(2);
      expect(r.stderr).toMatch(text);
    };

    it("malformed URLs and names are usage errors (exit 2)", () => {
      oneLine(cli(["campaign", "status", "--redis", "http://127.0.0.1:1", "--name", "x"]), 2, /^shadowfence: --redis: scheme "http:": expected redis:\/\//);
      oneLine(cli(["campaign", "status", "--redis", "not a url", "--name", "x"]), 2, /^shadowfence: --redis: not a URL: expected redis:\/\//);
      oneLine(cli(["campaign", "status", "--redis", "redis://127.0.0.1:99999", "--name", "x"]), 2, /^shadowfence: --redis: not a URL/);
      oneLine(cli(["campaign", "start", "--redis", url, "--name", "a:b", "--ops", "10"]), 2, /^shadowfence: --name: 1-64 letters/);
      oneLine(cli(["campaign", "start", "--redis", url, "--name", "a", "--seconds", "10", "--ops", "10"]), 2, /^shadowfence: campaign start: give --ops N or --seconds S\n/);
      oneLine(cli(["campaign", "start", "--redis", url, "--name", "a", "--seconds", "-1"]), 2, /^shadowfence: --seconds must be a positive number, got -1\n/);
    });

    it("an unreachable Redis, wrong or missing credentials (exit 1, the password never printed)", async () => {
      const closed = await freePort();
      oneLine(cli(["campaign", "status", "--redis", `redis://127.0.0.1:${closed}`, "--name", "x"]), 1,
        new RegExp(`^shadowfence: cannot reach Redis at 127.0.0.1:${closed}: .*ECONNREFUSED`));
      const wrong = cli(["campaign", "status", "--redis", `redis://:wrong@127.0.0.1:${redis.port}`, "--name", "x"]);
      oneLine(wrong, 1, new RegExp(`^shadowfence: Redis at 127.0.0.1:${redis.port} refused the credentials: WRONGPASS`));
      expect(wrong.stderr).not.toContain("wrong");
      oneLine(cli(["campaign", "worker", "--redis", `redis://127.0.0.1:${redis.port}`]), 1,
        new RegExp(`^shadowfence: Redis at 127.0.0.1:${redis.port} refused the credentials: NOAUTH`));
    });

    it("an unknown campaign, a name already in use; delete removes everything", async () => {
      oneLine(cli(["campaign", "status", "--redis", url, "--name", "nope"]), 1, /^shadowfence: no campaign named "nope" on this Redis$/m);
      oneLine(cli(["campaign", "report", "--redis", url, "--name", "nope", "--out", tmpdir()]), 1, /^shadowfence: no campaign named "nope"/);
      expect(cli(["campaign", "start", "--redis", url, "--name", "dup", "--ops", "1000"]).status).toBe(0);
      oneLine(cli(["campaign", "start", "--redis", url, "--name", "dup", "--ops", "1000"]), 1, /^shadowfence: a campaign named "dup" already exists/);
      oneLine(cli(["campaign", "report", "--redis", url, "--name", "dup", "--out", tmpdir()]), 1, /^shadowfence: campaign dup is not finished: 0 of 1 units done/);
      const st = cli(["campaign", "status", "--redis", url, "--name", "dup"]);
      expect(st.status).toBe(0);
      expect(st.stdout).toContain("units: queued 1, active 0, done 0, failed 0, retried 0");
      expect(cli(["campaign", "delete", "--redis", url, "--name", "dup"]).stdout).toBe("campaign dup deleted\n");
      oneLine(cli(["campaign", "status", "--redis", url, "--name", "dup"]), 1, /no campaign named "dup"/);
      const r = new Redis(url);
      expect(await r.keys("*dup*")).toEqual([]);
      // what is in Redis is input too: options written by something else are refused with one line
      await r.set(keys("junk").meta, "{not json");
      oneLine(cli(["campaign", "status", "--redis", url, "--name", "junk"]), 1, /^shadowfence: campaign junk: its options in Redis: not valid JSON of this version$/m);
      expect(cli(["campaign", "start", "--redis", url, "--name", "dup2", "--ops", "1000"]).status).toBe(0);
      const meta = JSON.parse((await r.get(keys("dup2").meta))!);
      await r.set(keys("dup2").meta, JSON.stringify({ ...meta, cmdline: "kasan.mode=bogus" }));
      oneLine(cli(["campaign", "status", "--redis", url, "--name", "dup2"]), 1, /^shadowfence: campaign dup2: its options in Redis are not valid \(.*kasan\.mode/);
      await r.set(keys("dup2").meta, JSON.stringify({ ...meta, units: -1 }));
      oneLine(cli(["campaign", "report", "--redis", url, "--name", "dup2", "--out", tmpdir()]), 1, /^shadowfence: campaign dup2: its options in Redis are not valid \(sizes\)$/m);
      // options stored before --cpus existed run on one CPU; more CPUs than the command line has are refused
      const { cpus: _cpus, ...old } = meta;
      expect(_cpus).toBe(1);
      await r.set(keys("dup2").meta, JSON.stringify(old));
      expect(cli(["campaign", "status", "--redis", url, "--name", "dup2"]).stdout).toMatch(/^campaign dup2: profile mixed, seed 1, 1000 ops in 1 unit\(s\) of up to 1048576\n/);
      await r.set(keys("dup2").meta, JSON.stringify({ ...meta, cpus: 3 }));
      oneLine(cli(["campaign", "status", "--redis", url, "--name", "dup2"]), 1, /^shadowfence: campaign dup2: its options in Redis are not valid \(cpus\)$/m);
      r.disconnect();
    });

    it("bad --cpus and --segment-ops: the local fuzz command's one-line usage errors (exit 2), nothing queued", async () => {
      const cases: Array<[string[], string]> = [
        [["--cpus", "0"], `--cpus must be an integer from 1 to 2, got "0"`],
        [["--cpus", "x"], `--cpus must be an integer from 1 to 2, got "x"`],
        [["--cpus", "3"], `--cpus must be an integer from 1 to 2 (the command line has nr_cpus=2; add nr_cpus=3 to --cmdline for more), got "3"`],
        [["--segment-ops", "64"], "--segment-ops is for units on several CPUs: give --cpus 2 or more"],
        [["--cpus", "1", "--segment-ops", "64"], "--segment-ops is for units on several CPUs: give --cpus 2 or more"],
        [["--cpus", "2", "--segment-ops", "0"], "--segment-ops must be an integer from 1 to 16384, got 0"],
      ];
      for (const [args, message] of cases) {
        const line = `shadowfence: ${message}\n`;
        const c = cli(["campaign", "start", "--redis", url, "--name", "cpus-bad", "--ops", "1000", ...args]);
        oneLine(c, 2, /^shadowfence: /);
        expect(c.stderr, args.join(" ")).toBe(line);
        expect(cli(["fuzz", "--ops", "1000", "--no-progress", "--out", path.join(tmpdir(), "sf-never-written"), ...args]).stderr).toBe(line);
      }
      // the local study takes --cpus (a campaign's: "runs the KFENCE study as a campaign")
      const local = cli(["fuzz", "--ops", "20000", "--study", "kfence", "--cpus", "2"]);
      expect([local.status, local.stderr]).toEqual([0, ""]);
      expect(local.stdout.split("\n")[0]).toBe("KFENCE detection study: KASAN off, virtual clock 1 ms per 100 ops, each bug class planted at 0.001 per op");
      // sized in seconds: refused before the starter says it is queuing (nothing on stdout)
      oneLine(cli(["campaign", "start", "--redis", url, "--name", "cpus-bad", "--seconds", "5", "--cpus", "3"]), 2,
        /^shadowfence: --cpus must be an integer from 1 to 2 \(the command line has nr_cpus=2; add nr_cpus=3 to --cmdline for more\), got "3"\n$/);
      oneLine(cli(["campaign", "start", "--redis", url, "--name", "cpus-bad", "--seconds", "5", "--cmdline", "nr_cpus=99"]), 2,
        /^shadowfence: invalid value "99" for nr_cpus: expected an integer from 1 to 8\n$/);
      const r = new Redis(url);
      expect(await r.keys("*cpus-bad*")).toEqual([]);
      expect(await r.sismember("sfc:campaigns", "cpus-bad")).toBe(0);
      r.disconnect();
    });
  });
});
