// `cluster status`: each server (/healthz, /varz, /jsz), the streams (messages, bytes), each durable
// consumer's pending / ack-pending / redelivered counts, each worker (pid, role, uptime, restarts),
// and the run's current step and throughput (its KV record and the log).
import { existsSync } from "node:fs";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import type { PolicyUpdated } from "../../streams/events/index.ts";
import { LOG_STREAM, RUNS_BUCKET, TASK_STREAM, subjects } from "../../streams/subjects.ts";
import { connectAuth, credsPath } from "./auth.ts";
import { monitorGet } from "../../streams/nats-server.ts";
import { alive, monitorOf, nodeUrl, readJson, paths, serverUrls, type ClusterSpec, type ClusterState } from "./layout.ts";

export type ServerStatus = {
  name: string; url: string; healthy: boolean; health?: string; version?: string; uptime?: string; connections?: number;
  memMiB?: number; cpu?: number; jsStreams?: number; jsMessages?: number; jsBytes?: number; metaLeader?: string;
};
export type StreamStatus = { name: string; messages: number; bytes: number; replicas: number; leader?: string; replicasOk?: string };
export type ConsumerStatus = { stream: string; name: string; pending: number; ackPending: number; redelivered: number; waiting: number };
export type WorkerStatus = { name: string; role: string; pid: number | null; status: string; uptimeS: number | null; restarts: number; lastExit?: string };
export type RunStatus = {
  runId: string; status?: string; step?: number; version?: number; sampled: number; scored: number; steps: number;
  elapsedS?: number; groupsPerS?: number; lastStepMs?: number;
};
export type ClusterStatus = {
  dir: string; running: boolean; supervisor?: { pid: number; status: string; error?: string };
  servers: ServerStatus[]; streams: StreamStatus[]; consumers: ConsumerStatus[]; workers: WorkerStatus[]; run?: RunStatus; errors: string[];
};

export async function serverStatus(dir: string, spec: ClusterSpec, n: ClusterSpec["nodes"][number]): Promise<ServerStatus> {
  const m = monitorOf(dir, spec, n);
  const get = async (path: string) => (await monitorGet(m, path))?.body;
  const [h, v, j] = await Promise.all([get("/healthz"), get("/varz"), get("/jsz")]);
  const out: ServerStatus = { name: n.name, url: nodeUrl(n), healthy: h?.status === "ok", health: h ? String(h.status ?? h.error) : "unreachable" };
  if (v) Object.assign(out, { version: v.version, uptime: v.uptime, connections: v.connections, memMiB: Math.round(Number(v.mem) / 2 ** 20), cpu: v.cpu });
  if (j) {
    const meta = j.meta_cluster as { leader?: string } | undefined;
    Object.assign(out, { jsStreams: j.streams, jsMessages: j.messages, jsBytes: j.bytes, metaLeader: meta?.leader });
  }
  return out;
}

async function streamsAndConsumers(jsm: JetStreamManager, st: ClusterStatus): Promise<void> {
  for await (const si of jsm.streams.list()) {
    const c = si.cluster;
    const ok = c?.replicas ? `${c.replicas.filter((r) => r.current).length + 1}/${c.replicas.length + 1}` : undefined;
    st.streams.push({ name: si.config.name, messages: si.state.messages, bytes: si.state.bytes, replicas: si.config.num_replicas, leader: c?.leader, ...(ok ? { replicasOk: ok } : {}) });
  }
  for (const stream of [LOG_STREAM, TASK_STREAM]) {
    try {
      for await (const ci of jsm.consumers.list(stream)) {
        if (!ci.config.durable_name) continue;
        st.consumers.push({ stream, name: ci.name, pending: ci.num_pending, ackPending: ci.num_ack_pending, redelivered: ci.num_redelivered, waiting: ci.num_waiting });
      }
    } catch (err) { st.errors.push(`consumers of ${stream}: ${(err as Error).message}`); }
  }
}

async function runStatus(jsm: JetStreamManager, nc: NatsConnection, runId: string): Promise<RunStatus> {
  const out: RunStatus = { runId, sampled: 0, scored: 0, steps: 0 };
  try {
    const kv = await new Kvm(nc).open(RUNS_BUCKET);
    const e = await kv.get(runId);
    if (e?.value.length) {
      const r = JSON.parse(new TextDecoder().decode(e.value)) as { status?: string; step?: number; version?: number; startedAt?: string };
      Object.assign(out, { status: r.status, step: r.step, version: r.version });
      if (r.startedAt) out.elapsedS = (Date.now() - Date.parse(r.startedAt)) / 1000;
    }
  } catch { /* no KV record yet */ }
  const info = await jsm.streams.info(LOG_STREAM, { subjects_filter: subjects.all(runId) });
  const counts = (info.state.subjects ?? {}) as Record<string, number>;
  out.sampled = counts[subjects.rollout(runId)] ?? 0;
  out.scored = counts[subjects.reward(runId)] ?? 0;
  out.steps = counts[subjects.policy(runId)] ?? 0;
  if (out.elapsedS) out.groupsPerS = out.scored / out.elapsedS;
  if (out.steps) {
    const m = await jsm.streams.getMessage(LOG_STREAM, { last_by_subj: subjects.policy(runId) });
    out.lastStepMs = (m?.json<PolicyUpdated>())?.timings.stepMs;
  }
  return out;
}

export async function clusterStatus(dir: string): Promise<ClusterStatus> {
  const state = readJson<ClusterState>(paths(dir).state);
  const spec = readJson<ClusterSpec>(paths(dir).spec);
  const running = Boolean(state && alive(state.supervisorPid) && state.status !== "stopped");
  const st: ClusterStatus = { dir, running, servers: [], streams: [], consumers: [], workers: [], errors: [] };
  if (state) st.supervisor = { pid: state.supervisorPid, status: running ? state.status : "stopped", ...(state.error ? { error: state.error } : {}) };
  if (!spec) return st;
  st.servers = await Promise.all(spec.nodes.map((n) => serverStatus(dir, spec, n)));
  for (const p of state?.procs.filter((x) => x.kind === "worker") ?? []) {
    const up = p.pid && alive(p.pid) && p.startedAt ? (Date.now() - Date.parse(p.startedAt)) / 1000 : null;
    st.workers.push({ name: p.name, role: p.role, pid: up !== null ? p.pid : null, status: p.status, uptimeS: up, restarts: p.restarts, ...(p.lastExit ? { lastExit: p.lastExit } : {}) });
  }
  if (!st.servers.some((s) => s.healthy)) return st;
  if (!existsSync(credsPath(dir, "admin"))) return st; // a bundle host without the admin: servers and workers only
  let nc;
  try {
    nc = await connect({ servers: serverUrls(spec), name: "zerostream-admin/status", ...connectAuth(credsPath(dir, "admin")), maxReconnectAttempts: 0 });
  } catch (err) { st.errors.push(`connect: ${(err as Error).message}`); return st; }
  try {
    const jsm = await jetstreamManager(nc, { timeout: 5000 });
    await streamsAndConsumers(jsm, st);
    if (state?.runId) st.run = await runStatus(jsm, nc, state.runId);
  } catch (err) {
    st.errors.push((err as Error).message);
  } finally {
    await nc.close();
  }
  return st;
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

export function formatStatus(s: ClusterStatus): string {
  const L: string[] = [];
  L.push(`cluster ${s.dir}: ${s.running ? s.supervisor?.status : "not running"}${s.supervisor ? ` (supervisor pid ${s.supervisor.pid})` : ""}`);
  if (s.supervisor?.error) L.push(`  error: ${s.supervisor.error}`);
  L.push("servers:");
  for (const v of s.servers) L.push(`  ${v.name} ${v.url} ${v.healthy ? "healthy" : `UNHEALTHY (${v.health})`}${v.version ? ` v${v.version} up ${v.uptime} conns ${v.connections} mem ${v.memMiB} MiB cpu ${v.cpu}%` : ""}${v.metaLeader ? ` meta-leader ${v.metaLeader}` : ""}`);
  if (s.streams.length) L.push("streams:");
  for (const t of s.streams) L.push(`  ${t.name.padEnd(28)} ${String(t.messages).padStart(8)} msgs ${mib(t.bytes).padStart(11)}  R${t.replicas}${t.leader ? ` leader ${t.leader}` : ""}${t.replicasOk ? ` current ${t.replicasOk}` : ""}`);
  if (s.consumers.length) L.push("consumers:");
  for (const c of s.consumers) L.push(`  ${c.stream}/${c.name}: pending ${c.pending}, ack-pending ${c.ackPending}, redelivered ${c.redelivered}, waiting pulls ${c.waiting}`);
  if (s.workers.length) L.push("workers:");
  for (const w of s.workers) L.push(`  ${w.name.padEnd(10)} ${w.role.padEnd(8)} pid ${String(w.pid ?? "-").padEnd(7)} ${w.status.padEnd(8)} up ${w.uptimeS === null ? "-" : `${Math.round(w.uptimeS)} s`} restarts ${w.restarts}${w.lastExit ? ` (last exit: ${w.lastExit})` : ""}`);
  if (s.run) {
    const r = s.run;
    L.push(`run ${r.runId}: ${r.status ?? "?"}, step ${r.steps} done (KV step ${r.step ?? "-"}, policy v${r.version ?? 0}), ${r.sampled} groups sampled, ${r.scored} scored` +
      `${r.groupsPerS !== undefined ? `, ${r.groupsPerS.toFixed(2)} groups/s since start` : ""}${r.lastStepMs ? `, last step ${(r.lastStepMs / 1000).toFixed(1)} s` : ""}`);
  }
  for (const e of s.errors) L.push(`error: ${e}`);
  return L.join("\n") + "\n";
}
