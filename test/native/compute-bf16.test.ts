// model.compute_dtype bf16 (issue 15 item 2): every linear layer's operands are rounded to bf16 (nearest, ties
// to even) and the products accumulate in fp32. A product of two bf16 values is exact in fp32, so every kernel
// set (emulating, or vdpbf16ps on avx512-bf16, whose pairs add in the chain's order) must give the fp32 kernel's
// bits on operands rounded beforehand (these operands have no subnormal sums, which bf16 compute flushes), here
// by the checkpoint writer's TypeScript rounding (native/checkpoint.ts), independent of the engine's. The
// loss and the gradients stay within the tolerances stated below of fp32 (the README quotes the measured
// figures this test prints).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Policy, getThreads, kernels, setThreads, type LossSpec, type Qwen2Config } from "../../native/index.ts";
import { bf16ToF32, f32ToBf16 } from "../../native/checkpoint.ts";
import { randArray, randTokens } from "./helpers.ts";

const roundBf16 = (x: Float32Array): Float32Array => bf16ToF32(f32ToBf16(x));
const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

// partial 16-column panels everywhere (vocab 75, QKV 56, 2F 104, hidden 40), untied head
const odd: Qwen2Config = {
  vocab_size: 75, hidden_size: 40, num_hidden_layers: 2, num_attention_heads: 5, num_key_value_heads: 1, head_dim: 8,
  intermediate_size: 52, rope_theta: 10000, rms_norm_eps: 1e-6, tie_word_embeddings: false, max_position_embeddings: 64,
};
// the tiny R1-Zero shape (configs/tiny-r1-zero.yaml), tied head
const tinyR1: Qwen2Config = {
  vocab_size: 104, hidden_size: 128, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 32,
  intermediate_size: 384, rope_theta: 10000, rms_norm_eps: 1e-6, tie_word_embeddings: true, max_position_embeddings: 160,
};

test("matmul, compute bf16: the fp32 kernel's bits on operands rounded in TypeScript, forward and backward", () => {
  const k = kernels();
  for (const [N, I, O] of [[1, 5, 3], [7, 33, 17], [50, 64, 40], [13, 300, 70]]) {
    const x = randArray(N * I, 1), w = randArray(O * I, 2), b = randArray(O, 3), dout = randArray(N * O, 4);
    const a = new Float32Array(N * O), r = new Float32Array(N * O), f = new Float32Array(N * O);
    k.matmul(false, a, x, w, b, N, I, O, "bf16");
    k.matmul(false, r, roundBf16(x), roundBf16(w), b, N, I, O, "f32");
    k.matmul(false, f, x, w, b, N, I, O);
    assert.ok(bits(a).equals(bits(r)), `${N}x${I}x${O} forward`);
    assert.ok(!bits(a).equals(bits(f)), `${N}x${I}x${O}: compute bf16 gave the fp32 bits`);
    const d1 = [new Float32Array(N * I), new Float32Array(O * I), new Float32Array(O)];
    const d2 = [new Float32Array(N * I), new Float32Array(O * I), new Float32Array(O)];
    k.matmulBackward(false, d1[0], d1[1], d1[2], dout, x, w, N, I, O, "bf16");
    k.matmulBackward(false, d2[0], d2[1], d2[2], roundBf16(dout), roundBf16(x), roundBf16(w), N, I, O, "f32");
    assert.ok(bits(d1[0]).equals(bits(d2[0])) && bits(d1[1]).equals(bits(d2[1])), `${N}x${I}x${O} backward`);
  }
  assert.throws(() => k.matmul(false, new Float32Array(1), new Float32Array(1), new Float32Array(1), null, 1, 1, 1, "fp8"), /expected "f32" or "bf16" for compute, got/);
});

test("a policy's compute dtype: f32 by default, set per policy, kept by clones, refused when unknown, not part of the digest", () => {
  const p = Policy.init(odd, 1, 0.3);
  try {
    assert.equal(p.computeDtype, "f32");
    const d = p.digest();
    assert.equal(p.withCompute("bf16"), p);
    assert.equal(p.computeDtype, "bf16");
    assert.equal(p.digest(), d, "the weights did not change");
    const c = p.clone(), h = p.clone("bf16");
    assert.equal(c.computeDtype, "bf16"); assert.equal(h.computeDtype, "bf16");
    c.dispose(); h.dispose();
    assert.throws(() => p.withCompute("fp16" as never), /expected "f32" or "bf16" for compute, got/);
    assert.equal(p.withCompute("f32").computeDtype, "f32");
  } finally { p.dispose(); }
});

test("compute bf16: a frozen bf16 copy gives the bits of an fp32 model of its rounded values (bf16 panels vs rounding while packing), at 1 and 2 threads", async () => {
  // p: an fp32 model holding bf16-exact values; h: its frozen bf16 copy. Both compute in bf16; f computes in fp32.
  const p0 = Policy.init(odd, 5, 0.3), p = p0.clone().withCompute("bf16");
  p.setParams(roundBf16(p0.params()));
  const h = p.clone("bf16"), f = p0.clone();
  const before = getThreads();
  try {
    const seqLens = Int32Array.from([9, 17, 4]), tokens = randTokens(30, odd.vocab_size, 6);
    const req = { prompts: [Int32Array.from([1, 2, 3]), Int32Array.from([1, 2, 3]), Int32Array.from([7, 8])], seeds: [1, 2, 3], temperature: 1, topP: 1, topK: 0, maxNewTokens: 20, stopTokenIds: [0] };
    const runs = [];
    for (const t of [1, 2]) {
      setThreads(t);
      for (const m of [p, h]) {
        const s = await m.sample(req);
        runs.push({ logits: bits(await m.forward({ tokens, seqLens })), lp: bits(await m.logprobs({ tokens, seqLens })), s: JSON.stringify(s.map((x) => [Array.from(x.tokens), Array.from(x.logprobs)])) });
      }
    }
    for (const r of runs.slice(1)) {
      assert.ok(r.logits.equals(runs[0].logits)); assert.ok(r.lp.equals(runs[0].lp)); assert.equal(r.s, runs[0].s);
    }
    f.setParams(roundBf16(p0.params()));
    assert.ok(!bits(await f.forward({ tokens, seqLens })).equals(runs[0].logits), "the fp32-compute policy differs");
  } finally { setThreads(before); p0.dispose(); p.dispose(); h.dispose(); f.dispose(); }
});

/** Relative L2 error and cosine of a against the reference r. */
function compare(a: Float32Array, r: Float32Array): { rel: number; cos: number } {
  let d = 0, n = 0, ab = 0, aa = 0;
  for (let i = 0; i < r.length; i++) { d += (a[i] - r[i]) ** 2; n += r[i] ** 2; ab += a[i] * r[i]; aa += a[i] ** 2; }
  return { rel: Math.sqrt(d / n), cos: ab / Math.sqrt(aa * n) };
}

// Tolerances stated for the README: loss within 1 % (relative), gradients within 8 % (relative L2) and a cosine
// above 0.997 of fp32's. Measured on AMD EPYC (AVX2): the 40-wide model with std 0.3 weights (large activations,
// the harsh case) 3.6-4.9 % and cosine 0.9989; the tiny R1-Zero shape 1.2 % and 0.99992. The figures printed
// are the measured ones.
test("compute bf16: the loss and the gradients stay within the stated tolerance of fp32 (CE and GRPO, two shapes)", async () => {
  const lines: string[] = [];
  for (const [name, cfg, std] of [["odd 40-wide", odd, 0.3], ["tiny R1-Zero shape", tinyR1, 0.08]] as const) {
    const seqLens = Int32Array.from([40, 33, 57, 21]), N = 151, tokens = randTokens(N, cfg.vocab_size, 9);
    const lossMask = Float32Array.from({ length: N }, (_, i) => (i % 5 === 0 ? 0 : 1));
    const specs: [string, LossSpec][] = [["ce", { kind: "ce", globalTokens: N }],
      ["grpo", { kind: "grpo", clipLow: 0.2, clipHigh: 0.28, klCoef: 0.01, klEstimator: "k3", aggregation: "token-mean", temperature: 1, globalTokens: N, globalSeqs: 4, maxResponseLength: 64 }]];
    for (const [kind, spec] of specs) {
      const res: Record<string, { loss: number; g: Float32Array }> = {};
      for (const c of ["f32", "bf16"] as const) {
        const p = Policy.init(cfg, 11, std).withCompute(c);
        try {
          const lp = await p.logprobs({ tokens, seqLens });
          const old = lp.map((x, i) => x + 0.05 * Math.sin(i)), ref = lp.map((x, i) => x - 0.03 * Math.cos(i));
          p.zeroGrad();
          const st = await p.accumulate({ tokens, seqLens, lossMask, advantages: Float32Array.from({ length: N }, (_, i) => Math.sin(i / 7)), oldLogprobs: old, refLogprobs: ref }, spec);
          res[c] = { loss: st.loss, g: p.grads() };
        } finally { p.dispose(); }
      }
      const lossRel = Math.abs(res.bf16.loss - res.f32.loss) / Math.abs(res.f32.loss), g = compare(res.bf16.g, res.f32.g);
      lines.push(`  ${name}, ${kind}: loss ${res.f32.loss.toFixed(6)} vs ${res.bf16.loss.toFixed(6)} (rel ${lossRel.toExponential(2)}); gradient rel L2 ${g.rel.toExponential(2)}, cosine ${g.cos.toFixed(6)}`);
      assert.ok(lossRel < 0.01, lines.at(-1));
      assert.ok(g.rel < 0.08 && g.cos > 0.997, lines.at(-1));
    }
  }
  console.log(lines.join("\n"));
});
