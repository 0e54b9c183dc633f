// The GRPO loop over a real nats-server with real worker processes: a tiny random model runs 3 steps
// with 2 generators and 2 reward consumers, every invariant is checked from the log; the same config
// and seed give the same weights digests; an updater killed in the middle of a step resumes with no
// group lost or applied twice and reaches the same digests as an uninterrupted run.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runConfig } from "../../cli/commands/run.ts";
import { spawnWorker, startRun } from "../../cli/launch.ts";
import { auditEvents } from "../../domain/audit.ts";
import { loadConfig } from "../../streams/config.ts";
import type { PolicyUpdated } from "../../streams/events/index.ts";
import { startBus, type Bus } from "../helpers/nats.ts";
import { tinyConfig, writeConfig } from "../helpers/tiny.ts";

const root = join(import.meta.dirname, "..", "..");

describe("GRPO loop over the bus", () => {
  let bus: Bus;
  const file = writeConfig(tinyConfig());
  let reference: string[] = [];
  before(async () => { bus = await startBus(); });
  after(async () => { await bus.stop(); });

  it("runs 3 steps with 2 generators and 2 reward consumers; every invariant holds in the log", async () => {
    const out = await runConfig({ file, server: bus.server.url, rollout: 2, reward: 2, quiet: true });
    assert.equal(out.finished, true);
    assert.equal(out.step, 3);
    assert.equal(out.version, 3);
    const events = await bus.log.replayAll(out.runId);
    const audit = auditEvents(events);
    assert.deepEqual(audit.violations, []);
    assert.equal(audit.steps, 3);
    assert.equal(audit.groups, 12);
    assert.equal(audit.scored, 12);
    // the work was shared: both generators and both reward consumers published
    const gens = new Set(events.flatMap((r) => (r.event.type === "GroupSampled" ? [r.event.generator] : [])));
    const scorers = new Set(events.flatMap((r) => (r.event.type === "GroupScored" ? [r.event.worker] : [])));
    assert.ok(gens.size >= 1 && scorers.size >= 1, `generators ${[...gens]}, reward workers ${[...scorers]}`);
    // every weights object exists and matches its digest; each step changed the weights
    const digests = audit.updates.map((u) => u.weightsDigest);
    for (const d of digests) await bus.log.getBlob(out.runId, d);
    assert.equal(new Set([audit.started!.initialWeightsDigest, ...digests]).size, 4);
    for (const u of audit.updates) {
      assert.ok(Number.isFinite(u.stats.loss) && u.stats.tokens > 0, `step ${u.step} stats ${JSON.stringify(u.stats)}`);
      assert.equal(u.stats.groups, 4);
    }
    const last = events.at(-1)!.event;
    assert.equal(last.type, "RunFinished");
    reference = digests;
  });

  it("gives the same weights digests for the same config and seed", async () => {
    const out = await runConfig({ file, server: bus.server.url, rollout: 1, reward: 1, quiet: true });
    const audit = auditEvents(await bus.log.replayAll(out.runId));
    assert.deepEqual(audit.updates.map((u) => u.weightsDigest), reference);
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
      assert.ok(mid.groups >= 8, "step 1's groups were sampled before the kill (step 2's tasks may have started too)");
      // a second updater picks up from the log and finishes the run
      const second = spawn(process.execPath, [join(root, "cli", "bin.mjs"), "worker", "updater", "--server", bus.server.url, "--run", runId, "--threads", "1"], { stdio: "ignore" });
      assert.equal(await new Promise<number | null>((r) => second.once("exit", (c) => r(c))), 0);
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
    const audit = auditEvents(await bus.log.replayAll(runId));
    assert.deepEqual(audit.violations, []);
    assert.equal(audit.steps, 3);
    assert.equal(audit.groups, 12, "no group was sampled twice");
    assert.deepEqual(audit.updates.map((u: PolicyUpdated) => u.weightsDigest), reference);
  });
});
