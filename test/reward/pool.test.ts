import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ScorerPool } from "../../compute/scoring/pool.ts";
import { resolveReward } from "../../domain/reward/registry.ts";

const spec = resolveReward("base_acc");
const wrap = (answer: string) => `<think>work</think><answer>\\boxed{${answer}}</answer>`;
const job = (text: string, gold: string) => ({ kind: "response" as const, text, gold, spec });

describe("bounded scorer pool (real worker)", () => {
  const limit = 2000;
  let pool: ScorerPool;
  before(async () => { pool = new ScorerPool({ size: 1, timeoutMs: limit }); await pool.ready(); });
  after(async () => { await pool.close(); });

  const pathological: [string, string, string][] = [
    ["100000!", wrap("100000!"), "5"],
    ["100000! against 100000!+1", wrap("100000!"), "100000!+1"],
    ["a fraction nested fifty deep", wrap("\\frac{1}{".repeat(50) + "2" + "}".repeat(50)), "\\frac{1}{".repeat(50) + "3" + "}".repeat(50)],
    ["a 1 MB response", `<think>${"7+".repeat(500_000)}</think><answer>\\boxed{3}</answer>`, "3"],
    ["a 1 MB answer", wrap("1+".repeat(500_000) + "1"), "3"],
  ];
  for (const [name, text, gold] of pathological) {
    it(`given ${name}, then the verdict is a timeout or arrives within the limit, and the pool keeps working`, async () => {
      const t0 = performance.now();
      const r = await pool.score(job(text, gold));
      const wall = performance.now() - t0;
      assert.ok(wall < limit + 1500, `took ${wall.toFixed(0)} ms`);
      assert.ok(r.outcome === "timeout" || r.ms < limit, JSON.stringify({ ...r, extracted: r.extracted?.slice(0, 40) }));
      assert.ok(["timeout", "wrong", "correct", "unparseable"].includes(r.outcome), r.outcome);
      const ok = await pool.score(job(wrap("\\frac{1}{2}"), "0.5"));
      assert.equal(ok.outcome, "correct");
    });
  }

  it("given many jobs at once, then each gets its own verdict in order", async () => {
    const rs = await pool.scoreMany(Array.from({ length: 20 }, (_, i) => job(wrap(String(i)), String(i % 2 ? i : i + 1))));
    rs.forEach((r, i) => assert.equal(r.outcome, i % 2 ? "correct" : "wrong"));
  });

  it("given a strict response with two boxed candidates, then the verdict from the worker names the failed format rule", async () => {
    const spec = resolveReward("base_acc", { formatMode: "strict" });
    const r = await pool.score({ kind: "response", text: "<think> a </think><answer> \\boxed{1} or \\boxed{3} </answer>", gold: "3", spec });
    assert.equal(r.reward, 0);
    assert.equal(r.formatRule, "box_count");
  });
});

describe("bounded scorer pool (stuck and crashing workers)", () => {
  const fixture = new URL("./hang-worker.fixture.mjs", import.meta.url);
  let pool: ScorerPool;
  before(async () => { pool = new ScorerPool({ size: 2, timeoutMs: 300, workerUrl: fixture }); await pool.ready(); });
  after(async () => { await pool.close(); });

  it("given a worker stuck on an input, then it is terminated, the outcome is timeout, and a fresh worker serves the next jobs", async () => {
    const t0 = performance.now();
    const [stuck, fine] = await Promise.all([pool.score(job("x", "hang")), pool.score(job("y", "1"))]);
    assert.equal(stuck.outcome, "timeout");
    assert.equal(stuck.reward, 0);
    assert.match(stuck.message ?? "", /exceeded 300 ms/);
    assert.ok(performance.now() - t0 < 3000);
    assert.equal(fine.outcome, "correct");
    assert.equal(pool.stats.timeouts, 1);
    const again = await pool.scoreMany([job("a", "1"), job("b", "1"), job("c", "1")]);
    assert.deepEqual(again.map((r) => r.outcome), ["correct", "correct", "correct"]);
  });
  it("given two stuck inputs in a row, then both time out and the pool still answers", async () => {
    const rs = await pool.scoreMany([job("x", "hang"), job("x", "hang"), job("z", "1")]);
    assert.deepEqual(rs.map((r) => r.outcome), ["timeout", "timeout", "correct"]);
  });
  it("given a worker that dies, then the outcome is error with a message, never a silent zero", async () => {
    const r = await pool.score(job("x", "crash"));
    assert.equal(r.outcome, "error");
    assert.match(r.message ?? "", /exited|died/);
    assert.equal((await pool.score(job("ok", "1"))).outcome, "correct");
  });
});

describe("bounded scorer pool (workers that cannot start)", () => {
  it("given workers that die at startup, then ready() rejects and verdicts are errors naming the cause, without a respawn loop", async () => {
    const pool = new ScorerPool({ size: 1, timeoutMs: 300, workerUrl: new URL("./broken-worker.fixture.mjs", import.meta.url) });
    try {
      const r = await pool.score(job("x", "1"));
      assert.equal(r.outcome, "error");
      assert.match(r.message ?? "", /fail to start.*boom/);
      await assert.rejects(pool.ready(), /fail to start/);
      assert.equal((await pool.score(job("y", "1"))).outcome, "error");
      assert.ok(pool.stats.crashes <= 3, JSON.stringify(pool.stats));
    } finally { await pool.close(); }
  });
});

describe("bounded scorer pool (close)", () => {
  const fixture = new URL("./hang-worker.fixture.mjs", import.meta.url);
  it("given a pool starting, busy on a stuck verdict, or replacing a crashed worker, then close() ends within its bound and answers what was pending", async () => {
    // (the pending verdict is wrapped: an async function returning a promise would wait for it)
    const states: [string, (p: ScorerPool) => Promise<{ pending?: Promise<{ outcome: string }> }>][] = [
      ["starting", async () => ({})],
      ["busy on a stuck verdict", async (p) => { await p.ready(); return { pending: p.score(job("x", "hang")) }; }],
      ["replacing a crashed worker", async (p) => { await p.ready(); await p.score(job("x", "crash")); return {}; }],
    ];
    for (const [name, reach] of states) {
      const pool = new ScorerPool({ size: 2, timeoutMs: 60_000, workerUrl: fixture });
      const { pending } = await reach(pool);
      const t0 = performance.now();
      await pool.close();
      assert.ok(performance.now() - t0 < 6000, `${name}: close took ${(performance.now() - t0).toFixed(0)} ms`);
      assert.equal(pool.stats.unstopped, 0, `${name}: ${JSON.stringify(pool.stats)}`);
      if (pending) assert.equal((await pending).outcome, "error", name);
      await assert.rejects(pool.score(job("y", "1")), /closed/);
    }
  });
});
