// Worker processes die at the worst moments (SIGKILL through failpoints) and nothing is lost or
// duplicated: a reward consumer killed before publishing or between publish and ack, a generator killed
// in the middle of a task. A group for a run that does not exist is dead-lettered with its payload.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { spawnWorker, startRun, type WorkerProc } from "../../cli/launch.ts";
import { tasksOfStep } from "../../consumers/updater/driver.ts";
import { selectPrompts } from "../../domain/grpo/schedule.ts";
import { loadConfig } from "../../streams/config.ts";
import { prepareTrainSet } from "../../loaders/datasets.ts";
import { loadTokenizer } from "../../loaders/tokenizer.ts";
import type { DeadLettered, GroupSampled, GroupScored } from "../../streams/events/index.ts";
import { subjects } from "../../streams/subjects.ts";
import { groupSampled } from "../helpers/events.ts";
import { startBus, uniqueRunId, type Bus } from "../helpers/nats.ts";
import { tinyConfig, writeConfig } from "../helpers/tiny.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const exited = (w: WorkerProc) => new Promise<string | null>((r) => (w.child.exitCode !== null || w.child.signalCode !== null) ? r(w.child.signalCode) : w.child.once("exit", (_c, s) => r(s)));

async function waitFor<T>(what: string, f: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
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
      const a = spawnWorker("reward", bus.server.url, ["--ack-wait-ms", "1500", "--name", "victim"], { ZS_FAILPOINT: `${fp}:${step}` });
      await publishGroups(runId, step, 3);
      assert.equal(await exited(a), "SIGKILL");
      const b = spawnWorker("reward", bus.server.url, ["--ack-wait-ms", "1500", "--name", "survivor"]);
      try {
        const scored = await waitFor("3 scored groups", async () => { const s = await scoredOf(runId); return s.length >= 3 ? s : undefined; });
        await sleep(2000); // a duplicate would show up within the ack wait
        const again = await scoredOf(runId);
        assert.equal(again.length, 3, `GroupScored events: ${again.map((s) => `${s.groupId} by ${s.worker}`).join(", ")}`);
        assert.deepEqual(new Set(again.map((s) => s.groupId)), new Set(["s.g0", "s.g1", "s.g2"].map((x) => x.replace("s.", `s${step}.`))));
        for (const s of scored) assert.deepEqual(s.scores.map((x) => x.outcome), ["correct", "wrong"]);
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
    const a = spawnWorker("rollout", bus.server.url, ["--ack-wait-ms", "2000", "--threads", "1"], { ZS_FAILPOINT: "rollout.mid-task:0" });
    for (const t of tasks) await bus.log.publish(t);
    assert.equal(await exited(a), "SIGKILL");
    const partial = await bus.log.replayAll(runId, { subject: subjects.rollout(runId) });
    assert.equal(partial.length, 1, "the victim published one group of its task before dying");
    const b = spawnWorker("rollout", bus.server.url, ["--ack-wait-ms", "2000", "--threads", "1"]);
    try {
      await waitFor("4 sampled groups", async () => ((await bus.log.replayAll(runId, { subject: subjects.rollout(runId) })).length >= 4 ? true : undefined));
      await sleep(1000);
      const all = (await bus.log.replayAll(runId, { subject: subjects.rollout(runId) })).map((r) => r.event as GroupSampled);
      assert.deepEqual(all.map((g) => g.groupId).sort(), ["s0.g0", "s0.g1", "s0.g2", "s0.g3"]);
      // the redone group is the same group: same seed, same tokens
      const first = partial[0].event as GroupSampled;
      assert.deepEqual(all.find((g) => g.groupId === first.groupId)!.samples, first.samples);
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
