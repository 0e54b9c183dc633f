// Stream, consumer and bucket definitions, created idempotently: creating twice gives the same state,
// and an existing resource whose configuration drifted from ours is reported (StreamDriftError), not kept silently.
import {
  AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType,
  type ConsumerConfig, type JetStreamManager, type StreamConfig,
} from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { Objm, type ObjectStore } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { StreamDriftError } from "./errors.ts";
import { LOG_STREAM, RUNS_BUCKET, TASK_STREAM, weightsBucket } from "./subjects.ts";

const NS = 1_000_000;
export const MAX_EVENT_BYTES = 8 * 1024 * 1024;

export type TopologyOptions = { replicas?: number; duplicateWindowMs?: number };

function eventStreamConfig(name: string, subject: string, retention: RetentionPolicy, o: TopologyOptions): Partial<StreamConfig> {
  return {
    name, subjects: [subject], retention,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_msgs: -1, max_bytes: -1, max_age: 0,
    max_msg_size: MAX_EVENT_BYTES,
    duplicate_window: (o.duplicateWindowMs ?? 10 * 60_000) * NS,
    num_replicas: o.replicas ?? 1,
  };
}

/** Every run's event log: limits retention, kept until deleted (work-queue retention deletes on ack). */
export function logStreamConfig(o: TopologyOptions = {}): Partial<StreamConfig> {
  return eventStreamConfig(LOG_STREAM, "zs.>", RetentionPolicy.Limits, o);
}

/** Rollout tasks: a work queue, each task taken by one generator. */
export function taskStreamConfig(o: TopologyOptions = {}): Partial<StreamConfig> {
  return eventStreamConfig(TASK_STREAM, "zst.>", RetentionPolicy.Workqueue, o);
}

const compared = ["subjects", "retention", "storage", "discard", "max_msgs", "max_bytes", "max_age", "max_msg_size", "duplicate_window", "num_replicas"] as const;

function driftOf(want: Record<string, unknown>, have: Record<string, unknown>, keys: readonly string[]): string[] {
  const out: string[] = [];
  for (const k of keys) {
    if (want[k] === undefined) continue;
    const a = JSON.stringify(want[k]);
    const b = JSON.stringify(have[k]);
    if (a !== b) out.push(`${k}: want ${a}, found ${b}`);
  }
  return out;
}

export async function ensureStream(jsm: JetStreamManager, cfg: Partial<StreamConfig>): Promise<"created" | "exists"> {
  try {
    const info = await jsm.streams.info(cfg.name!);
    const drift = driftOf(cfg as Record<string, unknown>, info.config as unknown as Record<string, unknown>, compared);
    if (drift.length) throw new StreamDriftError(`stream ${cfg.name}`, drift);
    return "exists";
  } catch (err) {
    if (err instanceof StreamDriftError) throw err;
    if (!isNotFound(err)) throw err;
  }
  await jsm.streams.add({ ...cfg, name: cfg.name! });
  return "created";
}

export function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; message?: string; code?: number; api_error?: { err_code?: number } };
  return e?.name === "StreamNotFoundError" || e?.name === "ConsumerNotFoundError" || /not found/i.test(e?.message ?? "");
}

export type DurableOptions = {
  stream: string; durable: string; filterSubject: string;
  ackWaitMs: number; maxDeliver: number; maxAckPending: number;
};

export function durableConfig(o: DurableOptions): Partial<ConsumerConfig> {
  return {
    durable_name: o.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: o.filterSubject,
    ack_wait: o.ackWaitMs * NS,
    max_deliver: o.maxDeliver,
    max_ack_pending: o.maxAckPending,
  };
}

export async function ensureDurable(jsm: JetStreamManager, o: DurableOptions): Promise<"created" | "exists"> {
  const want = durableConfig(o);
  try {
    const info = await jsm.consumers.info(o.stream, o.durable);
    const drift = driftOf(want as Record<string, unknown>, info.config as unknown as Record<string, unknown>,
      ["ack_policy", "deliver_policy", "filter_subject", "ack_wait", "max_deliver"]);
    if (drift.length) throw new StreamDriftError(`consumer ${o.stream}/${o.durable}`, drift);
    if (info.config.max_ack_pending !== o.maxAckPending) {
      await jsm.consumers.update(o.stream, o.durable, { max_ack_pending: o.maxAckPending });
    }
    return "exists";
  } catch (err) {
    if (err instanceof StreamDriftError) throw err;
    if (!isNotFound(err)) throw err;
  }
  await jsm.consumers.add(o.stream, want);
  return "created";
}

export async function ensureCoreTopology(jsm: JetStreamManager, o: TopologyOptions = {}): Promise<void> {
  await ensureStream(jsm, logStreamConfig(o));
  await ensureStream(jsm, taskStreamConfig(o));
}

export async function openRunsBucket(nc: NatsConnection, o: TopologyOptions = {}): Promise<KV> {
  // allow_direct off: a direct get is answered by any replica, a lagging one too (a restored node after a
  // partition), and a run record merged over a stale read loses what was written since; without it a get
  // is answered by the stream's leader. A bucket made before keeps its setting; this client reads the leader.
  return new Kvm(nc).create(RUNS_BUCKET, { history: 5, replicas: o.replicas ?? 1, storage: StorageType.File, allow_direct: false });
}

export async function openWeightsBucket(nc: NatsConnection, runId: string, o: TopologyOptions = {}): Promise<ObjectStore> {
  return new Objm(nc).create(weightsBucket(runId), {
    description: `weights and optimizer snapshots of run ${runId}, addressed by sha256 digest`,
    storage: StorageType.File, replicas: o.replicas ?? 1,
  });
}
