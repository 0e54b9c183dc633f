// model.compute_dtype bf16 (issue 15 item 2) over a real nats-server with real worker processes: every linear
// layer's products take bf16 operands with fp32 accumulation in every role (the generators' sampling, the KL
// reference, the updater's forward and backward), master weights and moments stay fp32. The run is as
// deterministic as an fp32 one (replay re-executes and re-samples it bit for bit, other worker counts give
// the same digests), it differs from the fp32 run, and the generators and the updater computed the same
// products (the sampler–trainer mismatch stays at rounding level, which it would not if one role had
// ignored the key: the recorded log-probs are those of a bf16-compute policy, not of an fp32 one).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runConfig } from "../../cli/commands/run.ts";
import { auditEvents } from "../../domain/audit.ts";
import { Policy } from "../../native/index.ts";
import { verifyRollouts } from "../../offline/replay/rollouts.ts";
import { verifyUpdates } from "../../offline/replay/verify.ts";
import { modelConfigOf } from "../../streams/events/index.ts";
import { groupsOf, runOnFreshBus, startedOf, updatesOf } from "../helpers/run.ts";
import { tinyConfig, writeConfig } from "../helpers/tiny.ts";

const base = tinyConfig();
const withCompute = (compute_dtype?: "f32" | "bf16") =>
  writeConfig(tinyConfig({ model: { ...(base.model as object), ...(compute_dtype ? { compute_dtype } : {}) } }));
const fileBf16 = withCompute("bf16");


describe("model.compute_dtype bf16: bf16 products, fp32 accumulation, in every role", () => {
  const run = runOnFreshBus(fileBf16);

  it("replay re-executes every update and re-samples every group bit for bit", async () => {
    assert.deepEqual(auditEvents(run.events).violations, []);
    assert.equal(updatesOf(run.events).length, 3);
    const v = await verifyUpdates(run.bus.log, run.runId, { events: run.events });
    assert.equal(v.divergence, null);
    assert.deepEqual(v.checked, [0, 1, 2]);
    const r = await verifyRollouts(run.bus.log, run.runId, { fraction: 1, events: run.events });
    assert.deepEqual(r.mismatches, []);
    assert.ok(r.total >= 6);
  });

  it("the generators sampled in bf16: the recorded log-probs are a bf16-compute policy's, not an fp32 one's", async () => {
    const started = startedOf(run.events), cfg = modelConfigOf(started);
    const weightsOf = new Map<number, string>([[0, started.initialWeightsDigest], ...updatesOf(run.events).map((u) => [u.toVersion, u.weightsDigest] as [number, string])]);
    const gap = { bf16: 0, f32: 0 };
    for (const g of groupsOf(run.events).slice(0, 4)) {
      const bytes = await run.bus.log.getBlob(run.runId, weightsOf.get(g.policyVersion)!);
      for (const compute of ["bf16", "f32"] as const) {
        const p = Policy.fromSafetensors(bytes, cfg).withCompute(compute);
        assert.equal(p.computeDtype, compute);
        try {
          for (const s of g.samples) {
            const P = g.prompt.tokens.length;
            const lp = await p.logprobs({ tokens: Int32Array.from([...g.prompt.tokens, ...s.tokens]), seqLens: Int32Array.from([P + s.tokens.length]) }, g.sampler.temperature);
            s.logprobs.forEach((x, i) => { gap[compute] = Math.max(gap[compute], Math.abs(lp[P + i] - x)); });
          }
        } finally { p.dispose(); }
      }
    }
    assert.ok(gap.bf16 < 1e-5, `bf16 compute against the recorded log-probs: ${gap.bf16}`);
    assert.ok(gap.f32 > 100 * Math.max(gap.bf16, 1e-7), `fp32 compute is as close as bf16 (${gap.f32} vs ${gap.bf16}): the generators did not round`);
  });

  it("the updater computed the same products as the generators: the sampler–trainer mismatch stays at rounding level", () => {
    for (const u of updatesOf(run.events)) {
      assert.ok(u.stats.mismatchKl !== undefined && u.stats.mismatchKl < 1e-9, `step ${u.step}: mismatch k3 ${u.stats.mismatchKl}`);
      assert.ok(u.stats.mismatchMaxGap !== undefined && u.stats.mismatchMaxGap < 1e-5, `step ${u.step}: max gap ${u.stats.mismatchMaxGap}`);
    }
  });

  it("it is not the fp32 run, and 2 generators with 2 reward consumers give the same digests", async () => {
    const f32 = await runConfig({ file: withCompute(), server: run.bus.server.url, rollout: 1, reward: 1, quiet: true });
    const a = updatesOf(run.events), f = updatesOf(await run.bus.log.replayAll(f32.runId));
    assert.notEqual(f.at(-1)!.weightsDigest, a.at(-1)!.weightsDigest, "compute bf16 changes the run");
    const again = await runConfig({ file: fileBf16, server: run.bus.server.url, rollout: 2, reward: 2, quiet: true });
    assert.deepEqual(updatesOf(await run.bus.log.replayAll(again.runId)).map((u) => u.weightsDigest), a.map((u) => u.weightsDigest));
  });
});
