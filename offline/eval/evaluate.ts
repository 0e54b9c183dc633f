// evaluatePolicy: sample a policy on benchmark prompts (greedy for temperature 0, seeded sampling
// otherwise), score every response with the run's reward code in the bounded ScorerPool, and reduce
// the verdicts to metrics. Deterministic for a seed: every response has its own seed derived from
// (seed, prompt index, sample), and the engine's sampling does not depend on batch composition.
import type { Policy } from "../../native/index.ts";
import type { PromptRow } from "../../loaders/datasets.ts";
import { applyStops, responseText } from "../../domain/stops.ts";
import { hashKeys } from "../../domain/rng.ts";
import type { Tokenizer } from "../../loaders/tokenizer.ts";
import { ZeroStreamError } from "../../streams/errors.ts";
import { ScorerPool } from "../../compute/scoring/pool.ts";
import type { RewardSpec } from "../../domain/reward/types.ts";
import { evalMetrics, headlineMetric, type Judged } from "../../domain/reward/metrics.ts";

export class EvalOptionsError extends ZeroStreamError {}

export type EvalSample = { promptId: string; text: string; reward: number; outcome: string };
export type PolicyEval = {
  headline: string;                   // "pass@1" or "avg@k"
  metrics: Record<string, number>;    // headline, format, accuracy, mean_length, selfcheck_rate, truncated
  samples: EvalSample[];              // the first response of up to 8 prompts
  n: number;                          // prompts
  k: number;
};
export type EvaluatePolicyOptions = {
  policy: Policy;
  rows: PromptRow[];
  tokenizer: Tokenizer;
  spec: RewardSpec;
  temperature: number;                // 0: greedy (k must be 1)
  k: number;
  maxNewTokens: number;
  seed: number;
  topP?: number;                      // default 1
  topK?: number;                      // default 0 (off)
  stop?: string[];                    // stop strings (rollout.stop), as in training
  pool?: ScorerPool;                  // default: a one-worker pool closed at the end
  timeoutMs?: number;                 // per verdict, for the default pool (default 2000)
  batchRows?: number;                 // responses sampled per engine call (default 64)
  onProgress?: (done: number, total: number) => void;
};

const SAMPLE_KEY = 0xe7a1;
export const MAX_SAMPLES = 8;

/** The seed of response j of a prompt: a pure function of the evaluation seed, the row index and j. */
export function responseSeed(seed: number, rowIndex: number, j: number): number {
  return hashKeys(seed, rowIndex, j, SAMPLE_KEY);
}

type Job = { row: PromptRow; j: number };

async function sampleAll(o: EvaluatePolicyOptions, jobs: Job[]): Promise<{ text: string; tokens: number; truncated: boolean }[]> {
  const stops = new Set(o.tokenizer.stopIds);
  const out: { text: string; tokens: number; truncated: boolean }[] = [];
  const size = Math.max(1, o.batchRows ?? 64);
  for (let i = 0; i < jobs.length; i += size) {
    const chunk = jobs.slice(i, i + size);
    const results = await o.policy.sample({
      prompts: chunk.map((c) => Int32Array.from(c.row.tokens)),
      seeds: chunk.map((c) => responseSeed(o.seed, c.row.index, c.j)),
      temperature: o.temperature, topP: o.topP ?? 1, topK: o.topK ?? 0,
      maxNewTokens: o.maxNewTokens, stopTokenIds: o.tokenizer.stopIds,
    });
    for (const raw of results) {
      const r = applyStops(raw, o.tokenizer, o.stop ?? []);
      // as the rollout generator does: the final stop token is not part of the text
      out.push({ text: responseText(r, o.tokenizer, stops), tokens: r.tokens.length, truncated: r.finish === "length" });
    }
    o.onProgress?.(Math.min(i + size, jobs.length), jobs.length);
  }
  return out;
}

export async function evaluatePolicy(o: EvaluatePolicyOptions): Promise<PolicyEval> {
  if (!Number.isInteger(o.k) || o.k < 1) throw new EvalOptionsError(`k must be a positive integer, got ${o.k}`);
  if (o.temperature === 0 && o.k > 1) throw new EvalOptionsError(`avg@${o.k} needs sampling: greedy decoding (temperature 0) gives the same response ${o.k} times; pass a temperature > 0`);
  if (!o.rows.length) throw new EvalOptionsError("no benchmark prompts to evaluate");
  const jobs: Job[] = o.rows.flatMap((row) => Array.from({ length: o.k }, (_, j) => ({ row, j })));
  const responses = await sampleAll(o, jobs);
  const pool = o.pool ?? new ScorerPool({ size: 1, timeoutMs: o.timeoutMs });
  try {
    const results = await pool.scoreMany(jobs.map((job, i) => ({ kind: "response" as const, text: responses[i].text, gold: job.row.answer, spec: o.spec })));
    const judged: Judged[] = jobs.map((job, i) => ({ promptId: job.row.id, ...responses[i], result: results[i] }));
    const samples = judged.filter((_, i) => jobs[i].j === 0).slice(0, MAX_SAMPLES)
      .map((j) => ({ promptId: j.promptId, text: j.text, reward: j.result.reward, outcome: j.result.outcome }));
    return { headline: headlineMetric(o.k), metrics: evalMetrics(o.spec, judged, o.k), samples, n: o.rows.length, k: o.k };
  } finally {
    if (!o.pool) await pool.close();
  }
}
