// The audit of a run from its log: the event invariants of domain/audit.ts with the run's own
// registries (advantage estimators, reward functions), plus the weights: every object a RunStarted or
// PolicyUpdated names exists in the run's bucket and hashes to its digest.
import { ZeroStreamError, WeightsDigestError, WeightsNotFoundError } from "../../streams/errors.ts";
import type { EventLog, Replayed } from "../../streams/eventlog.ts";
import { auditEvents, type AuditOptions, type AuditReport, type Violation } from "../../domain/audit.ts";
import { advantageEstimator } from "../../domain/grpo/advantages.ts";
import { combine, resolveReward } from "../../domain/reward/registry.ts";
import { RewardSpec } from "../../domain/reward/types.ts";
import { foldRun } from "../../domain/run/view.ts";

export class RunLogEmptyError extends ZeroStreamError {}

/** The reward a scorer gives for recorded parts: the recorded rewardConfig when it is a full spec, else the registry's. */
export function rewardOfParts(scorer: string, rewardConfig: Record<string, unknown>, format: number, accuracy: number): number | undefined {
  const recorded = RewardSpec.safeParse(rewardConfig);
  if (recorded.success) return combine(recorded.data, format, accuracy);
  try { return combine(resolveReward(scorer), format, accuracy); } catch { return undefined; }
}

export const runAuditOptions: AuditOptions = { estimator: advantageEstimator, rewardOf: rewardOfParts };

export type WeightsRef = { seq: number; digest: string; what: string };

/** Every weights and optimizer object the log names, with the event that names it. */
export function weightsRefs(events: Replayed[]): WeightsRef[] {
  const v = foldRun(events);
  const out: WeightsRef[] = [];
  if (v.started) {
    const { seq, event: e } = v.started;
    out.push({ seq, digest: e.initialWeightsDigest, what: "initial weights" });
    if (e.initialServingDigest) out.push({ seq, digest: e.initialServingDigest, what: "initial weights' BF16 copy" });
    if (e.initialOptimizerDigest) out.push({ seq, digest: e.initialOptimizerDigest, what: "initial optimizer state" });
  }
  for (const { seq, event: e } of v.updates) {
    out.push({ seq, digest: e.weightsDigest, what: `weights v${e.toVersion} (step ${e.step})` });
    if (e.servingDigest) out.push({ seq, digest: e.servingDigest, what: `BF16 copy of weights v${e.toVersion} (step ${e.step})` });
    if (e.servingPatch) out.push({ seq, digest: e.servingPatch.patch, what: `patch of the BF16 copy v${e.fromVersion} → v${e.toVersion} (step ${e.step})` });
    out.push({ seq, digest: e.optimizerDigest, what: `optimizer state after step ${e.step}` });
  }
  return out;
}

/** Reads every object back through the verifying getBlob: missing and altered objects are violations. */
export async function auditWeights(log: EventLog, runId: string, refs: WeightsRef[]): Promise<Violation[]> {
  const out: Violation[] = [];
  const seen = new Set<string>();
  for (const r of refs) {
    if (seen.has(r.digest)) continue;
    seen.add(r.digest);
    try {
      await log.getBlob(runId, r.digest);
    } catch (err) {
      if (err instanceof WeightsNotFoundError) out.push({ rule: "weights-missing", seq: r.seq, message: `${r.what}: no object ${r.digest} in the run's bucket` });
      else if (err instanceof WeightsDigestError) out.push({ rule: "weights-digest", seq: r.seq, message: `${r.what}: ${err.message}` });
      else throw err;
    }
  }
  return out;
}

export type RunAudit = { events: Replayed[]; report: AuditReport; violations: Violation[] };

export async function auditRun(log: EventLog, runId: string, o: { weights?: boolean; events?: Replayed[] } = {}): Promise<RunAudit> {
  const events = o.events ?? (await log.replayAll(runId));
  if (!events.length) throw new RunLogEmptyError(`run ${runId} has no events in the log`);
  const report = auditEvents(events, runAuditOptions);
  const weights = o.weights === false ? [] : await auditWeights(log, runId, weightsRefs(events));
  const violations = [...report.violations, ...weights].sort((a, b) => a.seq - b.seq);
  return { events, report, violations };
}
