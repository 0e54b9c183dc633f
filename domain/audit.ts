// The invariants of a run, checked from its events alone: every step has global_batch_size groups of
// n samples (at most that many under dynamic sampling), each group is sampled once and scored once per
// scorer, each group is used in exactly one update (and every group of an applied step is used or
// recorded as dropped, a dropped `uniform` group has rewards all equal), every used group was sampled by
// the version the fixed lag of max_staleness names, the policy version chain is unbroken. With
// `options`, also: each recorded reward equals its parts combined by its reward function, and the
// advantages of each update equal the ones recomputed from the recorded rewards, shaped as the
// updater shapes them (grpo/shaping.ts), within 1e-9. The
// variants come in as functions (the callers' registries). Reads the run through its one fold
// (run/view.ts): duplicates are the fold's, scores are keyed by full scorer id. Pure.
import { groupIdOf, type PolicyUpdated, type RunStarted, type ZsEvent } from "../streams/events/index.ts";
import { samplingVersion } from "./grpo/schedule.ts";
import { shapedRewards, uniform } from "./grpo/shaping.ts";
import { foldRun, updateScorer, type At, type RunView } from "./run/view.ts";

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

function checkAdvantages(v: RunView, u: At<PolicyUpdated>, scorer: string, o: AuditOptions, bad: Bad): void {
  const { seq, event: e } = u;
  const cfg = v.config;
  for (const id of e.groupIds) {
    const adv = e.advantages[id], sc = v.groups.get(id)?.scored.get(scorer);
    if (!adv || !sc) continue;
    if (adv.length !== sc.event.scores.length) { bad("advantages", seq, `step ${e.step} records ${adv.length} advantages for ${id}, which has ${sc.event.scores.length} scores`); continue; }
    // with the KL in the reward the rewards the estimator saw are not in the log: --verify-updates checks those
    if (!o.estimator || (cfg?.algorithm?.use_kl_in_reward && (cfg.algorithm.kl_coef ?? 0) > 0)) continue;
    const sampled = v.groups.get(id)?.sampled?.event;
    const rewards = cfg && sampled ? shapedRewards(cfg, sampled, sc.event) : [...sc.event.scores].sort((a, b) => a.index - b.index).map((s) => s.reward);
    const want = o.estimator(e.advantageEstimator)(rewards);
    const i = want.findIndex((a, j) => !(Math.abs(a - adv[j]) <= ADVANTAGE_TOLERANCE));
    if (i !== -1) bad("advantages", seq, `step ${e.step} ${id} sample ${i}: recorded advantage ${adv[i]}, ${e.advantageEstimator} of the recorded rewards [${rewards.join(", ")}] (#${sc.seq}) gives ${want[i]}`);
  }
}

type Bad = (rule: string, seq: number, message: string) => void;

function checkGroups(v: RunView, o: AuditOptions, bad: Bad): void {
  const n = v.config?.rollout?.n_samples_per_prompt;
  for (const d of v.duplicates) {
    if (d.type === "GroupSampled") bad("sampled-once", d.seq, `${d.key} was sampled again (first at #${d.firstSeq})`);
    else if (d.type === "GroupScored") { const [id, scorer] = d.key.split("|"); bad("scored-once", d.seq, `${id} was scored again by ${scorer} (first at #${d.firstSeq})`); }
    else if (d.type === "PolicyUpdated") bad("step-chain", d.seq, `a second PolicyUpdated of ${d.key} (first at #${d.firstSeq})`);
    else bad("run-started", d.seq, `a second RunStarted (first at #${d.firstSeq})`);
  }
  for (const g of v.groups.values()) {
    const s = g.sampled;
    if (s) {
      if (n !== undefined && s.event.samples.length !== n) bad("n-samples", s.seq, `${g.groupId} has ${s.event.samples.length} samples, n_samples_per_prompt is ${n}`);
      if (g.groupId !== groupIdOf(s.event.step, s.event.slot)) bad("group-step", s.seq, `${g.groupId} is not the id of step ${s.event.step}, slot ${s.event.slot}`);
    }
    for (const [scorer, sc] of g.scored) {
      if (!s || s.seq > sc.seq) bad("scored-after-sampled", sc.seq, `${g.groupId} was scored before it was sampled`);
      else if (sc.event.scores.length !== s.event.samples.length) bad("score-count", sc.seq, `${g.groupId} has ${sc.event.scores.length} scores for ${s.event.samples.length} samples`);
      if (!o.rewardOf) continue;
      for (const x of sc.event.scores) {
        const want = o.rewardOf(sc.event.scorer, sc.event.rewardConfig, x.format, x.accuracy);
        if (want !== undefined && !(Math.abs(want - x.reward) <= ADVANTAGE_TOLERANCE)) bad("reward-parts", sc.seq, `${g.groupId} sample ${x.index} (${scorer}): reward ${x.reward}, its parts (format ${x.format}, accuracy ${x.accuracy}) give ${want}`);
      }
    }
  }
}

/** The audit of a folded run (see auditEvents). */
export function auditView(v: RunView, options: AuditOptions = {}): AuditReport {
  const violations: Violation[] = [];
  const bad: Bad = (rule, seq, message) => violations.push({ rule, seq, message });
  const started = v.started?.event;
  if (!started) bad("run-started", 0, "the log has no RunStarted event");
  const B = v.config?.actor?.global_batch_size;
  const staleness = v.config?.rollout?.max_staleness ?? 0;
  const dynamic = v.config?.algorithm?.dynamic_sampling?.enable ?? false;
  checkGroups(v, options, bad);
  const usedBy = new Map<string, number>();
  const droppedBy = new Map<string, number>();
  let version = started?.parent?.version ?? 0;          // a fork continues its parent's step and version numbering
  let lastStep = started?.parent?.step ?? -1;
  const first = { step: lastStep + 1, version };
  let weights = started?.initialWeightsDigest;
  for (const u of v.updates) {
    const { seq, event: e } = u;
    const scorer = updateScorer(v, e);
    if (e.step !== lastStep + 1) bad("step-chain", seq, `PolicyUpdated step ${e.step} follows step ${lastStep}`);
    if (e.fromVersion !== version || e.toVersion !== version + 1) bad("version-chain", seq, `PolicyUpdated v${e.fromVersion}->v${e.toVersion}, the policy was at v${version}`);
    if (B !== undefined && (dynamic ? e.groupIds.length > B : e.groupIds.length !== B)) bad("batch-size", seq, `step ${e.step} used ${e.groupIds.length} groups, global_batch_size is ${B}${dynamic ? " (dynamic sampling: at most)" : ""}`);
    const want = samplingVersion(staleness, first, e.step);
    if (new Set(e.groupIds).size !== e.groupIds.length) bad("unique-groups", seq, `step ${e.step} lists a group twice`);
    for (const id of e.groupIds) {
      if (usedBy.has(id)) bad("used-once", seq, `${id} was already used by step ${usedBy.get(id)}`);
      usedBy.set(id, e.step);
      const g = v.groups.get(id), s = g?.sampled;
      if (!s || s.seq > seq) bad("used-sampled", seq, `step ${e.step} used ${id}, which was never sampled`);
      else if (s.event.step !== e.step) bad("used-sampled", seq, `step ${e.step} used ${id} of step ${s.event.step}`);
      else if (s.event.policyVersion !== want) {
        bad("policy-version", seq, `step ${e.step} (from v${e.fromVersion}) used ${id}, sampled by v${s.event.policyVersion} (#${s.seq}); a fixed lag of max_staleness ${staleness} samples it by v${want}`);
      }
      const sc = g?.scored.get(scorer);
      if (!sc || sc.seq > seq) bad("used-scored", seq, `step ${e.step} used ${id}, never scored by ${scorer}`);
      if (!e.advantages[id]) bad("advantages", seq, `step ${e.step} records no advantages for ${id}`);
    }
    for (const d of e.dropped ?? []) {
      if (usedBy.has(d.groupId) || droppedBy.has(d.groupId)) bad("used-once", seq, `step ${e.step} drops ${d.groupId}, already used or dropped by step ${usedBy.get(d.groupId) ?? droppedBy.get(d.groupId)}`);
      droppedBy.set(d.groupId, e.step);
      const g = v.groups.get(d.groupId), s = g?.sampled?.event, sc = g?.scored.get(scorer)?.event;
      if (!s || s.step !== e.step) bad("dropped", seq, `step ${e.step} drops ${d.groupId}, which is not a sampled group of the step`);
      else if (d.reason === "uniform" && v.config && sc && !uniform(shapedRewards(v.config, s, sc))) bad("dropped", seq, `step ${e.step} drops ${d.groupId} as uniform; its rewards differ`);
    }
    checkAdvantages(v, u, scorer, options, bad);
    if (weights === undefined) bad("weights", seq, "no weights before this update");
    version = e.toVersion;
    lastStep = e.step;
    weights = e.weightsDigest;
  }
  for (const { seq, event: e } of v.evaluations) {
    const d = v.versions.get(e.policyVersion);
    if (d === undefined || d.seq > seq) bad("eval-version", seq, `Evaluated ${e.benchmark} ${e.metric} names v${e.policyVersion}, which does not exist yet`);
    else if (d.event !== e.weightsDigest) bad("eval-weights", seq, `Evaluated ${e.benchmark} ${e.metric} of v${e.policyVersion} names other weights than the version's`);
  }
  if (v.finished) {
    const { seq, event: e } = v.finished;
    const before = v.updates.filter((u) => u.seq < seq).at(-1)?.event;
    const [atVersion, atWeights] = before ? [before.toVersion, before.weightsDigest] : [started?.parent?.version ?? 0, started?.initialWeightsDigest];
    if (e.finalVersion !== atVersion) bad("final-version", seq, `RunFinished names v${e.finalVersion}, the policy is at v${atVersion}`);
    if (e.finalWeightsDigest !== atWeights) bad("final-weights", seq, "RunFinished names other weights than the last update");
  }
  // every group sampled for an applied step was used by it (a refused or orphaned group is an anomaly)
  for (const g of v.groups.values()) {
    const s = g.sampled;
    if (s && s.event.step <= lastStep && !usedBy.has(g.groupId) && !droppedBy.has(g.groupId)) bad("unused-group", s.seq, `${g.groupId} of step ${s.event.step} was sampled but no update used it`);
  }
  violations.sort((a, b) => a.seq - b.seq);
  const scored = [...v.groups.values()].reduce((a, g) => a + g.scored.size, 0);
  const groups = [...v.groups.values()].filter((g) => g.sampled).length;
  return { violations, steps: v.updates.length, groups, scored, updates: v.updates.map((u) => u.event), started };
}

/** The audit of a run from its events in log order: auditView of their fold. */
export function auditEvents(events: Iterable<At<ZsEvent>>, options: AuditOptions = {}): AuditReport {
  return auditView(foldRun(events), options);
}
