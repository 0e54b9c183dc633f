// Bad actors at the edge of a running cluster (1 node, TLS, nkeys, through the real `cluster` command):
// while a run goes on, a client without an identity, one with another role's identity, one that
// publishes unparseable and schema-invalid events onto the run's subjects with a generator's valid
// identity, one that sends an oversized message (through nats.js and as raw protocol past it), and one
// that floods the run's rollout subject. Each is refused by the node or dead-lettered by the reward
// consumers; the run is unharmed: it completes, its audit is clean, and its weights after every step
// are those of the same config run undisturbed on the same cluster just before. The junk stays in the
// run's log, so the updater is killed after it: restarted, it replays the log past the junk (a replay
// used to throw on the first message that was no event, so a restarted updater failed for ever).
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { after, before, describe, it } from "node:test";
import { fromSeed } from "@nats-io/nkeys";
import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { connectAuth, credsPath, readCreds } from "../../cli/cluster/auth.ts";
import { stepDigests } from "../../cli/cluster/chaos.ts";
import { readState, type ClusterState } from "../../cli/cluster/layout.ts";
import { clusterStatus } from "../../cli/cluster/status.ts";
import type { EventLog } from "../../streams/eventlog.ts";
import type { DeadLettered } from "../../streams/events/index.ts";
import { subjects } from "../../streams/subjects.ts";
import { tinyConfig, writeConfig } from "../helpers/tiny.ts";
import { adminLog, auditRun, cli, clusterDir, up, waitFor } from "./harness.ts";

const STEPS = 12;
const FLOOD = 500;

describe("bad actors at the edge of a running cluster", () => {
  const dir = clusterDir();
  const config = writeConfig(tinyConfig({ actor: { global_batch_size: 4, micro_batch_size: 8, train_iters: STEPS, lr: 1e-3, weight_decay: 0.1 } }));
  const upArgs = ["--config", config, "--rollout", "1", "--reward", "1", "--ack-wait-ms", "4000"];
  let state: ClusterState;
  let log: EventLog | undefined;
  let reference: string[] = [];
  const quick = { maxReconnectAttempts: 0, timeout: 4000 } as const;

  async function completed(runId: string): Promise<void> {
    await waitFor(`run ${runId} to complete`, async () => {
      const s = await clusterStatus(dir);
      return s.run?.runId === runId && s.run.status === "completed" ? true : undefined;
    }, 180_000, 500);
  }

  before(async () => {
    // the reference: the same config, undisturbed, on the same cluster
    const ref = await up(dir, upArgs);
    await completed(ref.runId!);
    const l = await adminLog(dir, ref);
    try { reference = await stepDigests(l, ref.runId!); } finally { await l.close(); }
    assert.equal(reference.filter(Boolean).length, STEPS);
    assert.equal((await cli(["down", "--dir", dir])).code, 0);
    // the run under attack: without reward consumers at first, so that it waits at step 0 while the junk
    // goes in and the updater is killed (the consumers are scaled in afterwards)
    state = await up(dir, upArgs.map((a, i) => (upArgs[i - 1] === "--reward" ? "0" : a)));
    log = await adminLog(dir, state);
  });
  after(async () => {
    await log?.close();
    await cli(["down", "--dir", dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  const creds = (role: "admin" | "updater" | "rollout" | "reward") => connectAuth(credsPath(dir, role));

  it("refuses a client with the cluster's certificate but no identity, and one with neither", async () => {
    const { tls } = creds("reward");
    await assert.rejects(connect({ servers: state.servers, tls, ...quick }), /Authorization Violation/i);
    await assert.rejects(connect({ servers: state.servers, ...quick }));
  });

  it("refuses another role's publishes: a reward consumer's identity cannot sample, update the policy or end the run", async () => {
    const nc = await connect({ servers: state.servers, ...creds("reward"), ...quick });
    try {
      const js = jetstream(nc);
      for (const s of [subjects.rollout(state.runId!), subjects.policy(state.runId!), subjects.run(state.runId!), subjects.tasks(state.runId!)]) {
        await assert.rejects(js.publish(s, "{}", { timeout: 5000 }), /Permissions Violation for Publish/, s);
      }
    } finally { await nc.close(); }
  });

  it("dead-letters unparseable and schema-invalid events published with a generator's valid identity, and a flood of them", async () => {
    const nc = await connect({ servers: state.servers, ...creds("rollout"), ...quick });
    const run = state.runId!;
    try {
      const js = jetstream(nc);
      await js.publish(subjects.rollout(run), '{"type":"GroupSampled","v":1,"runId":', { msgID: `${run}:evil-0` });
      await js.publish(subjects.rollout(run), JSON.stringify({ type: "GroupSampled", v: 1, runId: run, groupId: "evil", samples: "none" }), { msgID: `${run}:evil-1` });
      const t0 = Date.now();
      await Promise.all(Array.from({ length: FLOOD }, (_, i) => js.publish(subjects.rollout(run), `flood ${i}`, { msgID: `${run}:flood-${i}`, timeout: 30_000 })));
      process.stdout.write(`# ${FLOOD} flood messages published in ${Date.now() - t0} ms\n`);
    } finally { await nc.close(); }
    // the junk stays in the run's log: an updater that restarts now replays past it
    const updater = readState(dir)!.procs.find((p) => p.role === "updater")!;
    assert.ok(updater.pid && updater.status === "running", JSON.stringify(updater));
    process.kill(updater.pid, "SIGKILL");
    const sc = await cli(["scale", "reward=1", "--dir", dir]);
    assert.equal(sc.code, 0, sc.out);
    const dl = await waitFor("every bad message dead-lettered", async () => {
      const d = (await log!.replayAll(run, { subject: subjects.dlq(run) })).map((r) => r.event as DeadLettered);
      return d.length >= FLOOD + 2 ? d : undefined;
    }, 120_000, 1000);
    assert.equal(dl.length, FLOOD + 2);
    const reasons = dl.reduce((m, d) => m.set(d.reason, (m.get(d.reason) ?? 0) + 1), new Map<string, number>());
    assert.deepEqual(Object.fromEntries(reasons), { unparseable: FLOOD + 1, schema: 1 });
    assert.ok(dl.every((d) => d.consumer === "reward" && d.subject === subjects.rollout(run)));
  });

  it("refuses an oversized message: nats.js will not send it, and the node closes a raw connection that tries", async () => {
    const nc: NatsConnection = await connect({ servers: state.servers, ...creds("rollout"), ...quick });
    try {
      await assert.rejects(jetstream(nc).publish(subjects.rollout(state.runId!), new Uint8Array(9 * 2 ** 20)), /payload|max_payload|too large/i);
    } finally { await nc.close(); }
    // past the client library: TLS, CONNECT with a valid signature, then a PUB header announcing 9 MiB
    const c = readCreds(credsPath(dir, "rollout"));
    const url = new URL(state.servers[0]);
    const reply = await new Promise<string>((resolve) => {
      const raw = tcpConnect(Number(url.port), url.hostname);
      let text = "";
      raw.once("data", (d) => {
        const info = JSON.parse(d.toString().replace(/^INFO /, "")) as { nonce: string };
        const sig = Buffer.from(fromSeed(new TextEncoder().encode(c.seed)).sign(new TextEncoder().encode(info.nonce))).toString("base64url");
        const s = tlsConnect({ socket: raw, ca: c.tls!.ca, cert: c.tls!.cert, key: c.tls!.key, servername: "localhost" }, () => {
          s.write(`CONNECT ${JSON.stringify({ verbose: false, pedantic: false, protocol: 1, nkey: c.nkey, sig, name: "raw" })}\r\nPING\r\n`);
        });
        s.on("data", (x) => {
          text += x.toString();
          if (text.includes("PONG") && !text.includes("SENT")) { text += "SENT"; s.write(`PUB ${subjects.rollout(state.runId!)} ${9 * 2 ** 20}\r\n`); }
        });
        s.on("close", () => resolve(text));
        s.on("error", () => resolve(text));
      });
      setTimeout(() => { raw.destroy(); resolve(text); }, 10_000).unref();
    });
    assert.match(reply, /PONG/, "the raw client was not admitted at all");
    assert.match(reply, /-ERR 'Maximum Payload Violation'/);
  });

  it("the run is unharmed: it completes, its audit is clean, its weights match the undisturbed run's after every step", { timeout: 240_000 }, async () => {
    await completed(state.runId!);
    await auditRun(log!, state.runId!, STEPS, 4);
    assert.deepEqual(await stepDigests(log!, state.runId!), reference);
    const s = await clusterStatus(dir);
    assert.equal(s.workers.find((w) => w.role === "updater")!.restarts, 1, "the killed updater came back once and finished the run");
    assert.ok(s.workers.filter((w) => w.role !== "updater").every((w) => w.restarts === 0), `a worker was restarted: ${JSON.stringify(s.workers)}`);
  });
});
