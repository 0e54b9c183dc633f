// Replay and audit of a real tiny run (real nats-server, real worker processes): the honest run passes
// the audit and --verify-updates bit for bit; copies of it tampered in one place each (a group
// dropped, a reward changed, a weights object altered) are caught, and the audit names the offending
// event; --verify-updates reports the first divergence at the tampered step. Export writes every
// sample with its reward and advantage; a fork from step 1 starts from that step's weights and
// optimizer state with its lineage recorded, and resumes to a clean, re-executable run.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runConfig } from "../../cli/commands/run.ts";
import { run as replayCommand } from "../../cli/commands/replay.ts";
import { forkRun, run as forkCommand } from "../../cli/commands/fork.ts";
import { exportRun, type RolloutLine } from "../../offline/replay/export.ts";
import { auditRun } from "../../offline/replay/audit.ts";
import { verifyUpdates } from "../../offline/replay/verify.ts";
import type { GroupScored, PolicyUpdated } from "../../streams/events/index.ts";
import { startBus, uniqueRunId, type Bus } from "../helpers/nats.ts";
import { tinyConfig, writeConfig } from "../helpers/tiny.ts";
import { copyRun } from "./copy.ts";

async function quietly<T>(f: () => Promise<T>): Promise<{ value: T; stdout: string }> {
  const write = process.stdout.write.bind(process.stdout);
  let stdout = "";
  process.stdout.write = ((chunk: string | Uint8Array) => { stdout += chunk.toString(); return true; }) as typeof process.stdout.write;
  try { return { value: await f(), stdout }; } finally { process.stdout.write = write; }
}

describe("replay and audit", () => {
  let bus: Bus;
  let runId: string;
  before(async () => {
    bus = await startBus();
    runId = (await runConfig({ file: writeConfig(tinyConfig()), server: bus.server.url, rollout: 1, reward: 1, quiet: true })).runId;
  });
  after(async () => { await bus.stop(); });

  it("passes an honest run: no violation, every weights object verified, every update re-executed bit for bit", async () => {
    const a = await auditRun(bus.log, runId);
    assert.deepEqual(a.violations, []);
    assert.equal(a.report.steps, 3);
    const v = await verifyUpdates(bus.log, runId, { events: a.events });
    assert.equal(v.divergence, null);
    assert.deepEqual(v.checked, [0, 1, 2]);
    const fromSnapshot = await verifyUpdates(bus.log, runId, { events: a.events, fromStep: 2 });
    assert.deepEqual(fromSnapshot.checked, [2], "a replay can start from the snapshot of a PolicyUpdated");
    const { value: code, stdout } = await quietly(() => replayCommand([runId, "--server", bus.server.url, "--verify-updates"]));
    assert.equal(code, 0, stdout);
    assert.match(stdout, /every invariant holds/);
    assert.match(stdout, /3 update\(s\) from step 0 re-executed, every digest identical/);
    assert.match(stdout, /step\s+v\s+reward/);
  });

  it("names a dropped group: the update that used it and the orphaned score", async () => {
    const copy = uniqueRunId("drop");
    await copyRun(bus.log, runId, copy, (e) => (e.type === "GroupSampled" && e.groupId === "s1.g2" ? null : e));
    const a = await auditRun(bus.log, copy);
    const seqOf = (f: (e: typeof a.events[number]["event"]) => boolean) => a.events.find((r) => f(r.event))!.seq;
    const update1 = seqOf((e) => e.type === "PolicyUpdated" && e.step === 1);
    const scored = seqOf((e) => e.type === "GroupScored" && e.groupId === "s1.g2");
    assert.deepEqual(a.violations.map((v) => [v.rule, v.seq]), [["scored-after-sampled", scored], ["used-sampled", update1]]);
    assert.match(a.violations[1].message, /step 1 used s1\.g2, which was never sampled/);
    const v = await verifyUpdates(bus.log, copy, { events: a.events });
    assert.equal(v.divergence?.step, 1);
    assert.equal(v.divergence?.what, "missing-group");
    const { value: code, stdout } = await quietly(() => replayCommand([copy, "--server", bus.server.url]));
    assert.equal(code, 1);
    assert.match(stdout, new RegExp(`#${update1} \\[used-sampled\\]`));
  });

  it("names a changed reward: the advantages of step 1 no longer follow from the rewards, and the re-execution diverges at step 1", async () => {
    const copy = uniqueRunId("reward");
    await copyRun(bus.log, runId, copy, (e) => {
      if (e.type !== "GroupScored" || e.groupId !== "s1.g0") return e;
      const s: GroupScored = e;
      const first = s.scores[0];
      // a consistent forgery: reward and parts agree, so only the advantages betray it
      const flipped = first.reward === 1 ? { reward: 0, format: 0, accuracy: 0, outcome: "wrong" as const } : { reward: 1, format: 1, accuracy: 1, outcome: "correct" as const };
      s.scores[0] = { ...first, ...flipped };
      return s;
    });
    const a = await auditRun(bus.log, copy);
    const update1 = a.events.find((r) => r.event.type === "PolicyUpdated" && r.event.step === 1)!;
    assert.deepEqual(a.violations.map((v) => [v.rule, v.seq]), [["advantages", update1.seq]]);
    assert.match(a.violations[0].message, /step 1 s1\.g0 sample 0: recorded advantage/);
    const v = await verifyUpdates(bus.log, copy, { events: a.events });
    assert.deepEqual(v.checked, [0], "step 0 is still identical");
    assert.equal(v.divergence?.step, 1);
    assert.equal(v.divergence?.seq, update1.seq);
  });

  it("names an altered weights object: the PolicyUpdated that records its digest", async () => {
    const copy = uniqueRunId("weights");
    await copyRun(bus.log, runId, copy);
    const events = await bus.log.replayAll(copy);
    const update0 = events.find((r) => r.event.type === "PolicyUpdated" && r.event.step === 0)!;
    const digest = (update0.event as PolicyUpdated).weightsDigest;
    const bytes = await bus.log.getBlob(copy, digest);
    const altered = bytes.slice();
    altered[altered.length - 1] ^= 1;
    await (await bus.log.weights(copy)).putBlob({ name: digest }, altered);
    const a = await auditRun(bus.log, copy, { events });
    assert.deepEqual(a.violations.map((v) => [v.rule, v.seq]), [["weights-digest", update0.seq]]);
    assert.match(a.violations[0].message, /weights v1 \(step 0\).*the stored bytes were altered/);
  });

  it("exports one JSONL line per sample with reward and advantage, and one CSV row per step", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zs-export-"));
    const r = await exportRun(bus.log, runId, dir);
    assert.deepEqual([r.rollouts, r.steps], [48, 3]);
    const lines = readFileSync(join(dir, "rollouts.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as RolloutLine);
    assert.equal(lines.length, 48);
    const events = await bus.log.replayAll(runId);
    const u1 = events.map((x) => x.event).find((e) => e.type === "PolicyUpdated" && e.step === 1) as PolicyUpdated;
    const l = lines.find((x) => x.groupId === "s1.g3" && x.sample === 2)!;
    assert.equal(l.advantage, u1.advantages["s1.g3"][2]);
    assert.equal(l.updateStep, 1);
    assert.equal(l.scorer, "base_acc@1");
    assert.ok(typeof l.reward === "number" && typeof l.outcome === "string" && l.tokens.length > 0 && l.prompt.length > 0);
    const csv = readFileSync(join(dir, "metrics.csv"), "utf8").trim().split("\n");
    assert.equal(csv.length, 4);
    assert.match(csv[0], /^step,fromVersion,toVersion,rewardMean,/);
    assert.match(csv[2], /^1,1,2,/);
  });

  it("forks after step 1 with an override: lineage, copied weights, optimizer and KL reference; the fork continues at step 2", async () => {
    const events = await bus.log.replayAll(runId);
    const u1 = events.map((x) => x.event).find((e) => e.type === "PolicyUpdated" && e.step === 1) as PolicyUpdated;
    const child = await forkRun(bus.log, runId, { at: 1, sets: ["actor.train_iters=4", "actor.lr=0.0005"] });
    const root = events.find((x) => x.event.type === "RunStarted")!.event as { initialWeightsDigest: string };
    assert.equal(child.referenceWeightsDigest, root.initialWeightsDigest, "the KL reference stays the root's base model");
    assert.deepEqual(child.parent, { runId, step: 1, version: 2 });
    assert.equal(child.initialWeightsDigest, u1.weightsDigest);
    assert.equal(child.initialOptimizerDigest, u1.optimizerDigest);
    assert.equal((child.config as { actor: { lr: number } }).actor.lr, 0.0005);
    const out = await runConfig({ resume: child.runId, server: bus.server.url, rollout: 1, reward: 1, quiet: true });
    assert.deepEqual([out.finished, out.step, out.version], [true, 4, 4], "steps 2 and 3 continue the parent's numbering");
    const a = await auditRun(bus.log, child.runId);
    assert.deepEqual(a.violations, []);
    const v = await verifyUpdates(bus.log, child.runId, { events: a.events });
    assert.deepEqual([v.divergence, v.checked], [null, [2, 3]], "the fork re-executes from its copied optimizer state");
    const forkSteps = a.events.flatMap((x) => (x.event.type === "PolicyUpdated" ? [x.event.groupIds[0]] : []));
    assert.deepEqual(forkSteps, ["s2.g0", "s3.g0"], "the fork samples the parent's next batches, not its first ones");
    const { value: code, stdout } = await quietly(() => forkCommand([runId, "--at", "0", "--server", bus.server.url]));
    assert.equal(code, 0);
    assert.match(stdout, new RegExp(`forked ${runId} after step 0 \\(v1\\) → \\S+\ncontinue it with: npx zerostream run --resume \\S+ --server nats://`));
    await assert.rejects(forkRun(bus.log, runId, { at: 9 }), /no PolicyUpdated for step 9: the run has steps 0\.\.2/);
    await assert.rejects(forkRun(bus.log, runId, { at: 1, sets: ["model.arch.hidden_size=64"] }), /a fork keeps the parent's model/);
  });
});
