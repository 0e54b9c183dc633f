// Off-policy steps over a real nats-server with real worker processes (rollout.max_staleness, a fixed lag):
// s = 0 reproduces the weights of a run recorded before the lag existed; s = 2 samples step k by version
// max(0, k − 2), gives the same digests on every rerun whatever the number of generators and reward
// consumers, re-executes bit for bit under replay --verify-updates, and an updater, a generator or a
// reward consumer SIGKILLed at its failpoints leaves the same digests with no group lost or sampled twice.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runConfig } from "../../cli/commands/run.ts";
import { spawnWorker, startRun, type WorkerProc } from "../../cli/launch.ts";
import { auditEvents } from "../../domain/audit.ts";
import { verifyUpdates } from "../../offline/replay/verify.ts";
import { verifyRollouts } from "../../offline/replay/rollouts.ts";
import { loadConfig } from "../../streams/config.ts";
import type { GroupSampled, PolicyUpdated, ZsEvent } from "../../streams/events/index.ts";
import { startBus, type Bus } from "../helpers/nats.ts";
import { tinyConfig, writeConfig } from "../helpers/tiny.ts";

const root = join(import.meta.dirname, "..", "..");
const STEPS = 5, LAG = 2;
const base = tinyConfig();
const lagged = (s: number) => writeConfig(tinyConfig({
  rollout: { ...(base.rollout as object), max_staleness: s },
  actor: { ...(base.actor as object), train_iters: STEPS },
}));
const fileS2 = lagged(LAG);

const digestsOf = (events: { event: ZsEvent }[]) => auditEvents(events.map((e, i) => ({ seq: i + 1, ...e }))).updates.map((u) => u.weightsDigest);

describe("off-policy steps over the bus (rollout.max_staleness)", () => {
  let bus: Bus;
  let ref: { runId: string; digests: string[] };
  before(async () => {
    bus = await startBus();
    const out = await runConfig({ file: fileS2, server: bus.server.url, rollout: 1, reward: 1, quiet: true });
    ref = { runId: out.runId, digests: digestsOf(await bus.log.replayAll(out.runId)) };
  }, { timeout: 300_000 });
  after(async () => { await bus?.stop(); });

  it("s = 0 reproduces the weights of a run recorded before the lag existed (test/fixtures/runs/tiny-3-steps.jsonl)", async () => {
    const recorded = readFileSync(join(root, "test", "fixtures", "runs", "tiny-3-steps.jsonl"), "utf8").trim().split("\n")
      .map((l) => (JSON.parse(l) as { event: ZsEvent }).event).filter((e): e is PolicyUpdated => e.type === "PolicyUpdated").map((e) => e.weightsDigest);
    assert.equal(recorded.length, 3);
    const out = await runConfig({ file: writeConfig(tinyConfig()), server: bus.server.url, rollout: 2, reward: 2, quiet: true });
    assert.deepEqual(digestsOf(await bus.log.replayAll(out.runId)), recorded);
  });

  it(`s = ${LAG}: step k is sampled by version max(0, k − ${LAG}); every invariant holds; the weights differ from lock-step`, async () => {
    const events = await bus.log.replayAll(ref.runId);
    const audit = auditEvents(events);
    assert.deepEqual(audit.violations, []);
    assert.equal(audit.steps, STEPS);
    for (const { event: e } of events) {
      if (e.type === "GroupSampled") assert.equal(e.policyVersion, Math.max(0, e.step - LAG), `${e.groupId}`);
    }
    for (const u of audit.updates) assert.deepEqual(u.staleness, u.groupIds.map(() => Math.min(u.step, LAG)), `step ${u.step}`);
    const s0 = await runConfig({ file: lagged(0), server: bus.server.url, rollout: 1, reward: 1, quiet: true });
    const lockStep = digestsOf(await bus.log.replayAll(s0.runId));
    assert.deepEqual(lockStep.slice(0, 1), ref.digests.slice(0, 1), "step 0 is sampled by version 0 either way");
    assert.notEqual(lockStep.at(-1), ref.digests.at(-1));
  });

  it(`s = ${LAG} gives the same digests with 3 generators and 2 reward consumers`, async () => {
    const out = await runConfig({ file: fileS2, server: bus.server.url, rollout: 3, reward: 2, quiet: true });
    const events = await bus.log.replayAll(out.runId);
    const gens = new Set(events.flatMap(({ event: e }) => (e.type === "GroupSampled" ? [(e as GroupSampled).generator] : [])));
    assert.ok(gens.size >= 2, `more than one generator sampled: ${[...gens]}`);
    assert.deepEqual(digestsOf(events), ref.digests);
  });

  it(`s = ${LAG}: each step's snapshot is stored while the next update computes; storing it first gives the same events`, async () => {
    const overlapped = (await bus.log.replayAll(ref.runId)).map((r) => r.event).filter((e): e is PolicyUpdated => e.type === "PolicyUpdated");
    assert.deepEqual(overlapped.map((u) => u.step), [0, 1, 2, 3, 4], "published in step order");
    assert.ok(overlapped.every((u) => typeof u.timings.storeMs === "number"), "every snapshot stored in the background (timings.storeMs)");
    assert.ok(overlapped.some((u) => u.timings.overlapMs! > 0), `some update computed while the previous step was stored: ${overlapped.map((u) => u.timings.overlapMs)}`);
    const out = await runConfig({ file: fileS2, server: bus.server.url, rollout: 1, reward: 1, quiet: true, overlapSnapshot: false });
    const inline = (await bus.log.replayAll(out.runId)).map((r) => r.event).filter((e): e is PolicyUpdated => e.type === "PolicyUpdated");
    assert.ok(inline.every((u) => u.timings.storeMs === undefined && u.timings.overlapMs === undefined), "stored in line: no background store, no overlap");
    const same = (u: PolicyUpdated) => [u.step, u.fromVersion, u.weightsDigest, u.optimizerDigest, u.groupIds.join(), JSON.stringify(u.advantages)];
    assert.deepEqual(inline.map(same), overlapped.map(same));
  });

  it(`replay --verify-updates re-executes the s = ${LAG} run bit for bit`, async () => {
    const v = await verifyUpdates(bus.log, ref.runId, { events: await bus.log.replayAll(ref.runId) });
    assert.equal(v.divergence, null);
    assert.deepEqual(v.checked, [0, 1, 2, 3, 4]);
  });

  it(`s = ${LAG}: a generator killed in the middle of a task and a reward consumer killed before its ack: same digests, each group once`, async () => {
    // a bus of its own: the durables are created by these workers with a short ack wait, so the victims'
    // messages are redelivered in seconds
    const own = await startBus();
    const url = own.server.url, short = ["--ack-wait-ms", "2000"];
    // each victim is the only worker of its role until it dies, so it must reach its failpoint (a
    // second worker could otherwise take every message of that step); its survivor starts on its exit
    const args = { rollout: [...short, "--threads", "1"], reward: short };
    const survivors: WorkerProc[] = [];
    const signals: (string | null)[] = [];
    const victims = ([["rollout", "rollout.mid-task:3"], ["reward", "reward.before-ack:2"]] as const).map(([role, fp]) => {
      const w = spawnWorker(role, url, args[role], { ZS_FAILPOINT: fp });
      w.child.once("exit", (_c, sig) => { signals.push(`${role}:${sig}`); survivors.push(spawnWorker(role, url, args[role])); });
      return w;
    });
    try {
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), 180_000);
      const out = await runConfig({ file: fileS2, server: url, rollout: 0, reward: 0, quiet: true, signal: ac.signal }).finally(() => clearTimeout(timer));
      assert.equal(out.finished, true, "the run finished within 3 minutes");
      assert.deepEqual(signals.sort(), ["reward:SIGKILL", "rollout:SIGKILL"], "both victims reached their failpoint");
      const audit = auditEvents(await own.log.replayAll(out.runId));
      assert.deepEqual(audit.violations, []);
      assert.equal(audit.groups, STEPS * 4);
      assert.equal(audit.scored, STEPS * 4);
      assert.deepEqual(audit.updates.map((u) => u.weightsDigest), ref.digests);
    } finally {
      await Promise.all([...victims, ...survivors].map((w) => w.stop()));
      await own.stop();
    }
  });

  for (const [failpoint, step] of [["updater.before-policy-publish", 2], ["updater.before-snapshot", 3], ["updater.before-policy-publish", 0], ["updater.after-background-store", 1]] as const) {
    it(`s = ${LAG}: an updater SIGKILLed at ${failpoint} of step ${step} resumes to the same digests, no group lost or sampled twice`, async () => {
      const cfg = loadConfig(fileS2);
      const runId = (await startRun(bus.log, cfg)).runId;
      const workers = [spawnWorker("rollout", bus.server.url, ["--threads", "1"]), spawnWorker("reward", bus.server.url)];
      const updater = (env: Record<string, string> = {}) => spawn(process.execPath, [join(root, "cli", "bin.mjs"), "worker", "updater", "--server", bus.server.url, "--run", runId, "--threads", "1"],
        { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...env } });
      try {
        const first = updater({ ZS_FAILPOINT: `${failpoint}:${step}` });
        let stderr = "";
        first.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
        assert.equal(await new Promise<string | null>((r) => first.once("exit", (_c, s) => r(s))), "SIGKILL", stderr);
        const mid = auditEvents(await bus.log.replayAll(runId));
        assert.deepEqual(mid.violations, []);
        assert.equal(mid.steps, step, `steps 0..${step - 1} were published before the kill`);
        const second = updater();
        let err2 = "";
        second.stderr!.on("data", (d: Buffer) => { err2 += d.toString(); });
        assert.equal(await new Promise<number | null>((r) => second.once("exit", (c) => r(c))), 0, err2);
      } finally {
        await Promise.all(workers.map((w) => w.stop()));
      }
      const audit = auditEvents(await bus.log.replayAll(runId));
      assert.deepEqual(audit.violations, []);
      assert.equal(audit.steps, STEPS);
      assert.equal(audit.groups, STEPS * 4, "every group sampled exactly once");
      assert.deepEqual(audit.updates.map((u) => u.weightsDigest), ref.digests);
    });
  }

  it("DAPO over the bus (s = 1, dynamic sampling, overlong shaping): fill rounds and dropped groups in the log, audit clean, updates and rollouts re-execute", async () => {
    // a random tiny model earns no verdict reward; the overlong shaping (16 tokens, buffer 4) separates
    // responses cut off from the rest, so some groups are informative and some uniform
    const file = writeConfig(tinyConfig({
      rollout: { ...(base.rollout as object), max_staleness: 1 },
      algorithm: { kl_coef: 0.001, clip_ratio_low: 0.2, clip_ratio_high: 0.28, dynamic_sampling: { enable: true, max_fill_rounds: 2 }, overlong_buffer: 4 },
    }));
    const out = await runConfig({ file, server: bus.server.url, rollout: 1, reward: 1, quiet: true });
    const events = await bus.log.replayAll(out.runId);
    const audit = auditEvents(events);
    assert.deepEqual(audit.violations, []);
    const ups = audit.updates;
    assert.equal(ups.length, 3);
    const dropped = ups.flatMap((u) => u.dropped ?? []);
    assert.ok(dropped.some((d) => d.reason === "uniform"), `some group was uniform: ${JSON.stringify(ups.map((u) => [u.groupIds.length, u.dropped, u.fillRounds]))}`);
    for (const u of ups) {
      assert.ok(u.groupIds.length <= 4 && u.groupIds.length >= 1);
      assert.equal(u.fillRounds !== undefined && u.fillRounds >= 0 && u.fillRounds <= 2, true);
      assert.equal(audit.groups >= 12, true);
    }
    const sampled = events.filter(({ event: e }) => e.type === "GroupSampled").length;
    assert.equal(sampled, ups.reduce((a, u) => a + u.groupIds.length + (u.dropped?.length ?? 0), 0), "every sampled group is used or recorded as dropped");
    const v = await verifyUpdates(bus.log, out.runId, { events });
    assert.equal(v.divergence, null);
    const r = await verifyRollouts(bus.log, out.runId, { events, fraction: 1 });
    assert.deepEqual(r.mismatches, []);
    assert.equal(r.chosen.length, sampled, "fill-round groups re-sample from their own prompts and seeds too");
  });
});
