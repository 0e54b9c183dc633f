// Faults on a 3-node JetStream cluster (R3 streams, loopback only, bounded in time): during a run of
// the tiny config, the JetStream meta-leader node and one random worker are killed with SIGKILL. The supervisor
// restarts both (the node rejoins with its kept store); the run finishes with no group lost or
// duplicated: the audit of its log finds no violation and every step has its groups exactly once.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { readState, type ClusterState } from "../../cli/cluster/layout.ts";
import { clusterStatus } from "../../cli/cluster/status.ts";
import type { EventLog } from "../../streams/eventlog.ts";
import { tinyConfig, writeConfig } from "../helpers/tiny.ts";
import { adminLog, auditRun, cli, clusterDir, up, waitFor } from "./harness.ts";

const STEPS = 16;
const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)];

describe("cluster faults (3 nodes, R3)", () => {
  const dir = clusterDir();
  let state: ClusterState;
  let log: EventLog | undefined;
  const config = writeConfig(tinyConfig({ actor: { global_batch_size: 4, micro_batch_size: 8, train_iters: STEPS, lr: 1e-3, weight_decay: 0.1 } }));

  before(async () => {
    state = await up(dir, ["--nodes", "3", "--config", config, "--rollout", "2", "--reward", "2", "--ack-wait-ms", "4000"]);
  });
  after(async () => {
    await log?.close();
    await cli(["down", "--dir", dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("a run survives SIGKILL of one nats-server node and one random worker: no group lost or duplicated", { timeout: 420_000 }, async () => {
    assert.equal(state.replicas, 3);
    const s0 = await clusterStatus(dir);
    assert.equal(s0.servers.filter((s) => s.healthy).length, 3);
    for (const st of s0.streams) assert.equal(st.replicas, 3, `${st.name} is R${st.replicas}`);
    await waitFor("step 2", async () => (((await clusterStatus(dir)).run?.steps ?? 0) >= 2 ? true : undefined), 90_000, 200);

    // the node to kill: the JetStream meta leader, the hardest case (meta and stream leader elections)
    const leader = (await clusterStatus(dir)).servers.find((s) => s.metaLeader)?.metaLeader;
    const now = readState(dir)!;
    const nodes = now.procs.filter((p) => p.kind === "node");
    const node = nodes.find((p) => `zs-${p.name}` === leader) ?? pick(nodes);
    const worker = pick(now.procs.filter((p) => p.kind === "worker" && p.status === "running"));
    process.stdout.write(`# killing node ${node.name} (pid ${node.pid}) and worker ${worker.name} (pid ${worker.pid})\n`);
    process.kill(node.pid!, "SIGKILL");
    process.kill(worker.pid!, "SIGKILL");

    // recovery normally takes seconds; on a loaded 2-core machine (3 servers, 5 workers) an election
    // plus redeliveries after the ack wait can take minutes, so the bound is generous
    let last: Awaited<ReturnType<typeof clusterStatus>> | undefined;
    const end = await waitFor("the run to complete", async () => {
      last = await clusterStatus(dir);
      return last.run?.status === "completed" ? last : undefined;
    }, 330_000, 500).catch((err: Error) => {
      throw new Error(`${err.message}; last status: run ${JSON.stringify(last?.run)}, servers ${JSON.stringify(last?.servers.map((x) => [x.name, x.healthy]))}`);
    });
    assert.equal(end.run!.steps, STEPS);
    const after = readState(dir)!;
    assert.ok(after.procs.find((p) => p.name === node.name)!.restarts >= 1, "the node was restarted");
    assert.ok(after.procs.find((p) => p.name === worker.name)!.restarts >= 1, "the worker was restarted");
    await waitFor("3 healthy servers", async () => ((await clusterStatus(dir)).servers.every((s) => s.healthy) ? true : undefined), 30_000);

    log = await adminLog(dir, state);
    await auditRun(log, state.runId!, STEPS, 4);
  });
});
