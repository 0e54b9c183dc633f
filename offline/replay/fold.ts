// The history of a run, read from its one fold (domain/run/view.ts): the steps with their curves (from PolicyUpdated
// stats), the groups and scorers, the evaluations, lineage and end. Pure.
import type { Replayed } from "../../streams/eventlog.ts";
import type { Evaluated, PolicyUpdated, RunFinished, RunStarted } from "../../streams/events/index.ts";
import { foldRun, sampledGroups } from "../../domain/run/view.ts";

export type StepRow = {
  step: number; seq: number; version: number;
  reward: number; accuracy: number; format: number; length: number; truncated: number;
  loss: number; kl: number; entropy: number; gradNorm: number; lr: number; zeroAdvGroups: number; stepMs: number;
};
export type RunHistory = {
  runId: string; started?: RunStarted; finished?: RunFinished;
  steps: StepRow[]; groups: number; scored: Record<string, number>;   // scorer → groups scored
  evaluations: Evaluated[]; deadLettered: number; events: number;
};

export function stepRow(seq: number, e: PolicyUpdated): StepRow {
  const s = e.stats;
  return {
    step: e.step, seq, version: e.toVersion, reward: s.rewardMean, accuracy: s.accuracyRate, format: s.formatRate,
    length: s.responseLengthMean, truncated: s.truncatedRate, loss: s.loss, kl: s.kl, entropy: s.entropy,
    gradNorm: s.gradNorm, lr: s.lr, zeroAdvGroups: s.zeroAdvantageGroups, stepMs: e.timings.stepMs ?? 0,
  };
}

export function foldHistory(runId: string, events: Replayed[]): RunHistory {
  const v = foldRun(events);
  return {
    runId, started: v.started?.event, finished: v.finished?.event,
    steps: v.updates.map((u) => stepRow(u.seq, u.event)),
    groups: sampledGroups(v).length, scored: Object.fromEntries(v.scoredBy),
    evaluations: v.evaluations.map((e) => e.event), deadLettered: v.deadLetters.length, events: events.length,
  };
}

const COLUMNS: [keyof StepRow, string, number][] = [
  ["step", "step", 0], ["version", "v", 0], ["reward", "reward", 3], ["accuracy", "acc", 3], ["format", "format", 3],
  ["length", "len", 1], ["truncated", "trunc", 2], ["loss", "loss", 5], ["kl", "kl", 5], ["entropy", "entropy", 3],
  ["gradNorm", "gnorm", 3], ["lr", "lr", 6], ["zeroAdvGroups", "zero-adv", 0], ["stepMs", "ms", 0],
];

/** The curves as a fixed-width text table, one row per step. */
export function curvesTable(rows: StepRow[]): string {
  const cells = rows.map((r) => COLUMNS.map(([k, , d]) => (r[k] as number).toFixed(d)));
  const widths = COLUMNS.map(([, h], i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => x.padStart(widths[i])).join("  ");
  return [line(COLUMNS.map(([, h]) => h)), ...cells.map(line)].join("\n");
}

export function describeHistory(h: RunHistory): string {
  const s = h.started;
  const lines = [
    `run ${h.runId}: ${h.events} events, ${h.steps.length} steps, ${h.groups} groups sampled; scored ${Object.entries(h.scored).map(([k, n]) => `${n} by ${k}`).join(", ") || "none"}`,
  ];
  if (s) lines.push(`started ${s.startedAt} config ${s.configHash} code ${s.codeVersion} seed ${s.seed}${s.parent ? `; fork of ${s.parent.runId} at step ${s.parent.step} (v${s.parent.version})` : ""}`);
  lines.push(h.finished ? `finished: ${h.finished.reason} at v${h.finished.finalVersion}` : "not finished");
  if (h.deadLettered) lines.push(`${h.deadLettered} dead-lettered message(s)`);
  if (h.steps.length) lines.push("", curvesTable(h.steps));
  if (h.evaluations.length) {
    lines.push("", "evaluations:");
    for (const e of h.evaluations) if (e.metrics && e.samples) lines.push(`  v${e.policyVersion} ${e.benchmark} k=${e.k} ${e.scorer} n=${e.n}: ${Object.entries(e.metrics).map(([k, v]) => `${k}=${v.toFixed(3)}`).join(" ")}`);
  }
  return lines.join("\n");
}
