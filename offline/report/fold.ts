// Folds a run's replayed events into what the report shows: the run header, one stats row per step,
// the evaluations, and the sample responses of the earliest and the latest step. Pure: no I/O.
import { isSelfCheck } from "../../domain/reward/selfcheck.ts";
import { evalSampling } from "../../streams/events/index.ts";
import type {
  Evaluated, GroupSampled, PolicyUpdated, RunFinished, RunStarted, ZsEvent,
} from "../../streams/events/index.ts";
import { foldRun, sampledGroups, updateScorer, type RunView } from "../../domain/run/view.ts";

/** A replayed record (`EventLog.replayAll`) or a bare event. */
export type ReportEvent = ZsEvent | { event: ZsEvent; time?: Date | string; seq?: number };

export type SampleView = {
  index: number; text: string; tokens: number; finish: string; selfCheck: boolean;
  reward?: number; format?: number; accuracy?: number; outcome?: string; extracted?: string | null;
};
export type GroupView = {
  groupId: string; step: number; policyVersion: number; promptId: string; prompt: string; gold: string;
  scorer?: string; samples: SampleView[];
};
/** A step's shown groups, and over all of the step's samples how many check or revise their own work. */
export type SampleSide = { step: number; policyVersion: number; groups: GroupView[]; samples: number; selfChecks: number };

export type ReportModel = {
  runId: string;
  started?: RunStarted;
  finished?: RunFinished;
  startedAt?: string;
  finishedAt?: string;
  steps: PolicyUpdated[];          // one per step, in step order
  evals: Evaluated[];              // in log order; a later event for the same key replaces an earlier one
  before?: SampleSide;             // the earliest sampled step
  after?: SampleSide;              // the latest sampled step, when it differs from the earliest
  deadLettered: number;
  checks: CheckPoint[];            // per sampled step: how many of its responses check or revise their work
  climbStep?: number;              // the first step where the check rate climbs (climbStep below), when it does
};

/** A sampled step's self-verification: of its responses, how many check or revise their own work (isSelfCheck). */
export type CheckPoint = { step: number; samples: number; selfChecks: number };

/** The rule, fixed before the aha runs (docs/aha.md): the check rate climbs at the first step k from which the
 * rate at k and the mean rate over steps k..k+4 both reach max(3 × the first sampled step's rate, that rate + 0.05). */
export const CLIMB_WINDOW = 5;
export function climbStep(points: readonly CheckPoint[]): number | undefined {
  if (points.length < 2) return undefined;
  const rate = (p: CheckPoint) => (p.samples ? p.selfChecks / p.samples : 0);
  const base = rate(points[0]);
  const threshold = Math.max(3 * base, base + 0.05);
  for (let i = 1; i < points.length; i++) {
    const w = points.slice(i, i + CLIMB_WINDOW);
    if (rate(points[i]) >= threshold && w.reduce((a, p) => a + rate(p), 0) / w.length >= threshold) return points[i].step;
  }
  return undefined;
}

export type FoldOptions = { groupsPerSide?: number; samplesPerGroup?: number };

export class EmptyRunError extends Error {}

function unwrap(r: ReportEvent): { event: ZsEvent; time?: string } {
  if ("event" in r && r.event && typeof r.event === "object") {
    const t = r.time instanceof Date ? r.time.toISOString() : r.time;
    return { event: r.event, time: t };
  }
  return { event: r as ZsEvent };
}

function evalKey(e: Evaluated): string {
  return `${e.policyVersion}|${e.benchmark}|${e.metric}|${e.k}|${e.scorer}|${evalSampling(e)}`;
}

export function foldReport(records: readonly ReportEvent[], o: FoldOptions = {}): ReportModel {
  if (!records.length) throw new EmptyRunError("the run has no events");
  const items = records.map(unwrap);
  const v = foldRun(records.map((r, i) => ({ seq: "seq" in r && typeof r.seq === "number" ? r.seq : i + 1, event: items[i].event })));
  const finishedAt = v.finished ? items.find((x) => x.event === v.finished!.event)?.time : undefined;
  // every evaluation is a measurement; the report shows the latest of each (version, benchmark, metric, k, scorer, sampling)
  const evals = new Map<string, Evaluated>();
  for (const { event: e } of v.evaluations) { evals.delete(evalKey(e)); evals.set(evalKey(e), e); }
  const m: ReportModel = {
    runId: items[0].event.runId, started: v.started?.event, startedAt: v.started?.event.startedAt, finished: v.finished?.event, finishedAt,
    steps: v.updates.map((u) => u.event).sort((a, b) => a.step - b.step), evals: [...evals.values()], deadLettered: v.deadLetters.length,
    checks: [],
  };
  const scorerOf = new Map(m.steps.map((u) => [u.step, updateScorer(v, u)]));
  const groups = sampledGroups(v).map((g) => g.event);
  const sampledSteps = [...new Set(groups.map((g) => g.step))].sort((a, b) => a - b);
  const perStep = new Map<number, CheckPoint>();
  for (const g of groups) {
    const p = perStep.get(g.step) ?? { step: g.step, samples: 0, selfChecks: 0 };
    p.samples += g.samples.length;
    p.selfChecks += g.samples.filter((x) => isSelfCheck(x.text)).length;
    perStep.set(g.step, p);
  }
  const side = (step: number) => sampleSide(step, groups, v, scorerOf.get(step), perStep.get(step)!, o);
  m.checks = sampledSteps.map((k) => perStep.get(k)!);
  m.climbStep = climbStep(m.checks);
  if (sampledSteps.length) {
    m.before = side(sampledSteps[0]);
    if (sampledSteps.length > 1) m.after = side(sampledSteps.at(-1)!);
  }
  return m;
}

function sampleSide(
  step: number, groups: GroupSampled[], v: RunView, scorer: string | undefined, checks: CheckPoint, o: FoldOptions,
): SampleSide {
  const nGroups = o.groupsPerSide ?? 3;
  const nSamples = o.samplesPerGroup ?? 4;
  const all = groups.filter((g) => g.step === step).sort((a, b) => a.slot - b.slot);
  return {
    step,
    policyVersion: all[0]?.policyVersion ?? step,
    samples: checks.samples,
    selfChecks: checks.selfChecks,
    groups: all.slice(0, nGroups).map((g) => {
      const scores = v.groups.get(g.groupId)?.scored;
      const s = (scorer ? scores?.get(scorer)?.event : undefined) ?? [...(scores?.values() ?? [])][0]?.event;
      const byIndex = new Map(s?.scores.map((x) => [x.index, x]) ?? []);
      return {
        groupId: g.groupId, step: g.step, policyVersion: g.policyVersion, promptId: g.prompt.id,
        prompt: g.prompt.text, gold: g.gold, scorer: s?.scorer,
        samples: g.samples.slice(0, nSamples).map((x) => {
          const sc = byIndex.get(x.index);
          return {
            index: x.index, text: x.text, tokens: x.tokens.length, finish: x.finish, selfCheck: isSelfCheck(x.text),
            ...(sc ? { reward: sc.reward, format: sc.format, accuracy: sc.accuracy, outcome: sc.outcome, extracted: sc.extracted } : {}),
          };
        }),
      };
    }),
  };
}
