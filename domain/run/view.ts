// The one fold of a run's log: RunView. Every reader of a run (the updater, the audit, verify-updates,
// rescore, export, the history, the report, the evaluator) reads the log through this fold, so there is
// one dedupe rule and one way to key a group's scores. Pure: foldRun never mutates its `base`.
//
// Dedupe rule (first wins): the first GroupSampled of a group id is the group's sample; the first
// GroupScored of a (group id, full scorer id) is that scorer's score of the group; the first
// PolicyUpdated of a step is the step's update. A later event for the same key (a redelivery published
// past the server's dedupe window, a forged or buggy publisher) never replaces the first: it is kept in
// `duplicates` with both sequences for the audit to report. Scores are keyed by the full scorer id of
// the settings they record (scorerOfRecord: an event written before ids named their settings reads under
// its full id); a PolicyUpdated's scorer is read the same way (scorerOfUpdate).
//
// Folding a prefix of a log and then the rest equals folding the whole (test/domain/view.test.ts).
import type { RunConfig } from "../../streams/config.ts";
import { runConfigOf, type DeadLettered, type Evaluated, type GroupSampled, type GroupScored, type PolicyUpdated, type RunFinished, type RunStarted, type WeightsPatch, type ZsEvent } from "../../streams/events/index.ts";
import { scorerOfRecord, scorerOfUpdate } from "../reward/registry.ts";
import { scorerOf } from "../reward/spec.ts";

/** An event with its sequence in the log. */
export type At<E> = { seq: number; event: E };

export type GroupEntry = {
  groupId: string;
  sampled?: At<GroupSampled>;
  scored: Map<string, At<GroupScored>>;   // full scorer id → first score
};

export type Duplicate = { type: "GroupSampled" | "GroupScored" | "PolicyUpdated" | "RunStarted"; key: string; seq: number; firstSeq: number };

/**
 * `all` keeps every group (readers of a whole run); `pending` drops the groups of applied steps and
 * ignores late events for them (the updater, whose memory must not grow with the run).
 */
export type Retain = "all" | "pending";

export type RunView = {
  retain: Retain;
  events: number;                          // events folded
  seq: number;                             // highest sequence folded
  started?: At<RunStarted>;
  config?: RunConfig;
  scorer?: string;                         // the run's own scorer (full id)
  groups: Map<string, GroupEntry>;
  updates: At<PolicyUpdated>[];            // one per step, in log order
  step: number;                            // the next step to run
  version: number;                         // the current policy version
  weightsDigest?: string;
  optimizerDigest?: string;
  lastPolicySeq: number;                   // sequence of the last PolicyUpdated (for expect.lastSubjectSequence)
  versions: Map<number, At<string>>;       // policy version → weights digest, with the sequence that made it
  serving: Map<number, string>;            // policy version → the weights generators load (model.dtype bf16: the BF16 copy)
  servingPatch: Map<number, WeightsPatch>; // policy version → its copy as a patch on the previous one (weights_transport delta)
  evaluations: At<Evaluated>[];
  deadLetters: (At<DeadLettered> & { step: number })[];   // step of the dead-lettered payload, -1 if it has none
  finished?: At<RunFinished>;
  duplicates: Duplicate[];
  scoredBy: Map<string, number>;           // full scorer id → groups scored
};

export function emptyView(retain: Retain = "all"): RunView {
  return {
    retain, events: 0, seq: 0, groups: new Map(), updates: [], step: 0, version: 0, lastPolicySeq: 0,
    versions: new Map(), serving: new Map(), servingPatch: new Map(), evaluations: [], deadLetters: [], duplicates: [], scoredBy: new Map(),
  };
}

function cloneView(v: RunView): RunView {
  const groups = new Map<string, GroupEntry>();
  for (const [id, g] of v.groups) groups.set(id, { ...g, scored: new Map(g.scored) });
  return {
    ...v, groups, updates: [...v.updates], versions: new Map(v.versions), serving: new Map(v.serving), servingPatch: new Map(v.servingPatch), evaluations: [...v.evaluations],
    deadLetters: [...v.deadLetters], duplicates: [...v.duplicates], scoredBy: new Map(v.scoredBy),
  };
}

/** Folds `events` (in log order) onto `base` (default: an empty view that keeps everything). */
export function foldRun(events: Iterable<At<ZsEvent>>, base: RunView = emptyView()): RunView {
  const v = cloneView(base);
  for (const at of events) apply(v, at);
  return v;
}

/** One event onto a view: foldRun([at], v). */
export function evolveView(v: RunView, at: At<ZsEvent>): RunView {
  return foldRun([at], v);
}

/** The step a dead-lettered payload names, or -1. */
function deadLetterStep(e: DeadLettered): number {
  try {
    const step = (JSON.parse(Buffer.from(e.payload, "base64").toString("utf8")) as { step?: unknown }).step;
    return typeof step === "number" && Number.isInteger(step) ? step : -1;
  } catch {
    return -1;                             // an unparseable payload names no step
  }
}

/** The full scorer id a GroupScored is keyed under in a view of its run. */
function scoredKey(v: RunView, e: GroupScored): string {
  return scorerOfRecord(e, v.config?.reward?.timeout_ms);
}

/** The full scorer id of a recorded update. */
export function updateScorer(v: RunView, e: PolicyUpdated): string {
  return v.scorer ? scorerOfUpdate(e.scorer, v.scorer) : e.scorer;
}

function entry(v: RunView, groupId: string): GroupEntry {
  let g = v.groups.get(groupId);
  if (!g) { g = { groupId, scored: new Map() }; v.groups.set(groupId, g); }
  return g;
}

const applied = (v: RunView, step: number) => v.retain === "pending" && step < v.step;

function apply(v: RunView, { seq, event: e }: At<ZsEvent>): void {
  v.events++;
  v.seq = Math.max(v.seq, seq);
  switch (e.type) {
    case "RunStarted":
      if (v.started) { v.duplicates.push({ type: "RunStarted", key: e.runId, seq, firstSeq: v.started.seq }); return; }
      v.started = { seq, event: e };
      v.config = runConfigOf(e);
      v.scorer = scorerOf(v.config);
      v.weightsDigest = e.initialWeightsDigest;
      v.optimizerDigest = e.initialOptimizerDigest;
      if (e.parent) { v.step = e.parent.step + 1; v.version = e.parent.version; }   // a fork continues its parent's numbering
      v.versions.set(v.version, { seq, event: e.initialWeightsDigest });
      v.serving.set(v.version, e.initialServingDigest ?? e.initialWeightsDigest);
      return;
    case "GroupSampled": {
      if (applied(v, e.step)) return;
      const g = entry(v, e.groupId);
      if (g.sampled) { v.duplicates.push({ type: "GroupSampled", key: e.groupId, seq, firstSeq: g.sampled.seq }); return; }
      g.sampled = { seq, event: e };
      return;
    }
    case "GroupScored": {
      if (applied(v, e.step)) return;
      const scorer = scoredKey(v, e);
      const g = entry(v, e.groupId);
      const first = g.scored.get(scorer);
      if (first) { v.duplicates.push({ type: "GroupScored", key: `${e.groupId}|${scorer}`, seq, firstSeq: first.seq }); return; }
      g.scored.set(scorer, { seq, event: e });
      v.scoredBy.set(scorer, (v.scoredBy.get(scorer) ?? 0) + 1);
      return;
    }
    case "PolicyUpdated": {
      const first = v.updates.find((u) => u.event.step === e.step);
      if (first) { if (first.seq !== seq) v.duplicates.push({ type: "PolicyUpdated", key: `step ${e.step}`, seq, firstSeq: first.seq }); return; }
      v.updates.push({ seq, event: e });
      v.step = e.step + 1;
      v.version = e.toVersion;
      v.weightsDigest = e.weightsDigest;
      v.optimizerDigest = e.optimizerDigest;
      v.lastPolicySeq = seq;
      v.versions.set(e.toVersion, { seq, event: e.weightsDigest });
      v.serving.set(e.toVersion, e.servingDigest ?? e.weightsDigest);
      if (e.servingPatch) v.servingPatch.set(e.toVersion, { base: e.servingPatch.base, patch: e.servingPatch.patch });
      if (v.retain === "pending") {
        for (const [id, g] of v.groups) {
          const step = g.sampled?.event.step ?? [...g.scored.values()][0]?.event.step ?? -1;
          if (step <= e.step) v.groups.delete(id);
        }
      }
      return;
    }
    case "Evaluated":
      v.evaluations.push({ seq, event: e });
      return;
    case "DeadLettered":
      v.deadLetters.push({ seq, event: e, step: deadLetterStep(e) });
      return;
    case "RunFinished":
      v.finished ??= { seq, event: e };
      return;
    case "RolloutRequested":
      return;                              // tasks live on the work-queue stream, not in a run's log
    default: {
      const never: never = e;
      throw new Error(`RunView: no fold for event ${(never as { type: string }).type}`);
    }
  }
}

/** A group's sample and its score by `scorer`, when both are in the view. */
export function scoredPair(v: RunView, groupId: string, scorer: string): { sampled: GroupSampled; scored: GroupScored } | undefined {
  const g = v.groups.get(groupId);
  const a = g?.sampled?.event, b = g?.scored.get(scorer)?.event;
  return a && b ? { sampled: a, scored: b } : undefined;
}

/** Every sampled group in log order. */
export function sampledGroups(v: RunView): At<GroupSampled>[] {
  return [...v.groups.values()].flatMap((g) => (g.sampled ? [g.sampled] : [])).sort((a, b) => a.seq - b.seq);
}
