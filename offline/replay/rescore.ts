// rescore: score every recorded rollout of a run again with another reward function or version,
// publish the new GroupScored events in the same run under their own scorer (msgIDs differ by scorer,
// so both coexist and a second rescore publishes nothing new), and compare the verdicts with the
// run's own scorer: per step, how many flipped 0→1 and 1→0, with examples.
import { hostname } from "node:os";
import { ZeroStreamError } from "../../streams/errors.ts";
import type { EventLog } from "../../streams/eventlog.ts";
import { runConfigOf, type GroupSampled, type GroupScored, type SampleScore } from "../../streams/events/index.ts";
import { passed } from "../../domain/reward/metrics.ts";
import { groupScoredOf, scorerOf } from "../../domain/reward/spec.ts";
import { ScorerPool } from "../../compute/scoring/pool.ts";
import { resolveReward, rewardId, scorerOfRecord } from "../../domain/reward/registry.ts";
import { DEFAULT_TIMEOUT_MS, RewardSpec } from "../../domain/reward/types.ts";

export class RescoreError extends ZeroStreamError {}

export type Flip = { direction: "0→1" | "1→0"; step: number; groupId: string; index: number; text: string; gold: string; from: { reward: number; outcome: string }; to: { reward: number; outcome: string; extracted: string | null } };
export type StepFlips = { step: number; groups: number; samples: number; up: number; down: number; examples: Flip[] };
export type RescoreReport = {
  runId: string; scorer: string; against: string;
  published: number; alreadyRecorded: number; unscoredBefore: number;
  steps: StepFlips[]; totals: { samples: number; up: number; down: number };
};
export type RescoreOptions = { reward: string; against?: string; pool?: ScorerPool; worker?: string; examples?: number; concurrency?: number };

/** The binary verdict of a recorded score under the reward that gave it (its recorded spec, else the registry's). */
export function verdictOf(scored: GroupScored, s: SampleScore): boolean {
  const spec = RewardSpec.safeParse(scored.rewardConfig);
  return passed(spec.success ? spec.data : resolveReward(scored.scorer), s);
}

function compare(g: GroupSampled, before: GroupScored, after: GroupScored, row: StepFlips, maxExamples: number): void {
  const old = new Map(before.scores.map((s) => [s.index, s]));
  for (const s of after.scores) {
    const o = old.get(s.index);
    if (!o) continue;
    const a = verdictOf(before, o), b = verdictOf(after, s);
    if (a === b) continue;
    if (b) row.up++; else row.down++;
    const direction = b ? "0→1" : "1→0";
    if (row.examples.filter((x) => x.direction === direction).length < maxExamples) {
      row.examples.push({
        direction, step: g.step, groupId: g.groupId, index: s.index, gold: g.gold,
        text: g.samples.find((x) => x.index === s.index)?.text.slice(0, 400) ?? "",
        from: { reward: o.reward, outcome: o.outcome }, to: { reward: s.reward, outcome: s.outcome, extracted: s.extracted },
      });
    }
  }
}

export async function rescoreRun(log: EventLog, runId: string, o: RescoreOptions): Promise<RescoreReport> {
  const events = await log.replayAll(runId);
  const started = events.find((r) => r.event.type === "RunStarted")?.event;
  if (!started || started.type !== "RunStarted") throw new RescoreError(`run ${runId} has no RunStarted event in the log`);
  const cfg = runConfigOf(started);
  const spec = resolveReward(o.reward);
  const scorer = rewardId(spec);
  const against = o.against ? rewardId(resolveReward(o.against)) : scorerOf(cfg);
  if (against === scorer) throw new RescoreError(`run ${runId} is already scored by ${scorer}: name another reward function, version or setting`);
  const sampled: GroupSampled[] = [];
  const scored = new Map<string, GroupScored>();   // by group and full scorer id (scorerOfRecord)
  for (const { event: e } of events) {
    if (e.type === "GroupSampled" && !sampled.some((g) => g.groupId === e.groupId)) sampled.push(e);
    else if (e.type === "GroupScored") {
      const id = scorerOfRecord(e, cfg.reward?.timeout_ms);
      if (!scored.has(`${e.groupId}|${id}`)) scored.set(`${e.groupId}|${id}`, e);
    }
  }
  const report: RescoreReport = { runId, scorer, against, published: 0, alreadyRecorded: 0, unscoredBefore: 0, steps: [], totals: { samples: 0, up: 0, down: 0 } };
  const pool = o.pool ?? new ScorerPool({ size: cfg.reward?.workers ?? 1, timeoutMs: spec.timeoutMs ?? DEFAULT_TIMEOUT_MS });
  const worker = o.worker ?? `rescore@${hostname()}:${process.pid}`;
  const rescored = new Map<string, GroupScored>();
  try {
    const todo = sampled.filter((g) => {
      const have = scored.get(`${g.groupId}|${scorer}`);
      if (have) { rescored.set(g.groupId, have); report.alreadyRecorded++; }
      return !have;
    });
    const window = Math.max(1, o.concurrency ?? 8);
    for (let i = 0; i < todo.length; i += window) {
      await Promise.all(todo.slice(i, i + window).map(async (g) => {
        const t0 = performance.now();
        const results = await pool.scoreMany(g.samples.map((s) => ({ kind: "response" as const, text: s.text, gold: g.gold, spec })));
        const e = groupScoredOf(g, spec, results, worker, performance.now() - t0);
        if (!(await log.publish(e)).duplicate) report.published++; else report.alreadyRecorded++;
        rescored.set(g.groupId, e);
      }));
    }
  } finally {
    if (!o.pool) await pool.close();
  }
  const rows = new Map<number, StepFlips>();
  for (const g of sampled) {
    const row = rows.get(g.step) ?? { step: g.step, groups: 0, samples: 0, up: 0, down: 0, examples: [] };
    rows.set(g.step, row);
    row.groups++;
    row.samples += g.samples.length;
    const before = scored.get(`${g.groupId}|${against}`);
    if (!before) { report.unscoredBefore++; continue; }
    compare(g, before, rescored.get(g.groupId)!, row, o.examples ?? 2);
  }
  report.steps = [...rows.values()].sort((a, b) => a.step - b.step);
  for (const r of report.steps) { report.totals.samples += r.samples; report.totals.up += r.up; report.totals.down += r.down; }
  return report;
}
