// Folds a run's replayed events into what the report shows: the run header, one stats row per step,
// the evaluations, and the sample responses of the earliest and the latest step. Pure: no I/O.
import { isSelfCheck } from "../../domain/reward/selfcheck.ts";
import { evalSampling } from "../../streams/events/index.ts";
import type {
  Evaluated, GroupSampled, GroupScored, PolicyUpdated, RunFinished, RunStarted, ZsEvent,
} from "../../streams/events/index.ts";

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
};

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
  const runId = items[0].event.runId;
  const m: ReportModel = { runId, steps: [], evals: [], deadLettered: 0 };
  const steps = new Map<number, PolicyUpdated>();
  const evals = new Map<string, Evaluated>();
  const sampled = new Map<string, GroupSampled>();
  const scored = new Map<string, GroupScored[]>();
  for (const { event: e, time } of items) {
    switch (e.type) {
      case "RunStarted": m.started ??= e; m.startedAt ??= e.startedAt; break;
      case "RunFinished": m.finished = e; m.finishedAt = time ?? m.finishedAt; break;
      case "PolicyUpdated": steps.set(e.step, e); break;
      case "Evaluated": evals.delete(evalKey(e)); evals.set(evalKey(e), e); break;
      case "GroupSampled": if (!sampled.has(e.groupId)) sampled.set(e.groupId, e); break;
      case "GroupScored": scored.set(e.groupId, [...(scored.get(e.groupId) ?? []), e]); break;
      case "DeadLettered": m.deadLettered++; break;
      default: break;
    }
  }
  m.steps = [...steps.values()].sort((a, b) => a.step - b.step);
  m.evals = [...evals.values()];
  const scorerOf = new Map(m.steps.map((u) => [u.step, u.scorer]));
  const side = (step: number) => sampleSide(step, [...sampled.values()], scored, scorerOf.get(step), o);
  const sampledSteps = [...new Set([...sampled.values()].map((g) => g.step))].sort((a, b) => a - b);
  if (sampledSteps.length) {
    m.before = side(sampledSteps[0]);
    if (sampledSteps.length > 1) m.after = side(sampledSteps.at(-1)!);
  }
  return m;
}

function sampleSide(
  step: number, groups: GroupSampled[], scored: Map<string, GroupScored[]>, scorer: string | undefined, o: FoldOptions,
): SampleSide {
  const nGroups = o.groupsPerSide ?? 3;
  const nSamples = o.samplesPerGroup ?? 4;
  const all = groups.filter((g) => g.step === step).sort((a, b) => a.slot - b.slot);
  const texts = all.flatMap((g) => g.samples.map((x) => x.text));
  return {
    step,
    policyVersion: all[0]?.policyVersion ?? step,
    samples: texts.length,
    selfChecks: texts.filter(isSelfCheck).length,
    groups: all.slice(0, nGroups).map((g) => {
      const scores = scored.get(g.groupId) ?? [];
      const s = scores.find((x) => x.scorer === scorer) ?? scores[0];
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
