// export: a run's rollouts with rewards and advantages as JSONL (one line per sample), its metrics as
// CSV (one row per step, from PolicyUpdated stats and timings) and its evaluations as CSV, for other tools.
import { createWriteStream } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { EventLog, Replayed } from "../../streams/eventlog.ts";
import { runConfigOf, type GroupScored, type PolicyUpdated } from "../../streams/events/index.ts";
import { scorerOf } from "../../domain/reward/spec.ts";
import { resolveReward, rewardId, scorerOfRecord, scorerOfUpdate } from "../../domain/reward/registry.ts";

export type RolloutLine = {
  step: number; groupId: string; policyVersion: number; promptId: string; promptIndex: number; prompt: string; gold: string;
  sample: number; seed: number; completion: string; tokens: number[]; finish: string;
  scorer: string | null; reward: number | null; format: number | null; accuracy: number | null; outcome: string | null; extracted: string | null;
  advantage: number | null; updateStep: number | null;
};
export type ExportReport = { dir: string; rollouts: number; steps: number; evaluations: number; files: string[] };

/**
 * One line per recorded sample; rewards of `scorer` (a scorer id, e.g. `base_acc@1{format_mode=strict}`;
 * default: the scorer of the update that used the group, else the run's). Groups are matched by full
 * scorer id, so two settings of one reward function are never mixed up.
 */
export function rolloutLines(events: Replayed[], scorer?: string): RolloutLine[] {
  const started = events.find((r) => r.event.type === "RunStarted")?.event;
  const cfg = started?.type === "RunStarted" ? runConfigOf(started) : undefined;
  const runScorer = cfg ? scorerOf(cfg) : undefined;
  const wanted = scorer === undefined ? undefined : rewardId(resolveReward(scorer));
  const scored = new Map<string, GroupScored>();
  const usedBy = new Map<string, PolicyUpdated>();
  for (const { event: e } of events) {
    if (e.type === "GroupScored") {
      const key = `${e.groupId}|${scorerOfRecord(e, cfg?.reward?.timeout_ms)}`;
      if (!scored.has(key)) scored.set(key, e);
    }
    if (e.type === "PolicyUpdated") for (const id of e.groupIds) usedBy.set(id, e);
  }
  const out: RolloutLine[] = [];
  const seen = new Set<string>();
  for (const { event: g } of events) {
    if (g.type !== "GroupSampled" || seen.has(g.groupId)) continue;
    seen.add(g.groupId);
    const update = usedBy.get(g.groupId);
    const by = wanted ?? (update && runScorer ? scorerOfUpdate(update.scorer, runScorer) : update?.scorer) ?? runScorer;
    const sc = by ? scored.get(`${g.groupId}|${by}`) : undefined;
    for (const s of g.samples) {
      const score = sc?.scores.find((x) => x.index === s.index);
      out.push({
        step: g.step, groupId: g.groupId, policyVersion: g.policyVersion, promptId: g.prompt.id, promptIndex: g.prompt.index,
        prompt: g.prompt.text, gold: g.gold, sample: s.index, seed: s.seed, completion: s.text, tokens: s.tokens, finish: s.finish,
        scorer: sc ? by! : null, reward: score?.reward ?? null, format: score?.format ?? null, accuracy: score?.accuracy ?? null,
        outcome: score?.outcome ?? null, extracted: score?.extracted ?? null,
        advantage: update?.advantages[g.groupId]?.[s.index] ?? null, updateStep: update?.step ?? null,
      });
    }
  }
  return out;
}

const csvCell = (v: unknown) => {
  const s = v === undefined || v === null ? "" : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};
const csv = (header: string[], rows: unknown[][]) => [header, ...rows].map((r) => r.map(csvCell).join(",")).join("\n") + "\n";

/** One row per step: versions, digest, every stat (outcomes as outcome.<name>) and every timing (timing.<name>). */
export function metricsCsv(updates: PolicyUpdated[]): string {
  const statKeys = [...new Set(updates.flatMap((u) => Object.keys(u.stats).filter((k) => k !== "outcomes")))];
  const outcomes = [...new Set(updates.flatMap((u) => Object.keys(u.stats.outcomes)))].sort();
  const timings = [...new Set(updates.flatMap((u) => Object.keys(u.timings)))];
  const header = ["step", "fromVersion", "toVersion", ...statKeys, ...outcomes.map((o) => `outcome.${o}`), ...timings.map((t) => `timing.${t}`), "weightsDigest"];
  const rows = updates.map((u) => [
    u.step, u.fromVersion, u.toVersion, ...statKeys.map((k) => (u.stats as Record<string, unknown>)[k]),
    ...outcomes.map((o) => u.stats.outcomes[o] ?? 0), ...timings.map((t) => u.timings[t]), u.weightsDigest,
  ]);
  return csv(header, rows);
}

export async function exportRun(log: EventLog, runId: string, dir: string, o: { scorer?: string; events?: Replayed[] } = {}): Promise<ExportReport> {
  const events = o.events ?? (await log.replayAll(runId));
  await mkdir(dir, { recursive: true });
  const lines = rolloutLines(events, o.scorer);
  const rolloutsFile = join(dir, "rollouts.jsonl");
  await new Promise<void>((resolve, reject) => {
    const ws = createWriteStream(rolloutsFile);
    ws.on("error", reject);
    for (const l of lines) ws.write(JSON.stringify(l) + "\n");
    ws.end(resolve);
  });
  const updates = events.flatMap((r) => (r.event.type === "PolicyUpdated" ? [r.event] : []));
  await writeFile(join(dir, "metrics.csv"), metricsCsv(updates));
  const evals = events.flatMap((r) => (r.event.type === "Evaluated" ? [r.event] : []));
  await writeFile(join(dir, "evaluations.csv"), csv(["version", "benchmark", "metric", "value", "n", "k", "scorer", "temperature", "seed", "weightsDigest"],
    evals.map((e) => [e.policyVersion, e.benchmark, e.metric, e.value, e.n, e.k, e.scorer, e.temperature, e.seed, e.weightsDigest])));
  return { dir, rollouts: lines.length, steps: updates.length, evaluations: evals.length, files: ["rollouts.jsonl", "metrics.csv", "evaluations.csv"].map((f) => join(dir, f)) };
}
