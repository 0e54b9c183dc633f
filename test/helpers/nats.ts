// Integration-test helper: a real nats-server per test file, with a temporary store and unique names.
import { randomBytes } from "node:crypto";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { EventLog } from "../../streams/eventlog.ts";
import { startLocalServer, type LocalServer } from "../../streams/nats-server.ts";

export type Bus = { server: LocalServer; log: EventLog; stop(): Promise<void> };

export async function startBus(): Promise<Bus> {
  const server = await startLocalServer();
  const log = await EventLog.connect(server.url);
  return {
    server, log,
    async stop() {
      await log.close();
      await server.stop();
    },
  };
}

export function uniqueRunId(prefix = "t"): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `f` every 100 ms until it returns a value; fails after `ms`, naming what it waited for and the last thing it saw. */
export async function waitFor<T>(what: string, f: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

export type DurableState = { waiting: number; pending: number; ackPending: number; redelivered: number; delivered: number; ackFloor: number };

/** A durable consumer's counters as the server keeps them (JetStream consumer info); null while it does not exist. */
export async function durableState(bus: Bus, stream: string, durable: string): Promise<DurableState | null> {
  try {
    const i = await bus.log.jsm.consumers.info(stream, durable);
    return {
      waiting: i.num_waiting, pending: i.num_pending, ackPending: i.num_ack_pending, redelivered: i.num_redelivered,
      delivered: i.delivered.consumer_seq, ackFloor: i.ack_floor.consumer_seq,
    };
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound) return null;
    throw err;
  }
}

/** Waits until `n` pull requests wait on a durable: n worker processes (one fetch each at a time) are up and pulling. */
export async function waitPulling(bus: Bus, stream: string, durable: string, n: number, ms = 60_000): Promise<DurableState> {
  return waitFor(`${n} pull request(s) waiting on ${stream}/${durable}`, async () => {
    const s = await durableState(bus, stream, durable);
    return s && s.waiting >= n ? s : undefined;
  }, ms);
}

/**
 * Waits until a durable has delivered every message its filter matches and every delivery is acked: a worker
 * acks only after its publishes are acknowledged, so from then on nothing of that work can be redelivered
 * or published again. This is the positive evidence that a log read afterwards is final.
 */
export async function waitSettled(bus: Bus, stream: string, durable: string, ms = 60_000): Promise<DurableState> {
  return waitFor(`every message of ${stream}/${durable} delivered and acked`, async () => {
    const s = await durableState(bus, stream, durable);
    return s && s.pending === 0 && s.ackPending === 0 ? s : undefined;
  }, ms);
}
