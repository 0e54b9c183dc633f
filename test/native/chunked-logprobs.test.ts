// Chunked log-probs (issue 14 item 4): the LM head, log-softmax, the sampled tokens' log-probs, entropy and
// their backward run over chunks of logit rows, never (tokens x vocab) at once. Forcing chunks of 1, 3 and 7
// rows gives the bits of one chunk (logits, log-probs, GRPO and CE losses, every gradient, tied and untied
// heads, sequence starts inside chunks); and at Qwen2.5's vocabulary the peak memory of a training step stays
// far below what its (tokens x vocab) logits and their gradient would take.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Policy, setLogitChunkRows, type LossSpec, type Qwen2Config } from "../../native/index.ts";
import { randArray, randTokens, sumLens, tiny } from "./helpers.ts";

const peakRss = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))![1]) * 1024;
const bits = (a: Float32Array | Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64");

function batch(V: number, lens: number[], seed: number) {
  const seqLens = Int32Array.from(lens), N = sumLens(seqLens);
  const lossMask = new Float32Array(N).fill(1);
  let at = 0;
  for (const l of lens) { lossMask[at] = 0; at += l; }
  for (let i = 2; i < N; i += 5) lossMask[i] = 0;
  return { tokens: randTokens(N, V, seed), seqLens, lossMask, advantages: randArray(N, seed + 1),
    oldLogprobs: randArray(N, seed + 2, 0.3).map((x) => x - 3.7), refLogprobs: randArray(N, seed + 3, 0.3).map((x) => x - 3.7) };
}

test("a training step at Qwen2.5's vocabulary never holds (tokens x vocab): peak memory far below it", async () => {
  const cfg: Qwen2Config = { ...tiny, vocab_size: 151936, hidden_size: 32, intermediate_size: 32, num_hidden_layers: 1, max_position_embeddings: 1024 };
  const p = Policy.init(cfg, 1);
  const b = batch(cfg.vocab_size, [512, 512], 9);
  const N = 1024;
  const before = peakRss();
  p.zeroGrad();
  const st = await p.accumulate(b, { kind: "ce", globalTokens: N });
  const lps = await p.logprobs(b);
  const grown = peakRss() - before;
  const full = 2 * 4 * N * cfg.vocab_size;   // logits + their gradient, as before chunking: 1.24 GB
  console.log(`  peak RSS grew ${(grown / 1e6).toFixed(0)} MB over the step; (tokens x vocab) logits + gradient would be ${(full / 1e6).toFixed(0)} MB`);
  assert.ok(Number.isFinite(st.loss) && lps.every(Number.isFinite));
  assert.ok(grown < full / 4, `peak RSS grew ${grown} bytes`);
  p.dispose();
});

test("chunks of 1, 3 and 7 rows give the bits of one chunk: logits, log-probs, losses and gradients", async () => {
  for (const tie of [true, false]) {
    const cfg: Qwen2Config = { ...tiny, tie_word_embeddings: tie };
    const b = batch(cfg.vocab_size, [5, 9, 1, 4, 11], tie ? 21 : 22);
    const N = sumLens(b.seqLens);
    const grpo: LossSpec = { kind: "grpo", clipLow: 0.2, clipHigh: 0.28, klCoef: 0.1, klEstimator: "k3", aggregation: "seq-mean-token-mean",
      temperature: 0.9, globalTokens: N, globalSeqs: 5, maxResponseLength: 11 };
    const run = async (rows: number) => {
      setLogitChunkRows(rows);
      try {
        const p = Policy.init(cfg, 5);
        const out: string[] = [bits(await p.forward(b)), bits(await p.logprobs(b, 0.9)), bits(await p.logprobs(b))];
        p.zeroGrad();
        const s1 = await p.accumulate(b, grpo);
        const s2 = await p.accumulate(b, { kind: "ce", globalTokens: N });
        out.push(bits(Float64Array.from([...Object.values(s1), ...Object.values(s2)])), bits(p.grads()));
        p.dispose();
        return out;
      } finally {
        setLogitChunkRows(0);
      }
    };
    const whole = await run(N);
    for (const rows of [1, 3, 7, 0]) assert.deepEqual(await run(rows), whole, `chunks of ${rows || "automatic"} rows, ${tie ? "tied" : "untied"} head`);
    // and the chunking is real: a chunk smaller than the batch changes nothing only because rows are independent
    assert.notEqual(whole[1], whole[2], "temperature changes the log-probs (the comparison can fail)");
  }
});
