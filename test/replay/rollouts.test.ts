// --verify-rollouts on a real tiny run (real nats-server, real worker processes): every group of the
// honest run re-samples bit for bit; forged copies of its groups (one token changed, one log-prob moved
// by one float32 ulp, a wrong seed, another prompt) are each caught, for every group, and named with
// what differs. The choice of groups is a pure function of the seed and the ids.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { runConfig } from "../../cli/commands/run.ts";
import { run as replayCommand } from "../../cli/commands/replay.ts";
import { kernelSet } from "../../native/index.ts";
import { chooseGroups, verifyRollouts, VerifyRolloutsError } from "../../offline/replay/rollouts.ts";
import type { Replayed } from "../../streams/eventlog.ts";
import type { GroupSampled } from "../../streams/events/index.ts";
import { startBus, type Bus } from "../helpers/nats.ts";
import { tinyConfig, writeConfig } from "../helpers/tiny.ts";

async function quietly<T>(f: () => Promise<T>): Promise<{ value: T; stdout: string }> {
  const write = process.stdout.write.bind(process.stdout);
  let stdout = "";
  process.stdout.write = ((chunk: string | Uint8Array) => { stdout += chunk.toString(); return true; }) as typeof process.stdout.write;
  try { return { value: await f(), stdout }; } finally { process.stdout.write = write; }
}

/** The next float32 above x (one ulp). */
function nextF32(x: number): number {
  const f = new Float32Array([x]);
  const i = new Int32Array(f.buffer);
  i[0] += x >= 0 ? 1 : -1;
  return f[0];
}

describe("replay --verify-rollouts", () => {
  let bus: Bus;
  let runId: string;
  let events: Replayed[];
  before(async () => {
    bus = await startBus();
    runId = (await runConfig({ file: writeConfig(tinyConfig()), server: bus.server.url, rollout: 1, reward: 1, quiet: true })).runId;
    events = await bus.log.replayAll(runId);
  });
  after(async () => { await bus.stop(); });

  const forged = (f: (g: GroupSampled) => void): Replayed[] =>
    events.map((r) => (r.event.type === "GroupSampled" ? { ...r, event: (() => { const g = structuredClone(r.event) as GroupSampled; f(g); return g; })() } : r));

  it("chooses a seeded fraction of the groups, the same for the same seed", () => {
    const ids = Array.from({ length: 40 }, (_, i) => `s${i >> 2}.g${i & 3}`);
    assert.equal(chooseGroups(ids, 0.25, 1).length, 10);
    assert.deepEqual(chooseGroups(ids, 0.25, 1), chooseGroups([...ids].reverse(), 0.25, 1));
    assert.notDeepEqual(chooseGroups(ids, 0.25, 1), chooseGroups(ids, 0.25, 2));
    assert.deepEqual(chooseGroups(ids, 1, 3), [...ids].sort());
    assert.throws(() => chooseGroups(ids, 0, 1), VerifyRolloutsError);
    assert.throws(() => chooseGroups(ids, 1.5, 1), VerifyRolloutsError);
  });

  it("re-samples every group of an honest run bit for bit", async () => {
    const r = await verifyRollouts(bus.log, runId, { events, fraction: 1 });
    assert.equal(r.total, 12);
    assert.equal(r.chosen.length, 12);
    assert.deepEqual(r.mismatches, []);
    assert.deepEqual(r.elsewhere, []);
    for (const { event: e } of events) if (e.type === "GroupSampled") assert.equal(e.kernels, kernelSet(), "every group records the kernel set that sampled it");
    const { value: code, stdout } = await quietly(() => replayCommand([runId, "--server", bus.server.url, "--verify-rollouts", "--fraction", "0.5", "--seed", "4"]));
    assert.equal(code, 0, stdout);
    assert.match(stdout, /verify-rollouts: 6 of 12 group\(s\) re-sampled \(fraction 0\.5, seed 4\): every one bit for bit/);
  });

  for (const [what, forge] of [
    ["tokens", (g: GroupSampled) => { const s = g.samples[g.samples.length - 1]; s.tokens[0] = (s.tokens[0] + 1) % 100; }],
    ["logprobs", (g: GroupSampled) => { const s = g.samples[1]; s.logprobs[s.logprobs.length - 1] = nextF32(s.logprobs[s.logprobs.length - 1]); }],
    ["seed", (g: GroupSampled) => { g.samples[0].seed += 1; }],
    ["prompt", (g: GroupSampled) => { g.prompt.index = (g.prompt.index + 1) % 200; }],
    ["kernels", (g: GroupSampled) => { g.kernels = "made-up-kernels"; }],
  ] as const) {
    it(`catches a forged ${what} in every group, and names it`, async () => {
      const r = await verifyRollouts(bus.log, runId, { events: forged(forge), fraction: 1 });
      assert.equal(r.mismatches.length, 12, JSON.stringify(r.mismatches.slice(0, 3)));
      for (const m of r.mismatches) assert.equal(m.what, what, `${m.groupId}: ${m.message}`);
      assert.deepEqual(r.mismatches.map((m) => m.groupId).sort(), r.chosen);
    });
  }
});
