// The EventLog client: idempotent publishing, typed durable pull consumption (parse at the boundary,
// poison → term() + DeadLettered), replay and follow (streams/log-reader.ts), and weights by sha256 digest
// in the object store.
import {
  jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type JsMsg, type PubAck,
} from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { setSha256Backend, type ObjectStore } from "@nats-io/obj";
import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import {
  isTransientBusError, PoisonMessageError, PublishFailedError, UnknownEventError, WeightsNotFoundError,
} from "./errors.ts";
import { events, parseEvent, type DeadLettered, type RunStarted, type EventOf, type EventType, type ZsEvent } from "./events/index.ts";
import { childLogger } from "./logger.ts";
import { followLog, replayLog, type FollowOptions, type LogReader, type Replayed, type ReplayOptions } from "./log-reader.ts";
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
export type { FollowOptions, Replayed, ReplayOptions } from "./log-reader.ts";

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

  // ---- replay and follow (streams/log-reader.ts) --------------------------------------------

  /** Every event of a run (or of one of its subjects) in log order, up to the leader's last one when it starts: see replayLog. */
  replay(runId: string, o: ReplayOptions = {}): AsyncGenerator<Replayed> { return replayLog(this.reader(), runId, o); }

  /** Follows a run's log from a sequence until the signal aborts; never ends silently: see followLog. */
  follow(runId: string, fromSeq: number, signal: AbortSignal, onSeq?: (seq: number) => void, o: FollowOptions = {}): AsyncGenerator<Replayed> {
    return followLog(this.reader(), runId, fromSeq, signal, onSeq, o);
  }

  private reader(): LogReader { return { js: this.js, jsm: this.jsm, nc: this.nc, log: this.log, lastSubjectSeq: (s) => this.lastSubjectSeq(s) }; }

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
  async putBlob(runId: string, bytes: Uint8Array, o: PutOptions & { digest?: string } = {}): Promise<string> {
    const store = weightsStore(o.layout ?? "object", { store: await this.weights(runId), runId, log: this.log }, o);
    const put = await store.put(bytes, o.digest);
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
