// How every command that talks to a server reaches the bus, in one place:
//   --cluster DIR          a cluster made by `cluster up`: its servers and its admin creds;
//   --server URL[,URL...]  (or NATS_URL) with --creds FILE (or NATS_CREDS) or user:pass in the URL;
//   nothing                the embedded nats-server on the local store (--store DIR, default
//                          .zerostream/nats under the current directory: the store of `npm start` and
//                          `run`). A server already running on that store is used as it is; otherwise one
//                          is started for the command and stopped after it.
// `args` are the flags that reach the same bus again, for the commands a command prints.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { ConnectionOptions } from "@nats-io/transport-node";
import { ZeroStreamError } from "../streams/errors.ts";
import { EventLog } from "../streams/eventlog.ts";
import { runningServer, startLocalServer, type LocalServer } from "../streams/nats-server.ts";
import { connectAuth, credsPath } from "./cluster/auth.ts";
import { connectEventLog, splitServers, streamReplicas } from "./cluster/connect.ts";
import { paths, readJson, serverUrls, type ClusterSpec } from "./cluster/layout.ts";

export class NoServerError extends ZeroStreamError {}

/** The string flags of parseArgs that select a bus. */
export const BUS_FLAGS = ["server", "creds", "cluster", "store"];
export const BUS_USAGE = "[--server nats://host:port[,...] [--creds FILE] | --cluster DIR | --store DIR]";

type Flags = Record<string, string | boolean | undefined>;
const str = (v: string | boolean | undefined): string | undefined => (typeof v === "string" && v ? v : undefined);

export type BusTarget = {
  servers: string[];                      // without credentials
  auth: Partial<ConnectionOptions>;
  replicas?: number;                      // known (a cluster spec, the local store); else read from the server
  args: string[];                         // flags that reach this bus again (no secret)
  storeDir?: string;                      // the local store (no --server, --cluster)
  clusterDir?: string;                    // --cluster
  credsFile?: string;                     // --creds
};

/** The local store of `npm start` and `run`: --store, else .zerostream/nats under the current directory. */
export function localStoreDir(store?: string): string {
  return resolve(store ?? join(process.cwd(), ".zerostream", "nats"));
}

/** user:pass in a URL (nats.js ignores it): taken out into the connection options. */
function splitUserinfo(urls: string[]): { servers: string[]; user?: string; pass?: string } {
  let user: string | undefined, pass: string | undefined;
  const servers = urls.map((u) => {
    const m = /^([a-z]+:\/\/)([^@/]*)@(.*)$/i.exec(u);
    if (!m) return u;
    const [name, ...rest] = m[2].split(":");
    user = decodeURIComponent(name);
    pass = decodeURIComponent(rest.join(":"));
    return m[1] + m[3];
  });
  return { servers, user, pass };
}

/** Where the flags point (no connection is made). */
export function busTarget(flags: Flags): BusTarget {
  const cluster = str(flags.cluster);
  const server = str(flags.server) ?? str(process.env.NATS_URL);
  const creds = str(flags.creds) ?? str(process.env.NATS_CREDS);
  if (cluster && (str(flags.server) || str(flags.creds))) throw new Error("give --cluster DIR (its servers and admin creds) or --server/--creds, not both");
  if (cluster) {
    const dir = resolve(cluster);
    const spec = readJson<ClusterSpec>(paths(dir).spec);
    if (!spec) throw new NoServerError(`no cluster in ${dir} (no cluster.json): give the directory of \`cluster up\` (default .zerostream/cluster)`);
    return { servers: serverUrls(spec), auth: connectAuth(credsPath(dir, "admin")), replicas: spec.replicas, args: ["--cluster", dir], clusterDir: dir };
  }
  if (server) {
    const { servers, user, pass } = splitUserinfo(splitServers(server));
    const auth = creds ? connectAuth(creds) : user !== undefined ? { user, pass } : {};
    const shown = user !== undefined && !creds ? splitServers(server).map((u) => u.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:<password>@")) : servers;
    return { servers, auth, args: ["--server", shown.join(","), ...(creds ? ["--creds", resolve(creds)] : [])], ...(creds ? { credsFile: resolve(creds) } : {}) };
  }
  if (creds) throw new Error("--creds needs --server (or NATS_URL): the local store's embedded server has no users");
  const storeDir = localStoreDir(str(flags.store));
  return { servers: [], auth: {}, replicas: 1, storeDir, args: str(flags.store) ? ["--store", storeDir] : [] };
}

export type Bus = {
  log: EventLog;
  url: string;                            // the first server, without credentials
  target: BusTarget;
  server?: LocalServer;                   // the embedded server this command started
  close(): Promise<void>;                 // closes the connection, stops the embedded server it started
};

/**
 * Connects to the bus the flags select. On the local store: `create` starts a server on a new store
 * (start, run), and `own` refuses to share a server another command runs there (a run must not depend
 * on a server that another command stops when it ends); readers use a running server as it is.
 */
export async function openBus(flags: Flags, o: { create?: boolean; own?: boolean; name?: string } = {}): Promise<Bus> {
  const target = busTarget(flags);
  let server: LocalServer | undefined;
  if (target.storeDir) {
    const running = o.own ? null : await runningServer(target.storeDir);
    if (running) target.servers = [running.url];
    else {
      if (!o.create && !existsSync(join(target.storeDir, "jetstream"))) {
        throw new NoServerError(`no NATS server given and no local store at ${target.storeDir}: run this where \`npm start\` or \`zerostream run\` ran, ` +
          "or pass --server nats://host:port [--creds FILE], --cluster DIR, or --store DIR (or set NATS_URL)");
      }
      server = await startLocalServer({ storeDir: target.storeDir });
      target.servers = [server.url];
    }
  }
  try {
    const replicas = target.replicas ?? (await streamReplicas(target.servers, target.auth));
    const options = { ...target.auth, replicas, name: o.name ?? "zerostream-cli" };
    const log = target.storeDir ? await EventLog.connect(target.servers, options) : await connectEventLog({ servers: target.servers, options });
    return {
      log, url: target.servers[0], target, server,
      async close() {
        if (!log.nc.isClosed()) await log.close();
        await server?.stop();
      },
    };
  } catch (err) {
    await server?.stop();
    throw err;
  }
}

/** Runs f on the bus the flags select, then closes it (and stops an embedded server it started). */
export async function withBus<T>(flags: Flags, f: (bus: Bus) => Promise<T>, o: { create?: boolean; own?: boolean; name?: string } = {}): Promise<T> {
  const bus = await openBus(flags, o);
  try {
    return await f(bus);
  } finally {
    await bus.close();
  }
}

/** `npx zerostream <words> <bus args>`: a command to print, reaching the same bus. */
export function command(words: string[], bus: Pick<BusTarget, "args">): string {
  const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);
  return ["npx", "zerostream", ...words, ...bus.args].map(q).join(" ");
}

/** How a worker process started by a command joins the same bus: its flags and environment (a password
 * from a URL goes through ZS_NATS_PASS, never argv; on a cluster each role uses its own creds). */
export function workerAccess(target: BusTarget, role: "rollout" | "reward" | "updater"): { server: string; args: string[]; env: Record<string, string> } {
  const server = target.servers.join(",");
  if (target.clusterDir) return { server, args: ["--creds", credsPath(target.clusterDir, role)], env: {} };
  if (target.credsFile) return { server, args: ["--creds", target.credsFile], env: {} };
  const { user, pass } = target.auth as { user?: string; pass?: string };
  if (user !== undefined) return { server, args: ["--user", user], env: { ZS_NATS_PASS: pass ?? "" } };
  return { server, args: [], env: {} };
}
