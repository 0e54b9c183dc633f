// How a worker process joins a bus: the server list (comma-separated), credentials from a creds file
// (never a password on the command line), and the replicas of the existing streams, read from the
// server when not given, so that a worker joining an R3 cluster does not report drift.
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type ConnectionOptions } from "@nats-io/transport-node";
import { EventLog } from "../../streams/eventlog.ts";
import { childLogger } from "../../streams/logger.ts";
import { LOG_STREAM } from "../../streams/subjects.ts";
import { isNotFound } from "../../streams/topology.ts";
import { existsSync } from "node:fs";
import { connectAuth, credsPath, type Role } from "./auth.ts";
import { ClusterSpecError } from "./errors.ts";
import { paths, readJson, serverUrls, type ClusterSpec } from "./layout.ts";

export type WorkerConnection = { servers: string[]; options: Partial<ConnectionOptions> & { replicas: number } };

/** A role's way into a cluster from its directory (or a bundle of it): the servers and the role's creds file. */
export function clusterAccess(dir: string, role: Role): { server: string; creds: string } {
  const spec = readJson<ClusterSpec>(paths(dir).spec);
  if (!spec) throw new ClusterSpecError(`no cluster.json in ${dir}: give a cluster's directory, or a bundle made by cluster bundle`);
  const creds = credsPath(dir, role);
  if (!existsSync(creds)) throw new ClusterSpecError(`${dir} holds no creds for ${role}: on the first host, cluster bundle --for workers --roles ${role}`);
  return { server: serverUrls(spec).join(","), creds };
}

export function splitServers(s: string): string[] {
  return s.split(",").map((x) => x.trim()).filter(Boolean);
}

/** Replicas of the run-log stream on the server (1 when it does not exist yet). */
export async function streamReplicas(servers: string[], auth: Partial<ConnectionOptions>): Promise<number> {
  const nc = await connect({ servers, name: "zerostream-probe", ...auth });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 10_000 });
    try {
      return (await jsm.streams.info(LOG_STREAM)).config.num_replicas;
    } catch (err) {
      if (isNotFound(err)) return 1;
      throw err;
    }
  } finally {
    await nc.close();
  }
}

/** Connection of a worker: its name is `zerostream-<role>[/<name>]` (the supervisor's health check looks for it). */
export async function workerConnection(o: { server: string; role: string; name?: string; creds?: string; replicas?: string; user?: string }): Promise<WorkerConnection> {
  const servers = splitServers(o.server);
  const auth: Partial<ConnectionOptions> = o.creds ? connectAuth(o.creds) : {};
  if (!o.creds && o.user) {
    // --user with the password from the environment (ZS_NATS_PASS), so that it is not in argv
    const pass = process.env.ZS_NATS_PASS;
    if (!pass) throw new Error("--user needs the password in ZS_NATS_PASS (never on the command line), or use --creds <file>");
    Object.assign(auth, { user: o.user, pass });
  }
  const replicas = o.replicas ? Number(o.replicas) : await streamReplicas(servers, auth);
  return { servers, options: { ...auth, replicas, name: `zerostream-${o.role}${o.name ? `/${o.name}` : ""}` } };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Errors of a cluster in transition (a leader election, a node restarting): worth another try. */
export function isTransient(err: unknown): boolean {
  const e = err as { name?: string; message?: string; code?: string | number };
  return /timeout|503|no responders|temporarily unavailable|CONNECTION_REFUSED|ECONNREFUSED|disconnect/i.test(`${e?.name} ${e?.message} ${e?.code}`);
}

/** EventLog.connect, retried while the cluster elects leaders (up to deadlineMs). */
export async function connectEventLog(c: WorkerConnection, deadlineMs = 60_000): Promise<EventLog> {
  const end = Date.now() + deadlineMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await EventLog.connect(c.servers, c.options);
    } catch (err) {
      if (!isTransient(err) || Date.now() > end) throw err;
      childLogger({ component: "connect" }).warn({ attempt, err: (err as Error).message }, "JetStream not available yet; retrying");
      await sleep(Math.min(500 * attempt, 3000));
    }
  }
}
