// Starts and stops a local nats-server (127.0.0.1 unless told otherwise, JetStream on, max_payload 8 MB) for tests,
// `npm start` and the cluster. The process is tracked by PID and stopped gracefully, then forcefully;
// it is tethered to the process that started it (streams/tether.ts): when that process dies, even by
// SIGKILL or a segfault, the kernel sends the server SIGTERM. A server on a named store records itself
// in <store>/server.json, so that another command on the same store connects to it instead of starting
// a second server on the same files (runningServer).
import { spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NatsServerNotFoundError, NatsServerStartError, PortInUseError, StoreInUseError } from "./errors.ts";
import { spawnTethered } from "./tether.ts";

export type LocalServerOptions = {
  port?: number;            // 0 or undefined: a free port
  httpPort?: number;        // monitoring port; 0 or undefined: a free port
  storeDir?: string;        // undefined: a temporary directory removed on stop
  maxPayload?: number;      // bytes, default 8 MiB
  serverName?: string;
  extraConfig?: string;     // appended to the generated config (cluster blocks, authorization, ...)
  host?: string;            // the address to bind (client and monitoring ports); default 127.0.0.1
  advertise?: string;       // the host clients are told to use (client_advertise), when not the bound address
  tls?: { block: string; ca: string };  // a `tls {}` block for the client port; monitoring is then https, verified with `ca` (PEM)
  logFile?: string;         // default: <storeDir>/nats-server.log
  startTimeoutMs?: number;
};

export type LocalServer = {
  url: string;
  port: number;
  httpPort: number;
  storeDir: string;
  pid: number;
  configFile: string;
  tethered: boolean;          // dies with this process (false where setpriv is missing)
  exited: Promise<number>;    // resolves when the server process exits (its code, -1 for a signal)
  stop(): Promise<void>;
};

/** What <store>/server.json records about the server running on a store. */
export type RunningServer = { pid: number; url: string; httpPort: number };

const recordOf = (storeDir: string) => join(storeDir, "server.json");

/** The server running on a store directory (its record, its PID alive and healthy), or null. */
export async function runningServer(storeDir: string): Promise<RunningServer | null> {
  const file = recordOf(storeDir);
  if (!existsSync(file)) return null;
  let r: RunningServer;
  try { r = JSON.parse(readFileSync(file, "utf8")) as RunningServer; } catch { return null; }
  if (!Number.isInteger(r.pid) || !alive(r.pid) || !(await healthy(r.httpPort))) return null;
  return r;
}

export function natsServerBinary(): string {
  const bin = process.env.NATS_SERVER_BIN ?? "nats-server";
  const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    throw new NatsServerNotFoundError(
      `nats-server not found (${bin}): run npm run setup, or apt-get install nats-server, or set NATS_SERVER_BIN`);
  }
  return bin;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function portFree(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** A monitoring endpoint: http://host:port, or https://host:port verified with the CA `ca` (PEM). */
export type Monitor = { base: string; ca?: string };

/** GET of a monitoring path (JSON); undefined when the endpoint does not answer within timeoutMs. */
export function monitorGet(m: Monitor, path: string, timeoutMs = 2000): Promise<{ status: number; body: Record<string, unknown> } | undefined> {
  return new Promise((resolve) => {
    const url = new URL(path, m.base);
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, { method: "GET", timeout: timeoutMs, ...(m.ca ? { ca: m.ca } : {}) }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => { text += d; });
      res.on("end", () => {
        try { resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }); } catch { resolve({ status: res.statusCode ?? 0, body: {} }); }
      });
      res.on("error", () => resolve(undefined));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
    req.end();
  });
}

/** The address to reach a server bound to `host` from this machine. */
const reachable = (host: string) => (host === "0.0.0.0" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function healthy(httpPort: number, m: Monitor = { base: `http://127.0.0.1:${httpPort}` }): Promise<boolean> {
  return (await monitorGet(m, "/healthz?js-enabled-only=true"))?.status === 200;
}

export async function startLocalServer(opts: LocalServerOptions = {}): Promise<LocalServer> {
  const bin = natsServerBinary();
  const port = opts.port || (await freePort());
  const httpPort = opts.httpPort || (await freePort());
  const host = opts.host ?? "127.0.0.1";
  if (!(await portFree(port, host))) throw new PortInUseError(`port ${port} on ${host} is already in use: choose another --port or stop what holds it`);
  if (!(await portFree(httpPort, host))) throw new PortInUseError(`monitoring port ${httpPort} on ${host} is already in use`);
  const monitor: Monitor = { base: `${opts.tls ? "https" : "http"}://${reachable(host)}:${httpPort}`, ...(opts.tls ? { ca: opts.tls.ca } : {}) };
  const temporary = !opts.storeDir;
  const storeDir = opts.storeDir ?? mkdtempSync(join(tmpdir(), "zs-nats-"));
  mkdirSync(storeDir, { recursive: true });
  const other = await runningServer(storeDir);
  if (other) throw new StoreInUseError(`a nats-server (pid ${other.pid}, ${other.url}) already runs on the store ${storeDir}: connect to it, or stop it first`);
  const configFile = join(storeDir, "nats-server.conf");
  const lines = [
    `server_name: ${JSON.stringify(opts.serverName ?? `zs-${port}`)}`,
    `host: ${JSON.stringify(host)}`,
    `port: ${port}`,
    ...(opts.advertise ? [`client_advertise: ${JSON.stringify(`${opts.advertise}:${port}`)}`] : []),
    `${opts.tls ? "https" : "http"}: ${JSON.stringify(`${host}:${httpPort}`)}`,
    ...(opts.tls ? [opts.tls.block] : []),
    `max_payload: ${opts.maxPayload ?? 8 * 1024 * 1024}`,
    `jetstream {`,
    `  store_dir: ${JSON.stringify(join(storeDir, "jetstream"))}`,
    `}`,
    opts.extraConfig ?? "",
  ];
  writeFileSync(configFile, lines.join("\n") + "\n");
  const logFile = opts.logFile ?? join(storeDir, "nats-server.log");
  const fd = openSync(logFile, "a");
  let child: ChildProcess;
  let tethered: boolean;
  try {
    // its own process group: a Ctrl-C reaches the process that started it, which stops it last
    ({ child, tethered } = spawnTethered(bin, ["-c", configFile], { stdio: ["ignore", fd, fd], deathSignal: "SIGTERM", ownGroup: true }));
  } finally {
    closeSync(fd);
  }
  let exited: number | null = null;
  const exitedP = new Promise<number>((resolve) => child.once("exit", (code) => { exited = code ?? -1; resolve(exited); }));
  const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
  while (!(await healthy(httpPort, monitor))) {
    if (exited !== null) throw new NatsServerStartError(`nats-server exited with ${exited} during start; see ${logFile}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new NatsServerStartError(`nats-server did not become healthy within ${opts.startTimeoutMs ?? 15_000} ms; see ${logFile}`);
    }
    await sleep(50);
  }
  const pid = child.pid!;
  const url = `nats://${opts.advertise ?? reachable(host)}:${port}`;
  if (!temporary) writeFileSync(recordOf(storeDir), JSON.stringify({ pid, url, httpPort } satisfies RunningServer) + "\n");
  return {
    url, port, httpPort, storeDir, pid, configFile, tethered, exited: exitedP,
    async stop() {
      await stopPid(pid, () => exited !== null);
      if (temporary) rmSync(storeDir, { recursive: true, force: true });
      else rmSync(recordOf(storeDir), { force: true });
    },
  };
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** Stops a process by PID: SIGTERM, then SIGKILL after graceMs. */
export async function stopPid(pid: number, done: () => boolean = () => !alive(pid), graceMs = 5000): Promise<void> {
  if (done()) return;
  try { process.kill(pid, "SIGTERM"); } catch { return; }
  const deadline = Date.now() + graceMs;
  while (!done() && alive(pid) && Date.now() < deadline) await sleep(25);
  if (!done() && alive(pid)) {
    try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
    while (!done() && alive(pid)) await sleep(10);
  }
}
