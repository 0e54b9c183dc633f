// The step driver and updater of a run. Its state is folded from the log (RunStarted, GroupSampled,
// GroupScored, PolicyUpdated), so a restart at any moment continues from the last PolicyUpdated with
// no group lost or applied twice: groups already in the log are reused, missing ones are requested
// again under the same msgIDs, and the update itself is a pure function of its inputs.
import type { Logger } from "pino";
import { AdamW, Policy } from "../../native/index.ts";
import type { RunConfig } from "../../streams/config.ts";
import { ZeroStreamError } from "../../streams/errors.ts";
import type { EventLog } from "../../streams/eventlog.ts";
import type { PolicyUpdated, RolloutRequested, RunFinished } from "../../streams/events/index.ts";
import { failpoint } from "../../streams/failpoint.ts";
import { childLogger } from "../../streams/logger.ts";
import { RunContexts } from "../../loaders/runctx.ts";
import { scorerOf } from "../../domain/reward/spec.ts";
import { selectPrompts, taskChunks, type Selected } from "../../domain/grpo/schedule.ts";
import { evolve, initialState, readyGroups, type RunState } from "../../domain/run/state.ts";
import { grpoUpdate } from "../../compute/update.ts";

export class UpdaterError extends ZeroStreamError {}
/** The updater's log follower stopped: it would wait for groups it can no longer see. */
export class FollowerFailedError extends UpdaterError {}

export type StepReport = { event: PolicyUpdated; wallMs: number };
export type UpdaterOptions = {
  signal: AbortSignal;
  steps?: number;                       // stop once this many steps exist (default: actor.train_iters)
  log?: Logger;
  onStep?: (r: StepReport, state: RunState) => void;
  onReady?: (state: RunState) => Promise<void>;                   // awaited once the state is folded, before any step
  afterStep?: (r: StepReport, state: RunState) => Promise<void>;  // awaited before the next step (periodic evaluation)
  stallWarnMs?: number;
};


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

export async function runUpdater(log: EventLog, runId: string, o: UpdaterOptions): Promise<RunState> {
  const lg = o.log ?? childLogger({ role: "updater", run: runId });
  const rc = await new RunContexts(log).get(runId);
  const cfg = rc.config;
  const scorer = scorerOf(cfg);
  const state = initialState();
  for await (const r of log.replay(runId)) evolve(state, r.event, r.seq, scorer);
  if (state.finished) { lg.info({ reason: state.finished.reason }, "run already finished"); return state; }
  const limit = stepLimit(cfg, o.steps);
  const tok = rc.tokenizer();
  const ds = await rc.dataset();
  const modelConfig = rc.modelConfig;

  // the policy and optimizer at the last PolicyUpdated (or the start), verified by digest
  const policy = Policy.fromSafetensors(await log.getBlob(runId, state.weightsDigest!), modelConfig);
  const adam = { beta1: cfg.actor.adam_beta1, beta2: cfg.actor.adam_beta2, eps: cfg.actor.adam_eps, weightDecay: cfg.actor.weight_decay };
  // the moments come from the snapshot, the hyperparameters from the run's config (a fork's --set
  // actor.adam_beta2=... takes effect; the next snapshot records the config's values)
  const optimizerBytes = state.optimizerDigest ? await log.getBlob(runId, state.optimizerDigest) : null;
  const optimizer = optimizerBytes ? AdamW.fromBytes(policy, optimizerBytes, adam) : new AdamW(policy, adam);
  if (optimizerBytes) {
    const snap = AdamW.settingsOf(optimizerBytes);
    const changed = (["beta1", "beta2", "eps", "weightDecay"] as const).filter((k) => snap[k] !== Math.fround(adam[k]));   // the engine keeps f32
    if (changed.length) lg.info({ snapshot: Object.fromEntries(changed.map((k) => [k, snap[k]])), config: Object.fromEntries(changed.map((k) => [k, adam[k]])) }, "optimizer settings of the run's config replace the snapshot's");
  }
  const reference = cfg.algorithm.kl_coef > 0 ? Policy.fromSafetensors(await log.getBlob(runId, rc.started.referenceWeightsDigest ?? rc.started.initialWeightsDigest), modelConfig) : null;
  lg.info({ step: state.step, version: state.version, limit, prompts: ds.rows.length, filteredTooLong: ds.filteredTooLong }, "updater ready");

  const follow = new AbortController();
  const onAbort = () => follow.abort();
  o.signal.addEventListener("abort", onAbort, { once: true });
  let wake: () => void = () => undefined;
  const changed = () => new Promise<void>((r) => { wake = r; setTimeout(r, 250).unref(); });
  // the follower is how this loop sees groups arrive: when it fails, the updater fails (never an endless wait)
  let followFailed: Error | undefined;
  const follower = (async () => {
    for await (const r of log.follow(runId, state.seq + 1, follow.signal)) { evolve(state, r.event, r.seq, scorer); wake(); }
  })().catch((err) => {
    if (follow.signal.aborted) return;
    followFailed = err as Error;
    lg.error({ err: followFailed.message }, "log follower failed");
    wake();
  });

  const requested = new Set<string>();     // task ids published by this process
  const request = async (k: number, version: number, weightsDigest: string, missing: Set<string> | null) => {
    for (const t of tasksOfStep(cfg, runId, k, version, weightsDigest, selectPrompts(cfg, ds.rows.length, k), tok.stopIds, ds.rows.map((r) => r.id))) {
      if (requested.has(t.taskId) || (missing && !t.prompts.some((p) => missing.has(p.groupId)))) continue;
      await log.publish(t);
      requested.add(t.taskId);
    }
  };
  try {
    await o.onReady?.(state);
    while (state.step < limit && !o.signal.aborted) {
      const k = state.step;
      const t0 = performance.now();
      const selected = selectPrompts(cfg, ds.rows.length, k);
      const ids = selected.map((s) => s.groupId);
      // request the groups that are not in the log yet (same msgIDs: a task already queued is not duplicated)
      await request(k, state.version, state.weightsDigest!, new Set(readyGroups(state, ids).missingSample));
      let lastWarn = performance.now();
      let rg = readyGroups(state, ids);
      while (rg.ready.length < ids.length) {
        if (o.signal.aborted) return state;
        if (followFailed) throw new FollowerFailedError(`step ${k} cannot complete: the log follower of run ${runId} failed: ${followFailed.message}`, { cause: followFailed });
        const dead = state.deadLettered.find((d) => d.step === k);
        if (dead) throw new UpdaterError(`step ${k} cannot complete: a message on ${dead.subject} was dead-lettered (${dead.reason}): ${dead.error}`);
        await changed();
        rg = readyGroups(state, ids);
        if (performance.now() - lastWarn > (o.stallWarnMs ?? 30_000)) {
          lastWarn = performance.now();
          lg.warn({ step: k, ready: rg.ready.length, missingSample: rg.missingSample.length, missingScore: rg.missingScore.length, refused: state.refused.length }, "waiting for groups");
        }
      }
      const waitMs = performance.now() - t0;
      const up = await grpoUpdate({ cfg, step: k, policy, optimizer, reference, groups: rg.ready });
      const t1 = performance.now();
      failpoint("updater.before-snapshot", k);
      const optimizerStored = log.putBlob(runId, optimizer.toBytes());
      const weightsDigest = await log.putBlob(runId, policy.toSafetensors());
      // the next step's rollouts start now, while the optimizer snapshot and PolicyUpdated are written:
      // a crash before PolicyUpdated re-executes this step to the same digest and re-requests the same tasks
      if (k + 1 < limit) await request(k + 1, state.version + 1, weightsDigest, null);
      const optimizerDigest = await optimizerStored;
      const sampleMs = rg.ready.reduce((a, g) => a + g.sampled.ms, 0) / rg.ready.length;
      const scoreMs = rg.ready.reduce((a, g) => a + g.scored.ms, 0) / rg.ready.length;
      const event: PolicyUpdated = {
        type: "PolicyUpdated", v: 1, runId, step: k, fromVersion: state.version, toVersion: state.version + 1,
        groupIds: ids, scorer, advantageEstimator: cfg.algorithm.adv_estimator, advantages: up.advantages,
        weightsDigest, optimizerDigest, stats: up.stats,
        timings: { waitMs, sampleMsPerGroup: sampleMs, scoreMsPerGroup: scoreMs, refMs: up.timings.refMs, updateMs: up.timings.updateMs, snapshotMs: performance.now() - t1, stepMs: 0 },
      };
      event.timings.stepMs = performance.now() - t0;
      failpoint("updater.before-policy-publish", k);
      const ack = await log.publish(event, { expectLastSubjectSequence: state.lastPolicySeq });
      evolve(state, event, ack.seq, scorer);
      const record = log.putRunRecord(runId, { status: "running", step: k, version: event.toVersion, weightsDigest });
      o.onStep?.({ event, wallMs: event.timings.stepMs }, state);
      await record;
      lg.info({ step: k, reward: up.stats.rewardMean, acc: up.stats.accuracyRate, len: up.stats.responseLengthMean, kl: up.stats.kl, ms: Math.round(event.timings.stepMs) }, "policy updated");
      await o.afterStep?.({ event, wallMs: event.timings.stepMs }, state);
    }
    if (state.step >= cfg.actor.train_iters && !state.finished) {
      const fin: RunFinished = { type: "RunFinished", v: 1, runId, reason: "completed", finalVersion: state.version, finalWeightsDigest: state.weightsDigest! };
      await log.publish(fin);
      evolve(state, fin, 0);
      await log.putRunRecord(runId, { status: "completed", step: state.step - 1, version: state.version });
    }
    return state;
  } finally {
    follow.abort();
    o.signal.removeEventListener("abort", onAbort);
    await follower;
    policy.dispose();
    reference?.dispose();
  }
}

