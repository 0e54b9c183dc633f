// Rescoring a constructed run (GroupSampled events with known texts, scored by base_acc@1) with the
// stricter format of base_acc_strict@1 flips exactly the expected verdicts in both directions; the
// new GroupScored events coexist with the old ones (msgIDs differ by scorer); a second rescore
// publishes nothing and reports the same flips.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { describeRescore } from "../../cli/commands/rescore.ts";
import { auditRun } from "../../offline/replay/audit.ts";
import { rescoreRun } from "../../offline/replay/rescore.ts";
import { groupScoredOf } from "../../domain/reward/spec.ts";
import { resolveReward } from "../../domain/reward/registry.ts";
import { score } from "../../domain/reward/score.ts";
import { resolveConfig } from "../../streams/config.ts";
import type { GroupSampled, GroupScored } from "../../streams/events/index.ts";
import { DIGEST, groupSampled, runStarted } from "../helpers/events.ts";
import { startBus, uniqueRunId, type Bus } from "../helpers/nats.ts";
import { tinyConfig } from "../helpers/tiny.ts";

const TEXTS = [
  [
    "<think>2+3=5</think><answer>\\boxed{5}</answer>",                  // passes both
    "<think>a</think><think>b</think><answer>\\boxed{5}</answer>",      // loose passes, strict: two <think> → 1→0
    " <think>x</think><answer>\\boxed{5}</answer>",                     // loose needs <think> first, strict trims → 0→1
    "<think>x</think><answer>\\boxed{6}</answer>",                      // wrong under both
  ],
  [
    "<think>x</think><answer>5</answer>",                               // no \boxed: no answer under both
    "<think>y</think><answer>\\boxed{5}</answer>",                      // passes both
    "<think>x</think> <answer>\\boxed{5}</answer>",                     // passes both
    "",                                                                 // nothing
  ],
];

describe("rescore", () => {
  let bus: Bus;
  const runId = uniqueRunId("rescore");
  const groups: GroupSampled[] = TEXTS.map((texts, slot) => {
    const g = groupSampled(runId, 0, slot, texts.length);
    g.gold = "5";
    g.samples = g.samples.map((s, i) => ({ ...s, text: texts[i] }));
    return g;
  });
  before(async () => {
    bus = await startBus();
    const started = runStarted(runId);
    started.config = resolveConfig(tinyConfig());
    started.initialWeightsDigest = DIGEST;
    await bus.log.publish(started);
    const spec = resolveReward("base_acc@1");
    for (const g of groups) {
      await bus.log.publish(g);
      await bus.log.publish(groupScoredOf(g, spec, g.samples.map((s) => score(s.text, g.gold, spec)), "test", 0));
    }
  });
  after(async () => { await bus.stop(); });

  it("flips exactly the expected verdicts with the strict format", async () => {
    const r = await rescoreRun(bus.log, runId, { reward: "base_acc_strict@1" });
    assert.equal(r.against, "base_acc@1");
    assert.equal(r.published, 2);
    assert.deepEqual(r.totals, { samples: 8, up: 1, down: 1 });
    assert.deepEqual(r.steps[0].examples.map((f) => [f.direction, f.groupId, f.index]).sort(), [["0→1", "s0.g0", 2], ["1→0", "s0.g0", 1]]);
    assert.match(describeRescore(r), /flipped: 1 0→1, 1 1→0 of 8 samples/);
  });

  it("keeps both scorers' GroupScored side by side, and a second rescore publishes nothing", async () => {
    const scoredBy = async () => (await bus.log.replayAll(runId)).flatMap((x) => (x.event.type === "GroupScored" ? [(x.event as GroupScored).scorer] : [])).sort();
    assert.deepEqual(await scoredBy(), ["base_acc@1", "base_acc@1", "base_acc_strict@1", "base_acc_strict@1"]);
    const again = await rescoreRun(bus.log, runId, { reward: "base_acc_strict@1" });
    assert.equal(again.published, 0);
    assert.equal(again.alreadyRecorded, 2);
    assert.deepEqual(again.totals, { samples: 8, up: 1, down: 1 });
    assert.equal((await scoredBy()).length, 4);
    const audit = await auditRun(bus.log, runId, { weights: false });
    assert.deepEqual(audit.violations.filter((v) => v.rule === "scored-once" || v.rule === "reward-parts"), []);
  });

  it("refuses to rescore with the run's own scorer", async () => {
    await assert.rejects(rescoreRun(bus.log, runId, { reward: "base_acc@1" }), /already scored by base_acc@1/);
  });
});
