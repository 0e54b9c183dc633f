// Worker processes die at the worst moments (SIGKILL through failpoints) and nothing is lost or
// duplicated: a reward consumer killed before publishing or between publish and ack, a generator killed
// in the middle of a task. A group for a run that does not exist is dead-lettered with its payload.
// No fixed sleep decides anything: a test waits (bounded) for the victim's exit, for the events it
// expects, and then for the durable consumer to show every message delivered and acked, after which
// nothing of that work can be redelivered or published again; the consumer's delivery count shows that
// the victim's messages were redelivered to the survivor.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { spawnWorker, startRun, type WorkerProc } from "../../cli/launch.ts";
import { REWARD_DURABLE } from "../../consumers/reward/consumer.ts";
import { tasksOfStep } from "../../domain/run/decide.ts";
import { selectPrompts } from "../../domain/grpo/schedule.ts";
import { ROLLOUT_DURABLE } from "../../producers/rollout/generator.ts";
import { loadConfig } from "../../streams/config.ts";
import { prepareTrainSet } from "../../loaders/datasets.ts";
import { loadTokenizer } from "../../loaders/tokenizer.ts";
import type { DeadLettered, GroupSampled, GroupScored } from "../../streams/events/index.ts";
import { LOG_STREAM, subjects, TASK_STREAM } from "../../streams/subjects.ts";
import { groupSampled } from "../helpers/events.ts";
import { durableState, startBus, uniqueRunId, waitFor, waitSettled, type Bus } from "../helpers/nats.ts";
import { tinyConfig, writeConfig } from "../helpers/tiny.ts";

const exited = (w: WorkerProc) => new Promise<string | null>((r) => (w.child.exitCode !== null || w.child.signalCode !== null) ? r(w.child.signalCode) : w.child.once("exit", (_c, s) => r(s)));
/** A process's exit signal; a failure naming it (and the process killed) when it has not exited within `ms`. */
async function exitedWithin(w: WorkerProc, what: string, ms = 60_000): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, rej) => { timer = setTimeout(() => { w.child.kill("SIGKILL"); rej(new Error(`${what} did not exit within ${ms} ms`)); }, ms); });
  try { return await Promise.race([exited(w), late]); } finally { clearTimeout(timer); }
}

describe("worker crashes", () => {
  let bus: Bus;
  const cfg = loadConfig(writeConfig(tinyConfig()));
  before(async () => { bus = await startBus(); });
  after(async () => { await bus.stop(); });

  const texts = ["<think>ok</think><answer>\\boxed{2}</answer>", "<think>ok</think><answer>\\boxed{3}</answer>"];
  async function publishGroups(runId: string, step: number, count: number): Promise<void> {
    for (let slot = 0; slot < count; slot++) {
      const g: GroupSampled = groupSampled(runId, step, slot);
      g.samples.forEach((s, i) => { s.text = texts[i % 2]; });
      await bus.log.publish(g);
    }
  }
  async function scoredOf(runId: string): Promise<GroupScored[]> {
    return (await bus.log.replayAll(runId, { subject: subjects.reward(runId) })).map((r) => r.event as GroupScored);
  }

  for (const fp of ["reward.before-publish", "reward.before-ack"]) {
    it(`a reward consumer killed at ${fp}: another one scores the group, exactly one GroupScored per group`, async () => {
      const runId = (await startRun(bus.log, cfg)).runId;
      const step = fp === "reward.before-publish" ? 0 : 1;
      const delivered0 = (await durableState(bus, LOG_STREAM, REWARD_DURABLE))?.delivered ?? 0;
      const a = spawnWorker("reward", bus.server.url, ["--ack-wait-ms", "1500", "--name", "victim"], { ZS_FAILPOINT: `${fp}:${step}` });
      await publishGroups(runId, step, 3);
      assert.equal(await exitedWithin(a, "the victim (failpoint " + fp + ")"), "SIGKILL");
      const b = spawnWorker("reward", bus.server.url, ["--ack-wait-ms", "1500", "--name", "survivor"]);
      try {
        await waitFor("3 scored groups", async () => ((await scoredOf(runId)).length >= 3 ? true : undefined));
        // every delivery acked: the victim's messages came back to the survivor and nothing more can come
        const settled = await waitSettled(bus, LOG_STREAM, REWARD_DURABLE);
        assert.ok(settled.delivered - delivered0 > 3, `${settled.delivered - delivered0} deliveries for 3 groups: the victim's were redelivered`);
        const scored = await scoredOf(runId);
        assert.equal(scored.length, 3, `GroupScored events: ${scored.map((s) => `${s.groupId} by ${s.worker}`).join(", ")}`);
        assert.deepEqual(new Set(scored.map((s) => s.groupId)), new Set([0, 1, 2].map((i) => `s${step}.g${i}`)));
        for (const s of scored) assert.deepEqual(s.scores.map((x) => x.outcome), ["correct", "wrong"]);
        // the failpoint struck where it says: before the publish nothing of the victim's is in the log;
        // between publish and ack the victim's GroupScored is there, and the survivor's repeat was deduplicated
        const victims = scored.filter((s) => s.worker === "victim").length;
        if (fp === "reward.before-publish") assert.equal(victims, 0);
        else assert.ok(victims >= 1, "the victim published before it died");
        assert.equal(scored.filter((s) => s.worker === "survivor").length, 3 - victims);
      } finally {
        await b.stop();
      }
    });
  }

  it("a generator killed in the middle of a task: the task is redone, exactly one GroupSampled per group", async () => {
    const runId = (await startRun(bus.log, cfg)).runId;
    const started = (await bus.log.runStarted(runId))!;
    const ds = await prepareTrainSet(cfg, loadTokenizer(cfg.tokenizer));
    const tasks = tasksOfStep(cfg, runId, 0, 0, started.initialWeightsDigest, selectPrompts(cfg, ds.rows.length, 0), loadTokenizer(cfg.tokenizer).stopIds, ds.rows.map((r) => r.id));
    assert.equal(tasks.length, 2);
    const delivered0 = (await durableState(bus, TASK_STREAM, ROLLOUT_DURABLE))?.delivered ?? 0;
    const a = spawnWorker("rollout", bus.server.url, ["--ack-wait-ms", "2000", "--threads", "1", "--name", "victim"], { ZS_FAILPOINT: "rollout.mid-task:0" });
    for (const t of tasks) await bus.log.publish(t);
    assert.equal(await exitedWithin(a, "the victim generator (failpoint rollout.mid-task)"), "SIGKILL");
    const partial = await bus.log.replayAll(runId, { subject: subjects.rollout(runId) });
    assert.equal(partial.length, 1, "the victim published one group of its task before dying");
    const b = spawnWorker("rollout", bus.server.url, ["--ack-wait-ms", "2000", "--threads", "1", "--name", "survivor"]);
    try {
      await waitFor("4 sampled groups", async () => ((await bus.log.replayAll(runId, { subject: subjects.rollout(runId) })).length >= 4 ? true : undefined));
      // every task acked: the victim's task came back to the survivor and nothing more can be sampled
      const settled = await waitSettled(bus, TASK_STREAM, ROLLOUT_DURABLE);
      assert.ok(settled.delivered - delivered0 >= tasks.length + 1, `${settled.delivered - delivered0} deliveries for ${tasks.length} tasks: the victim's task was redelivered`);
      const all = (await bus.log.replayAll(runId, { subject: subjects.rollout(runId) })).map((r) => r.event as GroupSampled);
      assert.deepEqual(all.map((g) => g.groupId).sort(), ["s0.g0", "s0.g1", "s0.g2", "s0.g3"]);
      // the redone group is the same group: same seed, same tokens (the survivor's copy was deduplicated)
      const first = partial[0].event as GroupSampled;
      assert.equal(first.generator, "victim");
      assert.deepEqual(all.find((g) => g.groupId === first.groupId)!.samples, first.samples);
      assert.deepEqual(all.map((g) => g.generator).sort(), ["survivor", "survivor", "survivor", "victim"]);
    } finally {
      await b.stop();
    }
  });

  it("dead-letters a group of a run that has no RunStarted, with its payload", async () => {
    const ghost = uniqueRunId("ghost");
    const w = spawnWorker("reward", bus.server.url, ["--ack-wait-ms", "1500"]);
    try {
      await bus.log.publish(groupSampled(ghost, 0, 0));
      const dl = await waitFor("a DeadLettered event", async () => {
        const d = await bus.log.replayAll(ghost, { subject: subjects.dlq(ghost) });
        return d.length ? (d[0].event as DeadLettered) : undefined;
      });
      assert.equal(dl.reason, "rejected");
      assert.match(dl.error, /no RunStarted/);
      assert.equal(JSON.parse(Buffer.from(dl.payload, "base64").toString()).groupId, "s0.g0");
      assert.equal((await bus.log.replayAll(ghost, { subject: subjects.reward(ghost) })).length, 0);
    } finally {
      await w.stop();
    }
  });
});
