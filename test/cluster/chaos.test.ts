// The chaos driver's choice (pure): only running workers of the given roles, reproducible from the seed.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pickVictim } from "../../cli/cluster/chaos.ts";
import type { ProcState } from "../../cli/cluster/layout.ts";
import { Rng } from "../../domain/rng.ts";

const proc = (name: string, role: ProcState["role"], status: ProcState["status"], pid: number | null): ProcState =>
  ({ name, kind: role === "nats" ? "node" : "worker", role, status, pid, startedAt: null, restarts: 0, log: "" });

describe("chaos: pickVictim", () => {
  const procs = [
    proc("n0", "nats", "running", 10), proc("updater", "updater", "running", 11), proc("rollout-0", "rollout", "running", 12),
    proc("rollout-1", "rollout", "backoff", null), proc("reward-0", "reward", "starting", 14), proc("reward-1", "reward", "running", 15),
  ];

  it("picks only running workers of the given roles", () => {
    const rng = new Rng(1);
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) seen.add(pickVictim(rng, procs, ["rollout", "reward", "updater"])!.name);
    assert.deepEqual([...seen].sort(), ["reward-1", "rollout-0", "updater"]);
    assert.equal(pickVictim(rng, procs, ["rollout"])!.name, "rollout-0");
    assert.equal(pickVictim(rng, procs.filter((p) => p.role !== "reward"), ["reward"]), undefined);
  });

  it("the same seed picks the same sequence, whatever the order of the state's list", () => {
    const seq = (seed: number, ps: ProcState[]) => { const r = new Rng(seed); return Array.from({ length: 20 }, () => pickVictim(r, ps, ["rollout", "reward", "updater"])!.name); };
    assert.deepEqual(seq(7, procs), seq(7, [...procs].reverse()));
    assert.notDeepEqual(seq(7, procs), seq(8, procs));
  });
});
