// `cluster up | scale | down`, from the command line's side: up starts the detached supervisor and
// waits until state.json says ready (or failed); scale writes scale.json and signals the supervisor;
// down asks the supervisor to stop everything, then stops by PID whatever is left.
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stopPid } from "../../streams/nats-server.ts";
import { ClusterAlreadyRunningError, ClusterNotRunningError, ClusterStartError, ScaleError } from "./errors.ts";
import { initCluster, isBundle } from "./init.ts";
import { alive, localNodes, paths, readJson, readState, writeJsonAtomic, type ClusterSpec, type ClusterState, type SpecOptions } from "./layout.ts";

const bin = join(dirname(fileURLToPath(import.meta.url)), "..", "bin.mjs");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type UpOptions = SpecOptions & {
  dir: string; rollout: number; reward: number; config?: string; resume?: string; threads?: number; timeoutMs: number;
  here?: string[];  // the nodes to run on this host (default all; [] for workers only: cluster join)
};

/** The running supervisor's state, or null when none runs. */
export function runningState(dir: string): ClusterState | null {
  const s = readState(dir);
  return s && alive(s.supervisorPid) && s.status !== "stopped" ? s : null;
}

export async function up(o: UpOptions): Promise<ClusterState> {
  const running = runningState(o.dir);
  if (running) throw new ClusterAlreadyRunningError(`a cluster already runs in ${o.dir} (supervisor pid ${running.supervisorPid}): npm run cluster:status, or npm run cluster:down first`);
  let spec: ClusterSpec;
  if (isBundle(o.dir)) {
    // a host given a bundle: the spec travelled with it (nothing to issue here)
    const kept = readJson<ClusterSpec>(paths(o.dir).spec);
    if (!kept) throw new ClusterStartError(`${o.dir} is a bundle without cluster.json: copy the whole bundle directory`);
    spec = kept;
  } else {
    spec = await initCluster(o.dir, o);
  }
  localNodes(spec, o.here); // names checked before anything starts
  const p = paths(o.dir);
  mkdirSync(p.logs, { recursive: true });
  rmSync(p.state, { force: true });
  rmSync(p.scale, { force: true });
  const args = [
    bin, "cluster", "supervise", "--dir", o.dir, "--rollout", String(o.rollout), "--reward", String(o.reward),
    ...(o.config ? ["--config", resolve(o.config)] : []), ...(o.resume ? ["--resume", o.resume] : []),
    ...(o.threads ? ["--threads", String(o.threads)] : []), ...(o.here ? ["--here", o.here.join(",")] : []),
  ];
  const fd = openSync(join(p.logs, "supervisor.out"), "a");
  let pid: number | undefined;
  try {
    const child = spawn(process.execPath, args, {
      detached: true, stdio: ["ignore", fd, fd], env: { ...process.env, ZS_ROLE: "supervisor", ZS_LOG_FILE: p.log("supervisor") },
    });
    pid = child.pid;
    child.unref();
  } finally {
    closeSync(fd);
  }
  if (!pid) throw new ClusterStartError("could not start the supervisor process");
  return waitState(o.dir, pid, spec.nodes.length, o.timeoutMs);
}

async function waitState(dir: string, pid: number, _nodes: number, timeoutMs: number): Promise<ClusterState> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = readState(dir);
    if (s?.status === "ready") return s;
    if (s?.status === "failed") throw new ClusterStartError(`cluster start failed: ${s.error}; logs under ${paths(dir).logs}`);
    if (!alive(pid)) throw new ClusterStartError(`the supervisor (pid ${pid}) exited during start; see ${paths(dir).logs}/supervisor.out and supervisor.log`);
    if (Date.now() > end) throw new ClusterStartError(`the cluster was not ready within ${timeoutMs} ms (state: ${s?.status ?? "none"}); it keeps starting in the background: npm run cluster:status, or npm run cluster:down`);
    await sleep(200);
  }
}

/** Asks the supervisor for new worker counts; resolves when they run and are connected. */
export async function scale(dir: string, want: { rollout?: number; reward?: number }, timeoutMs = 120_000): Promise<ClusterState> {
  const s = runningState(dir);
  if (!s) throw new ClusterNotRunningError(`no cluster runs in ${dir}: npm run cluster:up first`);
  for (const [k, v] of Object.entries(want)) {
    if (!Number.isInteger(v) || v! < 0 || v! > 64) throw new ScaleError(`${k}=${v}: expected an integer from 0 to 64`);
  }
  writeJsonAtomic(paths(dir).scale, { ...s.desired, ...want });
  process.kill(s.supervisorPid, "SIGHUP");
  const end = Date.now() + timeoutMs;
  for (;;) {
    const now = readState(dir);
    if (now && settled(now, { ...s.desired, ...want })) return now;
    if (!alive(s.supervisorPid)) throw new ScaleError("the supervisor exited during the scale request; see its logs");
    if (Date.now() > end) throw new ScaleError(`workers did not reach the requested counts within ${timeoutMs} ms; npm run cluster:status shows where they are`);
    await sleep(200);
  }
}

function settled(s: ClusterState, want: { rollout: number; reward: number }): boolean {
  if (s.desired.rollout !== want.rollout || s.desired.reward !== want.reward) return false;
  for (const role of ["rollout", "reward"] as const) {
    const ws = s.procs.filter((p) => p.role === role);
    if (ws.length !== want[role] || ws.some((p) => p.status !== "running")) return false;
  }
  return true;
}

/** Stops the cluster: SIGTERM to the supervisor (graceful), then SIGKILL to any process it left. */
export async function down(dir: string, o: { graceMs?: number; wipe?: boolean } = {}): Promise<{ stopped: string[] }> {
  const s = readState(dir);
  const stopped: string[] = [];
  if (s && alive(s.supervisorPid)) {
    await stopPid(s.supervisorPid, undefined, o.graceMs ?? 90_000);
    stopped.push(`supervisor ${s.supervisorPid}`);
  }
  // whatever the supervisor could not stop (it was killed, or timed out): by PID, gracefully then forcefully
  const left = (readState(dir) ?? s)?.procs.filter((p) => alive(p.pid)) ?? [];
  for (const p of left.filter((x) => x.kind === "worker")) { await stopPid(p.pid!, undefined, 10_000); stopped.push(`${p.name} ${p.pid}`); }
  for (const p of left.filter((x) => x.kind === "node")) { await stopPid(p.pid!, undefined, 10_000); stopped.push(`${p.name} ${p.pid}`); }
  if (o.wipe) {
    // every replica's store goes at once, with every server stopped: no replica can come back stale
    rmSync(join(dir, "nodes"), { recursive: true, force: true });
    rmSync(paths(dir).spec, { force: true });
  }
  return { stopped };
}
