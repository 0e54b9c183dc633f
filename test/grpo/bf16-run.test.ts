// model.dtype bf16 (and runtime.weights_transport delta) over a real nats-server with real worker processes (issue 14 item 2): the updater trains
// fp32 master weights and stores, next to each version, its BF16 copy; tasks name that copy, generators
// sample with a bf16 policy, the KL reference is a bf16 copy; replay re-executes the updates and resamples
// the groups bit for bit, and reruns with other worker counts give the same digests.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { runConfig } from "../../cli/commands/run.ts";
import { auditEvents } from "../../domain/audit.ts";
import { Policy } from "../../native/index.ts";
import { verifyRollouts } from "../../offline/replay/rollouts.ts";
import { verifyUpdates } from "../../offline/replay/verify.ts";
import { auditRun, weightsRefs } from "../../offline/replay/audit.ts";
import { modelConfigOf } from "../../streams/events/index.ts";
import { applyDelta, deltaHeader } from "../../streams/weights-delta.ts";
import { PolicyCache } from "../../producers/rollout/generator.ts";
import { startBus, type Bus } from "../helpers/nats.ts";
import { tinyConfig, writeConfig } from "../helpers/tiny.ts";
import { runOnFreshBus, startedOf, updatesOf } from "../helpers/run.ts";

const base = tinyConfig();
const withDtype = (dtype?: "f32" | "bf16") => writeConfig(tinyConfig({ model: { ...(base.model as object), ...(dtype ? { dtype } : {}) } }));
const fileBf16 = withDtype("bf16");


describe("model.dtype bf16: frozen copies in bf16 on the bus and in memory", () => {
  const run = runOnFreshBus(fileBf16);

  it("every version has a BF16 copy: the master's weights rounded to nearest even, half the bytes", async () => {
    assert.deepEqual(auditEvents(run.events).violations, []);
    const started = startedOf(run.events), updates = updatesOf(run.events);
    assert.equal(updates.length, 3);
    const cfg = modelConfigOf(started);
    const pairs: [string, string | undefined][] = [[started.initialWeightsDigest, started.initialServingDigest], ...updates.map((u) => [u.weightsDigest, u.servingDigest] as [string, string | undefined])];
    for (const [master, serving] of pairs) {
      assert.ok(serving, `a BF16 copy of ${master}`);
      const m = await run.bus.log.getBlob(run.runId, master), s = await run.bus.log.getBlob(run.runId, serving);
      assert.equal(Policy.fromSafetensors(m, cfg).digest("bf16"), serving);
      assert.ok(s.length < m.length * 0.55, `BF16 copy ${s.length} B against the master's ${m.length} B`);
      assert.equal(Policy.fromSafetensors(s, cfg, "bf16").dtype, "bf16");
    }
    // the audit of stored objects names the copies too
    const refs = weightsRefs(run.events).map((r) => r.digest);
    for (const [, serving] of pairs) assert.ok(refs.includes(serving!));
  });

  it("the generators sampled with the BF16 copies: every group resamples bit for bit from them", async () => {
    const r = await verifyRollouts(run.bus.log, run.runId, { fraction: 1, events: run.events });
    assert.deepEqual(r.mismatches, []);
    assert.equal(r.chosen.length, r.total);
    assert.ok(r.total >= 6);
  });

  it("the KL reference is a bf16 copy: at step 0 the fp32 policy and its rounded reference differ (an f32 run's KL is 0 there)", async () => {
    const [u0] = updatesOf(run.events);
    assert.ok(u0.stats.kl > 0, `step 0 KL ${u0.stats.kl}`);
    const f32 = await runConfig({ file: withDtype(), server: run.bus.server.url, rollout: 1, reward: 1, quiet: true });
    const f32Events = await run.bus.log.replayAll(f32.runId);
    const g = updatesOf(f32Events);
    assert.equal(g[0].stats.kl, 0);
    assert.equal(startedOf(f32Events).initialServingDigest, undefined);
    assert.ok(g.every((u) => u.servingDigest === undefined));
    assert.notEqual(g.at(-1)!.weightsDigest, updatesOf(run.events).at(-1)!.weightsDigest, "bf16 copies change the run");
  });

  it("replay --verify-updates re-executes it bit for bit, BF16 copies included; 2 generators and 2 reward consumers give the same digests", async () => {
    const v = await verifyUpdates(run.bus.log, run.runId, { events: run.events });
    assert.equal(v.divergence, null);
    assert.deepEqual(v.checked, [0, 1, 2]);
    const again = await runConfig({ file: fileBf16, server: run.bus.server.url, rollout: 2, reward: 2, quiet: true });
    const b = updatesOf(await run.bus.log.replayAll(again.runId));
    assert.deepEqual(b.map((u) => [u.weightsDigest, u.servingDigest]), updatesOf(run.events).map((u) => [u.weightsDigest, u.servingDigest]));
  });
});

// runtime.weights_transport delta (issue 17 item 2) at a realistic lr (1e-6): each version's BF16 copy also
// travels as a patch on the previous one; the transport changes no result, and a generator holding the base
// reads the patch, any other the weights whole. chunked: every blob as content-addressed chunks and a
// manifest, the same digests.
describe("runtime.weights_transport delta: BF16 copies as patches on the previous version", () => {
  let bus: Bus;
  const at = (transport: "full" | "delta" | "chunked") => writeConfig(tinyConfig({
    model: { ...(base.model as object), dtype: "bf16" },
    actor: { ...(base.actor as object), lr: 1e-6, weight_decay: 0.01, train_iters: 4 },
    runtime: { ...(base.runtime as object), weights_transport: transport },
  }));
  let delta: Awaited<ReturnType<Bus["log"]["replayAll"]>>, deltaRun: string;
  let chunked: Promise<{ runId: string; events: Awaited<ReturnType<Bus["log"]["replayAll"]>> }> | undefined;
  const chunkedRun = () => chunked ??= (async () => {
    const runId = (await runConfig({ file: at("chunked"), server: bus.server.url, rollout: 1, reward: 1, quiet: true })).runId;
    return { runId, events: await bus.log.replayAll(runId) };
  })();
  before(async () => {
    bus = await startBus();
    deltaRun = (await runConfig({ file: at("delta"), server: bus.server.url, rollout: 1, reward: 1, quiet: true })).runId;
    delta = await bus.log.replayAll(deltaRun);
  }, { timeout: 300_000 });
  after(async () => { await bus?.stop(); });

  it("every update after the first names a patch on the previous copy that rebuilds its own, far smaller than it", async () => {
    assert.deepEqual(auditEvents(delta).violations, []);
    const started = startedOf(delta), updates = updatesOf(delta);
    assert.equal(updates.length, 4);
    let prev = started.initialServingDigest!;
    for (const u of updates) {
      assert.ok(u.servingPatch, `step ${u.step} has a patch`);
      assert.equal(u.servingPatch.base, prev);
      const base = await bus.log.getBlob(deltaRun, prev), full = await bus.log.getBlob(deltaRun, u.servingDigest!);
      const patch = await bus.log.getBlob(deltaRun, u.servingPatch.patch);
      assert.equal(patch.length, u.servingPatch.bytes);
      assert.ok(Buffer.from(applyDelta(base, patch, prev).bytes).equals(Buffer.from(full)));
      console.log(`  step ${u.step}: BF16 copy ${full.length} B, patch ${patch.length} B (${(100 * patch.length / full.length).toFixed(1)} %), ${deltaHeader(patch).changed} of ${(full.length / 2) | 0} words changed`);
      assert.ok(patch.length < full.length / 4, `step ${u.step}: patch ${patch.length} B of ${full.length}`);
      prev = u.servingDigest!;
    }
    assert.deepEqual(weightsRefs(delta).filter((r) => /patch/.test(r.what)).length, 4, "the audit of stored objects names the patches");
  });

  it("the transport changes no result: full- and chunked-transport runs give the same weights and copies; verify-updates re-derives the patches", async () => {
    const full = updatesOf(await bus.log.replayAll((await runConfig({ file: at("full"), server: bus.server.url, rollout: 1, reward: 1, quiet: true })).runId));
    assert.deepEqual(full.map((u) => [u.weightsDigest, u.servingDigest]), updatesOf(delta).map((u) => [u.weightsDigest, u.servingDigest]));
    assert.ok(full.every((u) => u.servingPatch === undefined));
    const c = updatesOf((await chunkedRun()).events);
    assert.deepEqual(c.map((u) => [u.weightsDigest, u.servingDigest, u.optimizerDigest]), full.map((u) => [u.weightsDigest, u.servingDigest, u.optimizerDigest]));
    const v = await verifyUpdates(bus.log, deltaRun, { events: delta });
    assert.equal(v.divergence, null);
    const r = await verifyRollouts(bus.log, deltaRun, { fraction: 1, events: delta });
    assert.deepEqual(r.mismatches, []);
  });

  it("a generator's cache reads a patch when it holds the base, the weights whole when it does not", async () => {
    const started = startedOf(delta), u = updatesOf(delta), cfg = modelConfigOf(started);
    const cache = new PolicyCache(bus.log, 2);
    const patch = (i: number) => ({ base: u[i].servingPatch!.base, patch: u[i].servingPatch!.patch });
    await cache.get(deltaRun, started.initialServingDigest!, cfg, "bf16", { keepBase: true });
    const p1 = await cache.get(deltaRun, u[0].servingDigest!, cfg, "bf16", { patch: patch(0), keepBase: true });
    assert.equal(p1.digest(), u[0].servingDigest);
    await cache.get(deltaRun, u[2].servingDigest!, cfg, "bf16", { patch: patch(2), keepBase: true });   // holds v1, the patch is on v2
    await cache.get(deltaRun, u[3].servingDigest!, cfg, "bf16", { patch: patch(3), keepBase: true });   // holds v3 now
    assert.deepEqual(cache.loads.map((l) => l.via), ["full", "delta", "full", "delta"]);
    assert.match(cache.loads[2].fallback!, /holds sha256:[0-9a-f]{64}, the patch's base is sha256:/);
    assert.ok(cache.loads[1].bytes < cache.loads[0].bytes / 4);
    for (const l of cache.loads) console.log(`  ${l.via.padEnd(5)} ${l.bytes} B in ${l.ms.toFixed(1)} ms${l.fallback ? ` (${l.fallback.slice(0, 40)}…)` : ""}`);
    cache.dispose();
  });

  it("chunked: every blob stored as chunks and a manifest, read back (audit, verify-updates, resampling) through them", async () => {
    const { runId, events } = await chunkedRun();
    const a = await auditRun(bus.log, runId, { events });   // every object the log names read back, chunk by chunk
    assert.deepEqual(a.violations, []);
    const names = (await (await bus.log.weights(runId)).list()).map((i) => i.name);
    assert.ok(names.every((n) => /^(chunk|manifest)\/sha256:[0-9a-f]{64}$/.test(n)), `only chunks and manifests: ${names.filter((n) => !/^(chunk|manifest)\//.test(n)).join(", ")}`);
    assert.equal(names.filter((n) => n.startsWith("manifest/")).length, new Set(weightsRefs(events).map((r) => r.digest)).size);
    assert.equal((await verifyUpdates(bus.log, runId, { events })).divergence, null);
    assert.deepEqual((await verifyRollouts(bus.log, runId, { fraction: 1, events })).mismatches, []);
    // a generator's cache: each version's BF16 copy as chunks (this tiny model's copy is one chunk: at lr 1e-6
    // changed values are scattered, so a real model's chunks nearly all change too)
    const started = startedOf(events), u = updatesOf(events), cfg = modelConfigOf(started);
    const cache = new PolicyCache(bus.log, 2);
    for (const d of [started.initialServingDigest!, ...u.map((x) => x.servingDigest!)]) assert.equal((await cache.get(runId, d, cfg, "bf16", { chunked: true })).digest(), d);
    assert.deepEqual(cache.loads.map((l) => l.via), ["chunked", "chunked", "chunked", "chunked", "chunked"]);
    for (const l of cache.loads) console.log(`  chunked ${l.bytes} B fetched in ${l.ms.toFixed(1)} ms: ${l.chunks!.fetched} of ${l.chunks!.total} chunks fetched, ${l.chunks!.reused} reused`);
    cache.dispose();
  });
});
