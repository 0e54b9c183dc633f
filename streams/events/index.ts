// The event registry: every (type, v) schema, the upcasters between versions, and the one parse
// function used at the boundary. A changed event gets v: 2, a schema here and a tested upcaster.
import type { z } from "zod";
import { PoisonMessageError, UnknownEventError } from "../errors.ts";
import { DeadLetteredV1, type DeadLettered } from "./dlq.ts";
import { EvaluatedV1, EvaluatedV2, upcastEvaluatedV1, type Evaluated } from "./eval.ts";
import { PolicyUpdatedV1, type PolicyUpdated } from "./policy.ts";
import { GroupScoredV1, GroupScoredV2, upcastGroupScoredV1, type GroupScored } from "./reward.ts";
import { GroupSampledV1, GroupSampledV2, upcastGroupSampledV1, type GroupSampled } from "./rollout.ts";
import { RunFinishedV1, RunStartedV1, RunStartedV2, upcastRunStartedV1, type RunFinished, type RunStarted } from "./run.ts";
import { RolloutRequestedV1, RolloutRequestedV2, upcastRolloutRequestedV1, type RolloutRequested } from "./tasks.ts";

export * from "./common.ts";
export * from "./dlq.ts";
export * from "./eval.ts";
export * from "./policy.ts";
export * from "./reward.ts";
export * from "./rollout.ts";
export * from "./run.ts";
export * from "./tasks.ts";

export type ZsEvent = RunStarted | RunFinished | RolloutRequested | GroupSampled | GroupScored | PolicyUpdated | Evaluated | DeadLettered;
export type EventType = ZsEvent["type"];
export type EventOf<T extends EventType> = Extract<ZsEvent, { type: T }>;

type Upcaster = (event: Record<string, unknown>) => Record<string, unknown>;

export function formatIssues(issues: z.core.$ZodIssue[]): string {
  return issues.map((i) => `${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`).join("; ");
}

export class EventRegistry {
  private schemas = new Map<string, z.ZodType>();
  private latestV = new Map<string, number>();
  private upcasters = new Map<string, Upcaster>();

  register(type: string, v: number, schema: z.ZodType): this {
    this.schemas.set(`${type}@${v}`, schema);
    this.latestV.set(type, Math.max(v, this.latestV.get(type) ?? 0));
    return this;
  }

  /** An upcaster turns a valid `type`@`fromV` event into a `type`@`fromV + 1` event. */
  upcaster(type: string, fromV: number, fn: Upcaster): this {
    this.upcasters.set(`${type}@${fromV}`, fn);
    return this;
  }

  latest(type: string): number | undefined {
    return this.latestV.get(type);
  }

  /** Validates a decoded payload against its own version's schema, then upcasts it to the latest version. */
  parse(raw: unknown): ZsEvent {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      throw new PoisonMessageError(`an event must be a JSON object, got ${Array.isArray(raw) ? "an array" : typeof raw}`);
    }
    const { type, v } = raw as { type?: unknown; v?: unknown };
    if (typeof type !== "string" || typeof v !== "number") {
      throw new PoisonMessageError(`an event needs a string 'type' and a numeric 'v' (got type=${JSON.stringify(type)}, v=${JSON.stringify(v)})`);
    }
    const latest = this.latestV.get(type);
    if (latest === undefined) throw new UnknownEventError(`unknown event type '${type}'`);
    let version = v;
    let event = this.check(type, version, raw);
    while (version < latest) {
      const up = this.upcasters.get(`${type}@${version}`);
      if (!up) throw new UnknownEventError(`no upcaster from ${type} v${version} to v${version + 1}`);
      event = this.check(type, version + 1, up(event as Record<string, unknown>));
      version += 1;
    }
    return event as ZsEvent;
  }

  private check(type: string, v: number, raw: unknown): unknown {
    const schema = this.schemas.get(`${type}@${v}`);
    if (!schema) throw new UnknownEventError(`unknown version ${v} of event ${type}`);
    const r = schema.safeParse(raw);
    if (!r.success) throw new PoisonMessageError(`${type} v${v} does not match its schema: ${formatIssues(r.error.issues)}`);
    return r.data;
  }
}

export const events = new EventRegistry()
  .register("RunStarted", 1, RunStartedV1)
  .register("RunStarted", 2, RunStartedV2)
  .upcaster("RunStarted", 1, upcastRunStartedV1)
  .register("RunFinished", 1, RunFinishedV1)
  .register("RolloutRequested", 1, RolloutRequestedV1)
  .register("RolloutRequested", 2, RolloutRequestedV2)
  .upcaster("RolloutRequested", 1, upcastRolloutRequestedV1)
  .register("GroupSampled", 1, GroupSampledV1)
  .register("GroupSampled", 2, GroupSampledV2)
  .upcaster("GroupSampled", 1, upcastGroupSampledV1)
  .register("GroupScored", 1, GroupScoredV1)
  .register("GroupScored", 2, GroupScoredV2)
  .upcaster("GroupScored", 1, upcastGroupScoredV1)
  .register("PolicyUpdated", 1, PolicyUpdatedV1)
  .register("Evaluated", 1, EvaluatedV1)
  .register("Evaluated", 2, EvaluatedV2)
  .upcaster("Evaluated", 1, upcastEvaluatedV1)
  .register("DeadLettered", 1, DeadLetteredV1);

/** Parses a payload and checks it is one of the expected event types. */
export function parseEvent<T extends EventType>(raw: unknown, expected?: readonly T[]): EventOf<T> {
  const e = events.parse(raw);
  if (expected && !expected.includes(e.type as T)) {
    throw new PoisonMessageError(`expected ${expected.join(" or ")}, got ${e.type}`);
  }
  return e as EventOf<T>;
}
