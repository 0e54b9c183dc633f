// The updater as a decider (domain/run/decide.ts), given/when/then with no NATS: given the events of a
// run and the facts of the updater's own effects, when it decides, then the command is the one the
// lock-step GRPO loop needs next.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decide, evolve, initialUpdaterState, type Command, type DecideContext, type Input, type UpdaterState } from "../../domain/run/decide.ts";
import { selectPrompts } from "../../domain/grpo/schedule.ts";
import { emptyView } from "../../domain/run/view.ts";
import { resolveConfig } from "../../streams/config.ts";
import type { DeadLettered, PolicyUpdated, ZsEvent } from "../../streams/events/index.ts";
import { DIGEST, groupSampled, groupScored, runStarted } from "../helpers/events.ts";
import { tinyConfig } from "../helpers/tiny.ts";

const cfg = resolveConfig(tinyConfig());                   // 4 groups per step, 2 prompts per task, 3 steps
const rowIds = Array.from({ length: 200 }, (_, i) => `row-${i}`);
const ctx: DecideContext = { runId: "r", config: cfg, limit: 3, rowIds, stopTokenIds: [2] };
const ids = (k: number) => selectPrompts(cfg, 200, k).map((s) => s.groupId);

let seq = 0;
const at = (event: ZsEvent): Input => ({ seq: ++seq, event });
function given(...inputs: Input[]): UpdaterState {
  return inputs.reduce(evolve, initialUpdaterState(emptyView("pending")));
}
const started = () => at({ ...runStarted("r"), config: cfg });
const sampledAndScored = (k: number, slots = [0, 1, 2, 3]) => slots.flatMap((i) => [at(groupSampled("r", k, i)), at(groupScored("r", k, i))]);
function updated(k: number): PolicyUpdated {
  return {
    type: "PolicyUpdated", v: 1, runId: "r", step: k, fromVersion: k, toVersion: k + 1, groupIds: ids(k), scorer: "base_acc@1",
    advantageEstimator: "grpo", advantages: {}, weightsDigest: `sha256:${String(k + 1).repeat(64)}`, optimizerDigest: DIGEST,
    stats: {
      rewardMean: 0, rewardStd: 0, formatRate: 0, accuracyRate: 0, outcomes: {}, responseLengthMean: 0, responseLengthMax: 0, truncatedRate: 0,
      loss: 0, pgLoss: 0, kl: 0, entropy: 0, clipFrac: 0, gradNorm: 0, lr: 0, tokens: 0, groups: 4, zeroAdvantageGroups: 0,
    },
    timings: {},
  };
}
const kinds = (c: Command) => c.kind;

describe("the updater's decider", () => {
  it("given a fresh run, it requests step 0's tasks with the initial weights, then waits", () => {
    const s = given(started());
    const c = decide(s, ctx);
    assert.equal(c.kind, "request");
    if (c.kind !== "request") return;
    assert.deepEqual(c.tasks.map((t) => [t.taskId, t.policyVersion, t.weightsDigest]), [["s0.c0", 0, DIGEST], ["s0.c1", 0, DIGEST]]);
    const after = evolve(s, { type: "TasksPublished", taskIds: c.tasks.map((t) => t.taskId) });
    assert.deepEqual(decide(after, ctx), { kind: "wait", step: 0, ready: 0, missingSample: ids(0), missingScore: [], refused: [] });
  });

  it("given every group of the step sampled and scored, it updates with them in slot order", () => {
    const s = given(started(), { type: "TasksPublished", taskIds: ["s0.c0", "s0.c1"] }, ...sampledAndScored(0, [3, 1, 0, 2]));
    const c = decide(s, ctx);
    assert.equal(c.kind, "update");
    if (c.kind !== "update") return;
    assert.deepEqual([c.step, c.version, c.groupIds], [0, 0, ids(0)]);
    assert.deepEqual(c.groups.map((g) => g.sampled.groupId), ids(0));
  });

  it("given a group sampled but not scored, it waits and names it", () => {
    const s = given(started(), { type: "TasksPublished", taskIds: ["s0.c0", "s0.c1"] }, ...sampledAndScored(0, [0, 1, 2]), at(groupSampled("r", 0, 3)));
    assert.deepEqual(decide(s, ctx), { kind: "wait", step: 0, ready: 3, missingSample: [], missingScore: ["s0.g3"], refused: [] });
  });

  it("given a score by another scorer only, the group is not ready", () => {
    const s = given(started(), { type: "TasksPublished", taskIds: ["s0.c0", "s0.c1"] }, ...sampledAndScored(0, [0, 1, 2]), at(groupSampled("r", 0, 3)),
      at({ ...groupScored("r", 0, 3), scorer: "acc@1", rewardConfig: { fn: "acc" } }));
    assert.equal(kinds(decide(s, ctx)), "wait");
  });

  it("given a computed update, it requests the next step with the new weights before publishing", () => {
    let s = given(started(), { type: "TasksPublished", taskIds: ["s0.c0", "s0.c1"] }, ...sampledAndScored(0), { type: "UpdateComputed", event: updated(0) });
    const c = decide(s, ctx);
    assert.equal(c.kind, "request");
    if (c.kind !== "request") return;
    assert.deepEqual(c.tasks.map((t) => [t.taskId, t.step, t.policyVersion, t.weightsDigest]), [["s1.c0", 1, 1, updated(0).weightsDigest], ["s1.c1", 1, 1, updated(0).weightsDigest]]);
    s = evolve(s, { type: "TasksPublished", taskIds: ["s1.c0", "s1.c1"] });
    assert.deepEqual(decide(s, ctx), { kind: "publish", event: updated(0), expectLastSubjectSequence: 0 });
    s = evolve(s, at(updated(0)));
    assert.equal(s.computed, undefined, "the published update is no longer pending");
    assert.equal(s.view.groups.size, 0, "the applied step's groups are dropped");
    assert.deepEqual(decide(s, ctx), { kind: "wait", step: 1, ready: 0, missingSample: ids(1), missingScore: [], refused: [] });
  });

  it("given a restart after step 0 (no tasks published by this process), it re-requests only tasks with missing groups", () => {
    const s = given(started(), ...sampledAndScored(0), at(updated(0)), ...sampledAndScored(1, [0, 1]));
    const c = decide(s, ctx);
    assert.equal(c.kind, "request");
    if (c.kind === "request") assert.deepEqual(c.tasks.map((t) => t.taskId), ["s1.c1"]);
  });

  it("given a group sampled by the wrong policy version, it is refused (max_staleness 0) and requested again", () => {
    const s = given(started(), { type: "TasksPublished", taskIds: ["s1.c0", "s1.c1"] }, ...sampledAndScored(0), at(updated(0)),
      ...sampledAndScored(1, [1, 2, 3]), at({ ...groupSampled("r", 1, 0), policyVersion: 0 }), at(groupScored("r", 1, 0)));
    const c = decide(s, ctx);
    assert.equal(c.kind, "wait");
    if (c.kind === "wait") {
      assert.deepEqual(c.missingSample, ["s1.g0"]);
      assert.match(c.refused[0].reason, /sampled with policy v0, step 1 needs v1/);
    }
  });

  it("given the last step applied, it finishes the run with the final weights; given RunFinished, it stops", () => {
    const s = given(started(), ...[0, 1, 2].flatMap((k) => [...sampledAndScored(k), at(updated(k))]));
    const c = decide(s, ctx);
    assert.deepEqual(c, { kind: "finish", event: { type: "RunFinished", v: 1, runId: "r", reason: "completed", finalVersion: 3, finalWeightsDigest: updated(2).weightsDigest } });
    if (c.kind === "finish") assert.deepEqual(decide(evolve(s, at(c.event)), ctx), { kind: "stop", reason: "finished" });
  });

  it("given --steps below train_iters, it stops at the limit without finishing the run", () => {
    const s = given(started(), ...sampledAndScored(0), at(updated(0)));
    assert.deepEqual(decide(s, { ...ctx, limit: 1 }), { kind: "stop", reason: "limit" });
  });

  it("given a dead-lettered message of the current step, it fails the run naming it", () => {
    const dead: DeadLettered = {
      type: "DeadLettered", v: 1, runId: "r", stream: "ZS_LOG", subject: "zs.r.rollout", seq: 9, consumer: "reward", deliveries: 8,
      reason: "schema", error: "samples: too short", payload: Buffer.from(JSON.stringify({ step: 0 })).toString("base64"),
    };
    const c = decide(given(started(), { type: "TasksPublished", taskIds: ["s0.c0", "s0.c1"] }, at(dead)), ctx);
    assert.equal(c.kind, "fail");
    if (c.kind === "fail") assert.match(c.message, /step 0 cannot complete: a message on zs\.r\.rollout was dead-lettered \(schema\): samples: too short/);
  });

  it("given the log follower failed, it fails the run rather than wait for ever", () => {
    const c = decide(given(started(), { type: "TasksPublished", taskIds: ["s0.c0", "s0.c1"] }, { type: "FollowerFailed", error: "connection closed" }), ctx);
    assert.deepEqual([c.kind, c.kind === "fail" && c.reason], ["fail", "follower"]);
  });

  it("evolve is pure: the state it is given is unchanged", () => {
    const s = given(started(), ...sampledAndScored(0, [0]));
    const copy = structuredClone(s);
    evolve(s, at(groupSampled("r", 0, 1)));
    evolve(s, { type: "TasksPublished", taskIds: ["x"] });
    assert.deepEqual(s, copy);
  });
});
