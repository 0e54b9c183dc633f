// The run as the updater sees it, folded from the log: evolve(state, event) → state. Pure.
import type { RunConfig } from "../../streams/config.ts";
import { scorerOfRecord } from "../reward/registry.ts";
import { runConfigOf, type GroupSampled, type GroupScored, type PolicyUpdated, type RunFinished, type RunStarted, type ZsEvent } from "../../streams/events/index.ts";

export type RunState = {
  started?: RunStarted;
  config?: RunConfig;
  step: number;                     // the next step to run
  version: number;                  // the current policy version
  weightsDigest?: string;
  optimizerDigest?: string;
  lastPolicySeq: number;            // sequence of the last PolicyUpdated (for expect.lastSubjectSequence)
  lastPolicy?: PolicyUpdated;
  sampled: Map<string, GroupSampled>;     // groups of steps not yet applied
  scored: Map<string, GroupScored>;       // by groupId, for the run's scorer only
  refused: { groupId: string; reason: string }[];
  finished?: RunFinished;
  deadLettered: { step: number; reason: string; subject: string; error: string }[]; // of this run's tasks and groups
  seq: number;                      // last folded sequence
};

export function initialState(): RunState {
  return { step: 0, version: 0, lastPolicySeq: 0, sampled: new Map(), scored: new Map(), refused: [], deadLettered: [], seq: 0 };
}

export function evolve(s: RunState, e: ZsEvent, seq: number, scorer?: string): RunState {
  s.seq = Math.max(s.seq, seq);
  switch (e.type) {
    case "RunStarted":
      s.started = e;
      s.config = runConfigOf(e);
      s.weightsDigest = e.initialWeightsDigest;
      s.optimizerDigest = e.initialOptimizerDigest;
      if (e.parent) { s.step = e.parent.step + 1; s.version = e.parent.version; } // a fork continues its parent's numbering
      return s;
    case "GroupSampled": {
      if (e.step < s.step || s.sampled.has(e.groupId)) return s;        // already applied, or a duplicate
      const staleness = s.config?.rollout.max_staleness ?? 0;
      const expected = e.step;                                          // on-policy: step k samples with version k
      if (e.policyVersion < expected - staleness || e.policyVersion > expected) {
        s.refused.push({ groupId: e.groupId, reason: `sampled with policy v${e.policyVersion}, step ${e.step} needs v${expected}${staleness ? ` (max_staleness ${staleness})` : ""}` });
        return s;
      }
      s.sampled.set(e.groupId, e);
      return s;
    }
    case "GroupScored":
      if (e.step < s.step || s.scored.has(e.groupId)) return s;
      // by the full id of the spec it recorded: a group scored under other settings is not this run's
      if (scorer && scorerOfRecord(e, s.config?.reward?.timeout_ms) !== scorer) return s;
      s.scored.set(e.groupId, e);
      return s;
    case "PolicyUpdated":
      s.step = e.step + 1;
      s.version = e.toVersion;
      s.weightsDigest = e.weightsDigest;
      s.optimizerDigest = e.optimizerDigest;
      s.lastPolicySeq = seq;
      s.lastPolicy = e;
      for (const [id, g] of s.sampled) if (g.step <= e.step) s.sampled.delete(id);
      for (const [id, g] of s.scored) if (g.step <= e.step) s.scored.delete(id);
      return s;
    case "DeadLettered": {
      let step = -1;
      try { step = Number((JSON.parse(Buffer.from(e.payload, "base64").toString("utf8")) as { step?: unknown }).step ?? -1); } catch { /* unparseable payload */ }
      s.deadLettered.push({ step, reason: e.reason, subject: e.subject, error: e.error });
      return s;
    }
    case "RunFinished":
      s.finished = e;
      return s;
    default:
      return s;
  }
}

/** Groups of `groupIds` that have both a sample and a score. */
export function readyGroups(s: RunState, groupIds: string[]): { ready: { sampled: GroupSampled; scored: GroupScored }[]; missingSample: string[]; missingScore: string[] } {
  const ready = [], missingSample = [], missingScore = [];
  for (const id of groupIds) {
    const a = s.sampled.get(id), b = s.scored.get(id);
    if (!a) missingSample.push(id);
    else if (!b) missingScore.push(id);
    else ready.push({ sampled: a, scored: b });
  }
  return { ready, missingSample, missingScore };
}
