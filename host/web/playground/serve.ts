// `shadowfence serve`: the playground (dist/web) over node:http on loopback,
// cross-origin isolated (COOP same-origin + COEP require-corp) so the page may
// use SharedArrayBuffer for the fuzz worker's live counters. Static files only.
import { createServer, type Server, type IncomingMessage, type ServerResponse } from "node:http";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** dist/web, next to this file's dist/host/web/playground. */
export const WEB_ROOT = fileURLToPath(new URL("../../../web/", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
};

/** The headers every response carries. */
export const ISOLATION_HEADERS: Record<string, string> = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
  "X-Content-Type-Options": "nosniff",
  "Cache-Control": "no-cache",
};

export interface ServeOptions {
  /** 0 (default 8080 in the CLI) picks a free port. */
  port?: number;
  /** Interface to bind; 127.0.0.1 by default. */
  host?: string;
  /** Directory served (default dist/web). */
  root?: string;
}

export interface Served {
  server: Server;
  port: number;
  /** The playground's URL. */
  url: string;
  close(): Promise<void>;
}

export function checkPort(v: string | number): number {
  const n = Number(v);
  if (typeof v === "string" && !/^\d+$/.test(v.trim())) throw new RangeError(`--port must be an integer from 0 to 65535, got ${JSON.stringify(v)}`);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new RangeError(`--port must be an integer from 0 to 65535, got ${v}`);
  return n;
}

async function handle(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const send = (status: number, body: string | Uint8Array, type = "text/plain; charset=utf-8") => {
    res.writeHead(status, { ...ISOLATION_HEADERS, "Content-Type": type, "Content-Length": Buffer.byteLength(body) });
    res.end(req.method === "HEAD" ? undefined : body);
  };
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("Allow", "GET, HEAD");
    return send(405, "method not allowed\n");
  }
  let rel: string;
  try {
    rel = decodeURIComponent(new URL(req.url ?? "/", "http://localhost").pathname);
  } catch {
    return send(400, "bad request\n");
  }
  if (rel === "/") {
    res.writeHead(302, { ...ISOLATION_HEADERS, Location: "/playground/" });
    res.end();
    return;
  }
  if (rel.endsWith("/")) rel += "index.html";
  if (rel.includes("\0")) return send(400, "bad request\n");
  const file = path.join(root, path.normalize(rel));
  if (!file.startsWith(root)) return send(404, "not found\n");
  const type = TYPES[path.extname(file)];
  try {
    const st = await stat(file);
    if (st.isDirectory()) {
      res.writeHead(301, { ...ISOLATION_HEADERS, Location: `${encodeURI(rel)}/` });
      res.end();
      return;
    }
    if (!type || !st.isFile()) return send(404, "not found\n");
    send(200, await readFile(file), type);
  } catch {
    send(404, "not found\n");
  }
}

/** Start serving; resolves once listening. */
export function serve(opts: ServeOptions = {}): Promise<Served> {
  const root = path.resolve(opts.root ?? WEB_ROOT) + path.sep;
  const host = opts.host ?? "127.0.0.1";
  const port = checkPort(opts.port ?? 0);
  const server = createServer((req, res) => {
    handle(root, req, res).catch(() => { if (!res.headersSent) res.writeHead(500); res.end(); });
  });
  return new Promise((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => {
      reject(new RangeError(e.code === "EADDRINUSE" ? `serve: ${host}:${port} is already in use (try --port 0 for a free port)`
        : `serve: cannot listen on ${host}:${port}: ${e.message}`));
    });
    server.listen(port, host, () => {
      const bound = (server.address() as { port: number }).port;
      const shown = host.includes(":") ? `[${host}]` : host;
      resolve({
        server, port: bound, url: `http://${shown}:${bound}/playground/`,
        close: () => new Promise<void>((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
      });
    });
  });
}
