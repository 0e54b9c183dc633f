// evaluateRun: evaluate policy versions of a run on a benchmark and record the result in the run's log
// as Evaluated events (one per metric; every event carries all metrics, the headline one also the
// samples). An evaluation is identified by (version, benchmark, k, scorer, sampling: greedy or
// temperature + seed): when the log already holds it, the recorded result is returned and nothing is
// sampled again, unless `force`.
import { type RunConfig } from "../../streams/config.ts";
import { runPolicy } from "../../compute/policy.ts";
import { ZeroStreamError } from "../../streams/errors.ts";
import type { EventLog } from "../../streams/eventlog.ts";
import { evalSampling, events, type Evaluated } from "../../streams/events/index.ts";
import { RunContexts } from "../../loaders/runctx.ts";
import { msgIdOf, subjectOf, subjects } from "../../streams/subjects.ts";
import { rewardSpecOf } from "../../domain/reward/spec.ts";
import { foldRun } from "../../domain/run/view.ts";
import { ScorerPool } from "../../compute/scoring/pool.ts";
import { resolveReward, rewardId } from "../../domain/reward/registry.ts";
import { DEFAULT_TIMEOUT_MS, type RewardSpec } from "../../domain/reward/types.ts";
import { resolveBenchmark, type Benchmark } from "./benchmarks.ts";
import { evaluatePolicy, type PolicyEval } from "./evaluate.ts";
import { headlineMetric } from "../../domain/reward/metrics.ts";

export class UnknownVersionError extends ZeroStreamError {}

export type EvaluateRunOptions = {
  version: number | "all";
  bench: string;                // "heldout", a name of eval.benchmarks, or a file path
  k?: number;                   // default: the config benchmark's k, else 1
  temperature?: number;         // default: the config benchmark's; else 0 (greedy) for k = 1 and rollout.temperature for k > 1
  force?: boolean;              // evaluate again even when the log holds this evaluation
  map?: string;                 // map_keys of a file benchmark: "prompt=problem,answer=answer"
  limit?: number;               // the first N rows of the benchmark
  seed?: number;                // default: the run's seed
  maxNewTokens?: number;        // default: data.max_response_length
  reward?: string;              // "fn@version"; default: the run's own reward
  pool?: ScorerPool;
  onResult?: (r: RunEval) => void;
};

export type RunEval = PolicyEval & {
  runId: string; version: number; weightsDigest: string; benchmark: string; scorer: string;
  temperature: number | null; seed: number | null;  // how it sampled (null: greedy seed / not recorded)
  recorded: boolean;            // true: read from the log, not computed by this call
  seq: number;                  // log sequence of the headline Evaluated event
};

/** Policy versions of a run and their weights digests: v0 is the initial policy, v(k+1) the result of step k. */
export async function runVersions(log: EventLog, runId: string, initialWeightsDigest: string): Promise<Map<number, string>> {
  // the fold of the run's policy subject: its versions (the initial one is in RunStarted, on another subject)
  const v = foldRun(await log.replayAll(runId, { subject: subjects.policy(runId) }));
  return new Map<number, string>([[0, initialWeightsDigest], ...[...v.versions].map(([k, d]) => [k, d.event] as [number, string])]);
}

const keyOf = (version: number, benchmark: string, k: number, scorer: string, sampling: string) => `${version}|${benchmark}|${k}|${scorer}|${sampling}`;

type Recorded = { head: { seq: number; e: Evaluated }; count: number; metrics: Record<string, number> };

/** Headline Evaluated events already in the log, by (version, benchmark, k, scorer, sampling); the latest wins. */
export async function recordedEvaluations(log: EventLog, runId: string): Promise<Map<string, Recorded>> {
  const out = new Map<string, Recorded>();
  const loose = new Map<string, Record<string, number>>();
  // every evaluation is a measurement (a forced re-evaluation is recorded beside the first): all of them are in the fold
  for (const { seq, event: e } of foldRun(await log.replayAll(runId, { subject: subjects.eval(runId) })).evaluations) {
    const key = keyOf(e.policyVersion, e.benchmark, e.k, e.scorer, evalSampling(e));
    const m = loose.get(key) ?? {};
    m[e.metric] = e.value;
    loose.set(key, m);
    if (e.metric !== headlineMetric(e.k)) continue;
    const prev = out.get(key);
    out.set(key, { head: { seq, e }, count: (prev?.count ?? 0) + 1, metrics: {} });
  }
  for (const [key, rec] of out) rec.metrics = rec.head.e.metrics ?? loose.get(key) ?? { [rec.head.e.metric]: rec.head.e.value };
  return out;
}

function fromRecord(runId: string, rec: Recorded): RunEval {
  const e = rec.head.e;
  return {
    runId, version: e.policyVersion, weightsDigest: e.weightsDigest, benchmark: e.benchmark, scorer: e.scorer, temperature: e.temperature, seed: e.seed,
    headline: e.metric, metrics: rec.metrics, samples: e.samples ?? [], n: e.n, k: e.k, recorded: true, seq: rec.head.seq,
  };
}

/** Publishes one Evaluated per metric, the headline last (its presence means the set is complete). */
async function record(log: EventLog, base: Omit<Evaluated, "metric" | "value">, r: PolicyEval, repeat: number): Promise<number> {
  const names = [...Object.keys(r.metrics).filter((m) => m !== r.headline), r.headline];
  let seq = 0;
  for (const metric of names) {
    const e: Evaluated = { ...base, metric, value: r.metrics[metric], metrics: r.metrics, ...(metric === r.headline ? { samples: r.samples } : {}) };
    events.parse(e);
    // a forced re-evaluation is the repeat-th record of this identity: its own msgID, still deterministic
    const msgID = repeat ? `${msgIdOf(e)}:r${repeat}` : msgIdOf(e);
    seq = (await log.publishRaw(subjectOf(e), new TextEncoder().encode(JSON.stringify(e)), msgID)).seq;
  }
  return seq;
}

/** k and temperature of an evaluation: the options', else the config benchmark's, else greedy for k = 1 and the rollout temperature for k > 1. */
export function samplingOf(cfg: RunConfig, b: Pick<Benchmark, "k" | "temperature">, o: Pick<EvaluateRunOptions, "k" | "temperature">): { k: number; temperature: number } {
  const k = o.k ?? b.k ?? 1;
  const temperature = o.temperature ?? b.temperature ?? (k === 1 ? 0 : cfg.rollout.temperature || 1);
  return { k, temperature };
}

export async function evaluateRun(log: EventLog, runId: string, o: EvaluateRunOptions): Promise<RunEval[]> {
  const rc = await new RunContexts(log).get(runId);
  const cfg = rc.config;
  const spec: RewardSpec = o.reward ? resolveReward(o.reward) : rewardSpecOf(cfg);
  const scorer = rewardId(spec);
  const versions = await runVersions(log, runId, rc.started.initialWeightsDigest);
  const wanted = o.version === "all" ? [...versions.keys()].sort((a, b) => a - b) : [o.version];
  for (const v of wanted) {
    if (!versions.has(v)) throw new UnknownVersionError(`run ${runId} has no policy version ${v} (it has v0..v${Math.max(...versions.keys())})`);
  }
  const tok = rc.tokenizer();
  const bench = await resolveBenchmark(cfg, tok, o.bench, { map: o.map, limit: o.limit });
  const { k, temperature } = samplingOf(cfg, bench, o);
  const recorded = await recordedEvaluations(log, runId);
  const seed = o.seed ?? cfg.seed;
  const sampling = { temperature, seed: temperature > 0 ? seed : null };
  const pool = o.pool ?? new ScorerPool({ size: cfg.reward.workers, timeoutMs: spec.timeoutMs ?? DEFAULT_TIMEOUT_MS });
  const out: RunEval[] = [];
  try {
    for (const version of wanted) {
      const rec = recorded.get(keyOf(version, bench.name, k, scorer, evalSampling(sampling)));
      if (rec && !o.force) {
        out.push(fromRecord(runId, rec));
        o.onResult?.(out[out.length - 1]);
        continue;
      }
      const weightsDigest = versions.get(version)!;
      const policy = runPolicy(await log.getBlob(runId, weightsDigest), rc.modelConfig, cfg, "trainer");   // the trainer's weights, in the run's model.compute_dtype
      let r: PolicyEval;
      try {
        r = await evaluatePolicy({
          policy, rows: bench.rows, tokenizer: tok, spec, temperature, k, seed, stop: cfg.rollout.stop,
          maxNewTokens: o.maxNewTokens ?? cfg.data.max_response_length, topP: cfg.rollout.top_p, topK: Math.max(0, cfg.rollout.top_k), pool,
        });
      } finally {
        policy.dispose();
      }
      const base = { type: "Evaluated" as const, v: 2 as const, runId, policyVersion: version, weightsDigest, benchmark: bench.name, n: r.n, k, scorer, ...sampling };
      const seq = await record(log, base, r, rec?.count ?? 0);
      out.push({ ...r, runId, version, weightsDigest, benchmark: bench.name, scorer, ...sampling, recorded: false, seq });
      o.onResult?.(out[out.length - 1]);
    }
  } finally {
    if (!o.pool) await pool.close();
  }
  return out;
}
