// The invariants of a run, checked from its events alone: every step has global_batch_size groups of
// n samples, each group is sampled once and scored once per scorer, each group is used in exactly one
// update (and every group of an applied step is used), the policy version chain is unbroken. With
// `options`, also: each recorded reward equals its parts combined by its reward function, and the
// advantages of each update equal the ones recomputed from the recorded rewards (within 1e-9). The
// variants come in as functions so that streams/ does not import the consumers' registries.
// Pure: the caller supplies the events in log order.
import type { RunConfig } from "../streams/config.ts";
import { groupIdOf, runConfigOf, type GroupSampled, type GroupScored, type PolicyUpdated, type RunStarted, type ZsEvent } from "../streams/events/index.ts";

export type Violation = { rule: string; seq: number; message: string };
export type AuditReport = {
  violations: Violation[];
  steps: number; groups: number; scored: number; updates: PolicyUpdated[];
  started?: RunStarted;
};

export type AuditOptions = {
  /** The advantage estimator of a name (domain/grpo/advantages.ts). */
  estimator?: (name: string) => (rewards: readonly number[]) => number[];
  /** The reward a scorer gives for these parts (domain/reward/registry.ts combine); undefined: not checkable. */
  rewardOf?: (scorer: string, rewardConfig: Record<string, unknown>, format: number, accuracy: number) => number | undefined;
};

export const ADVANTAGE_TOLERANCE = 1e-9;

function checkAdvantages(e: PolicyUpdated, seq: number, scored: Map<string, { seq: number; e: GroupScored }>, cfg: RunConfig | undefined,
  o: AuditOptions, bad: (rule: string, seq: number, message: string) => void): void {
  for (const id of e.groupIds) {
    const adv = e.advantages[id], sc = scored.get(`${id}|${e.scorer}`);
    if (!adv || !sc) continue;
    if (adv.length !== sc.e.scores.length) { bad("advantages", seq, `step ${e.step} records ${adv.length} advantages for ${id}, which has ${sc.e.scores.length} scores`); continue; }
    // with the KL in the reward the rewards the estimator saw are not in the log: --verify-updates checks those
    if (!o.estimator || (cfg?.algorithm?.use_kl_in_reward && (cfg.algorithm.kl_coef ?? 0) > 0)) continue;
    const rewards = [...sc.e.scores].sort((a, b) => a.index - b.index).map((s) => s.reward);
    const want = o.estimator(e.advantageEstimator)(rewards);
    const i = want.findIndex((a, j) => !(Math.abs(a - adv[j]) <= ADVANTAGE_TOLERANCE));
    if (i !== -1) bad("advantages", seq, `step ${e.step} ${id} sample ${i}: recorded advantage ${adv[i]}, ${e.advantageEstimator} of the recorded rewards [${rewards.join(", ")}] (#${sc.seq}) gives ${want[i]}`);
  }
}

export function auditEvents(events: { seq: number; event: ZsEvent }[], options: AuditOptions = {}): AuditReport {
  const v: Violation[] = [];
  const bad = (rule: string, seq: number, message: string) => v.push({ rule, seq, message });
  const started = events.find((e) => e.event.type === "RunStarted");
  if (!started) bad("run-started", 0, "the log has no RunStarted event");
  const cfg = started ? runConfigOf(started.event as RunStarted) : undefined;
  const B = cfg?.actor?.global_batch_size, n = cfg?.rollout?.n_samples_per_prompt;
  const sampled = new Map<string, { seq: number; e: GroupSampled }>();
  const scored = new Map<string, { seq: number; e: GroupScored }>();
  const usedBy = new Map<string, number>();
  const updates: PolicyUpdated[] = [];
  const parent = started ? (started.event as RunStarted).parent : undefined;
  let version = parent?.version ?? 0;          // a fork continues its parent's step and version numbering
  let lastStep = parent?.step ?? -1;
  let weights = started ? (started.event as RunStarted).initialWeightsDigest : undefined;
  const versionDigests = new Map<number, string>(weights ? [[0, weights]] : []);
  const staleness = cfg?.rollout?.max_staleness ?? 0;
  for (const { seq, event: e } of events) {
    if (e.type === "GroupSampled") {
      if (sampled.has(e.groupId)) bad("sampled-once", seq, `${e.groupId} was sampled again (first at #${sampled.get(e.groupId)!.seq})`);
      else sampled.set(e.groupId, { seq, e });
      if (n !== undefined && e.samples.length !== n) bad("n-samples", seq, `${e.groupId} has ${e.samples.length} samples, n_samples_per_prompt is ${n}`);
      if (e.groupId !== groupIdOf(e.step, e.slot)) bad("group-step", seq, `${e.groupId} is not the id of step ${e.step}, slot ${e.slot}`);
    } else if (e.type === "GroupScored") {
      const key = `${e.groupId}|${e.scorer}`;
      if (scored.has(key)) bad("scored-once", seq, `${e.groupId} was scored again by ${e.scorer} (first at #${scored.get(key)!.seq})`);
      else scored.set(key, { seq, e });
      const s = sampled.get(e.groupId);
      if (!s) bad("scored-after-sampled", seq, `${e.groupId} was scored before it was sampled`);
      else if (e.scores.length !== s.e.samples.length) bad("score-count", seq, `${e.groupId} has ${e.scores.length} scores for ${s.e.samples.length} samples`);
      if (options.rewardOf) {
        for (const sc of e.scores) {
          const want = options.rewardOf(e.scorer, e.rewardConfig, sc.format, sc.accuracy);
          if (want !== undefined && !(Math.abs(want - sc.reward) <= ADVANTAGE_TOLERANCE)) bad("reward-parts", seq, `${e.groupId} sample ${sc.index} (${e.scorer}): reward ${sc.reward}, its parts (format ${sc.format}, accuracy ${sc.accuracy}) give ${want}`);
        }
      }
    } else if (e.type === "PolicyUpdated") {
      updates.push(e);
      if (e.step !== lastStep + 1) bad("step-chain", seq, `PolicyUpdated step ${e.step} follows step ${lastStep}`);
      if (e.fromVersion !== version || e.toVersion !== version + 1) bad("version-chain", seq, `PolicyUpdated v${e.fromVersion}->v${e.toVersion}, the policy was at v${version}`);
      if (B !== undefined && e.groupIds.length !== B) bad("batch-size", seq, `step ${e.step} used ${e.groupIds.length} groups, global_batch_size is ${B}`);
      if (new Set(e.groupIds).size !== e.groupIds.length) bad("unique-groups", seq, `step ${e.step} lists a group twice`);
      for (const id of e.groupIds) {
        if (usedBy.has(id)) bad("used-once", seq, `${id} was already used by step ${usedBy.get(id)}`);
        usedBy.set(id, e.step);
        const s = sampled.get(id);
        if (!s) bad("used-sampled", seq, `step ${e.step} used ${id}, which was never sampled`);
        else if (s.e.step !== e.step) bad("used-sampled", seq, `step ${e.step} used ${id} of step ${s.e.step}`);
        else if (s.e.policyVersion > e.fromVersion || s.e.policyVersion < e.fromVersion - staleness) {
          bad("policy-version", seq, `step ${e.step} (from v${e.fromVersion}) used ${id}, sampled by v${s.e.policyVersion} (#${s.seq}; max_staleness ${staleness})`);
        }
        if (!scored.has(`${id}|${e.scorer}`)) bad("used-scored", seq, `step ${e.step} used ${id}, never scored by ${e.scorer}`);
        if (!e.advantages[id]) bad("advantages", seq, `step ${e.step} records no advantages for ${id}`);
      }
      checkAdvantages(e, seq, scored, cfg, options, bad);
      if (weights === undefined) bad("weights", seq, "no weights before this update");
      version = e.toVersion;
      lastStep = e.step;
      weights = e.weightsDigest;
      versionDigests.set(e.toVersion, e.weightsDigest);
    } else if (e.type === "Evaluated") {
      const d = versionDigests.get(e.policyVersion);
      if (d === undefined) bad("eval-version", seq, `Evaluated ${e.benchmark} ${e.metric} names v${e.policyVersion}, which does not exist yet`);
      else if (d !== e.weightsDigest) bad("eval-weights", seq, `Evaluated ${e.benchmark} ${e.metric} of v${e.policyVersion} names other weights than the version's`);
    } else if (e.type === "RunFinished") {
      if (e.finalVersion !== version) bad("final-version", seq, `RunFinished names v${e.finalVersion}, the policy is at v${version}`);
      if (e.finalWeightsDigest !== weights) bad("final-weights", seq, "RunFinished names other weights than the last update");
    }
  }
  // every group sampled for an applied step was used by it (a refused or orphaned group is an anomaly)
  for (const { seq, e } of sampled.values()) {
    if (e.step <= lastStep && !usedBy.has(e.groupId)) bad("unused-group", seq, `${e.groupId} of step ${e.step} was sampled but no update used it`);
  }
  return { violations: v, steps: updates.length, groups: sampled.size, scored: scored.size, updates, started: started?.event as RunStarted | undefined };
}
