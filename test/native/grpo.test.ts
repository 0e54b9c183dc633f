// GRPO loss statistics against a hand-written reference of DESIGN.md's formulas on a tiny case:
// every aggregation and KL estimator, with the clipped branch active on some tokens.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Policy, type LossSpec } from "../../native/index.ts";
import { randArray, randTokens, tiny } from "./helpers.ts";

type Agg = "token-mean" | "seq-mean-token-mean" | "seq-mean-token-sum-norm";
type Est = "k1" | "k2" | "k3";

function reference(lp: Float32Array, b: { seqLens: Int32Array; lossMask: Float32Array; advantages: Float32Array; oldLogprobs: Float32Array; refLogprobs: Float32Array },
  s: { clipLow: number; clipHigh: number; klCoef: number; est: Est; agg: Agg; G: number; S: number; Lmax: number }) {
  let pg = 0, kl = 0, klSum = 0, clip = 0, tokens = 0, ratioMax = 0, at = 0;
  for (const len of b.seqLens) {
    let n = 0;
    for (let t = at + 1; t < at + len; t++) n += b.lossMask[t] ? 1 : 0;
    for (let t = at + 1; t < at + len; t++) {
      if (!b.lossMask[t]) continue;
      const A = b.advantages[t], ratio = Math.exp(lp[t] - b.oldLogprobs[t]);
      const un = -A * ratio, cl = -A * Math.min(Math.max(ratio, 1 - s.clipLow), 1 + s.clipHigh);
      if (cl > un) clip++;
      const q = Math.min(Math.max(b.refLogprobs[t] - lp[t], -20), 20);
      const k = s.est === "k1" ? -q : s.est === "k2" ? q * q / 2 : Math.exp(q) - q - 1;
      const w = s.agg === "token-mean" ? 1 / s.G : s.agg === "seq-mean-token-mean" ? 1 / (s.S * n) : 1 / (s.S * s.Lmax);
      pg += w * Math.max(un, cl); kl += w * k; klSum += k; tokens++; ratioMax = Math.max(ratioMax, ratio);
    }
    at += len;
  }
  return { loss: pg + s.klCoef * kl, pgLoss: pg, klLoss: kl, klSum, clipCount: clip, tokens, ratioMax };
}

test("GRPO stats match the hand-written reference (3 aggregations x k1/k2/k3, clipping active)", async () => {
  const p = Policy.init(tiny, 4, 0.1);
  const seqLens = Int32Array.from([6, 9, 4]), N = 19, T = 0.8;
  const tokens = randTokens(N, tiny.vocab_size, 5);
  const lossMask = Float32Array.from({ length: N }, (_, i) => (i === 0 || i === 6 || i === 15 || i % 5 === 2 ? 0 : 1));
  const lp = await p.logprobs({ tokens, seqLens }, T);
  // old log-probs put ratios across [0.6, 1.5] so both clip edges are hit; advantages of both signs
  const ratios = randArray(N, 6, 0.45).map((x) => 1.05 + x);
  const oldLogprobs = lp.map((x, i) => x - Math.log(ratios[i]));
  const advantages = randArray(N, 7).map((x) => (x === 0 ? 0.5 : x));
  const refLogprobs = lp.map((x, i) => x + 0.3 * Math.sin(i));
  const b = { tokens, seqLens, lossMask, advantages, oldLogprobs, refLogprobs };
  const G = lossMask.reduce((s, x) => s + x, 0);
  // entropy of softmax(logits / T) at every masked position, from the full logits
  const logits = await p.forward({ tokens, seqLens });
  let ent = 0;
  const V = tiny.vocab_size;
  for (let t = 1; t < N; t++) {
    if (!lossMask[t] || t === 6 || t === 15) continue;
    const z = Array.from(logits.subarray((t - 1) * V, t * V), (x) => x / T), m = Math.max(...z);
    const lse = m + Math.log(z.reduce((s, x) => s + Math.exp(x - m), 0));
    ent -= z.reduce((s, x) => s + Math.exp(x - lse) * (x - lse), 0);
  }
  let clipsSeen = 0;
  for (const agg of ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"] as Agg[]) {
    for (const est of ["k1", "k2", "k3"] as Est[]) {
      const spec: LossSpec = { kind: "grpo", clipLow: 0.2, clipHigh: 0.28, klCoef: 0.05, klEstimator: est, aggregation: agg,
        temperature: T, globalTokens: G, globalSeqs: 3, maxResponseLength: 10 };
      p.zeroGrad();
      const st = await p.accumulate(b, spec);
      const ref = reference(lp, b, { clipLow: 0.2, clipHigh: 0.28, klCoef: 0.05, est, agg, G, S: 3, Lmax: 10 });
      for (const k of ["loss", "pgLoss", "klLoss", "klSum", "ratioMax"] as const)
        assert.ok(Math.abs(st[k] - ref[k]) <= 1e-5 * Math.max(1, Math.abs(ref[k])), `${agg}/${est} ${k}: ${st[k]} vs ${ref[k]}`);
      assert.equal(st.tokens, ref.tokens);
      assert.equal(st.clipCount, ref.clipCount);
      assert.ok(Math.abs(st.entropySum - ent) < 1e-4 * ent, `entropy ${st.entropySum} vs ${ent}`);
      clipsSeen = st.clipCount;
    }
  }
  assert.ok(clipsSeen > 0 && clipsSeen < G, `the clipped branch is active on some tokens (${clipsSeen} of ${G})`);
  console.log(`  ${G} masked tokens, ${clipsSeen} clipped`);
});

test("GRPO with a zero-advantage batch and klCoef 0 has zero loss and zero gradient", async () => {
  const p = Policy.init(tiny, 4, 0.1);
  const seqLens = Int32Array.from([5]), tokens = randTokens(5, tiny.vocab_size, 8);
  const lp = await p.logprobs({ tokens, seqLens });
  p.zeroGrad();
  const st = await p.accumulate({ tokens, seqLens, lossMask: Float32Array.from([0, 1, 1, 1, 1]), advantages: new Float32Array(5), oldLogprobs: lp },
    { kind: "grpo", clipLow: 0.2, clipHigh: 0.2, klCoef: 0, klEstimator: "k3", aggregation: "token-mean", temperature: 1, globalTokens: 4, globalSeqs: 1, maxResponseLength: 4 });
  assert.equal(st.loss, 0);
  assert.ok(Math.abs(st.ratioMax - 1) < 1e-6);
  assert.ok(p.grads().every((x) => x === 0));
});
