// The cluster supervisor: a detached process (`zerostream cluster supervise`, started by `cluster up`)
// that owns every process of the cluster. It starts the nats-server nodes, creates the topology with
// the cluster's replicas, optionally starts a run, starts the updater, the generators and the reward
// consumers, restarts whatever dies (with back-off), applies scale requests (SIGHUP + scale.json) and
// stops everything on SIGTERM: workers gracefully (the message in hand is finished), then the nodes.
// It alone writes state.json.
import { loadConfig } from "../../streams/config.ts";
import { EventLog } from "../../streams/eventlog.ts";
import { childLogger } from "../../streams/logger.ts";
import { openRunsBucket } from "../../streams/topology.ts";
import { newRunId, startRun } from "../launch.ts";
import { monitorGet } from "../../streams/nats-server.ts";
import { connectAuth, credsPath, type Role } from "./auth.ts";
import { ClusterStartError } from "./errors.ts";
import { isTransientBusError } from "../../streams/errors.ts";
import { checkBundle, isBundle } from "./init.ts";
import { localNodes, monitorOf, paths, readJson, serverUrls, writeJsonAtomic, type ClusterSpec, type ClusterState, type WorkerRole } from "./layout.ts";
import { NodeProc, WorkerProc, type Supervised, type WorkerLaunch } from "./procs.ts";
import { existsSync, mkdirSync } from "node:fs";

export type SuperviseOptions = {
  dir: string; spec: ClusterSpec; rollout: number; reward: number; config?: string; resume?: string; threads?: number;
  here?: string[];  // the nodes that run on this host (default: all); [] for a host of workers only
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TICK_MS = 250;
const WORKER_GRACE_MS = 30_000;

/** Names of the client connections on every node (worker health: its named connection is up). */
export async function connectionNames(dir: string, spec: ClusterSpec): Promise<Set<string>> {
  const names = new Set<string>();
  await Promise.all(spec.nodes.map(async (n) => {
    const r = await monitorGet(monitorOf(dir, spec, n), "/connz?limit=4096"); // a node down: the others answer
    for (const c of (r?.body.connections ?? []) as { name?: string }[]) if (c.name) names.add(c.name);
  }));
  return names;
}

/** Every node of this host answers a full /healthz (JetStream on, its streams and consumers current). */
export async function nodesHealthy(dir: string, spec: ClusterSpec, here?: string[]): Promise<boolean> {
  const ok = await Promise.all(localNodes(spec, here).map(async (n) => (await monitorGet(monitorOf(dir, spec, n), "/healthz"))?.status === 200));
  return ok.every(Boolean);
}

/** Connects the admin with retries: a fresh JetStream cluster needs a meta leader before it serves the API. */
async function connectAdmin(dir: string, spec: ClusterSpec, deadlineMs: number): Promise<EventLog> {
  const end = Date.now() + deadlineMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await EventLog.connect(serverUrls(spec), { ...connectAuth(credsPath(dir, "admin")), replicas: spec.replicas, name: "zerostream-admin/supervisor" });
    } catch (err) {
      if (Date.now() > end) throw new ClusterStartError(`JetStream did not become available within ${deadlineMs} ms: ${(err as Error).message}; see ${paths(dir).logs}/n*.log`, { cause: err });
      await sleep(Math.min(250 * attempt, 2000));
    }
  }
}

/**
 * Runs f again while it fails on a transient error of the bus (isTransientBusError: an election's
 * "timeout" or "temporarily unavailable"), for up to deadlineMs; f must be idempotent.
 */
export async function retryTransient<T>(what: string, f: () => Promise<T>, deadlineMs: number, lg: { warn(o: object, m: string): void }): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await f();
    } catch (err) {
      if (!isTransientBusError(err) || Date.now() > end) throw err;
      lg.warn({ what, attempt, err: (err as Error).message }, "a transient bus error while the cluster forms: trying again");
      await sleep(Math.min(250 * attempt, 2000));
    }
  }
}

export class Supervisor {
  private nodes: NodeProc[] = [];
  private workers: WorkerProc[] = [];
  private admin?: EventLog;
  private runId?: string;
  private desired: { rollout: number; reward: number };
  private status: ClusterState["status"] = "starting";
  private error?: string;
  private scaleRequested = false;
  private stopRequested = false;
  private lastWritten = "";
  private lg = childLogger({ component: "supervisor" });

  constructor(private o: SuperviseOptions) {
    this.desired = { rollout: o.rollout, reward: o.reward };
  }

  private launch(): WorkerLaunch {
    return { servers: serverUrls(this.o.spec), dir: this.o.dir, replicas: this.o.spec.replicas, ackWaitMs: this.o.spec.ackWaitMs, threads: this.o.threads, runId: this.runId };
  }

  writeState(): void {
    const procs: Supervised[] = [...this.nodes, ...this.workers];
    const state: ClusterState = {
      v: 1, dir: this.o.dir, supervisorPid: process.pid, status: this.status, ...(this.error ? { error: this.error } : {}),
      servers: serverUrls(this.o.spec), replicas: this.o.spec.replicas, ...(this.runId ? { runId: this.runId } : {}),
      desired: this.desired, procs: procs.map((p) => p.state()), updatedAt: "",
    };
    const key = JSON.stringify({ ...state, updatedAt: undefined });
    if (key === this.lastWritten) return;
    this.lastWritten = key;
    writeJsonAtomic(paths(this.o.dir).state, { ...state, updatedAt: new Date().toISOString() });
  }

  /** Starts everything; resolves when the cluster is ready (or throws a start-up error). */
  async start(): Promise<void> {
    const { dir, spec } = this.o;
    mkdirSync(paths(dir).logs, { recursive: true });
    const local = localNodes(spec, this.o.here);
    const roles: Role[] = [...(this.o.config || this.o.resume ? ["admin", "updater"] as const : []), ...(this.desired.rollout ? ["rollout"] as const : []), ...(this.desired.reward ? ["reward"] as const : [])];
    // the first host made every file (cluster up/init); a bundle host must have been given what it runs
    if (isBundle(dir)) checkBundle(dir, spec, local.map((n) => n.name), roles);
    for (const n of local) {
      mkdirSync(paths(dir).node(n.name), { recursive: true });
      this.nodes.push(new NodeProc(spec, n, dir));
    }
    this.writeState();
    for (const n of this.nodes) { await n.start(); this.writeState(); }
    // the admin (run index, a new run): wherever its creds are (the first host, or a bundle that carries them)
    if (this.o.config || this.o.resume || existsSync(credsPath(dir, "admin"))) {
      this.admin = await connectAdmin(dir, spec, 120_000);
      // a cluster that has just formed can time out its first JetStream requests (the meta leader's election)
      const admin = this.admin;
      await retryTransient("the runs bucket", () => openRunsBucket(admin.nc, { replicas: spec.replicas }), 120_000, this.lg);
      await this.startRunIfAsked();
    }
    if (this.runId) this.workers.push(new WorkerProc("updater", 0, this.launch()));
    await this.reconcile();
    for (const w of this.workers) if (w.pid === null && w.status === "starting") await w.start();
    this.writeState();
    await this.waitHealthy(120_000);
    this.status = "ready";
    this.writeState();
    this.lg.info({ nodes: spec.nodes.length, replicas: spec.replicas, runId: this.runId, desired: this.desired }, "cluster ready");
  }

  private async startRunIfAsked(): Promise<void> {
    if (this.o.resume) {
      if (!(await this.admin!.runStarted(this.o.resume))) throw new ClusterStartError(`cannot resume ${this.o.resume}: no RunStarted event in the cluster's log`);
      this.runId = this.o.resume;
    } else if (this.o.config) {
      const cfg = loadConfig(this.o.config);
      // idempotent for one run id (objects by digest, RunStarted deduplicated by its msgID): retried like the bucket
      const runId = newRunId(cfg);
      this.runId = (await retryTransient("the run's start", () => startRun(this.admin!, cfg, { runId }), 120_000, this.lg)).runId;
      this.o.threads ??= cfg.runtime.threads;
      this.lg.info({ runId: this.runId }, "run started");
    }
  }

  /** Brings the number of generators and reward consumers to the desired counts. */
  private async reconcile(): Promise<void> {
    for (const role of ["rollout", "reward"] as const) {
      const mine = this.workers.filter((w) => w.role === role && !w.stopping);
      const want = this.desired[role];
      for (let i = mine.length; i < want; i++) {
        const used = new Set(this.workers.filter((w) => w.role === role).map((w) => w.index));
        let idx = 0;
        while (used.has(idx)) idx++;
        const w = new WorkerProc(role, idx, this.launch());
        this.workers.push(w);
        if (this.status !== "starting") await w.start();
      }
      const extra = mine.sort((a, b) => b.index - a.index).slice(0, Math.max(0, mine.length - want));
      for (const w of extra) {
        this.lg.info({ worker: w.name }, "scaling down: graceful stop");
        void w.stop(WORKER_GRACE_MS).then(() => { this.workers = this.workers.filter((x) => x !== w); });
      }
    }
  }

  private async waitHealthy(ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (!this.allHealthy(await connectionNames(this.o.dir, this.o.spec)) || !(await nodesHealthy(this.o.dir, this.o.spec, this.o.here))) {
      const dead = this.workers.find((w) => w.restarts > 3);
      if (dead) throw new ClusterStartError(`${dead.name} keeps dying (${dead.lastExit}); see ${dead.log}`);
      if (Date.now() > end) throw new ClusterStartError(`workers not healthy within ${ms} ms: ${this.workers.filter((w) => w.status !== "running").map((w) => w.name).join(", ")}`);
      await this.tickProcs();
      await sleep(TICK_MS);
    }
  }

  private allHealthy(conns: Set<string>): boolean {
    let ok = true;
    for (const w of this.workers) {
      if (w.stopping || w.status === "finished") continue;
      if (!w.exited() && conns.has(`zerostream-${w.role}/${w.name}`)) { if (w.status === "starting") w.status = "running"; }
      else ok = false;
    }
    return ok && this.nodes.every((n) => n.status === "running");
  }

  private async tickProcs(): Promise<void> {
    const now = Date.now();
    for (const p of [...this.nodes, ...this.workers]) await p.tick(now);
    this.writeState();
  }

  /** The supervision loop: runs until SIGTERM, then stops everything. */
  async loop(): Promise<void> {
    let n = 0;
    while (!this.stopRequested) {
      if (this.scaleRequested) {
        this.scaleRequested = false;
        const s = readJson<{ rollout?: number; reward?: number }>(paths(this.o.dir).scale);
        if (s) this.desired = { rollout: s.rollout ?? this.desired.rollout, reward: s.reward ?? this.desired.reward };
        this.lg.info({ desired: this.desired }, "scale request");
        await this.reconcile();
      }
      await this.tickProcs();
      if (++n % 4 === 0) this.allHealthy(await connectionNames(this.o.dir, this.o.spec));
      await sleep(TICK_MS);
    }
    await this.shutdown();
  }

  requestScale(): void { this.scaleRequested = true; }
  requestStop(): void { this.stopRequested = true; }

  async shutdown(): Promise<void> {
    this.status = "stopping";
    this.writeState();
    await Promise.all(this.workers.map((w) => w.stop(WORKER_GRACE_MS)));
    this.writeState();
    await this.admin?.close().catch(() => undefined);
    for (const n of [...this.nodes].reverse()) await n.stop(10_000);
    this.status = "stopped";
    this.writeState();
    this.lg.info("cluster stopped");
  }

  fail(err: Error): void {
    this.status = "failed";
    this.error = err.message;
    this.writeState();
  }
}

export async function supervise(o: SuperviseOptions): Promise<number> {
  const sup = new Supervisor(o);
  process.on("SIGHUP", () => sup.requestScale());
  process.on("SIGTERM", () => sup.requestStop());
  process.on("SIGINT", () => sup.requestStop());
  try {
    await sup.start();
  } catch (err) {
    sup.fail(err as Error);
    await sup.shutdown().catch(() => undefined);
    sup.fail(err as Error);
    return 1;
  }
  await sup.loop();
  return 0;
}

export type { WorkerRole };
