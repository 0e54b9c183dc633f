// The EventLog client: idempotent publishing, typed durable pull consumption (parse at the boundary,
// poison → term() + DeadLettered), ordered replay, and weights by sha256 digest in the object store.
import {
  DeliverPolicy, jetstream, jetstreamManager,
  type JetStreamClient, type JetStreamManager, type JsMsg, type MsgRequest, type PubAck,
} from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { setSha256Backend, type ObjectStore } from "@nats-io/obj";
import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import {
  isTransientBusError, LogFollowError, PoisonMessageError, PublishFailedError, UnknownEventError, WeightsNotFoundError,
} from "./errors.ts";
import { events, parseEvent, type DeadLettered, type RunStarted, type EventOf, type EventType, type ZsEvent } from "./events/index.ts";
import { childLogger } from "./logger.ts";
import { LOG_STREAM, msgIdOf, runOfSubject, subjectOf, subjects } from "./subjects.ts";
import { weightsStore, type BlobRead, type BlobSource, type PutOptions, type ReadOptions } from "./weights-store.ts";
import {
  ensureCoreTopology, ensureDurable, openRunsBucket, openWeightsBucket, type TopologyOptions,
} from "./topology.ts";

// the object store hashes every chunk: node's crypto instead of the default pure-JS SHA-256
// (measured: a 2.4 MB put 70 ms → see the README figures)
setSha256Backend("native");

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export { sha256 } from "./weights-store.ts";

export type PublishResult = { seq: number; duplicate: boolean; stream: string };
export type ConsumeContext = { msg: JsMsg; seq: number; subject: string; deliveries: number; working(): void };
/**
 * A durable's max_ack_pending when its workers name none: a bound on the whole fleet, far above any fleet
 * (it was max(4 × maxInFlight, 16), which held 100 generators to 16 tasks at a time: issue 17's scale bench).
 */
export const FLEET_ACK_PENDING = 4096;

export type ConsumeOptions<T extends EventType> = {
  stream: string;
  durable: string;
  filterSubject: string;
  types: readonly T[];
  ackWaitMs?: number;         // default 30 s
  maxDeliver?: number;        // default 5
  maxInFlight?: number;       // default 4
  // the messages in flight over every worker of the durable together (a shared durable is a fleet's work
  // queue); default FLEET_ACK_PENDING. Each worker's own share is maxInFlight.
  maxAckPending?: number;
  maxWorkMs?: number;         // heartbeat (working()) a message at most this long; default 10 × ackWaitMs
  transientRetryMs?: number;  // a handler failing on a bus in transition is run again for this long (≤ maxWorkMs) before a nak; default 5 min
  backoffMs?: (deliveries: number) => number;
  signal?: AbortSignal;
  log?: Logger;
};
export type Replayed = { seq: number; subject: string; time: Date; event: ZsEvent };
/** How a replay reads: `via` "consumer" (default: an ordered consumer, the leader for what it misses) or "leader" (every message from the stream's leader). */
export type ReplayOptions = { fromSeq?: number; subject?: string; via?: "consumer" | "leader" };
/** What follow() tolerates: a follower behind the leader's last message with no progress for lagMs gets a new consumer (probed every probeMs). */
export type FollowOptions = { lagMs?: number; probeMs?: number; onRenew?: (r: { next: number; last: number; renewals: number }) => void };
type LogMsg = { seq: number; subject: string; time: Date; data: Uint8Array };

function isRetryablePublishError(err: unknown): boolean {
  const e = err as { name?: string; message?: string; code?: string | number };
  const m = `${e?.name ?? ""} ${e?.message ?? ""} ${e?.code ?? ""}`;
  return /timeout|503|no responders|temporarily unavailable|jetstream not enabled|TIMEOUT|NoResponders/i.test(m);
}

export class EventLog {
  readonly js: JetStreamClient;
  private buckets = new Map<string, ObjectStore>();
  private runsKv?: KV;
  private log: Logger;

  private constructor(readonly nc: NatsConnection, readonly jsm: JetStreamManager, private topo: TopologyOptions) {
    this.js = jetstream(nc, { timeout: 10_000 });
    this.log = childLogger({ component: "eventlog" });
  }

  static async connect(servers: string | string[], opts: Partial<ConnectionOptions> & TopologyOptions = {}): Promise<EventLog> {
    const { replicas, duplicateWindowMs, ...conn } = opts;
    const nc = await connect({ servers, name: conn.name ?? "zerostream", maxReconnectAttempts: -1, ...conn });
    try {
      const jsm = await jetstreamManager(nc, { timeout: 10_000 });
      const log = new EventLog(nc, jsm, { replicas, duplicateWindowMs });
      await ensureCoreTopology(jsm, log.topo);
      return log;
    } catch (err) {
      await nc.close().catch(() => undefined); // a failed start must not leave a reconnecting socket behind
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => this.nc.close());
  }

  // ---- publishing -------------------------------------------------------------------------

  /** Publishes an event with its deterministic msgID; timeouts and 503s are retried with the same msgID. */
  async publish(event: ZsEvent, o: { expectLastSubjectSequence?: number; attempts?: number } = {}): Promise<PublishResult> {
    events.parse(event); // our own events must satisfy the contract too
    return this.publishRaw(subjectOf(event), enc.encode(JSON.stringify(event)), msgIdOf(event), o);
  }

  async publishRaw(subject: string, data: Uint8Array, msgID: string, o: { expectLastSubjectSequence?: number; attempts?: number } = {}): Promise<PublishResult> {
    const attempts = o.attempts ?? 12;
    let delay = 100;
    for (let i = 1; ; i++) {
      try {
        const ack: PubAck = await this.js.publish(subject, data, {
          msgID, timeout: 10_000,
          ...(o.expectLastSubjectSequence !== undefined ? { expect: { lastSubjectSequence: o.expectLastSubjectSequence } } : {}),
        });
        return { seq: ack.seq, duplicate: ack.duplicate, stream: ack.stream };
      } catch (err) {
        if (!isRetryablePublishError(err) || i >= attempts) {
          throw new PublishFailedError(`publish to ${subject} (msgID ${msgID}) failed after ${i} attempt(s): ${(err as Error).message}`, { cause: err });
        }
        this.log.warn({ subject, msgID, attempt: i, err: (err as Error).message }, "publish retry");
        await sleep(delay);
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  // ---- consuming --------------------------------------------------------------------------

  /**
   * Consumes a durable pull consumer until the signal aborts. Each message is parsed at the boundary;
   * the handler sees only valid events of the expected types. Poison → DeadLettered + term();
   * a handler failure → nak(backoff) until maxDeliver, then dead-lettered. Acks after the handler resolves.
   */
  async consume<T extends EventType>(o: ConsumeOptions<T>, handler: (e: EventOf<T>, ctx: ConsumeContext) => Promise<void>): Promise<void> {
    const ackWaitMs = o.ackWaitMs ?? 30_000;
    const maxDeliver = o.maxDeliver ?? 5;
    const maxInFlight = o.maxInFlight ?? 4;
    const backoff = o.backoffMs ?? ((n: number) => Math.min(250 * 2 ** (n - 1), 10_000));
    const log = o.log ?? this.log.child({ durable: o.durable });
    await ensureDurable(this.jsm, { stream: o.stream, durable: o.durable, filterSubject: o.filterSubject, ackWaitMs, maxDeliver, maxAckPending: o.maxAckPending ?? FLEET_ACK_PENDING });
    let failures = 0;
    while (!o.signal?.aborted) {
      try {
        const consumer = await this.js.consumers.get(o.stream, o.durable);
        const batch = await consumer.fetch({ max_messages: maxInFlight, expires: 2000 });
        const work: Promise<void>[] = [];
        for await (const msg of batch) {
          work.push(this.handleOne(msg, o, handler, { ackWaitMs, maxDeliver, maxWorkMs: o.maxWorkMs ?? 10 * ackWaitMs, transientRetryMs: o.transientRetryMs ?? 300_000, backoff, log }));
        }
        await Promise.all(work);
        failures = 0;
      } catch (err) {
        if (o.signal?.aborted || this.nc.isClosed()) break;
        failures++;
        // missed heartbeats, a leader election or a reconnect: restart the loop, never kill the process
        log.warn({ err: (err as Error).message, failures }, "pull loop error; restarting");
        await sleep(Math.min(100 * 2 ** failures, 5000));
      }
    }
  }

  private async handleOne<T extends EventType>(
    msg: JsMsg, o: ConsumeOptions<T>, handler: (e: EventOf<T>, ctx: ConsumeContext) => Promise<void>,
    p: { ackWaitMs: number; maxDeliver: number; maxWorkMs: number; transientRetryMs: number; backoff: (n: number) => number; log: Logger },
  ): Promise<void> {
    const deliveries = msg.info.deliveryCount;
    let event: EventOf<T>;
    try {
      event = parseEvent(JSON.parse(dec.decode(msg.data)), o.types);
    } catch (err) {
      const reason = err instanceof SyntaxError || err instanceof TypeError ? "unparseable" : err instanceof UnknownEventError ? "unknown_event" : "schema";
      await this.deadLetter(msg, o.durable, reason, err as Error);
      return;
    }
    // keep the message while the handler works, but not forever: a handler stuck past maxWorkMs
    // stops the heartbeat, so the message is redelivered to another consumer instead of being held
    const started = Date.now();
    const working = () => {
      if (Date.now() - started > p.maxWorkMs) {
        clearInterval(timer);
        p.log.error({ seq: msg.seq, subject: msg.subject, ms: Date.now() - started }, "handler still running past maxWorkMs; letting the message be redelivered");
        return;
      }
      try { msg.working(); } catch { /* connection gone: redelivery will follow */ }
    };
    const timer = setInterval(working, Math.max(200, Math.floor(p.ackWaitMs / 3)));
    timer.unref();
    // a bus in transition (a leader election, a cut link) is no fault of the message: the handler is
    // run again within this delivery (it is idempotent: same input, same msgIDs), so an outage never
    // spends the deliveries that decide when a message is dead-lettered
    for (let attempt = 1; ; attempt++) {
      try {
        await handler(event, { msg, seq: msg.seq, subject: msg.subject, deliveries, working });
        clearInterval(timer);
        await msg.ackAck();
        return;
      } catch (err) {
        if (!(err instanceof PoisonMessageError) && isTransientBusError(err) && Date.now() - started < Math.min(p.transientRetryMs, p.maxWorkMs) && !o.signal?.aborted) {
          p.log.warn({ seq: msg.seq, deliveries, attempt, err: (err as Error).message }, "handler hit a bus in transition; running it again in this delivery");
          await sleep(Math.min(250 * 2 ** (attempt - 1), 5000));
          continue;
        }
        clearInterval(timer);
        if (err instanceof PoisonMessageError) {
          await this.deadLetter(msg, o.durable, "rejected", err);
        } else if (deliveries >= p.maxDeliver) { // transient or not: the DLQ keeps it, nothing waits silently
          await this.deadLetter(msg, o.durable, "max_deliveries", err as Error);
        } else {
          p.log.warn({ seq: msg.seq, deliveries, err: (err as Error).message }, "handler failed; nak with back-off");
          try { msg.nak(p.backoff(deliveries)); } catch { /* connection gone: redelivered after ack_wait */ }
        }
        return;
      }
    }
  }

  /** Publishes a DeadLettered event carrying the reason and the original payload, then term()s the message. */
  async deadLetter(msg: JsMsg, consumer: string, reason: DeadLettered["reason"], err: Error): Promise<void> {
    const headers: Record<string, string> = {};
    if (msg.headers) for (const [k, v] of msg.headers) headers[k] = v.join(",");
    const dl: DeadLettered = {
      type: "DeadLettered", v: 1, runId: runOfSubject(msg.subject), stream: msg.info.stream, subject: msg.subject,
      seq: msg.seq, consumer, deliveries: msg.info.deliveryCount, reason, error: err.message.slice(0, 4000),
      payload: Buffer.from(msg.data).toString("base64"), ...(Object.keys(headers).length ? { headers } : {}),
    };
    await this.publish(dl);
    this.log.error({ subject: msg.subject, seq: msg.seq, reason, err: err.message }, "dead-lettered");
    msg.term(); // no reason string: nats-server 2.9.10 mishandles term(reason)
  }

  // ---- replay -----------------------------------------------------------------------------

  /**
   * Every event of a run (or of one of its subjects) in log order, from its start or from a sequence, up
   * to the last one the stream's leader holds when the replay starts; messages that are no valid event are
   * skipped (logged).
   *
   * Why "the leader's": an ordered consumer is an R1 ephemeral that nats-server places on a random replica
   * of the stream (2.9.10, createGroupForConsumer) and that reads that replica's copy. A replica still
   * catching up after a partition ends short of the log, and its consumer says "nothing pending" there (CI:
   * an updater restarted six times on replays that stopped short, a restored node's replica 190 messages
   * behind for minutes). So the end is asked of the leader (STREAM.MSG.GET is answered by the leader
   * only), and what the consumer does not deliver up to it is read from the leader, message by message.
   * `via: "leader"` reads it all that way (an audit that must not depend on a replica).
   */
  async *replay(runId: string, o: ReplayOptions = {}): AsyncGenerator<Replayed> {
    const filter = o.subject ?? subjects.all(runId);
    // no log stream yet is an empty log; any other failure (a bus in transition) is the caller's to
    // retry, never an empty replay (an updater folding nothing would start its run over)
    const info = await this.jsm.streams.info(LOG_STREAM, { subjects_filter: filter }).catch((err: Error) => {
      if (/stream not found/i.test(err.message)) return null;
      throw err;
    });
    const total = info ? Object.values(info.state.subjects ?? {}).reduce((a, b) => a + (b as number), 0) : 0;
    if (total === 0) return;
    const end = await this.lastSubjectSeq(filter);
    let next = Math.max(1, o.fromSeq ?? 1);
    let skipped = 0;
    const parsed = (m: LogMsg): Replayed | undefined => {
      // a message that is no event (anyone allowed to publish on a run's subject can write one) is
      // skipped, as follow() does: the consumers dead-letter it, and a replay (an updater restarting,
      // an audit) must not fail on it for ever
      try { return { seq: m.seq, subject: m.subject, time: m.time, event: parseEvent(JSON.parse(dec.decode(m.data))) }; } catch (err) {
        // the first few are named; a flood of them is counted (see the finally block)
        if (++skipped <= 3) this.log.warn({ subject: m.subject, seq: m.seq, err: (err as Error).message.slice(0, 300) }, "replay: skipping an invalid event in the log");
        return undefined;
      }
    };
    try {
      if (o.via !== "leader") {
        let failed = false;
        try {
          for await (const m of this.consumerRange(filter, next, end)) {
            next = m.seq + 1;
            const r = parsed(m);
            if (r) yield r;
          }
        } catch (err) {
          // a consumer placed on a replica that does not answer (a node frozen or cut off): its creation or
          // its pulls time out; the leader still has every message
          if (!isTransientBusError(err)) throw err;
          this.log.warn({ runId, filter, next, end, err: (err as Error).message }, "replay: the consumer failed; reading the rest from the stream's leader");
          failed = true;
        }
        if (!failed && next <= end) this.log.warn({ runId, filter, next, end }, "replay: the consumer's replica ended before the leader's last message (a replica behind); reading the rest from the leader");
      }
      for await (const m of this.leaderRange(filter, next, end)) {
        next = m.seq + 1;
        const r = parsed(m);
        if (r) yield r;
      }
    } finally {
      if (skipped > 3) this.log.warn({ runId, filter, skipped }, "replay: skipped invalid events in the log (the consumers dead-letter them)");
    }
  }

  /** The log's messages matching a filter from `from` to `end`, by an ordered consumer (it may end short: see replay). */
  private async *consumerRange(filter: string, from: number, end: number): AsyncGenerator<LogMsg> {
    if (from > end) return;
    const consumer = await this.js.consumers.get(LOG_STREAM, {
      filter_subjects: filter,
      ...(from > 1 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from } : { deliver_policy: DeliverPolicy.All }),
    });
    try {
      for (;;) {
        const batch = await consumer.fetch({ max_messages: 256, expires: 2000 });
        let got = 0;
        for await (const m of batch) {
          got++;
          if (m.seq > end) return;
          yield { seq: m.seq, subject: m.subject, time: new Date(Math.floor(m.info.timestampNanos / 1e6)), data: m.data };
          if (m.seq >= end || m.info.pending === 0) return;
        }
        if (got === 0) return;
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
  }

  /** The same messages read from the stream's leader, one request each (next_by_subj, nats-server ≥ 2.9). */
  private async *leaderRange(filter: string, from: number, end: number): AsyncGenerator<LogMsg> {
    for (let seq = from; seq <= end;) {
      // MsgRequest's type lacks next_by_subj, which STREAM.MSG.GET takes (2.9.10's JSApiMsgGetRequest)
      const q = { seq, next_by_subj: filter } as unknown as MsgRequest;
      const m = await this.jsm.streams.getMessage(LOG_STREAM, q);
      if (!m || m.seq > end) return;
      yield { seq: m.seq, subject: m.subject, time: m.time, data: m.data };
      seq = m.seq + 1;
    }
  }

  /**
   * Follows a run's log from a sequence, forever (until the signal aborts): an ordered consumer that
   * survives reconnects and missed heartbeats. Events that do not parse are skipped with a warning
   * (the consumers dead-letter them). It never ends silently: the log stream gone (deleted under it),
   * the connection closed or the consumer stopped by the client all throw a LogFollowError.
   *
   * A consumer on a replica that is behind (see replay) keeps its heartbeats and delivers nothing new: a
   * watchdog asks the stream's leader for the run's last sequence every probeMs, and a follower that has
   * stayed behind it with no progress for lagMs is given a new consumer (placed anew) from where it was.
   */
  async *follow(runId: string, fromSeq: number, signal: AbortSignal, onSeq?: (seq: number) => void, o: FollowOptions = {}): AsyncGenerator<Replayed> {
    const lagMs = o.lagMs ?? 10_000, probeMs = Math.min(o.probeMs ?? 2_000, lagMs);
    let next = Math.max(1, fromSeq);
    for (let renewals = 0; ; renewals++) {
      // short pulls: a lost server (a killed cluster node) is noticed in seconds, not after the 30 s default
      const open = () => this.js.consumers.get(LOG_STREAM, {
        filter_subjects: subjects.all(runId), deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: next,
      }).then((c) => c.consume({ max_messages: 512, expires: 5000 }));
      // a renewal can meet a cluster in transition (a leader being elected): it tries again for up to a
      // minute; the first consumer's failure is the caller's at once
      const until = performance.now() + (renewals > 0 ? 60_000 : 0);
      let iter: Awaited<ReturnType<typeof open>> | undefined;
      while (!iter) {
        iter = await open().catch(async (err: Error) => {
          if (renewals > 0 && isTransientBusError(err) && performance.now() < until && !signal.aborted) { await sleep(1000); return undefined; }
          // a connection closed (or a stream gone) before the first pull is the same failure as after it
          throw new LogFollowError(`following run ${runId} failed: ${err.message}${this.nc.isClosed() ? " (the connection is closed)" : ""}`, { cause: err });
        });
      }
      let failure: LogFollowError | undefined;
      let behind: { since: number; next: number } | undefined;
      let stale = false;
      let inCaller = false; // suspended at a yield: a caller slow to take events is no replica behind
      const stop = () => { void iter.close(); };
      signal.addEventListener("abort", stop, { once: true });
      // the ordered consumer retries for ever when the stream is gone: a recreate that fails with
      // "stream not found", confirmed by the stream's info, ends the follow (a lost consumer, a leader
      // election or a reconnect are recovered by the client and only reported)
      void (async () => {
        for await (const s of iter.status()) {
          if (s.type !== "stream_not_found" || failure) continue;
          if (await this.jsm.streams.info(LOG_STREAM).then(() => true, (err) => !/stream not found/i.test((err as Error).message))) continue;
          failure = new LogFollowError(`the log stream ${LOG_STREAM} was deleted while following run ${runId}`);
          void iter.close();
        }
      })().catch(() => undefined);
      const watchdog = setInterval(() => {
        void this.lastRunSeq(runId).then((last) => {
          if (stale || inCaller || last < next) { behind = undefined; return; }
          const now = performance.now();
          if (!behind || behind.next !== next) { behind = { since: now, next }; return; }
          if (now - behind.since < lagMs) return;
          stale = true;
          this.log.warn({ runId, next, last, behindMs: Math.round(now - behind.since), renewals }, "log follower: its consumer is behind the stream's leader with no progress; following with a new consumer");
          o.onRenew?.({ next, last, renewals: renewals + 1 });
          void iter.close();
        }, () => undefined); // a cluster in transition: ask again at the next probe
      }, probeMs);
      watchdog.unref();
      try {
        for await (const m of iter) {
          if (signal.aborted) break;
          if (m.seq < next) continue; // a new consumer starts where the last delivered message left off
          next = m.seq + 1;
          onSeq?.(m.seq); // every message the follower got, an invalid one too (a caller measuring its progress)
          let event: ZsEvent;
          try { event = parseEvent(JSON.parse(dec.decode(m.data))); } catch (err) {
            this.log.warn({ subject: m.subject, seq: m.seq, err: (err as Error).message }, "skipping an invalid event in the log");
            continue;
          }
          inCaller = true;
          try { yield { seq: m.seq, subject: m.subject, time: new Date(Math.floor(m.info.timestampNanos / 1e6)), event }; } finally { inCaller = false; }
        }
      } catch (err) {
        if (!signal.aborted && !stale) throw new LogFollowError(`following run ${runId} failed: ${(err as Error).message}`, { cause: err });
      } finally {
        clearInterval(watchdog);
        signal.removeEventListener("abort", stop);
        await iter.close().catch(() => undefined);
      }
      if (failure) throw failure;
      if (signal.aborted) return;
      if (!stale) throw new LogFollowError(`following run ${runId} stopped${this.nc.isClosed() ? ": the connection is closed" : ""}`);
    }
  }

  /** The RunStarted event of a run, or null. */
  async runStarted(runId: string): Promise<RunStarted | null> {
    for await (const r of this.replay(runId, { subject: subjects.run(runId) })) {
      if (r.event.type === "RunStarted") return r.event;
    }
    return null;
  }

  async replayAll(runId: string, o: ReplayOptions = {}): Promise<Replayed[]> {
    const out: Replayed[] = [];
    for await (const r of this.replay(runId, o)) out.push(r);
    return out;
  }

  /** The sequence of a run's last event in the log (0 when it has none): what a follower should reach. */
  async lastRunSeq(runId: string): Promise<number> {
    return this.lastSubjectSeq(subjects.all(runId)); // last_by_subj takes a wildcard (nats-server 2.9.10 too)
  }

  /** The last sequence of a subject in the log (0 when empty), for expect.lastSubjectSequence appends. */
  async lastSubjectSeq(subject: string): Promise<number> {
    try {
      const m = await this.jsm.streams.getMessage(LOG_STREAM, { last_by_subj: subject });
      return m?.seq ?? 0;
    } catch (err) {
      if (/no message found|not found/i.test((err as Error).message)) return 0;
      throw err;
    }
  }

  // ---- weights and snapshots --------------------------------------------------------------

  async weights(runId: string): Promise<ObjectStore> {
    let b = this.buckets.get(runId);
    if (!b) {
      b = await openWeightsBucket(this.nc, runId, this.topo);
      this.buckets.set(runId, b);
    }
    return b;
  }

  /**
   * Stores bytes under their sha256 digest and returns the digest; storing twice is a no-op. layout object
   * (default): one object named by the digest; chunked: content-addressed chunks, each stored once, and a
   * manifest (streams/weights-store.ts). The digest is the same in both.
   */
  async putBlob(runId: string, bytes: Uint8Array, o: PutOptions = {}): Promise<string> {
    const store = weightsStore(o.layout ?? "object", { store: await this.weights(runId), runId, log: this.log }, o);
    const put = await store.put(bytes);
    this.log.debug({ runId, ...put, layout: store.layout }, "weights stored");
    return put.digest;
  }

  /**
   * Stores bytes read from a source in slices (a large snapshot never held whole) under their sha256
   * digest; the same digest as putBlob of the same bytes. The object layout reads it twice (once to hash
   * it, once to store it), the chunked one once. The source must not change until this resolves.
   */
  async putSource(runId: string, src: BlobSource, o: PutOptions & { sliceBytes?: number } = {}): Promise<string> {
    const store = weightsStore(o.layout ?? "object", { store: await this.weights(runId), runId, log: this.log }, o);
    const put = await store.putSource(src, o.sliceBytes);
    this.log.debug({ runId, ...put, layout: store.layout }, "weights stored");
    return put.digest;
  }

  /**
   * Reads the bytes stored under a digest, whatever the layout (the whole object when the bucket holds
   * it, else its manifest and chunks, fetched `concurrency` at once and through `cache`), and verifies
   * them: a mismatch is a WeightsDigestError, an absent object or chunk a WeightsNotFoundError. A read
   * of an object (of a chunk) that gets no data for `idleMs` is abandoned and started again, `attempts`
   * times; then a WeightsReadStalledError, never a hang.
   */
  async getBlob(runId: string, digest: string, o: ReadOptions = {}): Promise<Uint8Array> {
    return (await this.getBlobWithStats(runId, digest, o)).bytes;
  }

  /** getBlob, with what the read took: chunks fetched from the bus and chunks reused. */
  async getBlobWithStats(runId: string, digest: string, o: ReadOptions = {}): Promise<BlobRead> {
    const c = { store: await this.weights(runId), runId, log: this.log };
    const read = (await weightsStore("object", c).get(digest, o)) ?? (await weightsStore("chunked", c).get(digest, o));
    if (!read) throw new WeightsNotFoundError(`no object ${digest} and no manifest of it in the weights bucket of run ${runId}`);
    return read;
  }

  // ---- run index ----------------------------------------------------------------------------

  async runs(): Promise<KV> {
    this.runsKv ??= await openRunsBucket(this.nc, this.topo);
    return this.runsKv;
  }

  async putRunRecord(runId: string, record: Record<string, unknown>): Promise<void> {
    const kv = await this.runs();
    const prev = await kv.get(runId);
    const base = prev?.value?.length ? (JSON.parse(dec.decode(prev.value)) as Record<string, unknown>) : {};
    await kv.put(runId, enc.encode(JSON.stringify({ ...base, ...record, runId })));
  }

  async getRunRecord(runId: string): Promise<Record<string, unknown> | null> {
    const e = await (await this.runs()).get(runId);
    return e?.value?.length ? (JSON.parse(dec.decode(e.value)) as Record<string, unknown>) : null;
  }
}
