// `zerostream cluster` end to end on one node, through the real command: up with a run of the tiny
// config, status, scale the reward consumers up and down while the run goes on (no group lost or
// scored twice), a crashed worker restarted by the supervisor, no secret in any log or command line,
// down stops every PID, and the data directory survives a down/up.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { credsPath, readCreds, ROLES } from "../../cli/cluster/auth.ts";
import { readJson, readState, type ClusterSpec, type ClusterState } from "../../cli/cluster/layout.ts";
import { monitorOf } from "../../cli/cluster/layout.ts";
import { monitorGet } from "../../streams/nats-server.ts";
import { clusterStatus } from "../../cli/cluster/status.ts";
import type { EventLog } from "../../streams/eventlog.ts";
import { tinyConfig, writeConfig } from "../helpers/tiny.ts";
import { adminLog, auditRun, cli, clusterDir, pidAlive, sleep, up, waitFor } from "./harness.ts";

const STEPS = 60;

describe("cluster up/status/scale/down (1 node)", () => {
  const dir = clusterDir();
  let state: ClusterState;
  let log: EventLog | undefined;
  const config = writeConfig(tinyConfig({ actor: { global_batch_size: 4, micro_batch_size: 8, train_iters: STEPS, lr: 1e-3, weight_decay: 0.1 } }));

  before(async () => {
    // no reward consumer at first: the run waits at step 0 with its groups pending, until scale adds them
    state = await up(dir, ["--config", config, "--rollout", "1", "--reward", "0", "--ack-wait-ms", "5000"]);
    log = await adminLog(dir, state);
  });
  after(async () => {
    await log?.close();
    await cli(["down", "--dir", dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("comes up ready: a healthy server, the streams, the durables, every worker running", async () => {
    assert.equal(state.status, "ready");
    assert.ok(state.runId);
    const s = await clusterStatus(dir);
    assert.equal(s.running, true);
    assert.equal(s.servers.length, 1);
    assert.ok(s.servers[0].healthy && s.servers[0].version);
    assert.deepEqual(["KV_zs-runs", "ZS_LOG", "ZS_TASKS"].filter((n) => !s.streams.some((x) => x.name === n)), []);
    assert.ok(s.consumers.some((c) => c.name === "rollout"));
    assert.deepEqual(s.workers.map((w) => w.role).sort(), ["rollout", "updater"]);
    for (const w of s.workers.filter((x) => x.role !== "updater")) assert.ok(w.pid && w.status === "running", JSON.stringify(w));
    assert.equal(s.run?.runId, state.runId);
  });

  it("scales reward consumers to 3 and back to 1 while the run goes on; the run completes with each group scored once", async () => {
    await waitFor("step 0's groups sampled", async () => ((await clusterStatus(dir)).run?.sampled === 4 ? true : undefined), 60_000);
    assert.equal((await clusterStatus(dir)).run?.steps, 0, "no step without reward consumers");
    const r3 = await cli(["scale", "reward=3", "--dir", dir]);
    assert.equal(r3.code, 0, r3.out);
    assert.equal(readState(dir)!.procs.filter((p) => p.role === "reward" && p.status === "running").length, 3);
    const r1 = await cli(["scale", "reward=1", "rollout=1", "--dir", dir]);
    assert.equal(r1.code, 0, r1.out);
    const stepAtScale = (await clusterStatus(dir)).run?.steps ?? 0;
    assert.ok(stepAtScale < STEPS, `the run finished (${stepAtScale} steps) before the scale-down completed`);
    assert.equal(readState(dir)!.procs.filter((p) => p.role === "reward").length, 1);
    await waitFor("the run to complete", async () => ((await clusterStatus(dir)).run?.status === "completed" ? true : undefined), 150_000, 500);
    await auditRun(log!, state.runId!, STEPS, 4);
    process.stdout.write(`# scaled down at step ${stepAtScale} of ${STEPS}\n`);
  });

  it("restarts a worker killed with SIGKILL", async () => {
    const victim = readState(dir)!.procs.find((p) => p.role === "reward" && p.status === "running")!;
    process.kill(victim.pid!, "SIGKILL");
    const back = await waitFor("the restart", () => {
      const p = readState(dir)!.procs.find((x) => x.name === victim.name);
      return p && p.status === "running" && p.pid !== victim.pid ? p : undefined;
    }, 30_000);
    assert.equal(back.restarts, victim.restarts + 1);
    assert.equal(back.lastExit, "signal SIGKILL");
  });

  it("rotates the reward consumers' key while they run: the node reloads, the workers reconnect with the new key, nothing restarts", async () => {
    const before = readState(dir)!;
    const oldKey = readCreds(credsPath(dir, "reward")).nkey;
    const r = await cli(["rotate", "reward", "--dir", dir]);
    assert.equal(r.code, 0, r.out);
    const newKey = readCreds(credsPath(dir, "reward")).nkey;
    assert.notEqual(newKey, oldKey);
    assert.match(r.out, new RegExp(`reloaded here: n0 \\(pid ${before.procs.find((p) => p.kind === "node")!.pid}\\)`));
    const auth = readFileSync(join(dir, "auth.conf"), "utf8");
    assert.ok(auth.includes(newKey) && !auth.includes(oldKey));
    // the reward consumer's connection is dropped by the reload and comes back under the new key
    const spec = readJson<ClusterSpec>(join(dir, "cluster.json"))!;
    const keyOf = async (name: string) => ((await monitorGet(monitorOf(dir, spec, spec.nodes[0]), "/connz?auth=true&limit=1024"))?.body.connections as { name?: string; authorized_user?: string }[] | undefined)
      ?.find((c) => c.name === name)?.authorized_user;
    await waitFor("the reward consumer to reconnect under the new key", async () => ((await keyOf("zerostream-reward/reward-0")) === newKey ? true : undefined), 30_000);
    assert.equal(await keyOf("zerostream-rollout/rollout-0"), readCreds(credsPath(dir, "rollout")).nkey);
    await sleep(2000);
    const after = readState(dir)!;
    for (const p of before.procs) {
      const q = after.procs.find((x) => x.name === p.name)!;
      assert.equal(q.pid, p.pid, `${p.name} was restarted`);
      assert.equal(q.restarts, p.restarts, `${p.name} was restarted`);
    }
    assert.match(readFileSync(join(dir, "logs", "n0.log"), "utf8"), /Reloaded: authorization/);
  });

  it("never shows a password in a log, a state file or a command line", () => {
    const secrets = ROLES.flatMap((r) => { const c = readCreds(credsPath(dir, r)); return [c.seed, ...(c.tls ? [c.tls.key.split("\n").slice(1, -2).join("")] : [])]; });
    const logs = join(dir, "logs");
    for (const f of [...readdirSync(logs).map((x) => join(logs, x)), join(dir, "state.json"), join(dir, "cluster.json")]) {
      const text = readFileSync(f, "utf8");
      for (const s of secrets) assert.ok(!text.includes(s), `a password appears in ${f}`);
    }
    const pids = readState(dir)!.procs.flatMap((p) => (p.pid ? [String(p.pid)] : []));
    const argv = execFileSync("ps", ["-o", "args=", "-p", pids.join(",")], { encoding: "utf8" });
    assert.match(argv, /--creds /);
    for (const s of secrets) assert.ok(!argv.includes(s), "a password appears in a command line");
  });

  it("down stops every process it started; up again finds the log it left", async () => {
    const before = readState(dir)!;
    const msgs = (await clusterStatus(dir)).streams.find((s) => s.name === "ZS_LOG")!.messages;
    await log!.close();
    log = undefined;
    const d = await cli(["down", "--dir", dir]);
    assert.equal(d.code, 0, d.out);
    for (const p of [before.supervisorPid, ...before.procs.map((x) => x.pid)]) assert.equal(pidAlive(p), false, `pid ${p} still alive`);
    assert.equal(readState(dir)!.status, "stopped");
    const again = await up(dir, ["--rollout", "1", "--reward", "1"]);
    assert.deepEqual(again.servers, before.servers, "the same ports");
    const s = await clusterStatus(dir);
    assert.equal(s.streams.find((x) => x.name === "ZS_LOG")!.messages, msgs);
  });
});
