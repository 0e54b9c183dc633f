// The cluster directory and its two files:
//   cluster.json  the spec, fixed at the first `up` and kept across down/up (node names and ports: a
//                 JetStream cluster knows its peers by server name, so they never change; replicas;
//                 ack wait of the shared durables, which must not drift);
//   state.json    what the supervisor runs now (pids, roles, ports, restarts), written only by it.
// Layout: nodes/<name>/ (store + config), auth.conf (public keys and permissions, included by every
// node), creds/<role>.creds (0600), tls/ (CA, node and client certificates), logs/<name>.log.
// A node listens on `listen` and is reached (and advertised to clients and routes) as `host`; both
// default to 127.0.0.1. Only the nodes named "here" run on a host (all of them by default).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join, resolve } from "node:path";
import { freePort, type Monitor } from "../../streams/nats-server.ts";
import { ClusterSpecError } from "./errors.ts";

export type NodeSpec = {
  name: string; port: number; clusterPort: number; httpPort: number;
  host?: string;    // how clients, routes and monitors reach it (a DNS name or an address); default 127.0.0.1
  listen?: string;  // the address it binds; default: host when host is an address, else 0.0.0.0
};
export type ClusterSpec = { v: 1; nodes: NodeSpec[]; replicas: number; ackWaitMs?: number; tls?: boolean; createdAt: string };

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
  creds: join(dir, "creds"),
  auth: join(dir, "auth.conf"),
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

export type SpecOptions = {
  nodes?: number; basePort?: number; ackWaitMs?: number;
  hosts?: string[];   // one per node (or one for all): the advertised host of each
  listen?: string[];  // one per node (or one for all): the bind address of each
  tls?: boolean;      // default true for a new cluster
  file?: string;      // a cluster file: {"nodes":[{"name","host","listen"?,"port"?,"clusterPort"?,"httpPort"?}],"tls"?,"ackWaitMs"?}
};

export const hostOf = (n: NodeSpec): string => n.host ?? "127.0.0.1";
export const listenOf = (n: NodeSpec): string => n.listen ?? (isIP(hostOf(n)) ? hostOf(n) : "0.0.0.0");
const loopback = (h: string) => h === "127.0.0.1" || h === "localhost" || h === "::1";

/** The spec of the cluster in `dir`: the kept one, or a new one (free ports, or base, base+1, ...). */
export async function ensureSpec(dir: string, o: SpecOptions): Promise<ClusterSpec> {
  const p = paths(dir);
  const kept = readJson<ClusterSpec>(p.spec);
  if (kept) {
    if ((o.hosts || o.file || o.listen) && JSON.stringify(kept.nodes.map((n) => [hostOf(n), listenOf(n)])) !== JSON.stringify((await newNodes(o)).map((n) => [hostOf(n), listenOf(n)]))) {
      throw new ClusterSpecError(`${dir} was created with nodes ${kept.nodes.map((n) => `${n.name}=${hostOf(n)}`).join(",")}; a JetStream cluster keeps its peers: drop --hosts/--listen/--cluster-file, use another --dir, or cluster down --wipe first`);
    }
    if (o.nodes !== undefined && kept.nodes.length !== o.nodes) {
      throw new ClusterSpecError(`${dir} holds a ${kept.nodes.length}-node cluster; --nodes ${o.nodes} would orphan its stores: ` +
        `use --nodes ${kept.nodes.length}, another --dir, or cluster down --wipe first`);
    }
    if (o.ackWaitMs !== undefined && kept.ackWaitMs !== o.ackWaitMs) {
      throw new ClusterSpecError(`${dir} was created with ack wait ${kept.ackWaitMs ?? "default"} ms; the durable consumers keep it: drop --ack-wait-ms or use another --dir`);
    }
    return kept;
  }
  const nodes = await newNodes(o);
  const file = o.file ? readClusterFile(o.file) : undefined;
  const ackWaitMs = o.ackWaitMs ?? file?.ackWaitMs;
  const spec: ClusterSpec = {
    v: 1, nodes, replicas: nodes.length === 3 ? 3 : 1, ...(ackWaitMs ? { ackWaitMs } : {}), tls: o.tls ?? file?.tls ?? true, createdAt: new Date().toISOString(),
  };
  mkdirSync(dir, { recursive: true });
  writeJsonAtomic(p.spec, spec);
  return spec;
}

type FileNode = Partial<NodeSpec> & { name?: string; host: string };
type ClusterFile = { nodes: FileNode[]; tls?: boolean; ackWaitMs?: number };

function readClusterFile(file: string): ClusterFile {
  const v = readJson<ClusterFile>(resolve(file));
  if (!v || !Array.isArray(v.nodes) || !v.nodes.every((n) => n && typeof n.host === "string")) {
    throw new ClusterSpecError(`cluster file ${file}: expected JSON {"nodes": [{"host": "...", "name"?, "listen"?, "port"?, "clusterPort"?, "httpPort"?}, ...], "tls"?: true}`);
  }
  return v;
}

/** The nodes of a new spec: from a cluster file, or --nodes with --hosts/--listen and --port. */
async function newNodes(o: SpecOptions): Promise<NodeSpec[]> {
  const file = o.file ? readClusterFile(o.file) : undefined;
  const count = file?.nodes.length ?? o.nodes ?? o.hosts?.length ?? 1;
  if (count !== 1 && count !== 3) throw new ClusterSpecError(`a cluster has 1 or 3 nodes, got ${count}`);
  const each = (xs: string[] | undefined, what: string): (string | undefined)[] => {
    if (!xs) return Array(count).fill(undefined);
    if (xs.length === 1) return Array(count).fill(xs[0]);
    if (xs.length !== count) throw new ClusterSpecError(`--${what} gives ${xs.length} addresses for ${count} nodes: give one, or one per node`);
    return xs;
  };
  const hosts = file ? file.nodes.map((n) => n.host) : each(o.hosts, "hosts");
  const listens = file ? file.nodes.map((n) => n.listen) : each(o.listen, "listen");
  for (const h of [...hosts, ...listens]) {
    if (h !== undefined && !/^[A-Za-z0-9.:-]+$/.test(h)) throw new ClusterSpecError(`not a host name or address: '${h}'`);
  }
  const allLoopback = hosts.every((h) => h === undefined || loopback(h));
  const distinct = new Set(hosts).size === count;
  // loopback: free ports (or BASE..); hosts of their own: the usual 4222/6222/8222; shared hosts: BASE+i
  const port = async (i: number, kind: 0 | 1 | 2): Promise<number> => {
    if (o.basePort) return o.basePort + 100 * kind + i;
    if (allLoopback) return freePort();
    return [4222, 6222, 8222][kind] + (distinct ? 0 : i);
  };
  const nodes: NodeSpec[] = [];
  for (let i = 0; i < count; i++) {
    const f = file?.nodes[i];
    const name = f?.name ?? `n${i}`;
    if (!/^[a-z0-9-]+$/.test(name)) throw new ClusterSpecError(`node name '${name}': lower-case letters, digits and '-' only`);
    nodes.push({
      name, port: f?.port ?? (await port(i, 0)), clusterPort: f?.clusterPort ?? (await port(i, 1)), httpPort: f?.httpPort ?? (await port(i, 2)),
      ...(hosts[i] ? { host: hosts[i] } : {}), ...(listens[i] ? { listen: listens[i] } : {}),
    });
  }
  if (new Set(nodes.map((n) => n.name)).size !== nodes.length) throw new ClusterSpecError("node names must differ");
  return nodes;
}

export function nodeUrl(n: NodeSpec): string {
  return `nats://${hostOf(n)}:${n.port}`;
}

export function serverUrls(spec: ClusterSpec): string[] {
  return spec.nodes.map(nodeUrl);
}

/** The nodes that run on this host: the names given (--here), else all. */
export function localNodes(spec: ClusterSpec, here?: string[]): NodeSpec[] {
  if (!here) return spec.nodes;
  for (const h of here) if (!spec.nodes.some((n) => n.name === h)) throw new ClusterSpecError(`--here ${h}: no such node (the cluster has ${spec.nodes.map((n) => n.name).join(", ")})`);
  return spec.nodes.filter((n) => here.includes(n.name));
}

/** The `cluster {}` block of a node: it listens on its own address, advertises its host, routes to the others' hosts. */
export function clusterBlock(spec: ClusterSpec, node: NodeSpec, tls?: string): string {
  if (spec.nodes.length === 1) return "";
  const routes = spec.nodes.filter((n) => n.name !== node.name).map((n) => `"nats-route://${hostOf(n)}:${n.clusterPort}"`);
  return ["cluster {", `  name: "zerostream"`, `  listen: "${listenOf(node)}:${node.clusterPort}"`, `  advertise: "${hostOf(node)}:${node.clusterPort}"`,
    `  routes: [${routes.join(", ")}]`, ...(tls ? [tls] : []), "}", ""].join("\n");
}

export function alive(pid: number | null | undefined): boolean {
  if (!pid) return false;
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** The monitoring endpoint of a node: https verified with the cluster's CA when TLS is on. */
export function monitorOf(dir: string, spec: ClusterSpec, n: NodeSpec): Monitor {
  const h = hostOf(n);
  const base = `${spec.tls ? "https" : "http"}://${h.includes(":") ? `[${h}]` : h}:${n.httpPort}`;
  if (!spec.tls) return { base };
  const ca = join(dir, "tls", "ca.pem");
  return { base, ca: existsSync(ca) ? readFileSync(ca, "utf8") : undefined };
}
