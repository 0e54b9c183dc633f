// The GRPO loop over a real nats-server with real worker processes. A shared fixture (before()) makes the
// reference run: a tiny random model, 3 steps, 2 generators and 2 reward consumers. Every test reads only
// that fixture, never another test's result: every invariant holds in its log and both generators and both
// reward consumers did part of the work (by the names they record); the same config and seed give the same
// weights digests; an updater killed in the middle of a step resumes with no group lost or applied twice
// and reaches the same digests.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runConfig, workerPlan } from "../../cli/commands/run.ts";
import { spawnWorker, startRun } from "../../cli/launch.ts";
import { REWARD_DURABLE } from "../../consumers/reward/consumer.ts";
import { auditEvents } from "../../domain/audit.ts";
import { ROLLOUT_DURABLE } from "../../producers/rollout/generator.ts";
import { loadConfig } from "../../streams/config.ts";
import type { Replayed } from "../../streams/eventlog.ts";
import type { PolicyUpdated } from "../../streams/events/index.ts";
import { LOG_STREAM, TASK_STREAM } from "../../streams/subjects.ts";
import { startBus, waitPulling, type Bus } from "../helpers/nats.ts";
import { tinyConfig, writeConfig } from "../helpers/tiny.ts";

const root = join(import.meta.dirname, "..", "..");
const STEPS = 3;
const GROUPS = 8;        // per step: 4 tasks of 2 prompts, more groups than one reward consumer's fetch (4)
const base = tinyConfig();
const file = writeConfig(tinyConfig({ actor: { ...(base.actor as object), global_batch_size: GROUPS } }));

type Reference = { runId: string; events: Replayed[]; digests: string[] };

/**
 * The reference run, with the workers `run --rollout 2 --reward 2` would start (same names and arguments,
 * from workerPlan), but started first: the run begins only once the server shows two pull requests waiting
 * on each durable. A JetStream pull consumer serves waiting requests first in, first out, and a generator
 * fetches one task at a time, a reward consumer four groups: with both workers of a kind waiting, a step's
 * 4 tasks and 8 groups cannot all go to one of them. Who did what is then read from the log (GroupSampled
 * .generator, GroupScored.worker), not assumed.
 */
async function referenceRun(bus: Bus): Promise<Reference> {
  const plan = workerPlan(loadConfig(file), {});
  assert.deepEqual([plan.rollout.length, plan.reward.length], [2, 2]);
  const workers = [...plan.rollout.map((a) => spawnWorker("rollout", bus.server.url, a)), ...plan.reward.map((a) => spawnWorker("reward", bus.server.url, a))];
  try {
    await waitPulling(bus, TASK_STREAM, ROLLOUT_DURABLE, 2);
    await waitPulling(bus, LOG_STREAM, REWARD_DURABLE, 2);
    const out = await runConfig({ file, server: bus.server.url, rollout: 0, reward: 0, quiet: true });
    assert.deepEqual([out.finished, out.step, out.version], [true, STEPS, STEPS]);
    const events = await bus.log.replayAll(out.runId);
    return { runId: out.runId, events, digests: auditEvents(events).updates.map((u) => u.weightsDigest) };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

/** How many events of a type each worker name recorded. */
function byName(events: Replayed[], type: "GroupSampled" | "GroupScored"): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { event: e } of events) {
    if (e.type === "GroupSampled" && type === "GroupSampled") out[e.generator] = (out[e.generator] ?? 0) + 1;
    if (e.type === "GroupScored" && type === "GroupScored") out[e.worker] = (out[e.worker] ?? 0) + 1;
  }
  return out;
}

describe("GRPO loop over the bus", () => {
  let bus: Bus;
  let ref: Reference;
  before(async () => {
    bus = await startBus();
    ref = await referenceRun(bus);
  }, { timeout: 300_000 });
  after(async () => { await bus?.stop(); });

  it(`runs ${STEPS} steps with 2 generators and 2 reward consumers, both of each doing part of the work; every invariant holds in the log`, (t) => {
    const { events, runId } = ref;
    const audit = auditEvents(events);
    assert.deepEqual(audit.violations, []);
    assert.equal(audit.steps, STEPS);
    assert.equal(audit.groups, STEPS * GROUPS);
    assert.equal(audit.scored, STEPS * GROUPS);
    // the work was shared: each generator sampled and each reward consumer scored groups of this run
    const sampled = byName(events, "GroupSampled");
    const scored = byName(events, "GroupScored");
    t.diagnostic(`groups sampled per generator ${JSON.stringify(sampled)}, scored per reward consumer ${JSON.stringify(scored)}`);
    assert.deepEqual(Object.keys(sampled).sort(), ["rollout-0", "rollout-1"], `groups sampled per generator: ${JSON.stringify(sampled)}`);
    assert.deepEqual(Object.keys(scored).sort(), ["reward-0", "reward-1"], `groups scored per reward consumer: ${JSON.stringify(scored)}`);
    // a task went to one generator (work queue): every group of a task names the same one
    const tasks = new Map<string, Set<string>>();
    for (const { event: e } of events) if (e.type === "GroupSampled") tasks.set(e.taskId, (tasks.get(e.taskId) ?? new Set()).add(e.generator));
    assert.equal(tasks.size, STEPS * GROUPS / 2);
    for (const [task, gens] of tasks) assert.equal(gens.size, 1, `task ${task} sampled by ${[...gens]}`);
    // every weights object exists and matches its digest; each step changed the weights
    assert.equal(ref.digests.length, STEPS);
    assert.equal(new Set([audit.started!.initialWeightsDigest, ...ref.digests]).size, STEPS + 1);
    for (const u of audit.updates) {
      assert.ok(Number.isFinite(u.stats.loss) && u.stats.tokens > 0, `step ${u.step} stats ${JSON.stringify(u.stats)}`);
      assert.equal(u.stats.groups, GROUPS);
    }
    const last = events.at(-1)!.event;
    assert.equal(last.type, "RunFinished");
    assert.equal(last.type === "RunFinished" && last.finalWeightsDigest, ref.digests.at(-1));
    assert.equal(last.type === "RunFinished" && last.runId, runId);
  });

  it("stores every weights object of the run under its digest", async () => {
    for (const d of ref.digests) assert.ok((await bus.log.getBlob(ref.runId, d)).length > 0, d); // getBlob verifies the digest
  });

  it("gives the same weights digests for the same config and seed, with one generator and one reward consumer", async () => {
    const out = await runConfig({ file, server: bus.server.url, rollout: 1, reward: 1, quiet: true });
    const events = await bus.log.replayAll(out.runId);
    assert.notEqual(out.runId, ref.runId);
    assert.deepEqual(Object.keys(byName(events, "GroupSampled")), ["rollout-0"], "only the run's own generator sampled");
    assert.deepEqual(Object.keys(byName(events, "GroupScored")), ["reward-0"], "only the run's own reward consumer scored");
    assert.deepEqual(auditEvents(events).updates.map((u) => u.weightsDigest), ref.digests);
  });

  it("resumes an updater killed in the middle of a step: no group lost or applied twice, same digests", async () => {
    const cfg = loadConfig(file);
    const runId = (await startRun(bus.log, cfg)).runId;
    const workers = [spawnWorker("rollout", bus.server.url, ["--threads", "1"]), spawnWorker("reward", bus.server.url)];
    try {
      // the first updater computes step 1's update and dies (SIGKILL) before publishing PolicyUpdated
      const first = spawn(process.execPath, [join(root, "cli", "bin.mjs"), "worker", "updater", "--server", bus.server.url, "--run", runId, "--threads", "1"],
        { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ZS_FAILPOINT: "updater.before-policy-publish:1" } });
      let stderr = "";
      first.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
      const signal = await new Promise<string | null>((r) => first.once("exit", (_c, s) => r(s)));
      assert.equal(signal, "SIGKILL", stderr);
      const mid = auditEvents(await bus.log.replayAll(runId));
      assert.deepEqual(mid.violations, []);
      assert.equal(mid.steps, 1, "only step 0 was published before the kill");
      assert.ok(mid.groups >= 2 * GROUPS, `step 1's groups were sampled before the kill (step 2's tasks may have started too): ${mid.groups}`);
      // a second updater picks up from the log and finishes the run
      const second = spawn(process.execPath, [join(root, "cli", "bin.mjs"), "worker", "updater", "--server", bus.server.url, "--run", runId, "--threads", "1"], { stdio: "ignore" });
      assert.equal(await new Promise<number | null>((r) => second.once("exit", (c) => r(c))), 0);
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
    const audit = auditEvents(await bus.log.replayAll(runId));
    assert.deepEqual(audit.violations, []);
    assert.equal(audit.steps, STEPS);
    assert.equal(audit.groups, STEPS * GROUPS, "no group was sampled twice");
    assert.deepEqual(audit.updates.map((u: PolicyUpdated) => u.weightsDigest), ref.digests);
  });
});
