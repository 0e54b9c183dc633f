// Evaluation of a run's policy on a real nats-server: the tiny held-out split is sampled greedily and
// scored by the reward code; the result is recorded as Evaluated events (one per metric, the headline
// one with metrics and samples); asking again returns the recorded result without sampling; --force
// evaluates again; seeded sampling (avg@k) is deterministic for a seed.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startRun } from "../../cli/launch.ts";
import { evaluatePolicy } from "../../offline/eval/evaluate.ts";
import { evaluateRun } from "../../offline/eval/run.ts";
import { resolveBenchmark } from "../../offline/eval/benchmarks.ts";
import { rewardSpecOf } from "../../domain/reward/spec.ts";
import { ScorerPool } from "../../compute/scoring/pool.ts";
import { Policy } from "../../native/index.ts";
import { loadConfig, type RunConfig } from "../../streams/config.ts";
import { loadTokenizer } from "../../loaders/tokenizer.ts";
import type { Evaluated } from "../../streams/events/index.ts";
import { subjects } from "../../streams/subjects.ts";
import { startBus, type Bus } from "../helpers/nats.ts";
import { tinyConfig, writeConfig } from "../helpers/tiny.ts";

describe("evaluate a run", () => {
  let bus: Bus;
  let runId: string;
  let cfg: RunConfig;
  const pool = new ScorerPool({ size: 1, timeoutMs: 2000 });
  before(async () => {
    bus = await startBus();
    cfg = loadConfig(writeConfig(tinyConfig()));
    runId = (await startRun(bus.log, cfg)).runId;
  });
  after(async () => { await pool.close(); await bus.stop(); });

  const evals = async () => (await bus.log.replayAll(runId, { subject: subjects.eval(runId) })).map((r) => r.event as Evaluated);

  it("evaluates v0 greedily on the held-out split and records one Evaluated per metric", async () => {
    const [r] = await evaluateRun(bus.log, runId, { version: 0, bench: "heldout", limit: 24, pool });
    assert.equal(r.recorded, false);
    assert.equal(r.headline, "pass@1");
    assert.equal(r.n, 24);
    assert.equal(r.k, 1);
    assert.equal(r.scorer, "base_acc@1");
    assert.deepEqual(Object.keys(r.metrics).sort(), ["accuracy", "format", "mean_length", "pass@1", "selfcheck_rate", "truncated"]);
    assert.ok(r.metrics.mean_length > 0 && r.metrics.mean_length <= cfg.data.max_response_length);
    assert.equal(r.samples.length, 8);
    const es = await evals();
    assert.equal(es.length, 6);
    const head = es.at(-1)!;
    assert.equal(head.metric, "pass@1");
    assert.deepEqual(head.metrics, r.metrics);
    assert.equal(head.samples?.length, 8);
    assert.ok(es.every((e) => e.policyVersion === 0 && e.benchmark === "heldout" && e.n === 24));
  });

  it("returns the recorded result the second time, and evaluates again with force", async () => {
    const first = (await evals()).at(-1)!;
    const [again] = await evaluateRun(bus.log, runId, { version: 0, bench: "heldout", limit: 24, pool });
    assert.equal(again.recorded, true);
    assert.deepEqual(again.metrics, first.metrics);
    assert.deepEqual(again.samples, first.samples);
    assert.equal((await evals()).length, 6, "nothing new was published");
    const [forced] = await evaluateRun(bus.log, runId, { version: "all", bench: "heldout", limit: 24, force: true, pool });
    assert.equal(forced.recorded, false);
    assert.deepEqual(forced.metrics, first.metrics, "greedy evaluation is deterministic");
    assert.equal((await evals()).length, 12, "a forced evaluation is recorded under its own msgIDs");
  });

  it("samples avg@k deterministically for a seed", async () => {
    const tok = loadTokenizer(cfg.tokenizer);
    const bench = await resolveBenchmark(cfg, tok, "heldout", { limit: 8 });
    const policy = Policy.init(cfg.model.arch!, cfg.model.init_seed ?? 0, cfg.model.init_std ?? 0.02);
    try {
      const o = { policy, rows: bench.rows, tokenizer: tok, spec: rewardSpecOf(cfg), temperature: 1, k: 3, maxNewTokens: 16, pool };
      const a = await evaluatePolicy({ ...o, seed: 1 });
      const b = await evaluatePolicy({ ...o, seed: 1, batchRows: 5 });
      const c = await evaluatePolicy({ ...o, seed: 2 });
      assert.equal(a.headline, "avg@3");
      assert.deepEqual(a, b, "same seed, different batching: same result");
      assert.notDeepEqual(a.samples.map((s) => s.text), c.samples.map((s) => s.text));
      await assert.rejects(evaluatePolicy({ ...o, temperature: 0, seed: 1 }), /needs sampling/);
    } finally {
      policy.dispose();
    }
  });

  it("refuses an unknown version or benchmark by name", async () => {
    await assert.rejects(evaluateRun(bus.log, runId, { version: 5, bench: "heldout", pool }), /no policy version 5/);
    await assert.rejects(evaluateRun(bus.log, runId, { version: 0, bench: "nope", pool }), /unknown benchmark 'nope'/);
  });
});
