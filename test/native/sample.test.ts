// KV-cached sampling: reproducible across batch orders and thread counts, shared prefill, stop
// tokens, greedy, and log-probs that match what the loss recomputes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Policy, getThreads, setThreads, type SampleRequest, type SampleResult } from "../../native/index.ts";
import { randTokens, tiny } from "./helpers.ts";

const p = Policy.init(tiny, 12, 0.3);
const prompts = [randTokens(5, tiny.vocab_size, 1), randTokens(9, tiny.vocab_size, 2), randTokens(3, tiny.vocab_size, 3)];
const base: Omit<SampleRequest, "prompts" | "seeds"> = { temperature: 1, topP: 0.95, topK: 20, maxNewTokens: 12, stopTokenIds: [7] };
const key = (r: SampleResult) => `${r.finish}:${Array.from(r.tokens).join(",")}:${Array.from(r.logprobs).join(",")}`;

test("a row's sample depends only on its prompt and seed: batch order, repeats and thread count", async () => {
  // rows: each prompt 2x with different seeds (shared prefill), in one order
  const rows = [0, 1, 2, 0, 1, 2].map((pi, i) => ({ prompt: prompts[pi], seed: 1000 + i }));
  const run = async (order: number[]) => {
    const res = await p.sample({ ...base, prompts: order.map((i) => rows[i].prompt), seeds: order.map((i) => rows[i].seed) });
    const byRow = new Map<number, string>();
    order.forEach((i, j) => byRow.set(i, key(res[j])));
    return byRow;
  };
  const a = await run([0, 1, 2, 3, 4, 5]);
  const b = await run([5, 3, 1, 0, 4, 2]);
  const before = getThreads();
  setThreads(1);
  const c = await run([2, 4]);
  setThreads(before);
  const alone = await run([3]);
  for (let i = 0; i < 6; i++) assert.equal(b.get(i), a.get(i), `row ${i} across batch orders`);
  for (const i of [2, 4]) assert.equal(c.get(i), a.get(i), `row ${i} with 1 thread and other neighbours`);
  assert.equal(alone.get(3), a.get(3));
  assert.notEqual(a.get(0), a.get(3), "different seeds give different samples");
});

test("stop tokens end a row (included), length otherwise; greedy is seed-independent", async () => {
  const res = await p.sample({ ...base, prompts: [prompts[0], prompts[1]], seeds: [1, 2], stopTokenIds: [] });
  for (const r of res) { assert.equal(r.finish, "length"); assert.equal(r.tokens.length, 12); }
  const stopAt = res[0].tokens[3];
  const s = await p.sample({ ...base, prompts: [prompts[0]], seeds: [1], stopTokenIds: [stopAt] });
  const first = res[0].tokens.indexOf(stopAt);
  assert.equal(s[0].finish, "stop");
  assert.deepEqual(s[0].tokens, res[0].tokens.slice(0, first + 1));
  const g1 = await p.sample({ ...base, temperature: 0, prompts: [prompts[2]], seeds: [1] });
  const g2 = await p.sample({ ...base, temperature: 0, prompts: [prompts[2]], seeds: [99] });
  assert.equal(key(g1[0]), key(g2[0]));
});

test("sampler log-probs equal the recomputed log-probs over the full vocabulary", async () => {
  for (const T of [1, 0.7]) {
    const [r] = await p.sample({ ...base, temperature: T, topP: 0.8, topK: 10, maxNewTokens: 60, stopTokenIds: [], prompts: [prompts[1]], seeds: [5] });
    const tokens = new Int32Array(prompts[1].length + r.tokens.length);
    tokens.set(prompts[1]); tokens.set(r.tokens, prompts[1].length);
    const lp = await p.logprobs({ tokens, seqLens: Int32Array.from([tokens.length]) }, T);
    let worst = 0;
    r.logprobs.forEach((x, i) => { worst = Math.max(worst, Math.abs(x - lp[prompts[1].length + i])); });
    console.log(`  T=${T}: sampler vs recomputed log-prob max-abs ${worst.toExponential(2)}`);
    assert.ok(worst < 1e-5);
  }
});

test("sample rejects bad requests", async () => {
  await assert.rejects(p.sample({ ...base, prompts: [prompts[0]], seeds: [] }), /seeds/);
  await assert.rejects(p.sample({ ...base, prompts: [prompts[0]], seeds: [0.5] }), /seeds\[0\]/);
  await assert.rejects(p.sample({ ...base, prompts: [new Int32Array(0)], seeds: [1] }), /seqLens\[0\]|empty/);
});
