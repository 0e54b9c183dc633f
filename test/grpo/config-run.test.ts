// Config keys end to end on a real nats-server: a strict and a loose base_acc get distinct scorer ids
// through the reward consumer (and the updater, rescore and export tell them apart); eval.every
// evaluates while `run` trains; a fork's new optimizer settings take effect and are recorded; a
// sampled pass@1 is its own evaluation beside the greedy one; --resume refuses overrides.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { forkRun } from "../../cli/commands/fork.ts";
import { runConfig, RunRequestError } from "../../cli/commands/run.ts";
import { startRun } from "../../cli/launch.ts";
import { evaluateRun } from "../../offline/eval/run.ts";
import { rolloutLines } from "../../offline/replay/export.ts";
import { rescoreRun } from "../../offline/replay/rescore.ts";
import { verifyUpdates } from "../../offline/replay/verify.ts";
import { runRewardConsumer } from "../../consumers/reward/consumer.ts";
import { scorerOf } from "../../domain/reward/spec.ts";
import { emptyView, foldRun } from "../../domain/run/view.ts";
import { readyGroups } from "../../domain/run/decide.ts";
import { AdamW } from "../../native/index.ts";
import { resolveConfig } from "../../streams/config.ts";
import type { Evaluated, GroupScored, PolicyUpdated } from "../../streams/events/index.ts";
import { subjects } from "../../streams/subjects.ts";
import { groupSampled } from "../helpers/events.ts";
import { startBus, type Bus } from "../helpers/nats.ts";
import { tinyConfig, writeConfig } from "../helpers/tiny.ts";

const LOOSE_ONLY = "<think>a</think> <think>b</think><answer>\\boxed{3}</answer>";   // two <think>: loose passes, strict does not
const BOTH = "<think>a</think><answer>\\boxed{3}</answer>";

describe("config keys over the bus", () => {
  let bus: Bus;
  before(async () => { bus = await startBus(); });
  after(async () => { await bus.stop(); });

  it("strict and loose base_acc get distinct scorer ids through the reward consumer; updater, rescore and export key on them", async () => {
    const loose = resolveConfig(tinyConfig(), "loose");
    const strict = resolveConfig(tinyConfig({ reward: { fn: "base_acc", format_mode: "strict" } }), "strict");
    const runs = [(await startRun(bus.log, loose)).runId, (await startRun(bus.log, strict)).runId];
    for (const runId of runs) {
      const g = groupSampled(runId, 0, 0, 2);
      g.gold = "3";
      g.samples.forEach((s, i) => { s.text = [LOOSE_ONLY, BOTH][i]; });
      await bus.log.publish(g);
    }
    const ctl = new AbortController();
    const consumer = runRewardConsumer(bus.log, { signal: ctl.signal, name: "reward-test" });
    const scoredOf = async (runId: string) => (await bus.log.replayAll(runId, { subject: subjects.reward(runId) })).map((r) => r.event as GroupScored);
    const t0 = Date.now();
    while ((await scoredOf(runs[0])).length + (await scoredOf(runs[1])).length < 2 && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 100));
    ctl.abort();
    await consumer;
    const [l, s] = [(await scoredOf(runs[0]))[0], (await scoredOf(runs[1]))[0]];
    assert.equal(l.scorer, "base_acc@1", "the default settings keep today's id");
    assert.equal(s.scorer, "base_acc@1{format_mode=strict}");
    assert.equal(s.scorer, scorerOf(strict));
    assert.deepEqual(l.scores.map((x) => x.reward), [1, 1]);
    assert.deepEqual(s.scores.map((x) => x.reward), [0, 1]);

    // the updater of the strict run takes its own group, and would not take it as the loose scorer's
    const fold = async (runId: string) => foldRun(await bus.log.replayAll(runId), emptyView("pending"));
    const v = await fold(runs[1]);
    assert.equal(v.scorer, scorerOf(strict));
    assert.deepEqual(readyGroups(v, v.config!, ["s0.g0"]).ready.map((g) => g.scored.scorer), [scorerOf(strict)]);
    assert.deepEqual(readyGroups({ ...v, scorer: "base_acc@1" }, v.config!, ["s0.g0"]).missingScore, ["s0.g0"]);

    // rescore the loose run as strict: its own GroupScored, one verdict flipped 1→0; a second rescore adds nothing
    const r1 = await rescoreRun(bus.log, runs[0], { reward: "base_acc@1{format_mode=strict}" });
    assert.deepEqual([r1.scorer, r1.against, r1.published, r1.totals.down, r1.totals.up], ["base_acc@1{format_mode=strict}", "base_acc@1", 1, 1, 0]);
    assert.equal((await rescoreRun(bus.log, runs[0], { reward: "base_acc@1{format_mode=strict}" })).published, 0);
    await assert.rejects(rescoreRun(bus.log, runs[1], { reward: "base_acc@1{format_mode=strict}" }), /already scored by base_acc@1\{format_mode=strict\}/);

    // export picks the rewards of the scorer it is asked for
    const events = await bus.log.replayAll(runs[0]);
    assert.deepEqual(rolloutLines(events).map((x) => [x.scorer, x.reward]), [["base_acc@1", 1], ["base_acc@1", 1]]);
    assert.deepEqual(rolloutLines(events, "base_acc@1{format_mode=strict}").map((x) => [x.scorer, x.reward]), [["base_acc@1{format_mode=strict}", 0], ["base_acc@1{format_mode=strict}", 1]]);
  });

  describe("a run with eval.every = 2", () => {
    // the run with eval.every = 2 the next tests read (a fixture, not a test's leftover): the evaluations
    // `run` recorded are kept as they stood when it finished, before any test evaluates more
    const bench = { name: "held", source: { synthetic: "addition", split: "heldout", size: 8, params: { digits: 2 } } };
    let runId = "";
    let finished = false;
    let runEvals: Evaluated[] = [];
    before(async () => {
      const file = writeConfig(tinyConfig({ eval: { benchmarks: [bench], every: 2 } }));
      const out = await runConfig({ file, server: bus.server.url, rollout: 1, reward: 1, quiet: true });
      runId = out.runId;
      finished = out.finished;
      runEvals = (await bus.log.replayAll(runId, { subject: subjects.eval(runId) })).map((r) => r.event as Evaluated);
    });

    it("eval.every: `run` evaluates the benchmarks before the first step, every N steps and after the last", () => {
      assert.equal(finished, true);
      const evals = runEvals.filter((e) => e.metric === "pass@1");
      assert.deepEqual(evals.map((e) => [e.policyVersion, e.benchmark, e.k, e.temperature]), [[0, "held", 1, 0], [2, "held", 1, 0], [3, "held", 1, 0]]);
    });

    it("a sampled pass@1 (temperature > 0, k = 1) is its own evaluation beside the greedy one", async () => {
      const sampled = await evaluateRun(bus.log, runId, { version: 0, bench: "held", temperature: 0.8 });
      assert.deepEqual(sampled.map((e) => [e.recorded, e.k, e.temperature, e.seed]), [[false, 1, 0.8, 7]]);
      const greedy = await evaluateRun(bus.log, runId, { version: 0, bench: "held" });
      assert.deepEqual(greedy.map((e) => [e.recorded, e.temperature]), [[true, 0]]);
      assert.equal((await evaluateRun(bus.log, runId, { version: 0, bench: "held", temperature: 0.8 }))[0].recorded, true);
      const heads = (await bus.log.replayAll(runId, { subject: subjects.eval(runId) })).map((r) => r.event as Evaluated).filter((e) => e.metric === "pass@1" && e.policyVersion === 0);
      assert.deepEqual(heads.map((e) => e.temperature), [0, 0.8]);
    });

    it("a fork's new optimizer settings take effect (recorded in its snapshots), and the fork verifies bit for bit", async () => {
      const forked = async (sets: string[]) => {
        const f = await forkRun(bus.log, runId, { at: 1, sets: ["eval.every=0", ...sets] });
        await runConfig({ resume: f.runId, server: bus.server.url, rollout: 1, reward: 1, quiet: true });
        const u = (await bus.log.replayAll(f.runId, { subject: subjects.policy(f.runId) })).map((r) => r.event as PolicyUpdated);
        assert.deepEqual(u.map((x) => x.step), [2]);
        return { runId: f.runId, update: u[0], optimizer: AdamW.settingsOf(await bus.log.getBlob(f.runId, u[0].optimizerDigest)) };
      };
      const same = await forked([]);
      const changed = await forked(["actor.adam_beta2=0.5", "actor.weight_decay=0.3"]);
      const f32 = Math.fround;   // the engine keeps its hyperparameters in f32
      assert.deepEqual([same.optimizer.beta2, same.optimizer.weightDecay, same.optimizer.t], [f32(0.999), f32(0.1), 3]);
      assert.deepEqual([changed.optimizer.beta2, changed.optimizer.weightDecay, changed.optimizer.t], [f32(0.5), f32(0.3), 3]);
      assert.notEqual(changed.update.weightsDigest, same.update.weightsDigest);
      const v = await verifyUpdates(bus.log, changed.runId);
      assert.equal(v.divergence, null, JSON.stringify(v.divergence));
      assert.deepEqual(v.checked, [2]);
    });
  });

  it("refuses a config file or --set with --resume: the run's config is its RunStarted", async () => {
    await assert.rejects(runConfig({ resume: "some-run", sets: ["actor.lr=0.1"] }), (e: unknown) => e instanceof RunRequestError && /--set actor\.lr=0\.1 would be ignored: use `zerostream fork some-run --at <step>/.test(e.message));
    await assert.rejects(runConfig({ resume: "some-run", file: "configs/tiny-r1-zero.yaml" }), RunRequestError);
  });
});
