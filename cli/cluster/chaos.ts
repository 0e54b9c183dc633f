// Chaos on a running cluster: every few seconds a random running worker (generator, reward consumer or
// updater) is killed with SIGKILL, and once one nats-server node (the JetStream meta leader), until the
// run ends. The choices come from a seeded RNG (the same seed picks the same sequence of candidates);
// the supervisor restarts whatever dies. Used by the chaos test and `npm run bench -- chaos`, which
// compare the run's weights digests with those of an undisturbed run of the same config and seed.
import { Rng } from "../../domain/rng.ts";
import type { EventLog } from "../../streams/eventlog.ts";
import type { PolicyUpdated } from "../../streams/events/index.ts";
import { subjects } from "../../streams/subjects.ts";
import { ChaosDeadlineError } from "./errors.ts";
import { alive, readJson, readState, paths, type ClusterSpec, type ProcState, type WorkerRole } from "./layout.ts";
import { clusterStatus, serverStatus } from "./status.ts";

export type ChaosKind = WorkerRole | "node";
export type Kill = { atMs: number; kind: ChaosKind; name: string; pid: number };
export type ChaosReport = { kills: Record<ChaosKind, number>; log: Kill[]; ms: number };
export type ChaosOptions = {
  dir: string;
  seed: number;
  /** the pause before each kill, drawn uniformly from [min, max] ms */
  everyMs: [number, number];
  /** the node goes down right after this many worker kills (0: no node kill) */
  nodeAfter?: number;
  /** worker kills stop after this many (the run then ends undisturbed); default: no limit */
  maxKills?: number;
  /** no kill while this many workers are down (restarting, in back-off); default: no limit. The
   *  supervisor's back-off grows to 30 s for a worker killed again within 30 s of its start, so
   *  unlimited kills every few seconds soon keep every worker down and the run crawls */
  maxDown?: number;
  roles?: WorkerRole[];
  /** the run has ended (polled about once a second) */
  done: () => Promise<boolean>;
  deadlineMs: number;
  onKill?: (k: Kill) => void;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Pure core: the worker to kill, among the running ones of the given roles (by name, so a seed is reproducible). */
export function pickVictim(rng: Rng, procs: ProcState[], roles: readonly WorkerRole[]): ProcState | undefined {
  const c = procs
    .filter((p) => p.kind === "worker" && p.status === "running" && p.pid && roles.includes(p.role as WorkerRole))
    .sort((a, b) => a.name.localeCompare(b.name));
  return c.length ? c[rng.int(0, c.length)] : undefined;
}

function kill9(pid: number): boolean {
  try { process.kill(pid, "SIGKILL"); return true; } catch { return false; }
}

/** The node to kill: the JetStream meta leader when every node is healthy and one is known (else none yet). */
async function nodeVictim(dir: string, rng: Rng): Promise<ProcState | undefined> {
  const spec = readJson<ClusterSpec>(paths(dir).spec);
  const state = readState(dir);
  if (!spec || !state || spec.nodes.length < 2) return undefined;
  const servers = await Promise.all(spec.nodes.map((n) => serverStatus(dir, spec, n)));
  if (!servers.every((s) => s.healthy)) return undefined;
  const nodes = state.procs.filter((p) => p.kind === "node" && alive(p.pid));
  const leader = servers.find((s) => s.metaLeader)?.metaLeader;
  return nodes.find((p) => `zs-${p.name}` === leader) ?? nodes[rng.int(0, nodes.length)];
}

export async function chaos(o: ChaosOptions): Promise<ChaosReport> {
  const rng = new Rng(o.seed, 0xc4a05);
  const roles = o.roles ?? ["rollout", "reward", "updater"];
  const t0 = Date.now();
  const report: ChaosReport = { kills: { rollout: 0, reward: 0, updater: 0, node: 0 }, log: [], ms: 0 };
  const record = (kind: ChaosKind, p: ProcState) => {
    const k = { atMs: Date.now() - t0, kind, name: p.name, pid: p.pid! };
    report.kills[kind]++;
    report.log.push(k);
    o.onKill?.(k);
  };
  let workerKills = 0;
  let nodePending = (o.nodeAfter ?? 0) > 0;
  while (!(await o.done())) {
    const pause = rng.int(o.everyMs[0], o.everyMs[1] + 1);
    const until = Date.now() + pause;
    let ended = false;
    while (Date.now() < until && !(ended = await o.done())) await sleep(Math.min(1000, Math.max(0, until - Date.now())));
    if (ended) break;
    if (Date.now() - t0 > o.deadlineMs) throw new ChaosDeadlineError(`the run did not end within ${o.deadlineMs} ms of chaos (kills so far: ${JSON.stringify(report.kills)})`);
    if (o.maxKills !== undefined && workerKills >= o.maxKills && !nodePending) continue;
    const state = readState(o.dir);
    if (!state) continue;
    const down = state.procs.filter((p) => p.kind === "worker" && p.status !== "running" && p.status !== "finished").length;
    if ((o.maxKills === undefined || workerKills < o.maxKills) && (o.maxDown === undefined || down < o.maxDown)) {
      const v = pickVictim(rng, state.procs, roles);
      if (v && kill9(v.pid!)) { record(v.role as WorkerRole, v); workerKills++; }
    }
    if (nodePending && workerKills >= o.nodeAfter!) {
      const n = await nodeVictim(o.dir, rng);
      if (n && kill9(n.pid!)) { record("node", n); nodePending = false; }
    }
  }
  report.ms = Date.now() - t0;
  return report;
}

/**
 * The run's status from the cluster (its KV record): "completed" at the end. With `runId`, that run's only:
 * right after `up` the cluster may still report the previous run of a kept store (completed), and a chaos
 * that took it for this one ended before its first kill (CI, 2026-12-01: 0 kills in 0 s).
 */
export async function runStatusOf(dir: string, runId?: string): Promise<string | undefined> {
  const run = (await clusterStatus(dir)).run;
  return runId === undefined || run?.runId === runId ? run?.status : undefined;
}

/** The weights digest after each step of a run, in step order (from its PolicyUpdated events). */
export async function stepDigests(log: EventLog, runId: string): Promise<string[]> {
  const out: string[] = [];
  for await (const r of log.replay(runId, { subject: subjects.policy(runId) })) {
    const e = r.event as PolicyUpdated;
    out[e.step] = e.weightsDigest;
  }
  return out;
}

export function formatKills(r: ChaosReport): string {
  const k = r.kills;
  return `${k.rollout + k.reward + k.updater} worker kill(s) (rollout ${k.rollout}, reward ${k.reward}, updater ${k.updater}), ${k.node} node kill(s) in ${(r.ms / 1000).toFixed(0)} s`;
}
