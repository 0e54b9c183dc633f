// Step and slot are fields, not parsed back from s<step>.g<slot>: RolloutRequested v2 and GroupSampled v2
// record the slot (and the task the dataset row's id); the v1 upcasters are the only readers of an id.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { tasksOfStep } from "../../domain/run/decide.ts";
import { orderGroups } from "../../domain/grpo/batch.ts";
import { selectPrompts } from "../../domain/grpo/schedule.ts";
import { rowsOfTask } from "../../producers/rollout/generator.ts";
import { resolveConfig } from "../../streams/config.ts";
import { PoisonMessageError } from "../../streams/errors.ts";
import { parseEvent, type RolloutRequested } from "../../streams/events/index.ts";
import { msgIdOf, subjectOf } from "../../streams/subjects.ts";
import { DIGEST, SAMPLER, groupSampled, groupScored } from "../helpers/events.ts";
import { tinyConfig } from "../helpers/tiny.ts";

/** A RolloutRequested as 2a4de19 wrote it: v1, promptId always "", no slot. */
function taskV1(): Record<string, unknown> {
  return {
    type: "RolloutRequested", v: 1, runId: "r1", taskId: "s3.c1", step: 3, epoch: 0, policyVersion: 3, weightsDigest: DIGEST,
    samplesPerPrompt: 2, sampler: SAMPLER,
    prompts: [{ groupId: "s3.g4", promptId: "", index: 17, seed: 5 }, { groupId: "s3.g5", promptId: "", index: 2, seed: 6 }],
  };
}

/** A GroupSampled as 2a4de19 wrote it: v1, no slot. */
function sampledV1(step: number, slot: number): Record<string, unknown> {
  const { slot: _, ...g } = groupSampled("r1", step, slot);
  return { ...g, v: 1 };
}

describe("RolloutRequested v2", () => {
  it("given a v1 task, reads it with the slots its group ids name and promptId null (not recorded)", () => {
    const t = parseEvent(taskV1(), ["RolloutRequested"]);
    assert.equal(t.v, 2);
    assert.deepEqual(t.prompts.map((p) => [p.groupId, p.slot, p.promptId, p.index]), [["s3.g4", 4, null, 17], ["s3.g5", 5, null, 2]]);
    assert.equal(msgIdOf(t), "r1:task:3:s3.c1");
    assert.equal(subjectOf(t), subjectOf(taskV1() as unknown as RolloutRequested));
  });

  it("refuses a task whose group id is not s<step>.g<slot> of its fields", () => {
    const t = parseEvent(taskV1(), ["RolloutRequested"]);
    t.prompts[1].slot = 6;
    assert.throws(() => parseEvent(t), (e: unknown) => e instanceof PoisonMessageError && /prompts\.1\.groupId: is not s3\.g6/.test(e.message));
  });

  it("the updater writes each prompt's slot and its dataset row's id; task and group ids stay as they were", () => {
    const cfg = resolveConfig(tinyConfig());   // global_batch_size 4, prompts_per_task 2
    const ids = Array.from({ length: 200 }, (_, i) => `add-${i}`);
    const selected = selectPrompts(cfg, 200, 1);
    const tasks = tasksOfStep(cfg, "r1", 1, 1, DIGEST, selected, [2], ids);
    assert.deepEqual(tasks.map((t) => t.taskId), ["s1.c0", "s1.c1"]);
    const prompts = tasks.flatMap((t) => t.prompts);
    assert.deepEqual(prompts.map((p) => p.groupId), ["s1.g0", "s1.g1", "s1.g2", "s1.g3"]);
    assert.deepEqual(prompts.map((p) => p.slot), [0, 1, 2, 3]);
    assert.deepEqual(prompts.map((p) => p.promptId), selected.map((s) => `add-${s.index}`));
    for (const t of tasks) assert.deepEqual(parseEvent(t), t);       // valid v2 events as written
    assert.throws(() => tasksOfStep(cfg, "r1", 1, 1, DIGEST, selected, [2], ids.slice(0, 1)), /outside the dataset/);
  });

  it("a generator refuses a task naming another row than its dataset has at that index", () => {
    const rows = Array.from({ length: 20 }, (_, i) => ({ id: `row-${i}`, index: i }));
    const v1 = parseEvent(taskV1(), ["RolloutRequested"]);
    assert.deepEqual(rowsOfTask(v1, rows).map((r) => r.id), ["row-17", "row-2"]);   // v1: by index only
    const v2: RolloutRequested = { ...v1, prompts: v1.prompts.map((p) => ({ ...p, promptId: `row-${p.index}` })) };
    assert.deepEqual(rowsOfTask(v2, rows).map((r) => r.id), ["row-17", "row-2"]);
    v2.prompts[1].promptId = "row-3";
    assert.throws(() => rowsOfTask(v2, rows), (e: unknown) => e instanceof PoisonMessageError && /names prompt "row-3" at index 2, this worker's dataset has "row-2"/.test(e.message));
  });
});

describe("GroupSampled v2", () => {
  it("given a v1 group, reads it with the slot its group id names; msgID and subject unchanged", () => {
    const g = parseEvent(sampledV1(3, 12), ["GroupSampled"]);
    assert.equal(g.v, 2);
    assert.equal(g.slot, 12);
    assert.deepEqual(g, groupSampled("r1", 3, 12));
    assert.equal(msgIdOf(g), "r1:sampled:3:s3.g12");
  });

  it("refuses a group whose id is not s<step>.g<slot> of its fields", () => {
    assert.throws(() => parseEvent({ ...groupSampled("r1", 3, 1), slot: 2 }), (e: unknown) => e instanceof PoisonMessageError && /groupId: is not s3\.g2/.test(e.message));
  });

  it("the training batch is ordered by the slot field (numerically), not by arrival or by id text", () => {
    const groups = [10, 2, 1].map((slot) => ({ sampled: groupSampled("r1", 0, slot), scored: groupScored("r1", 0, slot) }));
    assert.deepEqual(orderGroups(groups).map((g) => g.sampled.slot), [1, 2, 10]);
  });
});

describe("no reader parses a group id", () => {
  it("only the v1 upcasters derive a slot from an id", () => {
    const grep = (...args: string[]) => spawnSync("git", ["grep", ...args, "--", "*.ts", ":!test/"], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean).sort();
    assert.deepEqual(grep("-lF", "slotOfV1GroupId"), ["streams/events/common.ts", "streams/events/rollout.ts", "streams/events/tasks.ts"]);
    assert.deepEqual(grep("-lF", String.raw`.g(\d`), ["streams/events/common.ts"]);
    assert.deepEqual(grep("-lF", String.raw`^s(\d`), []);
  });
});
