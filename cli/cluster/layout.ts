// The cluster directory and its two files:
//   cluster.json  the spec, fixed at the first `up` and kept across down/up (node names and ports: a
//                 JetStream cluster knows its peers by server name, so they never change; replicas;
//                 ack wait of the shared durables, which must not drift);
//   state.json    what the supervisor runs now (pids, roles, ports, restarts), written only by it.
// Layout: nodes/<name>/ (store + config + auth.conf), creds/<role>.creds, logs/<name>.log.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { freePort } from "../../streams/nats-server.ts";
import { ClusterSpecError } from "./errors.ts";

export type NodeSpec = { name: string; port: number; clusterPort: number; httpPort: number };
export type ClusterSpec = { v: 1; nodes: NodeSpec[]; replicas: number; ackWaitMs?: number; createdAt: string };

export type WorkerRole = "rollout" | "reward" | "updater";
export type ProcState = {
  name: string; kind: "node" | "worker"; role: WorkerRole | "nats"; pid: number | null;
  startedAt: string | null; restarts: number; status: "starting" | "running" | "backoff" | "stopped" | "finished" | "failed";
  lastExit?: string; log: string; url?: string; httpPort?: number;
};
export type ClusterState = {
  v: 1; dir: string; supervisorPid: number; status: "starting" | "ready" | "failed" | "stopping" | "stopped";
  error?: string; servers: string[]; replicas: number; runId?: string; desired: { rollout: number; reward: number };
  procs: ProcState[]; updatedAt: string;
};

export function defaultDir(): string {
  return resolve(process.env.ZS_CLUSTER_DIR ?? join(process.cwd(), ".zerostream", "cluster"));
}

export const paths = (dir: string) => ({
  spec: join(dir, "cluster.json"),
  state: join(dir, "state.json"),
  scale: join(dir, "scale.json"),
  logs: join(dir, "logs"),
  node: (name: string) => join(dir, "nodes", name),
  log: (name: string) => join(dir, "logs", `${name}.log`),
});

export function writeJsonAtomic(file: string, value: unknown, mode = 0o644): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + "\n", { mode });
  renameSync(tmp, file);
}

export function readJson<T>(file: string): T | null {
  if (!existsSync(file)) return null;
  try { return JSON.parse(readFileSync(file, "utf8")) as T; } catch { return null; }
}

export function readState(dir: string): ClusterState | null {
  return readJson<ClusterState>(paths(dir).state);
}

/** The spec of the cluster in `dir`: the kept one, or a new one (free ports, or base, base+1, ...). */
export async function ensureSpec(dir: string, o: { nodes: number; basePort?: number; ackWaitMs?: number }): Promise<ClusterSpec> {
  const p = paths(dir);
  const kept = readJson<ClusterSpec>(p.spec);
  if (kept) {
    if (kept.nodes.length !== o.nodes) {
      throw new ClusterSpecError(`${dir} holds a ${kept.nodes.length}-node cluster; --nodes ${o.nodes} would orphan its stores: ` +
        `use --nodes ${kept.nodes.length}, another --dir, or cluster down --wipe first`);
    }
    if (o.ackWaitMs !== undefined && kept.ackWaitMs !== o.ackWaitMs) {
      throw new ClusterSpecError(`${dir} was created with ack wait ${kept.ackWaitMs ?? "default"} ms; the durable consumers keep it: drop --ack-wait-ms or use another --dir`);
    }
    return kept;
  }
  if (o.nodes !== 1 && o.nodes !== 3) throw new ClusterSpecError(`--nodes must be 1 or 3, got ${o.nodes}`);
  const port = async (offset: number) => (o.basePort ? o.basePort + offset : await freePort());
  const nodes: NodeSpec[] = [];
  for (let i = 0; i < o.nodes; i++) {
    nodes.push({ name: `n${i}`, port: await port(i), clusterPort: await port(100 + i), httpPort: await port(200 + i) });
  }
  const spec: ClusterSpec = { v: 1, nodes, replicas: o.nodes === 3 ? 3 : 1, ...(o.ackWaitMs ? { ackWaitMs: o.ackWaitMs } : {}), createdAt: new Date().toISOString() };
  mkdirSync(dir, { recursive: true });
  writeJsonAtomic(p.spec, spec);
  return spec;
}

export function serverUrls(spec: ClusterSpec): string[] {
  return spec.nodes.map((n) => `nats://127.0.0.1:${n.port}`);
}

/** The `cluster {}` block of a node: routes to every other node on loopback. */
export function clusterBlock(spec: ClusterSpec, node: NodeSpec): string {
  if (spec.nodes.length === 1) return "";
  const routes = spec.nodes.filter((n) => n.name !== node.name).map((n) => `"nats-route://127.0.0.1:${n.clusterPort}"`);
  return ["cluster {", `  name: "zerostream"`, `  listen: "127.0.0.1:${node.clusterPort}"`, `  routes: [${routes.join(", ")}]`, "}", ""].join("\n");
}

export function alive(pid: number | null | undefined): boolean {
  if (!pid) return false;
  try { process.kill(pid, 0); return true; } catch { return false; }
}
