// The EventLog against a real nats-server started by the test: dedupe, redelivery after a crash,
// poison to the dead-letter subject, ordered replay, weights by digest, idempotent topology.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { isTransientBusError, PublishFailedError, StreamDriftError, WeightsDigestError, WeightsNotFoundError, WeightsReadStalledError } from "../../streams/errors.ts";
import { EventLog, sha256 } from "../../streams/eventlog.ts";
import type { DeadLettered } from "../../streams/events/index.ts";
import { LOG_STREAM, subjects } from "../../streams/subjects.ts";
import { ensureCoreTopology, ensureStream, logStreamConfig } from "../../streams/topology.ts";
import { groupSampled, groupScored, runStarted } from "../helpers/events.ts";
import { startBus, uniqueRunId, type Bus } from "../helpers/nats.ts";

const here = dirname(fileURLToPath(import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("EventLog on a real nats-server", () => {
  let bus: Bus;
  before(async () => { bus = await startBus(); });
  after(async () => { await bus.stop(); });

  it("drops a duplicate publish with the same msgID", async () => {
    const run = uniqueRunId();
    const a = await bus.log.publish(groupSampled(run, 0, 0));
    const b = await bus.log.publish(groupSampled(run, 0, 0));
    assert.equal(a.duplicate, false);
    assert.equal(b.duplicate, true);
    assert.equal(b.seq, a.seq);
    const all = await bus.log.replayAll(run);
    assert.equal(all.length, 1);
  });

  it("redelivers an unacked message to another consumer instance after a simulated crash", async () => {
    const run = uniqueRunId();
    await bus.log.publish(groupSampled(run, 0, 0));
    const durable = `crash-${run}`;
    // instance A, a separate process, takes the message and is killed with SIGKILL before acking
    const child = spawn(process.execPath, ["--import", "tsx", join(here, "..", "helpers", "crash-consumer.ts"), bus.server.url, run, durable], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", (d: Buffer) => { if (d.toString().includes("got s0.g0")) resolve(); });
      child.once("exit", (code) => reject(new Error(`crash consumer exited early with ${code}`)));
    });
    child.kill("SIGKILL");
    // instance B on its own connection gets it after ack_wait, with a delivery count of 2
    const b = await EventLog.connect(bus.server.url);
    const ctlB = new AbortController();
    const seen: { groupId: string; deliveries: number }[] = [];
    const loopB = b.consume({ stream: LOG_STREAM, durable, filterSubject: subjects.rollout(run), types: ["GroupSampled"], ackWaitMs: 1000, signal: ctlB.signal },
      async (e, ctx) => { seen.push({ groupId: e.groupId, deliveries: ctx.deliveries }); ctlB.abort(); });
    await loopB;
    await b.close();
    assert.deepEqual(seen, [{ groupId: "s0.g0", deliveries: 2 }]);
    const info = await bus.log.jsm.consumers.info(LOG_STREAM, durable);
    assert.equal(info.num_ack_pending, 0);
    assert.equal(info.num_pending, 0);
  });

  it("dead-letters a poison message with its payload and never hands it to the handler", async () => {
    const run = uniqueRunId();
    const poison = new TextEncoder().encode('{"type":"GroupSampled","v":1,"runId":"broken"');
    await bus.log.publishRaw(subjects.rollout(run), poison, `${run}:poison`);
    const bad = { ...groupSampled(run, 0, 1), samples: [] };
    await bus.log.publishRaw(subjects.rollout(run), new TextEncoder().encode(JSON.stringify(bad)), `${run}:bad`);
    await bus.log.publish(groupSampled(run, 0, 2));
    const ctl = new AbortController();
    const handled: string[] = [];
    await bus.log.consume({ stream: LOG_STREAM, durable: `poison-${run}`, filterSubject: subjects.rollout(run), types: ["GroupSampled"], signal: ctl.signal },
      async (e) => { handled.push(e.groupId); ctl.abort(); });
    assert.deepEqual(handled, ["s0.g2"]);
    const dlq = (await bus.log.replayAll(run, { subject: subjects.dlq(run) })).map((r) => r.event as DeadLettered);
    assert.equal(dlq.length, 2);
    assert.equal(dlq[0].reason, "unparseable");
    assert.deepEqual(Buffer.from(dlq[0].payload, "base64"), Buffer.from(poison));
    assert.equal(dlq[1].reason, "schema");
    assert.match(dlq[1].error, /samples/);
    assert.equal(JSON.parse(Buffer.from(dlq[1].payload, "base64").toString()).groupId, "s0.g1");
  });

  it("naks a failing handler with back-off and dead-letters it after max_deliver", async () => {
    const run = uniqueRunId();
    await bus.log.publish(groupSampled(run, 0, 0));
    const ctl = new AbortController();
    let calls = 0;
    const loop = bus.log.consume({ stream: LOG_STREAM, durable: `fail-${run}`, filterSubject: subjects.rollout(run), types: ["GroupSampled"], maxDeliver: 3, backoffMs: () => 50, signal: ctl.signal },
      async () => { calls++; throw new Error("transient trouble"); });
    let dlq: DeadLettered[] = [];
    for (let i = 0; i < 100 && dlq.length === 0; i++) {
      await sleep(100);
      dlq = (await bus.log.replayAll(run, { subject: subjects.dlq(run) })).map((r) => r.event as DeadLettered);
    }
    ctl.abort();
    await loop;
    assert.equal(calls, 3);
    assert.equal(dlq.length, 1);
    assert.equal(dlq[0].reason, "max_deliveries");
    assert.match(dlq[0].error, /transient trouble/);
  });

  it("runs a handler that hits a bus in transition again within the delivery: no delivery spent, nothing dead-lettered", async () => {
    const run = uniqueRunId();
    await bus.log.publish(groupSampled(run, 0, 0));
    const ctl = new AbortController();
    const seen: number[] = [];
    let calls = 0;
    // the first three calls fail as a handler does while JetStream elects a leader: a real NATS error
    // (here a request nobody answers), then the bus is back
    const loop = bus.log.consume({ stream: LOG_STREAM, durable: `blip-${run}`, filterSubject: subjects.rollout(run), types: ["GroupSampled"], maxDeliver: 2, backoffMs: () => 50, signal: ctl.signal },
      async (_e, ctx) => {
        calls++;
        if (calls <= 3) await bus.log.nc.request(`nobody.answers.${run}`, undefined, { timeout: 300 });
        seen.push(ctx.deliveries);
        ctl.abort();
      });
    const guard = setTimeout(() => ctl.abort(), 20_000); // a dead-lettered message never reaches the end
    await loop;
    clearTimeout(guard);
    assert.equal(calls, 4);
    assert.deepEqual(seen, [1], "processed once, in its first delivery");
    assert.equal((await bus.log.replayAll(run, { subject: subjects.dlq(run) })).length, 0);
    const info = await bus.log.jsm.consumers.info(LOG_STREAM, `blip-${run}`);
    assert.equal(info.num_ack_pending, 0);
    assert.equal(info.num_redelivered, 0);
  });

  it("tells a bus in transition from a handler's own failure", async () => {
    const noResponders = await bus.log.nc.request(`nobody.answers.${uniqueRunId()}`, undefined, { timeout: 300 }).then(() => null, (e: Error) => e);
    const sub = bus.log.nc.subscribe(`silent.${uniqueRunId()}`);
    const timeout = await bus.log.nc.request(sub.getSubject(), undefined, { timeout: 200, noMux: true }).then(() => null, (e: Error) => e);
    sub.unsubscribe();
    assert.ok(noResponders && isTransientBusError(noResponders), `no responders: ${noResponders?.name} ${noResponders?.message}`);
    assert.ok(timeout && isTransientBusError(timeout), `a request timeout: ${timeout?.name} ${timeout?.message}`);
    assert.ok(isTransientBusError(new PublishFailedError("publish failed after 12 attempts", { cause: timeout })), "wrapped in our own error");
    assert.ok(!isTransientBusError(new Error("verifier timeout")), "a handler's own timeout is not the bus's");
    assert.ok(!isTransientBusError(new Error("JetStream system temporarily unavailable")), "only errors of the NATS client qualify");
  });

  it("replays every event of a run in order, from the start or from a sequence, and only that run", async () => {
    const run = uniqueRunId();
    const other = uniqueRunId();
    const published = [runStarted(run), groupSampled(run, 0, 0), groupSampled(run, 0, 1), groupScored(run, 0, 1), groupScored(run, 0, 0)];
    const seqs: number[] = [];
    for (const [i, e] of published.entries()) {
      seqs.push((await bus.log.publish(e)).seq);
      if (i === 2) await bus.log.publish(groupSampled(other, 0, 0));
    }
    const all = await bus.log.replayAll(run);
    assert.deepEqual(all.map((r) => r.event), published);
    assert.deepEqual(all.map((r) => r.seq), seqs);
    const tail = await bus.log.replayAll(run, { fromSeq: seqs[2] });
    assert.deepEqual(tail.map((r) => r.seq), seqs.slice(2));
    assert.equal((await bus.log.replayAll(uniqueRunId())).length, 0);
  });

  it("a replay read from the stream's leader gives the consumer's records (seq, subject, time, event), invalid messages skipped, by subject and from a sequence", async () => {
    const run = uniqueRunId();
    const published = [runStarted(run), groupSampled(run, 0, 0), groupSampled(run, 0, 1), groupScored(run, 0, 1), groupScored(run, 0, 0)];
    for (const [i, e] of published.entries()) {
      await bus.log.publish(e);
      if (i === 1) await bus.log.nc.request(subjects.rollout(run), new TextEncoder().encode("not an event")); // the stream acks it
      if (i === 3) await bus.log.publish(groupSampled(uniqueRunId(), 0, 0));
    }
    const viaConsumer = await bus.log.replayAll(run);
    const viaLeader = await bus.log.replayAll(run, { via: "leader" });
    assert.equal(viaConsumer.length, published.length);
    assert.deepEqual(viaLeader, viaConsumer);
    assert.ok(viaLeader.every((r) => r.time.getTime() > 0 && r.time.getTime() % 1 === 0));
    const from = viaConsumer[2].seq;
    assert.deepEqual(await bus.log.replayAll(run, { via: "leader", fromSeq: from }), await bus.log.replayAll(run, { fromSeq: from }));
    assert.deepEqual(await bus.log.replayAll(run, { via: "leader", subject: subjects.rollout(run) }), await bus.log.replayAll(run, { subject: subjects.rollout(run) }));
  });

  it("a replay ends at the leader's last message when it starts: events appended while it runs are the follower's", async () => {
    const run = uniqueRunId();
    for (let i = 0; i < 6; i++) await bus.log.publish(groupSampled(run, 0, i));
    const seen: number[] = [];
    for await (const r of bus.log.replay(run)) {
      seen.push(r.seq);
      if (seen.length === 1) for (let i = 6; i < 9; i++) await bus.log.publish(groupSampled(run, 0, i));
    }
    assert.equal(seen.length, 6);
    assert.equal((await bus.log.replayAll(run)).length, 9);
  });

  it("a follower whose caller is slow to take its events keeps its consumer (the watchdog renews only a consumer that delivers nothing)", async () => {
    const run = uniqueRunId();
    for (let i = 0; i < 4; i++) await bus.log.publish(groupSampled(run, 0, i));
    const stop = new AbortController();
    const got: number[] = [];
    const renewals: unknown[] = [];
    for await (const r of bus.log.follow(run, 1, stop.signal, undefined, { lagMs: 300, probeMs: 50, onRenew: (x) => renewals.push(x) })) {
      got.push(r.seq);
      // the caller holds the first event for five lags while the log is ahead of it, then one more event comes
      if (got.length === 1) await new Promise((res) => setTimeout(res, 1500));
      if (got.length === 4) await bus.log.publish(groupSampled(run, 0, 4));
      if (got.length === 5) break;
    }
    assert.equal(got.length, 5);
    assert.deepEqual(renewals, [], "the consumer was renewed while the caller held an event");
  });

  it("appends in order with expect.lastSubjectSequence and refuses a stale append", async () => {
    const run = uniqueRunId();
    const last = await bus.log.lastSubjectSeq(subjects.rollout(run));
    assert.equal(last, 0);
    const a = await bus.log.publish(groupSampled(run, 0, 0), { expectLastSubjectSequence: 0 });
    await assert.rejects(bus.log.publish(groupSampled(run, 0, 1), { expectLastSubjectSequence: 0 }), /wrong last sequence|last sequence/i);
    const b = await bus.log.publish(groupSampled(run, 0, 1), { expectLastSubjectSequence: a.seq });
    assert.ok(b.seq > a.seq);
  });

  it("stores weights by sha256 digest and detects a digest mismatch on read", async () => {
    const run = uniqueRunId();
    const bytes = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) => (i * 31) & 0xff);
    const digest = await bus.log.putBlob(run, bytes);
    assert.equal(digest, sha256(bytes));
    assert.equal(await bus.log.putBlob(run, bytes), digest); // idempotent
    assert.deepEqual(await bus.log.getBlob(run, digest), bytes);
    // tamper: other bytes stored under the digest's name
    const store = await bus.log.weights(run);
    const forged = bytes.slice();
    forged[12345] ^= 1;
    await store.putBlob({ name: digest }, forged);
    await assert.rejects(bus.log.getBlob(run, digest), WeightsDigestError);
    await assert.rejects(bus.log.getBlob(run, sha256(new Uint8Array([1]))), WeightsNotFoundError);
  });

  it("reads weights again when a read makes no progress (the server frozen), and fails by name after its attempts, never hangs", async () => {
    // a server of its own: it is frozen (SIGSTOP) under the read
    const own = await startBus();
    try {
      const run = uniqueRunId();
      const bytes = new Uint8Array(2 * 1024 * 1024 + 5).map((_, i) => (i * 7) & 0xff);
      const digest = await own.log.putBlob(run, bytes);
      // frozen for 2.5 s: the first attempts stall after 700 ms each, a later one reads every byte
      process.kill(own.server.pid, "SIGSTOP");
      const thaw = setTimeout(() => process.kill(own.server.pid, "SIGCONT"), 2500);
      const t0 = Date.now();
      try {
        assert.deepEqual(await own.log.getBlob(run, digest, { idleMs: 700, attempts: 8 }), bytes);
      } finally { clearTimeout(thaw); process.kill(own.server.pid, "SIGCONT"); }
      assert.ok(Date.now() - t0 >= 2000, `the read cannot have finished while the server was frozen (${Date.now() - t0} ms)`);
      // frozen for good: two stalled attempts, then a WeightsReadStalledError that names the object
      process.kill(own.server.pid, "SIGSTOP");
      const t1 = Date.now();
      try {
        await assert.rejects(own.log.getBlob(run, digest, { idleMs: 500, attempts: 2 }),
          (err: Error) => err instanceof WeightsReadStalledError && err.message.includes(digest) && /no progress for 500 ms/.test(err.message) && /2 attempts/.test(err.message));
      } finally { process.kill(own.server.pid, "SIGCONT"); }
      assert.ok(Date.now() - t1 < 4000, `the stalled read failed after ${Date.now() - t1} ms`);
      // thawed, the same connection reads it again
      assert.deepEqual(await own.log.getBlob(run, digest), bytes);
    } finally {
      await own.stop();
    }
  });

  it("stores a source read in slices under the digest of its bytes, as putBlob does", async () => {
    const run = uniqueRunId();
    const bytes = new Uint8Array(3 * 1024 * 1024 + 5).map((_, i) => (i * 13 + (i >> 11)) & 0xff);
    let reads = 0;
    const src = { size: bytes.length, read: (off: number, out: Uint8Array) => { reads++; out.set(bytes.subarray(off, off + out.length)); } };
    const digest = await bus.log.putSource(run, src, { sliceBytes: 1_000_003 }); // slices that are no multiple of the 1 MiB chunks
    assert.equal(digest, sha256(bytes));
    assert.ok(reads >= 8, `read in slices twice (hash, store): ${reads} reads`);
    assert.deepEqual(await bus.log.getBlob(run, digest), bytes);
    reads = 0;
    assert.equal(await bus.log.putSource(run, src, { sliceBytes: 1_000_003 }), digest); // stored once: the second only hashes
    assert.equal(reads, 4);
    assert.equal(await bus.log.putBlob(run, bytes), digest);
  });

  it("keeps a run index in KV", async () => {
    const run = uniqueRunId();
    await bus.log.putRunRecord(run, { status: "running", step: 0 });
    await bus.log.putRunRecord(run, { step: 3 });
    assert.deepEqual(await bus.log.getRunRecord(run), { status: "running", step: 3, runId: run });
    assert.equal(await bus.log.getRunRecord(uniqueRunId()), null);
  });
});

describe("topology", () => {
  let bus: Bus;
  before(async () => { bus = await startBus(); });
  after(async () => { await bus.stop(); });

  it("is idempotent: creating twice leaves the same state", async () => {
    const before1 = await bus.log.jsm.streams.info(LOG_STREAM);
    await ensureCoreTopology(bus.log.jsm);
    await ensureCoreTopology(bus.log.jsm);
    const after1 = await bus.log.jsm.streams.info(LOG_STREAM);
    assert.deepEqual(after1.config, before1.config);
    assert.equal(after1.config.retention, RetentionPolicy.Limits);
    assert.equal(await ensureStream(bus.log.jsm, logStreamConfig()), "exists");
  });

  it("reports a drifted stream instead of keeping it silently", async () => {
    const nc = await connect({ servers: bus.server.url });
    const jsm = await jetstreamManager(nc);
    // someone created ZS_LOG with work-queue retention (it would delete events on ack)
    await jsm.streams.delete(LOG_STREAM);
    await jsm.streams.add({ name: LOG_STREAM, subjects: ["zs.>"], retention: RetentionPolicy.Workqueue, storage: StorageType.Memory });
    await assert.rejects(ensureCoreTopology(jsm), (e: Error) =>
      e instanceof StreamDriftError && /retention/.test(e.message) && /storage/.test(e.message));
    await nc.close();
  });
});
