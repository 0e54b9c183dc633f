// GRPO loss statistics against a hand-written reference of DESIGN.md's formulas on a tiny case:
// every aggregation and KL estimator, with the clipped branch active on some tokens.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Policy, type LossSpec } from "../../native/index.ts";
import { randArray, randTokens, tiny } from "./helpers.ts";

type Agg = "token-mean" | "seq-mean-token-mean" | "seq-mean-token-sum-norm";
type Est = "k1" | "k2" | "k3";
type Off = "none" | "decoupled" | "tis" | "mis";
type RefBatch = { seqLens: Int32Array; lossMask: Float32Array; advantages: Float32Array; oldLogprobs: Float32Array; refLogprobs: Float32Array; proxLogprobs?: Float32Array };
type RefSpec = { clipLow: number; clipHigh: number; klCoef: number; est: Est; agg: Agg; G: number; S: number; Lmax: number;
  off?: Off; cap?: number; C?: number; band?: [number, number]; entropyCoef?: number; ent?: Float64Array };

/** DESIGN.md's objective written out token by token: μ = old, π_prox = prox (lp when absent), π_θ = lp. */
function reference(lp: Float32Array, b: RefBatch, s: RefSpec) {
  const off = s.off ?? "none", prox = b.proxLogprobs ?? lp;
  let pg = 0, kl = 0, klSum = 0, clip = 0, tokens = 0, ratioMax = 0, at = 0, entLoss = 0;
  let wSum = 0, wMax = 0, wTruncated = 0, wMasked = 0, k3 = 0, gap = 0;
  for (const len of b.seqLens) {
    let n = 0, logRhoSum = 0;
    for (let t = at + 1; t < at + len; t++) if (b.lossMask[t]) { n++; logRhoSum += prox[t] - b.oldLogprobs[t]; }
    const gm = Math.exp(logRhoSum / n), inBand = off !== "mis" || (gm >= s.band![0] && gm <= s.band![1]);
    for (let t = at + 1; t < at + len; t++) {
      if (!b.lossMask[t]) continue;
      const rho = Math.exp(prox[t] - b.oldLogprobs[t]);
      k3 += rho - 1 - Math.log(rho);
      gap = Math.max(gap, Math.abs(Math.exp(b.oldLogprobs[t]) - Math.exp(prox[t])));
      const isw = off === "decoupled" ? (rho > s.cap! ? 0 : rho) : off === "tis" ? Math.min(rho, s.C!) : off === "mis" ? (inBand ? 1 : 0) : 1;
      wSum += isw; wMax = Math.max(wMax, isw); wMasked += isw === 0 ? 1 : 0;
      wTruncated += (off === "decoupled" && rho > s.cap!) || (off === "tis" && rho > s.C!) ? 1 : 0;
      const A = b.advantages[t], ratio = Math.exp(lp[t] - (off === "none" ? b.oldLogprobs[t] : prox[t]));
      const un = -A * ratio, cl = -A * Math.min(Math.max(ratio, 1 - s.clipLow), 1 + s.clipHigh);
      if (cl > un) clip++;
      const q = Math.min(Math.max(b.refLogprobs[t] - lp[t], -20), 20);
      const k = s.est === "k1" ? -q : s.est === "k2" ? q * q / 2 : Math.exp(q) - q - 1;
      const w = s.agg === "token-mean" ? 1 / s.G : s.agg === "seq-mean-token-mean" ? 1 / (s.S * n) : 1 / (s.S * s.Lmax);
      pg += w * isw * Math.max(un, cl); kl += w * k; klSum += k; tokens++; ratioMax = Math.max(ratioMax, ratio);
      entLoss += w * (s.ent?.[t] ?? 0);
    }
    at += len;
  }
  return { loss: pg + s.klCoef * kl - (s.entropyCoef ?? 0) * entLoss, pgLoss: pg, klLoss: kl, klSum, clipCount: clip, tokens, ratioMax,
    entropyLoss: entLoss, wSum, wMax, wTruncated, wMasked, mismatchK3Sum: k3, mismatchMaxGap: gap };
}

/** Entropy of softmax(logits[t-1] / T) at every position (0 at sequence starts), from the full logits. */
async function entropies(p: Policy, tokens: Int32Array, seqLens: Int32Array, T: number): Promise<Float64Array> {
  const logits = await p.forward({ tokens, seqLens }), V = p.config.vocab_size, out = new Float64Array(tokens.length);
  let at = 0;
  for (const len of seqLens) {
    for (let t = at + 1; t < at + len; t++) {
      const z = Array.from(logits.subarray((t - 1) * V, t * V), (x) => x / T), m = Math.max(...z);
      const lse = m + Math.log(z.reduce((s, x) => s + Math.exp(x - m), 0));
      out[t] = -z.reduce((s, x) => s + Math.exp(x - lse) * (x - lse), 0);
    }
    at += len;
  }
  return out;
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
  const ents = await entropies(p, tokens, seqLens, T);
  const ent = ents.reduce((s, x, t) => s + (lossMask[t] ? x : 0), 0);
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

// ---- off-policy corrections and the entropy term --------------------------------------------------

/** Three sequences; μ, π_prox and π_θ apart: ρ = π_prox/μ spread over [0.3, 3.3] with sequence 1 shifted up
 * (so a band can mask it whole), r = π_θ/π_prox over [0.6, 1.5] (both clip edges). */
async function offPolicyCase(p: Policy, T: number) {
  const seqLens = Int32Array.from([6, 9, 5]), N = 20;
  const tokens = randTokens(N, tiny.vocab_size, 15);
  const lossMask = Float32Array.from({ length: N }, (_, i) => (i === 0 || i === 6 || i === 15 || i % 7 === 3 ? 0 : 1));
  const lp = await p.logprobs({ tokens, seqLens }, T);
  const logR = randArray(N, 16, 0.45).map((x) => Math.log(1.05 + x));
  const logRho = randArray(N, 17, 0.6).map((x, i) => 0.2 + x + (i >= 6 && i < 15 ? 0.5 : 0));
  const proxLogprobs = lp.map((x, i) => x - logR[i]);
  const oldLogprobs = proxLogprobs.map((x, i) => x - logRho[i]);
  const advantages = randArray(N, 18).map((x) => (x === 0 ? 0.5 : x));
  const refLogprobs = lp.map((x, i) => x + 0.2 * Math.cos(i));
  const G = lossMask.reduce((s, x) => s + x, 0);
  return { lp, G, b: { tokens, seqLens, lossMask, advantages, oldLogprobs, refLogprobs, proxLogprobs } };
}
const offSpec = (T: number, G: number, o: Partial<Extract<LossSpec, { kind: "grpo" }>> = {}): LossSpec => ({
  kind: "grpo", clipLow: 0.2, clipHigh: 0.28, klCoef: 0.05, klEstimator: "k3", aggregation: "seq-mean-token-mean",
  temperature: T, globalTokens: G, globalSeqs: 3, maxResponseLength: 10, ...o });

test("off-policy corrections: loss and statistics match the hand-written reference (none, decoupled, tis, mis; entropy)", async () => {
  const p = Policy.init(tiny, 4, 0.1), T = 0.8;
  const { lp, G, b } = await offPolicyCase(p, T);
  const ent = await entropies(p, b.tokens, b.seqLens, T);
  const cases: { off: Off; o: Partial<Extract<LossSpec, { kind: "grpo" }>> }[] = [
    { off: "none", o: {} },
    { off: "none", o: { entropyCoef: 0.03 } },
    { off: "decoupled", o: { behavWeightCap: 1.8 } },
    { off: "tis", o: { tisCap: 1.5, entropyCoef: 0.01 } },
    { off: "mis", o: { misLow: 0.7, misHigh: 1.6 } },
  ];
  for (const { off, o } of cases) {
    const spec = offSpec(T, G, { offPolicy: off, ...o });
    p.zeroGrad();
    // none is measured without π_prox: its mismatch is against this forward's own log-probs
    const batch = off === "none" ? { ...b, proxLogprobs: undefined } : b;
    const st = await p.accumulate(batch, spec);
    const ref = reference(lp, batch, { clipLow: 0.2, clipHigh: 0.28, klCoef: 0.05, est: "k3", agg: "seq-mean-token-mean", G, S: 3, Lmax: 10,
      off, cap: o.behavWeightCap, C: o.tisCap, band: [o.misLow ?? 0.5, o.misHigh ?? 2], entropyCoef: o.entropyCoef, ent });
    const name = `${off}${o.entropyCoef ? "+entropy" : ""}`;
    for (const k of ["loss", "pgLoss", "klLoss", "ratioMax", "entropyLoss", "wSum", "wMax", "mismatchK3Sum", "mismatchMaxGap"] as const) {
      if (k === "entropyLoss" && !o.entropyCoef) continue;   // only computed when the term is on
      assert.ok(Math.abs(st[k] - ref[k]) <= 2e-5 * Math.max(1, Math.abs(ref[k])), `${name} ${k}: ${st[k]} vs ${ref[k]}`);
    }
    for (const k of ["tokens", "clipCount", "wTruncated", "wMasked"] as const) assert.equal(st[k], ref[k], `${name} ${k}`);
    if (off === "decoupled" || off === "tis") assert.ok(ref.wTruncated > 0 && ref.wTruncated < G, `${name}: some tokens over the cap (${ref.wTruncated})`);
    if (off === "mis") assert.ok(ref.wMasked > 0 && ref.wMasked < G, `mis: one sequence masked whole (${ref.wMasked} of ${G})`);
    console.log(`  ${name}: loss ${st.loss.toFixed(6)}, mean w ${(st.wSum / st.tokens).toFixed(3)}, truncated ${st.wTruncated}, masked ${st.wMasked}, k3 ${(st.mismatchK3Sum / st.tokens).toExponential(2)}`);
  }
});

test("a synchronous batch (μ = this forward's log-probs) shows no mismatch; a perturbed one does", async () => {
  const p = Policy.init(tiny, 4, 0.1), T = 1;
  const { b, G } = await offPolicyCase(p, T);
  const own = await p.logprobs(b, T);
  const st = await p.accumulate({ ...b, oldLogprobs: own, proxLogprobs: undefined }, offSpec(T, G));
  assert.equal(st.mismatchK3Sum, 0, "the same forward twice: the same bits");
  assert.equal(st.mismatchMaxGap, 0);
  const off = await p.accumulate({ ...b, oldLogprobs: own.map((x, i) => x + 0.1 * Math.sin(i)), proxLogprobs: undefined }, offSpec(T, G));
  assert.ok(off.mismatchK3Sum / off.tokens > 1e-3, `perturbed: ${off.mismatchK3Sum / off.tokens}`);
});

test("offPolicy none and entropyCoef 0 written out give the bits of a spec without them", async () => {
  const p = Policy.init(tiny, 4, 0.1), T = 0.8;
  const { G, b } = await offPolicyCase(p, T);
  p.zeroGrad();
  const a = await p.accumulate(b, offSpec(T, G));
  const ga = p.grads();
  p.zeroGrad();
  const c = await p.accumulate(b, offSpec(T, G, { offPolicy: "none", entropyCoef: 0, behavWeightCap: 3, tisCap: 1.1, misLow: 0.9, misHigh: 1.1 }));
  assert.deepEqual(c, a);
  assert.deepEqual(p.grads(), ga);
});

test("refused: a correction without proxLogprobs, caps <= 0, misLow >= misHigh, entropyCoef < 0, an unknown offPolicy", async () => {
  const p = Policy.init(tiny, 4, 0.1), T = 0.8;
  const { G, b } = await offPolicyCase(p, T);
  const bad: [Partial<Extract<LossSpec, { kind: "grpo" }>>, RegExp, boolean?][] = [
    [{ offPolicy: "decoupled" }, /offPolicy 'decoupled' needs proxLogprobs/, true],
    [{ offPolicy: "tis", tisCap: 0 }, /loss\.tisCap must be > 0/],
    [{ offPolicy: "decoupled", behavWeightCap: -1 }, /loss\.behavWeightCap must be > 0/],
    [{ offPolicy: "mis", misLow: 2, misHigh: 2 }, /loss\.misLow must be > 0 and below loss\.misHigh/],
    [{ entropyCoef: -0.1 }, /loss\.entropyCoef must be >= 0/],
    [{ offPolicy: "sometimes" as Off }, /loss\.offPolicy must be none, decoupled, tis or mis, got 'sometimes'/],
  ];
  for (const [o, msg, noProx] of bad) {
    await assert.rejects(async () => p.accumulate(noProx ? { ...b, proxLogprobs: undefined } : b, offSpec(T, G, o)),
      (e: unknown) => e instanceof TypeError && msg.test(e.message), JSON.stringify(o));
  }
});

test("whole-model gradients of the corrected and entropy losses match finite differences", async () => {
  const p = Policy.init(tiny, 3, 0.2), T = 0.9;
  const { G, b } = await offPolicyCase(p, T);
  const specs: [string, LossSpec, typeof b][] = [
    ["decoupled", offSpec(T, G, { offPolicy: "decoupled", behavWeightCap: 1.8 }), b],
    // zero advantages and no KL: the loss is the entropy term alone, so its gradient is checked by itself
    ["entropy alone", offSpec(T, G, { klCoef: 0, entropyCoef: 0.5 }), { ...b, advantages: new Float32Array(b.advantages.length) }],
    ["tis + entropy", offSpec(T, G, { offPolicy: "tis", tisCap: 1.5, entropyCoef: 0.2 }), b],
  ];
  for (const [name, spec, batch] of specs) {
    p.zeroGrad();
    await p.accumulate(batch, spec);
    const g = p.grads(), w = p.params();
    const lossAt = async () => { const q = p.clone(); q.setParams(w); const s = await q.accumulate(batch, spec); q.dispose(); return s.loss; };
    const order = Array.from(g.keys()).sort((i, j) => Math.abs(g[j]) - Math.abs(g[i]));
    const picks = [...order.slice(0, 6), ...order.filter((_, i) => i % 997 === 0).slice(0, 6)];
    let worst = 0;
    for (const i of picks) {
      // 3e-3, not 1e-2: a step of 1e-2 on the largest embedding gradients moves a token's r across a clip edge
      const eps = 3e-3, w0 = w[i];
      w[i] = w0 + eps; const a = await lossAt();
      w[i] = w0 - eps; const c = await lossAt();
      w[i] = w0;
      worst = Math.max(worst, Math.abs((a - c) / (2 * eps) - g[i]) / (Math.abs(g[i]) + 1e-3));
    }
    console.log(`  ${name}: whole-model finite-difference worst relative error ${worst.toExponential(2)} (largest |grad| ${Math.abs(g[order[0]]).toExponential(2)})`);
    assert.ok(Math.abs(g[order[0]]) > 1e-3, `${name}: a gradient to check`);
    assert.ok(worst < 1e-2, `${name}: ${worst}`);
  }
});
