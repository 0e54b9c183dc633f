// The updater as a decider: decide(state, context) → the one command to carry out next, and
// evolve(state, input) → state, where an input is an event of the run's log (with its sequence) or a
// fact the updater's shell reports about its own effects (tasks it published, an update it computed,
// its log follower failing). Both are pure; consumers/updater/driver.ts is the shell that carries the
// commands out.
//
// A fixed lag (rollout.max_staleness = s): step k's groups are sampled by policy version max(0, k − s)
// (schedule.ts samplingVersion), and its tasks are requested as soon as that version is stored: steps
// k..k+s are in flight while step k trains, and once update k's weights are stored, before its
// PolicyUpdated is published, step k+1+s is requested with them; while update k's weights are still
// being stored (the shell's UpdateComputed { stored: false }, then UpdateStored), s >= 1 hands out
// update k+1 already, whose groups an earlier version sampled. s = 0 is lock-step GRPO. Which groups a
// step trains on is a function of the log: its global_batch_size slots, or under dynamic sampling the
// first global_batch_size informative groups of its rounds (stepBatch).
import type { RunConfig } from "../../streams/config.ts";
import type { GroupSampled, GroupScored, PolicyUpdated, RolloutRequested, RunFinished, WeightsPatch, ZsEvent } from "../../streams/events/index.ts";
import { fillPrompts, samplingVersion, selectPrompts, taskChunks, type Selected } from "../grpo/schedule.ts";
import { shapedRewards, uniform } from "../grpo/shaping.ts";
import { emptyView, evolveView, type At, type RunView } from "./view.ts";

/** What a step needs from the run's data and tokenizer, fixed for the life of an updater. */
export type DecideContext = {
  runId: string;
  config: RunConfig;
  limit: number;                        // stop once this many steps exist (stepLimit)
  rowIds: readonly string[];            // the dataset rows' ids by index (a task names each prompt's row by index and id)
  stopTokenIds: number[];
};

/**
 * An update computed, not yet published. `stored`: its weights and optimizer are in the object store
 * (until then nothing may name them: neither the tasks sampled by its weights nor its PolicyUpdated).
 */
export type Computed = { event: PolicyUpdated; stored: boolean };

export type UpdaterState = {
  view: RunView;                        // the run's log, groups of applied steps dropped
  requested: ReadonlySet<string>;       // task ids this process published
  computed?: Computed;                  // the update of view.step, awaiting its publish
  followerError?: string;               // the log follower stopped: nothing new will be seen
};

/** Facts the shell reports about its own effects. */
export type Fact =
  | { type: "TasksPublished"; taskIds: string[] }
  | { type: "UpdateComputed"; event: PolicyUpdated; stored?: boolean }   // stored: default true
  | { type: "UpdateStored"; step: number; storeMs?: number }
  | { type: "FollowerFailed"; error: string };

export type Input = At<ZsEvent> | Fact;

export type ReadyGroup = { sampled: GroupSampled; scored: GroupScored };

export type Command =
  | { kind: "request"; step: number; tasks: RolloutRequested[] }
  | { kind: "wait"; step: number; ready: number; missingSample: string[]; missingScore: string[]; refused: Refusal[]; storing?: boolean }
  | { kind: "update"; step: number; version: number; groupIds: string[]; groups: ReadyGroup[]; dropped: Dropped[]; fillRounds: number }
  | { kind: "publish"; event: PolicyUpdated; expectLastSubjectSequence: number }
  | { kind: "finish"; event: RunFinished }
  | { kind: "stop"; reason: "finished" | "limit" }
  | { kind: "fail"; reason: "follower" | "dead-letter"; message: string };

export type Refusal = { groupId: string; reason: string };
/** A group of a step that its update does not train on (dynamic sampling), and why. */
export type Dropped = { groupId: string; reason: "uniform" | "surplus" };

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
    case "UpdateComputed": return { ...s, computed: { event: input.event, stored: input.stored ?? true } };
    case "UpdateStored": {
      if (s.computed?.event.step !== input.step) return s;
      const e = s.computed.event;
      return { ...s, computed: { event: input.storeMs === undefined ? e : { ...e, timings: { ...e.timings, storeMs: input.storeMs } }, stored: true } };
    }
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

const patchOf = (p: PolicyUpdated["servingPatch"]): WeightsPatch | undefined => (p ? { base: p.base, patch: p.patch } : undefined);

/**
 * rowIds: the dataset rows' ids by index (a task names each prompt's row by index and id). patch: the
 * version's weights as a patch on the previous version's (runtime.weights_transport delta).
 */
export function tasksOfStep(cfg: RunConfig, runId: string, step: number, version: number, weightsDigest: string, selected: Selected[], stopTokenIds: number[], rowIds: readonly string[], round = 0, patch?: WeightsPatch): RolloutRequested[] {
  return taskChunks(selected, cfg.rollout.prompts_per_task, round).map((c) => ({
    type: "RolloutRequested", v: 2, runId, taskId: c.taskId, step, epoch: c.prompts[0].epoch, policyVersion: version,
    weightsDigest, ...(patch ? { weightsPatch: patch } : {}), samplesPerPrompt: cfg.rollout.n_samples_per_prompt, sampler: samplerOf(cfg, stopTokenIds),
    prompts: c.prompts.map((p) => ({ groupId: p.groupId, slot: p.slot, promptId: rowIdOf(rowIds, p.index), index: p.index, seed: p.seed })),
  }));
}

/** The number of steps a run has when an updater stops: actor.train_iters, or fewer with --steps. */
export function stepLimit(cfg: RunConfig, steps?: number): number {
  return Math.min(steps ?? cfg.actor.train_iters, cfg.actor.train_iters);
}

/** The first step of the run's log and the version it starts from (a fork continues its parent's numbering). */
export function firstStepOf(v: RunView): { step: number; version: number } {
  const p = v.started?.event.parent;
  return p ? { step: p.step + 1, version: p.version } : { step: 0, version: 0 };
}

/** The policy version that samples step k's groups in this run (the fixed lag of rollout.max_staleness). */
export function versionOfStep(v: RunView, cfg: RunConfig, step: number): number {
  return samplingVersion(cfg.rollout.max_staleness, firstStepOf(v), step);
}

function refusal(v: RunView, cfg: RunConfig, g: GroupSampled): string | null {
  const expected = versionOfStep(v, cfg, g.step), s = cfg.rollout.max_staleness;
  if (g.policyVersion !== expected) return `sampled with policy v${g.policyVersion}, step ${g.step} needs v${expected}${s ? ` (a fixed lag of max_staleness ${s})` : ""}`;
  return null;
}

/** The groups of `groupIds` with a usable sample and a score by the run's scorer. */
export function readyGroups(view: RunView, cfg: RunConfig, groupIds: readonly string[]): { ready: ReadyGroup[]; missingSample: string[]; missingScore: string[]; refused: Refusal[] } {
  const ready: ReadyGroup[] = [], missingSample: string[] = [], missingScore: string[] = [], refused: Refusal[] = [];
  for (const id of groupIds) {
    const g = view.groups.get(id);
    const a = g?.sampled?.event;
    const why = a ? refusal(view, cfg, a) : null;
    if (why) refused.push({ groupId: id, reason: why });
    const b = view.scorer ? g?.scored.get(view.scorer)?.event : undefined;
    if (!a || why) missingSample.push(id);
    else if (!b) missingScore.push(id);
    else ready.push({ sampled: a, scored: b });
  }
  return { ready, missingSample, missingScore, refused };
}

/**
 * Where a step's batch stands, from the log: `pending` with the round whose groups are still missing
 * (its prompts, to request what is not sampled), or `ready` with the groups to train on in slot order.
 * Without dynamic sampling that is the step's global_batch_size slots. With it, round 0 is those slots
 * and round r ≥ 1 is fill round r (schedule.ts fillPrompts); a round is needed only once every earlier
 * round is scored and holds fewer than global_batch_size informative groups (rewards not all equal,
 * after shaping). The batch is the first global_batch_size informative groups by slot; the rest are
 * dropped (`uniform`, or `surplus` beyond the batch). When max_fill_rounds rounds leave fewer, the step
 * trains on the informative groups there are, or, with none at all, on its own slots (a policy gradient of
 * zero: the step still moves the optimizer as a synchronous step would).
 */
export type StepPlan =
  | { status: "pending"; round: number; selected: Selected[]; ready: number; missingSample: string[]; missingScore: string[]; refused: Refusal[] }
  | { status: "ready"; groups: ReadyGroup[]; dropped: Dropped[]; fillRounds: number };

export function stepBatch(v: RunView, cfg: RunConfig, datasetSize: number, step: number): StepPlan {
  const B = cfg.actor.global_batch_size, ds = cfg.algorithm.dynamic_sampling;
  const informative: ReadyGroup[] = [], uniformGroups: ReadyGroup[] = [];
  let base: ReadyGroup[] = [];
  for (let round = 0; ; round++) {
    const selected = round === 0 ? selectPrompts(cfg, datasetSize, step) : fillPrompts(cfg, datasetSize, step, round);
    const rg = readyGroups(v, cfg, selected.map((x) => x.groupId));
    if (rg.ready.length < selected.length) return { status: "pending", round, selected, ready: rg.ready.length, missingSample: rg.missingSample, missingScore: rg.missingScore, refused: rg.refused };
    if (!ds.enable) return { status: "ready", groups: rg.ready, dropped: [], fillRounds: 0 };
    if (round === 0) base = rg.ready;
    for (const g of rg.ready) (uniform(shapedRewards(cfg, g.sampled, g.scored)) ? uniformGroups : informative).push(g);
    if (informative.length >= B || round === ds.max_fill_rounds) {
      const groups = informative.length ? informative.slice(0, B) : base;
      const used = new Set(groups.map((g) => g.sampled.groupId));
      const dropped: Dropped[] = [...uniformGroups, ...informative.slice(B)]
        .filter((g) => !used.has(g.sampled.groupId))
        .sort((a, b) => a.sampled.slot - b.sampled.slot)
        .map((g) => ({ groupId: g.sampled.groupId, reason: informative.includes(g) ? "surplus" : "uniform" }));
      return { status: "ready", groups, dropped, fillRounds: round };
    }
  }
}

function unrequested(s: UpdaterState, tasks: RolloutRequested[], missing: ReadonlySet<string> | null): RolloutRequested[] {
  return tasks.filter((t) => !s.requested.has(t.taskId) && (!missing || t.prompts.some((p) => missing.has(p.groupId))));
}

export function decide(s: UpdaterState, c: DecideContext): Command {
  const v = s.view, cfg = c.config, lag = cfg.rollout.max_staleness;
  if (v.finished) return { kind: "stop", reason: "finished" };
  if (s.followerError) return { kind: "fail", reason: "follower", message: `step ${v.step} cannot complete: the log follower of run ${c.runId} failed: ${s.followerError}` };
  const k = v.step;
  if (s.computed && !s.computed.stored) {
    // update k's snapshot is being stored (the shell stores in the background when s >= 1): update k+1
    // needs only the engine's weights and step k+1's groups, sampled by an earlier version, so it may run
    // now; its PolicyUpdated still follows update k's (the shell publishes in step order)
    const e = s.computed.event, next = k + 1;
    if (lag >= 1 && next < c.limit && !v.deadLetters.some((d) => d.step === next)) {
      const p = stepBatch(v, cfg, c.rowIds.length, next);
      if (p.status === "ready") {
        return { kind: "update", step: next, version: e.toVersion, groupIds: p.groups.map((g) => g.sampled.groupId), groups: p.groups, dropped: p.dropped, fillRounds: p.fillRounds };
      }
    }
    return { kind: "wait", step: k, ready: 0, missingSample: [], missingScore: [], refused: [], storing: true };
  }
  if (s.computed) {
    // update k's weights are stored: step k+1+s is sampled by them; request it, then publish the update
    const e = s.computed.event, j = k + 1 + lag;
    if (j < c.limit) {
      const next = unrequested(s, tasksOfStep(cfg, c.runId, j, e.toVersion, e.servingDigest ?? e.weightsDigest, selectPrompts(cfg, c.rowIds.length, j), c.stopTokenIds, c.rowIds, 0, patchOf(e.servingPatch)), null);
      if (next.length) return { kind: "request", step: j, tasks: next };
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
  // the steps in flight, k..k+s: request the groups of each that are not in the log yet (same msgIDs: a
  // task already queued is not duplicated); their versions, at most the current one, are all stored
  let current: StepPlan | undefined;
  for (let j = k; j <= Math.min(k + lag, c.limit - 1); j++) {
    const plan = stepBatch(v, cfg, c.rowIds.length, j);
    if (j === k) current = plan;
    if (plan.status !== "pending") continue;
    const version = versionOfStep(v, cfg, j);
    const tasks = unrequested(s, tasksOfStep(cfg, c.runId, j, version, v.serving.get(version)!, plan.selected, c.stopTokenIds, c.rowIds, plan.round, v.servingPatch.get(version)), new Set(plan.missingSample));
    if (tasks.length) return { kind: "request", step: j, tasks };
  }
  const p = current!;
  if (p.status === "ready") {
    return { kind: "update", step: k, version: v.version, groupIds: p.groups.map((g) => g.sampled.groupId), groups: p.groups, dropped: p.dropped, fillRounds: p.fillRounds };
  }
  return { kind: "wait", step: k, ready: p.ready, missingSample: p.missingSample, missingScore: p.missingScore, refused: p.refused };
}
