// --verify-updates: re-executes the updater over the recorded batches and checks every PolicyUpdated
// bit for bit. From the initial weights (or the snapshot after step fromStep − 1: its weights and
// optimizer digests), each step k runs grpoUpdate exactly as the live updater does (the same config,
// the GroupSampled + GroupScored of the step's groupIds under the step's scorer, the reference =
// the run's initial weights when kl_coef > 0) and compares the advantages, the weights digest and the
// optimizer digest with the recorded ones. The first divergence stops the replay and is reported.
import { AdamW } from "../../native/index.ts";
import { runPolicy } from "../../compute/policy.ts";
import { applyDelta } from "../../streams/weights-delta.ts";
import { ZeroStreamError } from "../../streams/errors.ts";
import { sha256, type EventLog, type Replayed } from "../../streams/eventlog.ts";
import { modelConfigOf, type PolicyUpdated, type RunStarted } from "../../streams/events/index.ts";
import { ADVANTAGE_TOLERANCE } from "../../domain/audit.ts";
import { foldRun, scoredPair, updateScorer, type At, type RunView } from "../../domain/run/view.ts";
import type { StepGroup } from "../../domain/grpo/batch.ts";
import { grpoUpdate } from "../../compute/update.ts";

export class VerifyError extends ZeroStreamError {}

export type Divergence = { step: number; seq: number; what: "missing-group" | "advantages" | "weights" | "serving" | "optimizer"; message: string; expected?: string; actual?: string };
export type VerifyReport = { fromStep: number; checked: number[]; divergence: Divergence | null; ms: number };
export type VerifyOptions = { fromStep?: number; events?: Replayed[]; onStep?: (step: number, ok: boolean, ms: number) => void };

/** The run's fold, with a RunStarted to start from. */
function viewOf(events: Replayed[]): RunView & { started: At<RunStarted> } {
  const v = foldRun(events);
  if (!v.started) throw new VerifyError("the log has no RunStarted event: nothing to start the replay from");
  return v as RunView & { started: At<RunStarted> };
}

function compareAdvantages(e: PolicyUpdated, seq: number, got: Record<string, number[]>): Divergence | null {
  for (const id of e.groupIds) {
    const a = e.advantages[id] ?? [], b = got[id] ?? [];
    const i = a.length !== b.length ? 0 : a.findIndex((x, j) => !(Math.abs(x - b[j]) <= ADVANTAGE_TOLERANCE));
    if (a.length !== b.length || i !== -1) {
      return { step: e.step, seq, what: "advantages", message: `step ${e.step} ${id} sample ${i}: recorded advantage ${a[i]}, re-executed ${b[i]}`, expected: String(a[i]), actual: String(b[i]) };
    }
  }
  return null;
}

/** The first step of a run: 0, or the step after the fork point of a fork. */
function firstStep(v: RunView): number {
  const parent = v.started?.event.parent;
  return parent ? parent.step + 1 : 0;
}

/** Where to start: the initial state, or the snapshot recorded by the update of step fromStep − 1. */
function startingPoint(v: RunView & { started: At<RunStarted> }, fromStep: number): { weights: string; optimizer?: string } {
  const started = v.started.event;
  if (fromStep === firstStep(v)) return { weights: started.initialWeightsDigest, optimizer: started.initialOptimizerDigest };
  const prev = v.updates.find((x) => x.event.step === fromStep - 1);
  if (!prev) throw new VerifyError(`no PolicyUpdated for step ${fromStep - 1}: cannot start the replay at step ${fromStep}`);
  return { weights: prev.event.weightsDigest, optimizer: prev.event.optimizerDigest };
}

export async function verifyUpdates(log: EventLog, runId: string, o: VerifyOptions = {}): Promise<VerifyReport> {
  const t0 = performance.now();
  const v = viewOf(o.events ?? (await log.replayAll(runId)));
  const started = v.started.event;
  const cfg = v.config!;
  const modelConfig = modelConfigOf(started);
  const fromStep = o.fromStep ?? firstStep(v);
  const start = startingPoint(v, fromStep);
  const policy = runPolicy(await log.getBlob(runId, start.weights), modelConfig, cfg, "trainer");
  const adam = { beta1: cfg.actor.adam_beta1, beta2: cfg.actor.adam_beta2, eps: cfg.actor.adam_eps, weightDecay: cfg.actor.weight_decay };
  // as the live updater: the moments from the snapshot, the hyperparameters from the run's config
  const optimizer = start.optimizer ? AdamW.fromBytes(policy, await log.getBlob(runId, start.optimizer), adam) : new AdamW(policy, adam);
  const reference = cfg.algorithm.kl_coef > 0 ? runPolicy(await log.getBlob(runId, started.referenceWeightsDigest ?? started.initialWeightsDigest), modelConfig, cfg, "frozen") : null;
  const report: VerifyReport = { fromStep, checked: [], divergence: null, ms: 0 };
  try {
    for (const { seq, event: e } of v.updates.filter((x) => x.event.step >= fromStep)) {
      const ts = performance.now();
      const groups: StepGroup[] = [];
      const by = updateScorer(v, e);
      for (const id of e.groupIds) {
        const pair = scoredPair(v, id, by);
        if (!pair) {
          report.divergence = { step: e.step, seq, what: "missing-group", message: `step ${e.step} used ${id}, which the log has no ${v.groups.get(id)?.sampled ? `GroupScored by ${e.scorer}` : "GroupSampled"} for` };
          return report;
        }
        groups.push(pair);
      }
      const up = await grpoUpdate({ cfg, step: e.step, policy, optimizer, reference, groups });
      report.divergence = compareAdvantages(e, seq, up.advantages);
      const weights = sha256(policy.toSafetensors("f32")), opt = sha256(optimizer.toBytes());
      if (!report.divergence && weights !== e.weightsDigest) {
        report.divergence = { step: e.step, seq, what: "weights", message: `step ${e.step}: re-executed weights ${weights}, PolicyUpdated #${seq} records ${e.weightsDigest}`, expected: e.weightsDigest, actual: weights };
      }
      if (!report.divergence && e.servingDigest) {
        const serving = sha256(policy.toSafetensors("bf16"));
        if (serving !== e.servingDigest) report.divergence = { step: e.step, seq, what: "serving", message: `step ${e.step}: the re-executed weights' BF16 copy is ${serving}, PolicyUpdated #${seq} records ${e.servingDigest}`, expected: e.servingDigest, actual: serving };
      }
      if (!report.divergence && e.servingPatch) {
        // the recorded patch, applied to the previous version's copy, must give this version's
        try {
          if (e.servingPatch.base !== v.serving.get(e.fromVersion)) throw new Error(`its base ${e.servingPatch.base} is not v${e.fromVersion}'s copy`);
          const applied = applyDelta(await log.getBlob(runId, e.servingPatch.base), await log.getBlob(runId, e.servingPatch.patch), e.servingPatch.base);
          if (applied.digest !== e.servingDigest) throw new Error(`it gives ${applied.digest}, not the copy ${e.servingDigest}`);
        } catch (err) {
          report.divergence = { step: e.step, seq, what: "serving", message: `step ${e.step}: the patch ${e.servingPatch.patch} of PolicyUpdated #${seq}: ${(err as Error).message}` };
        }
      }
      if (!report.divergence && opt !== e.optimizerDigest) {
        report.divergence = { step: e.step, seq, what: "optimizer", message: `step ${e.step}: re-executed optimizer state ${opt}, PolicyUpdated #${seq} records ${e.optimizerDigest}`, expected: e.optimizerDigest, actual: opt };
      }
      o.onStep?.(e.step, !report.divergence, performance.now() - ts);
      if (report.divergence) return report;
      report.checked.push(e.step);
    }
    return report;
  } finally {
    report.ms = performance.now() - t0;
    policy.dispose();
    reference?.dispose();
  }
}
