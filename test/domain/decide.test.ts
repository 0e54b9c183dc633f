// The updater as a decider (domain/run/decide.ts), given/when/then with no NATS: given the events of a
// run and the facts of the updater's own effects, when it decides, then the command is the one the
// lock-step GRPO loop needs next.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decide, evolve, initialUpdaterState, type Command, type DecideContext, type Input, type UpdaterState } from "../../domain/run/decide.ts";
import { epochOrder, fillPrompts, selectPrompts } from "../../domain/grpo/schedule.ts";
import { emptyView } from "../../domain/run/view.ts";
import { resolveConfig, type RunConfig } from "../../streams/config.ts";
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

// ---- a fixed lag and dynamic sampling -------------------------------------------------------------
type Oracle = (step: number, slot: number) => number[];   // the rewards the reward consumer gives a group

/**
 * Drives the decider to the end of a run with no bus: every request is answered at once by groups sampled
 * with the task's version and scored by `rewards`; every update is computed and published. Returns the
 * commands in order, the requests as [step, round-or-base task ids, version], and the published updates.
 */
function drive(config: RunConfig, rewards: Oracle = () => [1, 0], holdScores = false) {
  let q = 0;
  const mark = (event: ZsEvent): Input => ({ seq: ++q, event });
  const c: DecideContext = { runId: "r", config, limit: config.actor.train_iters, rowIds, stopTokenIds: [2] };
  let s = evolve(initialUpdaterState(emptyView("pending")), mark({ ...runStarted("r"), config }));
  const requests: { step: number; tasks: string[]; version: number; digest: string }[] = [];
  const updates: PolicyUpdated[] = [];
  for (let i = 0; i < 1000; i++) {
    const cmd = decide(s, c);
    if (cmd.kind === "request") {
      requests.push({ step: cmd.step, tasks: cmd.tasks.map((t) => t.taskId), version: cmd.tasks[0].policyVersion, digest: cmd.tasks[0].weightsDigest });
      s = evolve(s, { type: "TasksPublished", taskIds: cmd.tasks.map((t) => t.taskId) });
      for (const t of cmd.tasks) for (const p of t.prompts) {
        s = evolve(s, mark({ ...groupSampled("r", t.step, p.slot), policyVersion: t.policyVersion, taskId: t.taskId }));
        if (!holdScores) s = evolve(s, mark({ ...groupScored("r", t.step, p.slot, rewards(t.step, p.slot)), policyVersion: t.policyVersion }));
      }
    } else if (cmd.kind === "update") {
      const e = { ...updated(cmd.step), groupIds: cmd.groupIds, dropped: cmd.dropped, fillRounds: cmd.fillRounds };
      s = evolve(s, { type: "UpdateComputed", event: e });
    } else if (cmd.kind === "publish") {
      updates.push(cmd.event);
      s = evolve(s, mark(cmd.event));
    } else if (cmd.kind === "finish") {
      return { requests, updates, state: s };
    } else {
      return { requests, updates, state: s, last: cmd };
    }
  }
  throw new Error("the decider did not finish");
}

const lagged = (s: number, iters = 5, extra: Record<string, unknown> = {}) => {
  const base = tinyConfig();
  return resolveConfig({ ...base, rollout: { ...(base.rollout as object), max_staleness: s }, actor: { ...(base.actor as object), train_iters: iters }, ...extra });
};

describe("the decider under a fixed lag (rollout.max_staleness)", () => {
  it("s = 0 is lock-step: step k+1 is requested with update k's weights, after it is computed", () => {
    const { requests, updates } = drive(lagged(0));
    assert.deepEqual(requests.map((r) => [r.step, r.version]), [[0, 0], [1, 1], [2, 2], [3, 3], [4, 4]]);
    assert.equal(updates.length, 5);
  });

  it("s = 2: steps 0..2 are requested with the initial weights up front, step k+3 with update k's weights before update k is published", () => {
    const cfg = lagged(2, 6);
    const c: DecideContext = { ...ctx, config: cfg, limit: 6 };
    // before any update: steps 0, 1 and 2, all by version 0, then a wait on step 0
    let s = given(at({ ...runStarted("r"), config: cfg }));
    const first: [number, number][] = [];
    for (let cmd = decide(s, c); cmd.kind === "request"; cmd = decide(s, c)) {
      first.push([cmd.step, cmd.tasks[0].policyVersion]);
      assert.ok(cmd.tasks.every((t) => t.weightsDigest === DIGEST));
      s = evolve(s, { type: "TasksPublished", taskIds: cmd.tasks.map((t) => t.taskId) });
    }
    assert.deepEqual(first, [[0, 0], [1, 0], [2, 0]]);
    assert.equal(decide(s, c).kind, "wait");
    // the whole run: step k is sampled by version max(0, k − 2), with that version's digest
    const { requests, updates } = drive(cfg);
    assert.deepEqual(requests.map((r) => [r.step, r.version]), [[0, 0], [1, 0], [2, 0], [3, 1], [4, 2], [5, 3]]);
    for (const r of requests.filter((x) => x.version > 0)) assert.equal(r.digest, updated(r.version - 1).weightsDigest, `step ${r.step}`);
    assert.deepEqual(updates.map((u) => u.step), [0, 1, 2, 3, 4, 5]);
  });

  it("given a restart after update 0 with step 1 sampled and step 2 half sampled, it requests what is missing of steps 1..3, each with its version", () => {
    const cfg = lagged(2, 6);
    const c: DecideContext = { ...ctx, config: cfg, limit: 6 };
    const sampledBy = (k: number, v: number, slots = [0, 1, 2, 3]) => slots.flatMap((i) => [at({ ...groupSampled("r", k, i), policyVersion: v }), at({ ...groupScored("r", k, i), policyVersion: v })]);
    let s = given(at({ ...runStarted("r"), config: cfg }), ...sampledBy(0, 0), at(updated(0)), ...sampledBy(1, 0), ...sampledBy(2, 0, [0, 1]));
    const got: [number, string[], number][] = [];
    for (let cmd = decide(s, c); cmd.kind === "request"; cmd = decide(s, c)) {
      got.push([cmd.step, cmd.tasks.map((t) => t.taskId), cmd.tasks[0].policyVersion]);
      s = evolve(s, { type: "TasksPublished", taskIds: cmd.tasks.map((t) => t.taskId) });
    }
    assert.deepEqual(got, [[2, ["s2.c1"], 0], [3, ["s3.c0", "s3.c1"], 1]]);
    const u = decide(s, c);
    assert.equal(u.kind, "update", "step 1 is ready: its groups were sampled before the restart");
  });

  it("s = 1: while update 0's snapshot is stored, update 1 may run; nothing names update 0's weights before they are stored", () => {
    const cfg1 = lagged(1, 4);
    const c: DecideContext = { ...ctx, config: cfg1, limit: 4 };
    const sampledBy = (k: number, v: number) => [0, 1, 2, 3].flatMap((i) => [at({ ...groupSampled("r", k, i), policyVersion: v }), at({ ...groupScored("r", k, i), policyVersion: v })]);
    const storing: Input = { type: "UpdateComputed", event: updated(0), stored: false };
    const requested: Input = { type: "TasksPublished", taskIds: ["s0.c0", "s0.c1", "s1.c0", "s1.c1"] };
    // step 1's groups (sampled by version 0) are in: update 1 runs from version 1 beside the store
    let s = given(at({ ...runStarted("r"), config: cfg1 }), requested, ...sampledBy(0, 0), ...sampledBy(1, 0), storing);
    const ahead = decide(s, c);
    assert.equal(ahead.kind, "update");
    if (ahead.kind === "update") assert.deepEqual([ahead.step, ahead.version, ahead.groupIds], [1, 1, ids(1)]);
    // step 1 not sampled yet: a wait for the store, not a request naming update 0's weights
    const early = decide(given(at({ ...runStarted("r"), config: cfg1 }), requested, ...sampledBy(0, 0), storing), c);
    assert.deepEqual([early.kind, early.kind === "wait" && early.storing], ["wait", true]);
    // s = 0 never runs ahead: step 1 is sampled by update 0's weights
    const c0: DecideContext = { ...ctx, config: lagged(0, 4), limit: 4 };
    assert.equal(decide(given(at({ ...runStarted("r"), config: lagged(0, 4) }), requested, ...sampledBy(0, 0), storing), c0).kind, "wait");
    // a fact about another step changes nothing; once stored, step 2 is requested with update 0's weights, then it is published
    s = evolve(s, { type: "UpdateStored", step: 1, storeMs: 99 });
    assert.equal(decide(s, c).kind, "update");
    s = evolve(s, { type: "UpdateStored", step: 0, storeMs: 12 });
    const r = decide(s, c);
    assert.equal(r.kind, "request");
    if (r.kind === "request") {
      assert.equal(r.step, 2);
      assert.ok(r.tasks.every((t) => t.policyVersion === 1 && t.weightsDigest === updated(0).weightsDigest));
      s = evolve(s, { type: "TasksPublished", taskIds: r.tasks.map((t) => t.taskId) });
    }
    const p = decide(s, c);
    assert.equal(p.kind, "publish");
    if (p.kind === "publish") assert.deepEqual([p.event.step, p.event.timings.storeMs], [0, 12]);
  });

  it("refuses a group sampled by another version than the lag names (fresher is refused too), and names both", () => {
    const cfg = lagged(2, 6);
    const c: DecideContext = { ...ctx, config: cfg, limit: 6 };
    const s = given(at({ ...runStarted("r"), config: cfg }), { type: "TasksPublished", taskIds: ["s0.c0", "s0.c1", "s1.c0", "s1.c1", "s2.c0", "s2.c1"] },
      ...[0, 1, 2, 3].flatMap((i) => [at({ ...groupSampled("r", 0, i), policyVersion: 0 }), at({ ...groupScored("r", 0, i), policyVersion: 0 })]).slice(0, 6),
      at({ ...groupSampled("r", 0, 3), policyVersion: 1 }));
    const w = decide(s, c);
    assert.equal(w.kind, "wait");
    if (w.kind === "wait") {
      assert.deepEqual(w.missingSample, ["s0.g3"]);
      assert.match(w.refused[0].reason, /sampled with policy v1, step 0 needs v0 \(a fixed lag of max_staleness 2\)/);
    }
  });
});

describe("the decider under dynamic sampling (algorithm.dynamic_sampling)", () => {
  const dynamic = (rounds = 2, s = 0) => {
    const c = lagged(s, 3);
    return resolveConfig({ ...c, algorithm: { ...c.algorithm, dynamic_sampling: { enable: true, max_fill_rounds: rounds } } });
  };

  it("drops the uniform groups, tops the step up with fill rounds, and trains on the first global_batch_size informative groups by slot", () => {
    // step 0: slots 1 and 3 uniform; fill round 1 (slots 4..7): 4 uniform, 5..7 informative → batch 0, 2, 5, 6; 7 is surplus
    const rewards: Oracle = (k, slot) => (k === 0 && [1, 3, 4].includes(slot) ? [1, 1] : [1, 0]);
    const { requests, updates } = drive(dynamic(), rewards);
    assert.deepEqual(requests.filter((r) => r.step === 0).map((r) => r.tasks), [["s0.c0", "s0.c1"], ["s0.f1.c0", "s0.f1.c1"]]);
    assert.deepEqual(updates[0].groupIds, ["s0.g0", "s0.g2", "s0.g5", "s0.g6"]);
    assert.deepEqual(updates[0].dropped, [{ groupId: "s0.g1", reason: "uniform" }, { groupId: "s0.g3", reason: "uniform" }, { groupId: "s0.g4", reason: "uniform" }, { groupId: "s0.g7", reason: "surplus" }]);
    assert.equal(updates[0].fillRounds, 1);
    assert.deepEqual([updates[1].fillRounds, updates[1].dropped], [0, []], "a step whose groups are all informative takes no fill round");
  });

  it("fill prompts come from the schedule past the run's steps, the same whatever earlier steps dropped", () => {
    const cfg = dynamic();
    const f = fillPrompts(cfg, 200, 1, 2), g = fillPrompts(cfg, 200, 1, 2);
    assert.deepEqual(f, g);
    assert.deepEqual(f.map((x) => x.slot), [8, 9, 10, 11]);
    assert.deepEqual(f.map((x) => x.index), Array.from({ length: 4 }, (_, i) => epochOrder(200, cfg.seed, 0, true)[(3 + 1 * 2 + 1) * 4 + i]));
    const own = new Set([0, 1, 2].flatMap((k) => selectPrompts(cfg, 200, k).map((x) => x.index)));
    assert.ok(f.every((x) => !own.has(x.index)), "no fill prompt is one of the run's own steps' prompts (first epoch)");
  });

  it("after max_fill_rounds, trains on the informative groups there are; with none at all, on the step's own slots", () => {
    const { updates } = drive(dynamic(2), (k, slot) => (k === 0 ? (slot === 9 ? [0, 1] : [1, 1]) : [1, 0]));
    assert.deepEqual(updates[0].groupIds, ["s0.g9"]);
    assert.equal(updates[0].fillRounds, 2);
    assert.equal(updates[0].dropped!.length, 11);
    const none = drive(dynamic(1), (k) => (k === 0 ? [0, 0] : [1, 0])).updates[0];
    assert.deepEqual(none.groupIds, ids(0));
    assert.deepEqual(none.dropped!.map((d) => d.groupId), ["s0.g4", "s0.g5", "s0.g6", "s0.g7"]);
  });

  it("with a lag, a later step's fill round is requested while an earlier step trains", () => {
    const cfg = dynamic(2, 1);
    const { requests } = drive(cfg, (k, slot) => (k === 1 && slot === 0 ? [0, 0] : [1, 0]));
    const order = requests.map((r) => r.tasks[0]);
    assert.ok(order.indexOf("s1.f1.c0") !== -1 && order.indexOf("s1.f1.c0") < order.indexOf("s2.c0"), `requests: ${order.join(" ")}`);
    assert.equal(requests.find((r) => r.tasks[0] === "s1.f1.c0")!.version, 0, "a fill round is sampled by its step's version");
  });
});

