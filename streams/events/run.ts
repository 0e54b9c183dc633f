// Stream zs.<run>.run: the run's start and end.
import { z } from "zod";
import { Qwen2Config, RunConfig, problemsOf } from "../config.ts";
import { RecordedConfigError } from "../errors.ts";
import { Digest, RunId, Version } from "./common.ts";

export const RunStartedV1 = z.strictObject({
  type: z.literal("RunStarted"),
  v: z.literal(1),
  runId: RunId,
  config: z.record(z.string(), z.unknown()),   // the resolved run config: read it with runConfigOf
  configHash: z.string(),
  codeVersion: z.string(),
  seed: z.number().int(),
  modelConfig: z.record(z.string(), z.unknown()),  // the Qwen2 architecture (config.json) of the policy: modelConfigOf
  initialWeightsDigest: Digest,
  initialServingDigest: Digest.optional(),     // model.dtype bf16: the generators' BF16 copy of the initial weights
  initialOptimizerDigest: Digest.optional(),
  referenceWeightsDigest: Digest.optional(),   // the frozen KL reference; absent: the initial weights
  parent: z.strictObject({ runId: RunId, step: z.number().int().nonnegative(), version: Version }).optional(), // lineage of a fork
  startedAt: z.string(),
});
/**
 * v2 (run config schema 2): rollout.max_staleness is a fixed lag. In schema 1 a max_staleness > 0 was
 * accepted and did nothing (lock-step), so a v1 config upcasts to max_staleness 0 with the rest of
 * upcastConfigV1; the event's shape is unchanged.
 */
export const RunStartedV2 = RunStartedV1.extend({ v: z.literal(2) });
export type RunStarted = z.infer<typeof RunStartedV2>;

export function upcastRunStartedV1(e: Record<string, unknown>): Record<string, unknown> {
  return { ...e, v: 2, config: upcastConfigV1(e.config as Obj) };
}

export const RunFinishedV1 = z.strictObject({
  type: z.literal("RunFinished"),
  v: z.literal(1),
  runId: RunId,
  reason: z.enum(["completed", "stopped", "failed"]),
  finalVersion: Version,
  finalWeightsDigest: Digest,
  message: z.string().optional(),
});
export type RunFinished = z.infer<typeof RunFinishedV1>;

// The configs a RunStarted carries are read here, through runConfigOf and modelConfigOf, never cast.
// They live beside the event, not in streams/config.ts, because the event's version is the configs'
// schema version: RunStarted v1 carries run config schema 1, whatever wrote it, and nothing else is
// recorded (no event, msgID or config hash changes). A change to RunConfig or Qwen2Config that a recorded
// config would not pass makes the event RunStarted v2, with an upcaster from v1 that upcasts its config.
// The event itself keeps configs as plain records so that a config this code cannot read is a named
// error where a run is loaded, not a poison message at the bus.
//
// Schema 1 holds the configs of two eras: up to 87dfe9c the resolved config also recorded defaults that
// today's schema refuses. upcastConfigV1 rewrites those to what they meant; it changes only shapes that
// today's schema refuses, so a config recorded today comes back unchanged (test/streams/config-upcast.test.ts).

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** A schema-1 config as recorded before 499490c, rewritten to what it meant in today's schema. */
export function upcastConfigV1(config: Obj): Obj {
  const c: Obj = structuredClone(config);
  const model = c.model;
  // model.init_seed / init_std defaulted to 0 / 0.02 and were recorded with model.path too, where the
  // weights were loaded and they did nothing; today they are refused with model.path
  if (isObj(model) && model.path !== undefined) { delete model.init_seed; delete model.init_std; }
  const rollout = c.rollout;
  // max_staleness > 0 was accepted and had no effect: step k+1 was requested after update k
  if (isObj(rollout) && typeof rollout.max_staleness === "number" && rollout.max_staleness > 0) rollout.max_staleness = 0;
  const ev = c.eval;
  if (isObj(ev)) {
    const benchmarks = Array.isArray(ev.benchmarks) ? ev.benchmarks : [];
    // a benchmark's temperature defaulted to 0, which meant rollout.temperature for k > 1: today that is unset
    for (const b of benchmarks) if (isObj(b) && typeof b.k === "number" && b.k > 1 && b.temperature === 0) delete b.temperature;
    // eval.every > 0 with no benchmark evaluated nothing
    if (typeof ev.every === "number" && ev.every > 0 && benchmarks.length === 0) ev.every = 0;
  }
  return c;
}

function parseRecorded<S extends z.ZodType>(schema: S, raw: Obj, started: Pick<RunStarted, "runId" | "codeVersion"> & { v: number }, field: string): z.infer<S> {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  throw new RecordedConfigError(`RunStarted.${field} of run ${started.runId} (v${started.v}, written by ${started.codeVersion})`,
    problemsOf(r.error, raw));
}

/** The run config of a RunStarted, parsed (after the upcasters of old logs) against today's schema. */
export function runConfigOf(started: RunStarted | z.infer<typeof RunStartedV1>): RunConfig {
  // a v1 event that did not come through the registry (built in memory) is upcast here; upcastConfigV1 is idempotent
  return parseRecorded(RunConfig, started.v === 1 ? upcastConfigV1(started.config) : started.config, started, "config");
}

/** The policy's model config of a RunStarted, parsed against the engine's schema (the recorded keys kept). */
export function modelConfigOf(started: RunStarted | z.infer<typeof RunStartedV1>): Qwen2Config {
  return { ...started.modelConfig, ...parseRecorded(Qwen2Config, started.modelConfig, started, "modelConfig") };
}
