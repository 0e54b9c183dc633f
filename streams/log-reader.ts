// Reading the log: replay (a run's events up to the stream leader's last one) and follow (for ever, with a
// watchdog), for EventLog. Neither trusts the replica its consumer lands on: see replayLog.
import { DeliverPolicy, type JetStreamClient, type JetStreamManager, type MsgRequest } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { isTransientBusError, LogFollowError } from "./errors.ts";
import { parseEvent, type ZsEvent } from "./events/index.ts";
import { LOG_STREAM, subjects } from "./subjects.ts";

const dec = new TextDecoder("utf-8", { fatal: true });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type Replayed = { seq: number; subject: string; time: Date; event: ZsEvent };
/** How a replay reads: `via` "consumer" (default: an ordered consumer, the leader for what it misses) or "leader" (every message from the stream's leader). */
export type ReplayOptions = { fromSeq?: number; subject?: string; via?: "consumer" | "leader" };
/** What follow() tolerates: a follower behind the leader's last message with no progress for lagMs gets a new consumer (probed every probeMs). */
export type FollowOptions = { lagMs?: number; probeMs?: number; onRenew?: (r: { next: number; last: number; renewals: number }) => void };
/** What the reader uses of an EventLog. */
export type LogReader = { js: JetStreamClient; jsm: JetStreamManager; nc: NatsConnection; log: Logger; lastSubjectSeq(subject: string): Promise<number> };
type LogMsg = { seq: number; subject: string; time: Date; data: Uint8Array };

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
export async function* replayLog(c: LogReader, runId: string, o: ReplayOptions = {}): AsyncGenerator<Replayed> {
  const filter = o.subject ?? subjects.all(runId);
  // no log stream yet is an empty log; any other failure (a bus in transition) is the caller's to
  // retry, never an empty replay (an updater folding nothing would start its run over)
  const info = await c.jsm.streams.info(LOG_STREAM, { subjects_filter: filter }).catch((err: Error) => {
    if (/stream not found/i.test(err.message)) return null;
    throw err;
  });
  const total = info ? Object.values(info.state.subjects ?? {}).reduce((a, b) => a + (b as number), 0) : 0;
  if (total === 0) return;
  const end = await c.lastSubjectSeq(filter);
  let next = Math.max(1, o.fromSeq ?? 1);
  let skipped = 0;
  const parsed = (m: LogMsg): Replayed | undefined => {
    // a message that is no event (anyone allowed to publish on a run's subject can write one) is
    // skipped, as follow() does: the consumers dead-letter it, and a replay (an updater restarting,
    // an audit) must not fail on it for ever
    try { return { seq: m.seq, subject: m.subject, time: m.time, event: parseEvent(JSON.parse(dec.decode(m.data))) }; } catch (err) {
      // the first few are named; a flood of them is counted (see the finally block)
      if (++skipped <= 3) c.log.warn({ subject: m.subject, seq: m.seq, err: (err as Error).message.slice(0, 300) }, "replay: skipping an invalid event in the log");
      return undefined;
    }
  };
  try {
    if (o.via !== "leader") {
      let failed = false;
      try {
        for await (const m of consumerRange(c, filter, next, end)) {
          next = m.seq + 1;
          const r = parsed(m);
          if (r) yield r;
        }
      } catch (err) {
        // a consumer placed on a replica that does not answer (a node frozen or cut off): its creation or
        // its pulls time out; the leader still has every message
        if (!isTransientBusError(err)) throw err;
        c.log.warn({ runId, filter, next, end, err: (err as Error).message }, "replay: the consumer failed; reading the rest from the stream's leader");
        failed = true;
      }
      if (!failed && next <= end) c.log.warn({ runId, filter, next, end }, "replay: the consumer's replica ended before the leader's last message (a replica behind); reading the rest from the leader");
    }
    for await (const m of leaderRange(c, filter, next, end)) {
      next = m.seq + 1;
      const r = parsed(m);
      if (r) yield r;
    }
  } finally {
    if (skipped > 3) c.log.warn({ runId, filter, skipped }, "replay: skipped invalid events in the log (the consumers dead-letter them)");
  }
}

/** The log's messages matching a filter from `from` to `end`, by an ordered consumer (it may end short: see replay). */
async function* consumerRange(c: LogReader, filter: string, from: number, end: number): AsyncGenerator<LogMsg> {
  if (from > end) return;
  const consumer = await c.js.consumers.get(LOG_STREAM, {
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
async function* leaderRange(c: LogReader, filter: string, from: number, end: number): AsyncGenerator<LogMsg> {
  for (let seq = from; seq <= end;) {
    // MsgRequest's type lacks next_by_subj, which STREAM.MSG.GET takes (2.9.10's JSApiMsgGetRequest)
    const q = { seq, next_by_subj: filter } as unknown as MsgRequest;
    const m = await c.jsm.streams.getMessage(LOG_STREAM, q);
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
export async function* followLog(c: LogReader, runId: string, fromSeq: number, signal: AbortSignal, onSeq?: (seq: number) => void, o: FollowOptions = {}): AsyncGenerator<Replayed> {
  const lagMs = o.lagMs ?? 10_000, probeMs = Math.min(o.probeMs ?? 2_000, lagMs);
  let next = Math.max(1, fromSeq);
  for (let renewals = 0; ; renewals++) {
    // short pulls: a lost server (a killed cluster node) is noticed in seconds, not after the 30 s default
    const open = () => c.js.consumers.get(LOG_STREAM, {
      filter_subjects: subjects.all(runId), deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: next,
    }).then((k) => k.consume({ max_messages: 512, expires: 5000 }));
    // a renewal can meet a cluster in transition (a leader being elected): it tries again for up to a
    // minute; the first consumer's failure is the caller's at once
    const until = performance.now() + (renewals > 0 ? 60_000 : 0);
    let iter: Awaited<ReturnType<typeof open>> | undefined;
    while (!iter) {
      iter = await open().catch(async (err: Error) => {
        if (renewals > 0 && isTransientBusError(err) && performance.now() < until && !signal.aborted) { await sleep(1000); return undefined; }
        // a connection closed (or a stream gone) before the first pull is the same failure as after it
        throw new LogFollowError(`following run ${runId} failed: ${err.message}${c.nc.isClosed() ? " (the connection is closed)" : ""}`, { cause: err });
      });
    }
    let failure: LogFollowError | undefined;
    let behind: { since: number; next: number } | undefined;
    let stale = false;
    let inCaller = false; // suspended at a yield: a caller slow to take events is no replica behind
    let done = false;     // this consumer's loop has ended: a probe still in flight must not act on it
    const stop = () => { void iter.close(); };
    signal.addEventListener("abort", stop, { once: true });
    // the ordered consumer retries for ever when the stream is gone: a recreate that fails with
    // "stream not found", confirmed by the stream's info, ends the follow (a lost consumer, a leader
    // election or a reconnect are recovered by the client and only reported)
    void (async () => {
      for await (const s of iter.status()) {
        if (s.type !== "stream_not_found" || failure) continue;
        if (await c.jsm.streams.info(LOG_STREAM).then(() => true, (err) => !/stream not found/i.test((err as Error).message))) continue;
        failure = new LogFollowError(`the log stream ${LOG_STREAM} was deleted while following run ${runId}`);
        void iter.close();
      }
    })().catch(() => undefined);
    const watchdog = setInterval(() => {
      void c.lastSubjectSeq(subjects.all(runId)).then((last) => {
        if (done || stale || inCaller || last < next) { behind = undefined; return; }
        const now = performance.now();
        if (!behind || behind.next !== next) { behind = { since: now, next }; return; }
        if (now - behind.since < lagMs) return;
        stale = true;
        c.log.warn({ runId, next, last, behindMs: Math.round(now - behind.since), renewals }, "log follower: its consumer is behind the stream's leader with no progress; following with a new consumer");
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
          c.log.warn({ subject: m.subject, seq: m.seq, err: (err as Error).message }, "skipping an invalid event in the log");
          continue;
        }
        inCaller = true;
        try { yield { seq: m.seq, subject: m.subject, time: new Date(Math.floor(m.info.timestampNanos / 1e6)), event }; } finally { inCaller = false; }
      }
    } catch (err) {
      if (!signal.aborted && !stale) throw new LogFollowError(`following run ${runId} failed: ${(err as Error).message}`, { cause: err });
    } finally {
      done = true;
      clearInterval(watchdog);
      signal.removeEventListener("abort", stop);
      await iter.close().catch(() => undefined);
    }
    if (failure) throw failure;
    if (signal.aborted) return;
    if (!stale) throw new LogFollowError(`following run ${runId} stopped${c.nc.isClosed() ? ": the connection is closed" : ""}`);
  }
}
