// KV-cached sampling: reproducible across batch orders and thread counts, shared prefill, stop
// tokens, greedy, and log-probs that match what the loss recomputes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Policy, getThreads, poolWorkerItems, setThreads, type SampleRequest, type SampleResult } from "../../native/index.ts";
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
  const before = getThreads();
  let a = new Map<number, string>(), b = a, c = a, alone = a;
  try {
    setThreads(2);  // explicitly: on a 1-core machine the default is 1 thread
    assert.equal(getThreads(), 2);
    const items = poolWorkerItems();
    a = await run([0, 1, 2, 3, 4, 5]);
    b = await run([5, 3, 1, 0, 4, 2]);
    // Logged, not asserted: this model's calls are so small that the caller may take every item before
    // a worker wakes. model.test.ts's determinism test asserts that workers ran items.
    console.log(`  2 threads: ${poolWorkerItems() - items} items ran on a pool worker`);
    setThreads(1);
    c = await run([2, 4]);
    setThreads(3);
    alone = await run([3]);
  } finally {
    setThreads(before);
  }
  for (let i = 0; i < 6; i++) assert.equal(b.get(i), a.get(i), `row ${i} across batch orders`);
  for (const i of [2, 4]) assert.equal(c.get(i), a.get(i), `row ${i} with 1 thread and other neighbours`);
  assert.equal(alone.get(3), a.get(3), "row 3 alone with 3 threads");
  assert.notEqual(a.get(0), a.get(3), "different seeds give different samples");
});

test("sampling gives the same rows with 1 thread and with 2 whose workers really ran items", async () => {
  // wider than tiny, so the pool's worker gets items (tiny calls finish before a worker wakes)
  const wide = Policy.init({ ...tiny, vocab_size: 512, hidden_size: 128, head_dim: 32, intermediate_size: 384 }, 4, 0.3);
  const req = { ...base, maxNewTokens: 24, stopTokenIds: [], seeds: [1, 2, 3, 4, 5, 6],
    prompts: [0, 1, 2, 3, 4, 5].map((i) => randTokens(40 + 7 * i, 512, 50 + i)) };
  const before = getThreads();
  const out: string[] = [];
  try {
    for (const threads of [2, 1]) {
      setThreads(threads);
      const items = poolWorkerItems();
      out.push((await wide.sample(req)).map(key).join("|"));
      const ran = poolWorkerItems() - items;
      console.log(`  ${threads} thread(s): ${ran} items ran on pool workers`);
      if (threads > 1) assert.ok(ran > 0, "with 2 threads no item ran on a pool worker");
    }
  } finally {
    setThreads(before);
    wide.dispose();
  }
  assert.equal(out[1], out[0], "1 thread vs 2 threads");
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
