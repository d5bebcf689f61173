// Connecting to the campaign's Redis: URLs checked before use, connection
// attempts bounded for commands (a clear line, never a hang), unbounded
// reconnection for workers (a Redis restart is waited out).
import { Redis, type RedisOptions } from "ioredis";
import { CampaignError } from "./errors.js";

export { CampaignError };

/** The URL with its password replaced, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(not a URL)";
  }
}

/** Check a Redis URL (usage error: RangeError, exit 2). */
export function parseRedisUrl(url: string | undefined): URL {
  const form = "redis://[[user]:password@]host[:port][/db], or rediss://... for TLS";
  if (!url) throw new RangeError(`--redis: give the Redis URL (${form})`);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new RangeError(`--redis: not a URL: expected ${form}`);
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") throw new RangeError(`--redis: scheme ${JSON.stringify(u.protocol)}: expected ${form}`);
  if (!u.hostname) throw new RangeError(`--redis: no host in ${redactUrl(url)}: expected ${form}`);
  if (u.port && !(Number(u.port) >= 1 && Number(u.port) <= 65535)) throw new RangeError(`--redis: bad port ${u.port}`);
  const db = u.pathname.replace(/^\//, "");
  if (db && !/^\d{1,2}$/.test(db)) throw new RangeError(`--redis: the path is a database number, got ${JSON.stringify(db)}`);
  return u;
}

export interface ConnectOptions {
  /** Workers reconnect forever (a Redis restart is waited out); commands give up after a few tries. */
  persistent?: boolean;
  /** Milliseconds for the first connection (default 5000). */
  timeoutMs?: number;
}

function explain(url: string, err: Error): CampaignError {
  const where = (() => { const u = new URL(url); return `${u.hostname}:${u.port || 6379}`; })();
  const m = err.message;
  if (/WRONGPASS|NOAUTH|invalid password|invalid username/i.test(m)) return new CampaignError(`Redis at ${where} refused the credentials: ${m.split("\n")[0]}`);
  return new CampaignError(`cannot reach Redis at ${where}: ${m.split("\n")[0]}`);
}

/** A connected, authenticated client (PING answered), or a CampaignError naming what went wrong. */
export async function connectRedis(url: string, o: ConnectOptions = {}): Promise<Redis> {
  parseRedisUrl(url);
  const timeoutMs = o.timeoutMs ?? 5000;
  let lastError: Error | undefined;
  const opts: RedisOptions = {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    // BullMQ's workers need commands to wait for a reconnection rather than fail
    maxRetriesPerRequest: o.persistent ? null : 1,
    retryStrategy: o.persistent ? (n: number) => Math.min(100 * n, 1000) : (n: number) => (n > 3 ? null : 200),
    enableReadyCheck: true,
  };
  const client = new Redis(url, opts);
  client.on("error", (e: Error) => { lastError = e; });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      (async () => { await client.connect(); await client.ping(); })(),
      new Promise((_r, rej) => { timer = setTimeout(() => rej(lastError ?? new Error(`no answer in ${timeoutMs} ms`)), timeoutMs); }),
    ]);
  } catch (e) {
    client.disconnect();
    // the client's own error event says why (ECONNREFUSED, WRONGPASS...); the rejection often only "Connection is closed."
    throw explain(url, (lastError ?? e) as Error);
  } finally {
    clearTimeout(timer);
  }
  return client;
}
