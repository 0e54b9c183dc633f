// Reading the log when a replica does not answer (3 nodes, R3): an ordered consumer is an R1 ephemeral
// that nats-server places on a random replica of the stream (2.9.10's createGroupForConsumer), and a
// replica that is frozen (here SIGSTOP; in CI a restored node whose copy stayed behind) leaves a replay that
// lands there without its end. Every replay must read the whole run to the leader's last message, a weights
// read the whole object, and a follower must keep delivering, whatever replica their consumers get.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type { ClusterState } from "../../cli/cluster/layout.ts";
import { clusterStatus } from "../../cli/cluster/status.ts";
import { isTransientBusError } from "../../streams/errors.ts";
import type { EventLog, Replayed } from "../../streams/eventlog.ts";
import { LOG_STREAM } from "../../streams/subjects.ts";
import { groupSampled } from "../helpers/events.ts";
import { uniqueRunId } from "../helpers/nats.ts";
import { adminLog, cli, clusterDir, sleep, up, waitFor } from "./harness.ts";

describe("the log read with a frozen replica (3 nodes, R3)", () => {
  const dir = clusterDir();
  let state: ClusterState | undefined;
  let log: EventLog | undefined;
  let frozen: number | undefined;
  let reader: EventLog | undefined;

  before(async () => {
    state = await up(dir, ["--nodes", "3", "--rollout", "0", "--reward", "0"]);
    log = await adminLog(dir, state);
  });

  after(async () => {
    if (frozen) process.kill(frozen, "SIGCONT");
    await reader?.close();
    await log?.close();
    await cli(["down", "--dir", dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  const publish = async (l: EventLog, e: ReturnType<typeof groupSampled>) => {
    for (let i = 0; ; i++) {
      try { return await l.publish(e); } catch (err) { if (!isTransientBusError(err) || i > 20) throw err; await sleep(500); }
    }
  };

  it("every replay and weights read gets the whole of it, and a follower keeps delivering, while a replica that leads nothing is frozen", { timeout: 300_000 }, async () => {
    const run = uniqueRunId();
    const N = 12;
    for (let i = 0; i < N; i++) await publish(log!, groupSampled(run, 0, i));
    // the node to freeze leads neither the log stream nor the meta group (the stream keeps its quorum and its
    // leader), and the client reading here is connected elsewhere (a frozen server keeps its sockets open)
    const streamLeader = (await log!.jsm.streams.info(LOG_STREAM)).cluster?.leader;
    const meta = (await clusterStatus(dir)).servers.find((s) => s.metaLeader)?.metaLeader;
    const victim = state!.procs.find((p) => p.kind === "node" && p.pid && p.url && ![streamLeader, meta].includes(`zs-${p.name}`));
    assert.ok(victim?.pid, `a node that leads nothing (stream leader ${streamLeader}, meta leader ${meta}): ${JSON.stringify(state!.procs)}`);
    const others = state!.servers.filter((u) => u !== victim.url);
    assert.equal(others.length, 2, `${victim.url} among ${state!.servers.join(" ")}`);
    const l = await adminLog(dir, { ...state!, servers: others });
    reader = l;

    const bytes = new Uint8Array(3 * 1024 * 1024 + 11).map((_, i) => (i * 13) & 0xff);
    const digest = await l.putBlob(run, bytes);

    const followed: Replayed[] = [];
    const stop = new AbortController();
    const follower = (async () => { for await (const r of l.follow(run, 1, stop.signal, undefined, { lagMs: 3000, probeMs: 500 })) followed.push(r); })();
    await waitFor("the follower to deliver the first events", () => (followed.length >= N ? true : undefined), 60_000);

    process.kill(victim.pid!, "SIGSTOP");
    frozen = victim.pid!;
    for (let i = N; i < 2 * N; i++) await publish(l, groupSampled(run, 0, i));
    const expected = Array.from({ length: 2 * N }, (_, i) => i);
    const slots = (rs: Replayed[]) => rs.map((r) => (r.event as ReturnType<typeof groupSampled>).slot);
    // a replay's consumer lands on the frozen replica one time in three: four replays, each whole
    for (let k = 0; k < 4; k++) assert.deepEqual(slots(await l.replayAll(run)), expected, `replay ${k}`);
    // a weights read's consumer too: one placed on the frozen replica stalls and is placed anew
    for (let k = 0; k < 4; k++) assert.deepEqual(await l.getBlob(run, digest, { idleMs: 2000, attempts: 8 }), bytes, `weights read ${k}`);
    await waitFor("the follower to deliver every event", () => (followed.length >= 2 * N ? true : undefined), 60_000);
    assert.deepEqual(slots(followed), expected);
    stop.abort();
    await follower;
  });
});
