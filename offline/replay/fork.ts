// fork: the pure parts of starting a new run from a step of an old one — the overridden config and the
// snapshot (weights + optimizer digests, version) recorded by the PolicyUpdated of that step.
import { applyOverride, resolveConfig, type RunConfig } from "../../streams/config.ts";
import { ZeroStreamError } from "../../streams/errors.ts";
import type { Replayed } from "../../streams/eventlog.ts";
import type { PolicyUpdated } from "../../streams/events/index.ts";
import { foldRun } from "../../domain/run/view.ts";

export class ForkError extends ZeroStreamError {}

// the architecture and the vocabulary travel with the weights: a fork cannot change them
const FIXED = ["model", "tokenizer"];

/** The parent's resolved config with `key.path=value` overrides, validated again. */
export function forkConfig(parent: Record<string, unknown>, sets: string[], source = "fork"): RunConfig {
  let raw: unknown = parent;
  for (const s of sets) {
    const key = s.slice(0, Math.max(0, s.indexOf("=")));
    if (FIXED.some((f) => key === f || key.startsWith(`${f}.`))) throw new ForkError(`--set ${key}: a fork keeps the parent's ${key.split(".")[0]} (the weights are its weights); start a new run instead`);
    raw = applyOverride(raw, s, source);
  }
  return resolveConfig(raw, source);
}

/** The PolicyUpdated of `step`: the state after it is what the fork starts from. */
export function snapshotAt(events: Replayed[], step: number): PolicyUpdated {
  const updates = foldRun(events).updates.map((u) => u.event);
  const u = updates.find((e) => e.step === step);
  if (!u) throw new ForkError(`no PolicyUpdated for step ${step}: the run has steps ${updates.length ? `0..${updates[updates.length - 1].step}` : "none yet"}`);
  return u;
}
