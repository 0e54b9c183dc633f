// Supervised processes of a cluster: nats-server nodes and workers. Each is restarted with back-off
// when it dies unless it was asked to stop (or, for the updater, finished its run with exit code 0).
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startLocalServer, stopPid } from "../../streams/nats-server.ts";
import { credsPath } from "./auth.ts";
import { alive, clusterBlock, hostOf, listenOf, nodeUrl, paths, type ClusterSpec, type NodeSpec, type ProcState, type WorkerRole } from "./layout.ts";
import { caFile, nodeCertFiles, tlsBlock } from "./pki.ts";

const bin = join(dirname(fileURLToPath(import.meta.url)), "..", "bin.mjs");

/** Back-off before the n-th consecutive restart: 0.5 s, 1 s, 2 s, ... capped at 30 s. */
export function backoffMs(consecutive: number): number {
  return Math.min(500 * 2 ** Math.max(0, consecutive - 1), 30_000);
}

/** A run longer than this resets the consecutive-failure count. */
export const STABLE_MS = 30_000;

export abstract class Supervised {
  pid: number | null = null;
  startedAt: number | null = null;
  restarts = 0;
  consecutive = 0;
  nextStartAt = 0;
  stopping = false;
  status: ProcState["status"] = "starting";
  lastExit?: string;

  constructor(readonly name: string, readonly log: string) {}
  abstract start(): Promise<void>;
  abstract stop(graceMs: number): Promise<void>;
  abstract exited(): boolean;
  abstract state(): ProcState;
  /** An exit that is not a failure (the updater finished its run). */
  isDone(): boolean { return false; }

  /** Called on each supervisor tick: notices a death and schedules or performs the restart. */
  async tick(now: number): Promise<void> {
    if (this.stopping || this.status === "finished" || this.status === "stopped") return;
    if (this.pid !== null && !this.exited()) return;
    if (this.isDone()) { this.status = "finished"; this.pid = null; return; }
    if (this.pid !== null) {
      // it died: schedule a restart
      this.consecutive = this.startedAt !== null && now - this.startedAt > STABLE_MS ? 1 : this.consecutive + 1;
      this.nextStartAt = now + backoffMs(this.consecutive);
      this.pid = null;
      this.status = "backoff";
      return;
    }
    if (now < this.nextStartAt) return;
    this.restarts++;
    try {
      await this.start();
    } catch (err) {
      this.lastExit = `restart failed: ${(err as Error).message}`;
      this.consecutive++;
      this.nextStartAt = now + backoffMs(this.consecutive);
      this.status = "backoff";
    }
  }
}

export class NodeProc extends Supervised {
  constructor(readonly spec: ClusterSpec, readonly node: NodeSpec, dir: string) {
    super(node.name, paths(dir).log(node.name));
    this.dir = dir;
  }
  private dir: string;

  async start(): Promise<void> {
    this.status = "starting";
    const certs = nodeCertFiles(this.dir, this.node.name);
    const listen = listenOf(this.node), host = hostOf(this.node);
    const s = await startLocalServer({
      port: this.node.port, httpPort: this.node.httpPort, storeDir: paths(this.dir).node(this.node.name),
      serverName: `zs-${this.node.name}`, logFile: this.log, startTimeoutMs: 30_000, host: listen, ...(host !== listen ? { advertise: host } : {}),
      ...(this.spec.tls ? { tls: { block: tlsBlock(certs), ca: readFileSync(caFile(this.dir), "utf8") } } : {}),
      // auth.conf (public keys and permissions) is shared by the nodes: <dir>/auth.conf, included relative to nodes/<name>/
      extraConfig: `${clusterBlock(this.spec, this.node, this.spec.tls ? tlsBlock(certs, "  ") : undefined)}include "../../auth.conf"\n`,
    });
    this.pid = s.pid;
    this.startedAt = Date.now();
    this.status = "running";
  }
  exited(): boolean { return !alive(this.pid); }
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    if (this.pid) await stopPid(this.pid, undefined, graceMs);
    this.status = "stopped";
  }
  state(): ProcState {
    return {
      name: this.name, kind: "node", role: "nats", pid: this.pid, startedAt: this.startedAt ? new Date(this.startedAt).toISOString() : null,
      restarts: this.restarts, status: this.status, log: this.log, url: nodeUrl(this.node), httpPort: this.node.httpPort,
      ...(this.lastExit ? { lastExit: this.lastExit } : {}),
    };
  }
}

export type WorkerLaunch = { servers: string[]; dir: string; replicas: number; ackWaitMs?: number; threads?: number; runId?: string };

export class WorkerProc extends Supervised {
  child?: ChildProcess;
  constructor(readonly role: WorkerRole, readonly index: number, readonly launch: WorkerLaunch) {
    super(role === "updater" ? "updater" : `${role}-${index}`, paths(launch.dir).log(role === "updater" ? "updater" : `${role}-${index}`));
  }

  args(): string[] {
    const l = this.launch;
    return [
      bin, "worker", this.role, "--server", l.servers.join(","), "--creds", credsPath(l.dir, this.role),
      "--name", this.name, "--replicas", String(l.replicas),
      ...(l.ackWaitMs && this.role !== "updater" ? ["--ack-wait-ms", String(l.ackWaitMs)] : []),
      ...(l.threads && this.role !== "reward" ? ["--threads", String(l.threads)] : []),
      ...(this.role === "updater" ? ["--run", l.runId!] : []),
    ];
  }

  async start(): Promise<void> {
    this.status = "starting";
    const fd = openSync(this.log, "a");
    try {
      this.child = spawn(process.execPath, this.args(), {
        stdio: ["ignore", fd, fd], env: { ...process.env, ZS_ROLE: this.role, ZS_LOG_FILE: this.log, ZS_DEBUG: "1" }, // ZS_DEBUG: stacks of fatal errors in the log
      });
    } finally {
      closeSync(fd);
    }
    const child = this.child;
    this.pid = child.pid ?? null;
    this.startedAt = Date.now();
    child.once("exit", (code, signal) => { this.lastExit = signal ? `signal ${signal}` : `code ${code}`; });
  }
  isDone(): boolean {
    return this.role === "updater" && this.child?.exitCode === 0;
  }
  exited(): boolean {
    return !this.child || this.child.exitCode !== null || this.child.signalCode !== null;
  }
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    const c = this.child;
    if (c && c.pid && !this.exited()) await stopPid(c.pid, () => this.exited(), graceMs);
    if (this.status !== "finished") this.status = "stopped";
  }
  state(): ProcState {
    return {
      name: this.name, kind: "worker", role: this.role, pid: this.exited() ? null : this.pid,
      startedAt: this.startedAt ? new Date(this.startedAt).toISOString() : null, restarts: this.restarts, status: this.status, log: this.log,
      ...(this.lastExit ? { lastExit: this.lastExit } : {}),
    };
  }
}
