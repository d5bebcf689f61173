// `shadowfence campaign start|worker|status|report|delete` (Node only).
import type { Command } from "commander";
import { Option } from "commander";
import { PROFILES, DEFAULT_PLANT, parsePlant, type Profile } from "../generator.js";
import { int } from "../cli.js";
import { checkCpusUsage } from "../runner.js";
import { CampaignError } from "./errors.js";

// BullMQ and ioredis load only when a campaign command runs
const lib = () => import("./campaign.js");

/** A campaign that cannot go on: one line, exit 1 (usage errors are RangeErrors: the command's handler exits 2). */
function action<A extends unknown[]>(fn: (...a: A) => Promise<void>): (...a: A) => Promise<void> {
  return async (...a: A) => {
    try {
      await fn(...a);
    } catch (e) {
      if (e instanceof CampaignError) {
        process.stderr.write(`shadowfence: ${e.message}\n`);
        process.exit(1);
      }
      throw e;
    }
    // BullMQ and ioredis may keep timers: a finished command exits
    process.exit(process.exitCode ?? 0);
  };
}

const redisOption = () => new Option("--redis <url>", "Redis URL: redis://[[user]:password@]host[:port][/db], rediss:// for TLS").makeOptionMandatory();

export function registerCampaignCommands(program: Command): void {
  const c = program.command("campaign").description("fuzz campaigns across machines on BullMQ and Redis (start, worker, status, report, delete)");
  c.command("start")
    .description("queue the units of a new campaign")
    .addOption(redisOption())
    .requiredOption("--name <name>", "campaign name (letters, digits, _ . -)")
    .option("--ops <n>", "ops in all (deterministic: the same bugs as a local run)")
    .option("--seconds <s>", "or: keep units queued for this long (the command runs that long), then end the campaign")
    .option("--seed <n>", "seed of the workload", "1")
    .addOption(new Option("--profile <p>", "operation mix (default mixed; slab-churn for the study)").choices([...PROFILES]))
    .option("--cmdline <params>", "kernel command line", "")
    .option("--plant <rates>", "planted bugs per op (as shadowfence fuzz), or none")
    .option("--check", "the oracle checks every verdict")
    .option("--study <what>", "kfence: the fleet KFENCE detection study")
    .option("--unit-ops <n>", "ops per unit (default 1048576)")
    .option("--cpus <n>", "CPUs each unit runs on at once, as shadowfence fuzz (1..nr_cpus, at most 8; default 1)")
    .option("--segment-ops <n>", "with --cpus: ops between two barriers, where slots change CPU (1..16384, default 8192)")
    .action(action(async (o: { redis: string; name: string; ops?: string; seconds?: string; seed: string; profile?: string; cmdline: string;
      plant?: string; check?: boolean; study?: string; unitOps?: string; cpus?: string; segmentOps?: string }) => {
      checkCpusUsage(o);
      const L = await lib();
      const ops = int(o.ops, "--ops", 1);
      const seconds = o.seconds === undefined ? undefined : Number(o.seconds);
      if (seconds !== undefined && !(Number.isFinite(seconds) && seconds > 0)) throw new RangeError(`--seconds must be a positive number, got ${o.seconds}`);
      if ((ops === undefined) === (seconds === undefined)) throw new RangeError("campaign start: give --ops N or --seconds S");
      if (o.study !== undefined && o.study !== "kfence") throw new RangeError(`--study: the study is "kfence", got ${JSON.stringify(o.study)}`);
      const m = await L.startCampaign({ redis: o.redis, name: o.name, ops, seconds, seed: int(o.seed, "--seed"), profile: o.profile as Profile | undefined,
        cmdline: o.cmdline, plant: o.plant !== undefined ? parsePlant(o.plant) : DEFAULT_PLANT, check: o.check,
        study: o.study as "kfence" | undefined, unitOps: int(o.unitOps, "--unit-ops", 1), cpus: o.cpus, segmentOps: int(o.segmentOps, "--segment-ops", 0),
        // (printed once the options passed every check, so a refused start prints only its error)
        onQueuing: (m) => process.stdout.write(`campaign ${m.name}: queuing units for ${seconds} s\n`) });
      process.stdout.write(`campaign ${m.name}: ${m.jobs} unit(s) queued (${m.ops} ops${m.intervals ? ` per interval, intervals ${m.intervals.join(", ")} ms` : ""}` +
        `${(m.cpus ?? 1) > 1 ? `, on ${m.cpus} CPUs each` : ""})\n`);
    }));
  c.command("worker")
    .description("take units of the campaigns on this Redis and run them on local worker threads (until SIGINT/SIGTERM)")
    .addOption(redisOption())
    .option("--workers <n>", "units at once, whatever their CPUs (default: the cores, a unit on N CPUs counting N)")
    .option("--name <name>", "serve only this campaign")
    .option("--stall-ms <ms>", "lock duration and stalled-check interval: a dead worker's unit is retried after about this long", "30000")
    .action(async (o: { redis: string; workers?: string; name?: string; stallMs: string }) => {
      const L = await lib();
      try {
        const h = await L.campaignWorker({ redis: o.redis, workers: int(o.workers, "--workers", 1), name: o.name, stallMs: int(o.stallMs, "--stall-ms", 500) });
        const bye = () => void h.stop();
        process.on("SIGINT", bye);
        process.on("SIGTERM", bye);
        await h.done;
        process.exit(0);
      } catch (e) {
        if (e instanceof CampaignError) { process.stderr.write(`shadowfence: ${e.message}\n`); process.exit(1); }
        throw e;
      }
    });
  c.command("status")
    .description("units queued/active/done/failed/retried, ops/s per machine and in total, unique bugs so far")
    .addOption(redisOption())
    .requiredOption("--name <name>", "campaign name")
    .option("--watch", "follow the campaign with a progress bar until it is finished")
    .option("--json", "print JSON")
    .action(action(async (o: { redis: string; name: string; watch?: boolean; json?: boolean }) => {
      const L = await lib();
      if (!o.watch) {
        const s = await L.campaignStatus(o);
        process.stdout.write(o.json ? JSON.stringify(s, null, 2) + "\n" : L.statusText(s));
        return;
      }
      const { default: cliProgress } = await import("cli-progress");
      let bar: InstanceType<typeof cliProgress.SingleBar> | undefined;
      const s = await L.watchCampaign(o, (st) => {
        bar ??= new cliProgress.SingleBar({ stream: process.stderr, hideCursor: true,
          format: " {bar} {value}/{total} units | {rate} M ops/s | active {active} | retried {retried} | failed {failed} | {bugs} unique bugs" },
        cliProgress.Presets.shades_classic);
        const payload = { rate: (st.opsPerSecond / 1e6).toFixed(2), active: st.active, retried: st.retried, failed: st.failed, bugs: st.uniqueBugs };
        if (!bar.isActive) bar.start(st.jobs, st.done, payload);
        else bar.update(st.done, payload);
      });
      bar?.stop();
      process.stdout.write(o.json ? JSON.stringify(s, null, 2) + "\n" : L.statusText(s));
    }));
  c.command("report")
    .description("write the summary and shrunk reproducers (shrinking runs as jobs on the workers) of a finished campaign")
    .addOption(redisOption())
    .requiredOption("--name <name>", "campaign name")
    .option("--out <dir>", "where reproducers and the summary go", "fuzz-out")
    .option("--no-minimise", "the unshrunk reproducers (no worker needed)")
    .option("--json", "print the summary as JSON")
    .action(action(async (o: { redis: string; name: string; out: string; minimise: boolean; json?: boolean }) => {
      const L = await lib();
      const rep = await L.campaignReport({ redis: o.redis, name: o.name, out: o.out, minimise: o.minimise });
      if (rep.kind === "study") process.stdout.write(o.json ? JSON.stringify(rep.rows, null, 2) + "\n" : L.fleetStudyText(rep.meta, rep.rows));
      else {
        const { texts, ...rest } = rep.summary;
        void texts;
        process.stdout.write(o.json ? JSON.stringify(rest, null, 2) + "\n" : `${L.summaryText(rep.summary)}\nsummary and reproducers: ${o.out}/\n`);
      }
    }));
  c.command("delete")
    .description("remove a campaign: its queue, results and reproducers")
    .addOption(redisOption())
    .requiredOption("--name <name>", "campaign name")
    .action(action(async (o: { redis: string; name: string }) => {
      const L = await lib();
      await L.deleteCampaign(o);
      process.stdout.write(`campaign ${o.name} deleted\n`);
    }));
}
