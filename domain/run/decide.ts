// The updater as a decider: decide(state, context) → the one command to carry out next, and
// evolve(state, input) → state, where an input is an event of the run's log (with its sequence) or a
// fact the updater's shell reports about its own effects (tasks it published, an update it computed,
// its log follower failing). Both are pure; consumers/updater/driver.ts is the shell that carries the
// commands out. Lock-step GRPO: step k's groups are sampled by policy version k; step k+1's tasks are
// requested as soon as step k's weights are stored, before its PolicyUpdated is published.
import type { RunConfig } from "../../streams/config.ts";
import type { GroupSampled, GroupScored, PolicyUpdated, RolloutRequested, RunFinished, ZsEvent } from "../../streams/events/index.ts";
import { selectPrompts, taskChunks, type Selected } from "../grpo/schedule.ts";
import { emptyView, evolveView, type At, type RunView } from "./view.ts";

/** What a step needs from the run's data and tokenizer, fixed for the life of an updater. */
export type DecideContext = {
  runId: string;
  config: RunConfig;
  limit: number;                        // stop once this many steps exist (stepLimit)
  rowIds: readonly string[];            // the dataset rows' ids by index (a task names each prompt's row by index and id)
  stopTokenIds: number[];
};

/** An update computed and its weights and optimizer stored, not yet published. */
export type Computed = { event: PolicyUpdated };

export type UpdaterState = {
  view: RunView;                        // the run's log, groups of applied steps dropped
  requested: ReadonlySet<string>;       // task ids this process published
  computed?: Computed;                  // the update of view.step, awaiting its publish
  followerError?: string;               // the log follower stopped: nothing new will be seen
};

/** Facts the shell reports about its own effects. */
export type Fact =
  | { type: "TasksPublished"; taskIds: string[] }
  | { type: "UpdateComputed"; event: PolicyUpdated }
  | { type: "FollowerFailed"; error: string };

export type Input = At<ZsEvent> | Fact;

export type ReadyGroup = { sampled: GroupSampled; scored: GroupScored };

export type Command =
  | { kind: "request"; step: number; tasks: RolloutRequested[] }
  | { kind: "wait"; step: number; ready: number; missingSample: string[]; missingScore: string[]; refused: Refusal[] }
  | { kind: "update"; step: number; version: number; groupIds: string[]; groups: ReadyGroup[] }
  | { kind: "publish"; event: PolicyUpdated; expectLastSubjectSequence: number }
  | { kind: "finish"; event: RunFinished }
  | { kind: "stop"; reason: "finished" | "limit" }
  | { kind: "fail"; reason: "follower" | "dead-letter"; message: string };

export type Refusal = { groupId: string; reason: string };

export function initialUpdaterState(view: RunView = emptyView("pending")): UpdaterState {
  return { view, requested: new Set() };
}

export function evolve(s: UpdaterState, input: Input): UpdaterState {
  if ("event" in input && "seq" in input) {
    const view = evolveView(s.view, input);
    // the computed update is done once the log holds its step's PolicyUpdated
    const computed = s.computed && view.step > s.computed.event.step ? undefined : s.computed;
    return { ...s, view, computed };
  }
  switch (input.type) {
    case "TasksPublished": return { ...s, requested: new Set([...s.requested, ...input.taskIds]) };
    case "UpdateComputed": return { ...s, computed: { event: input.event } };
    case "FollowerFailed": return { ...s, followerError: input.error };
  }
}

export function samplerOf(cfg: RunConfig, stopTokenIds: number[]) {
  return {
    temperature: cfg.rollout.temperature, topP: cfg.rollout.top_p, topK: Math.max(0, cfg.rollout.top_k),
    maxNewTokens: cfg.data.max_response_length, stopTokenIds,
  };
}

function rowIdOf(rowIds: readonly string[], index: number): string {
  const id = rowIds[index];
  if (id === undefined) throw new RangeError(`prompt index ${index} is outside the dataset (${rowIds.length} rows)`);
  return id;
}

/** rowIds: the dataset rows' ids by index (a task names each prompt's row by index and id). */
export function tasksOfStep(cfg: RunConfig, runId: string, step: number, version: number, weightsDigest: string, selected: Selected[], stopTokenIds: number[], rowIds: readonly string[]): RolloutRequested[] {
  return taskChunks(selected, cfg.rollout.prompts_per_task).map((c) => ({
    type: "RolloutRequested", v: 2, runId, taskId: c.taskId, step, epoch: c.prompts[0].epoch, policyVersion: version,
    weightsDigest, samplesPerPrompt: cfg.rollout.n_samples_per_prompt, sampler: samplerOf(cfg, stopTokenIds),
    prompts: c.prompts.map((p) => ({ groupId: p.groupId, slot: p.slot, promptId: rowIdOf(rowIds, p.index), index: p.index, seed: p.seed })),
  }));
}

/** The number of steps a run has when an updater stops: actor.train_iters, or fewer with --steps. */
export function stepLimit(cfg: RunConfig, steps?: number): number {
  return Math.min(steps ?? cfg.actor.train_iters, cfg.actor.train_iters);
}

/** The policy version whose samples step k may use: k under lock-step (max_staleness 0). */
function refusal(cfg: RunConfig, g: GroupSampled): string | null {
  const staleness = cfg.rollout.max_staleness;
  const expected = g.step;
  if (g.policyVersion < expected - staleness || g.policyVersion > expected) {
    return `sampled with policy v${g.policyVersion}, step ${g.step} needs v${expected}${staleness ? ` (max_staleness ${staleness})` : ""}`;
  }
  return null;
}

/** The groups of `groupIds` with a usable sample and a score by the run's scorer. */
export function readyGroups(view: RunView, cfg: RunConfig, groupIds: readonly string[]): { ready: ReadyGroup[]; missingSample: string[]; missingScore: string[]; refused: Refusal[] } {
  const ready: ReadyGroup[] = [], missingSample: string[] = [], missingScore: string[] = [], refused: Refusal[] = [];
  for (const id of groupIds) {
    const g = view.groups.get(id);
    const a = g?.sampled?.event;
    const why = a ? refusal(cfg, a) : null;
    if (why) refused.push({ groupId: id, reason: why });
    const b = view.scorer ? g?.scored.get(view.scorer)?.event : undefined;
    if (!a || why) missingSample.push(id);
    else if (!b) missingScore.push(id);
    else ready.push({ sampled: a, scored: b });
  }
  return { ready, missingSample, missingScore, refused };
}

function unrequested(s: UpdaterState, tasks: RolloutRequested[], missing: ReadonlySet<string> | null): RolloutRequested[] {
  return tasks.filter((t) => !s.requested.has(t.taskId) && (!missing || t.prompts.some((p) => missing.has(p.groupId))));
}

export function decide(s: UpdaterState, c: DecideContext): Command {
  const v = s.view, cfg = c.config;
  if (v.finished) return { kind: "stop", reason: "finished" };
  if (s.followerError) return { kind: "fail", reason: "follower", message: `step ${v.step} cannot complete: the log follower of run ${c.runId} failed: ${s.followerError}` };
  const k = v.step;
  if (s.computed) {
    // the update of step k is stored: request step k+1 with its weights, then publish the update
    const e = s.computed.event;
    if (k + 1 < c.limit) {
      const next = unrequested(s, tasksOfStep(cfg, c.runId, k + 1, e.toVersion, e.weightsDigest, selectPrompts(cfg, c.rowIds.length, k + 1), c.stopTokenIds, c.rowIds), null);
      if (next.length) return { kind: "request", step: k + 1, tasks: next };
    }
    return { kind: "publish", event: e, expectLastSubjectSequence: v.lastPolicySeq };
  }
  if (k >= c.limit) {
    if (k >= cfg.actor.train_iters) {
      return { kind: "finish", event: { type: "RunFinished", v: 1, runId: c.runId, reason: "completed", finalVersion: v.version, finalWeightsDigest: v.weightsDigest! } };
    }
    return { kind: "stop", reason: "limit" };
  }
  const dead = v.deadLetters.find((d) => d.step === k);
  if (dead) return { kind: "fail", reason: "dead-letter", message: `step ${k} cannot complete: a message on ${dead.event.subject} was dead-lettered (${dead.event.reason}): ${dead.event.error}` };
  const ids = selectPrompts(cfg, c.rowIds.length, k).map((x) => x.groupId);
  const rg = readyGroups(v, cfg, ids);
  // request the groups that are not in the log yet (same msgIDs: a task already queued is not duplicated)
  const tasks = unrequested(s, tasksOfStep(cfg, c.runId, k, v.version, v.weightsDigest!, selectPrompts(cfg, c.rowIds.length, k), c.stopTokenIds, c.rowIds), new Set(rg.missingSample));
  if (tasks.length) return { kind: "request", step: k, tasks };
  if (rg.ready.length === ids.length) return { kind: "update", step: k, version: v.version, groupIds: ids, groups: rg.ready };
  return { kind: "wait", step: k, ready: rg.ready.length, missingSample: rg.missingSample, missingScore: rg.missingScore, refused: rg.refused };
}
