// Frozen bf16 copies (model dtype bf16, issue 14 item 2): a bf16 copy holds every tensor rounded to bf16
// (nearest, ties to even) and computes in fp32 on those values, so it must give the same bits as an fp32
// model holding the same rounded values, in forward, log-probs and sampling, with half the bytes. The
// rounding here is the checkpoint writer's, in TypeScript (native/checkpoint.ts), independent of the engine's.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { AdamW, Policy, getThreads, setThreads, type Qwen2Config, type SampleRequest } from "../../native/index.ts";
import { bf16ToF32, f32ToBf16 } from "../../native/checkpoint.ts";
import { randTokens } from "./helpers.ts";

// sizes that leave partial 16-column panels everywhere (vocab 75, QKV 56, 2F 104, hidden 40), one untied
const odd: Qwen2Config = {
  vocab_size: 75, hidden_size: 40, num_hidden_layers: 2, num_attention_heads: 5, num_key_value_heads: 1, head_dim: 8,
  intermediate_size: 52, rope_theta: 10000, rms_norm_eps: 1e-6, tie_word_embeddings: false, max_position_embeddings: 64,
};

/** f32 -> bf16 -> f32 by the TypeScript rounding of the checkpoint writer (nearest, ties to even; NaN kept a NaN). */
const roundBf16 = (x: Float32Array): Float32Array => bf16ToF32(f32ToBf16(x));
const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** An fp32 model (std 0.3: most values are not bf16-exact), its bf16 copy, and an fp32 model of the rounded values. */
function trio(seed: number, cfg = odd) {
  const p = Policy.init(cfg, seed, 0.3);
  // norms and biases away from 1 and 0 so their rounding counts too
  const v = p.params();
  for (const t of p.tensorTable()) if (t.shape.length === 1) for (let i = 0; i < t.numel; i++) v[t.offset + i] = 1 + 0.37 * Math.sin(i + t.offset);
  p.setParams(v);
  const h = p.clone("bf16");
  const r = p.clone();
  r.setParams(roundBf16(p.params()));
  return { p, h, r };
}

test("a bf16 copy holds the fp32 values rounded to nearest even, and widens them exactly", () => {
  const { p, h, r } = trio(3);
  assert.equal(p.dtype, "f32");
  assert.equal(h.dtype, "bf16");
  assert.ok(bits(h.params()).equals(bits(r.params())), "the bf16 copy's values are the independently rounded ones");
  assert.ok(!bits(h.params()).equals(bits(p.params())), "rounding changed values (the test would otherwise prove nothing)");
  // ties and edges: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 (even: down), 1 + 3·2^-8 halfway up (even: up)
  const e = p.params();
  const edge = [1 + 2 ** -8, 1 + 3 * 2 ** -8, -(1 + 2 ** -8), 3.4e38, 1e-40, -0, Infinity, 1 + 2 ** -8 + 2 ** -20];
  e.set(edge, 0);
  p.setParams(e);
  const got = p.clone("bf16").params().subarray(0, edge.length);
  assert.deepEqual(Array.from(got), [1, 1 + 2 ** -6, -1, Infinity, Array.from(roundBf16(Float32Array.of(1e-40)))[0], -0, Infinity, 1 + 2 ** -7]);
  assert.ok(bits(got).equals(bits(roundBf16(Float32Array.from(edge)))));
  const nan = p.params();
  nan[0] = NaN;
  p.setParams(nan);
  assert.ok(Number.isNaN(p.clone("bf16").params()[0]), "NaN stays NaN");
});

test("forward logits, log-probs and samples of a bf16 copy are bit-identical to fp32 on the rounded values", async () => {
  const { h, r } = trio(5);
  const seqLens = Int32Array.of(7, 1, 12, 4);
  const tokens = randTokens(24, odd.vocab_size, 9);
  const before = getThreads();
  try {
    for (const threads of [1, 2]) {
      setThreads(threads);
      assert.ok(bits(await h.forward({ tokens, seqLens })).equals(bits(await r.forward({ tokens, seqLens }))), `logits, ${threads} threads`);
      assert.ok(bits(await h.logprobs({ tokens, seqLens }, 0.7)).equals(bits(await r.logprobs({ tokens, seqLens }, 0.7))), `log-probs, ${threads} threads`);
      const req: SampleRequest = {
        prompts: [randTokens(5, odd.vocab_size, 1), randTokens(9, odd.vocab_size, 2), randTokens(5, odd.vocab_size, 1)],
        seeds: [11, 12, 13], temperature: 1, topP: 1, topK: -1, maxNewTokens: 20, stopTokenIds: [],
      };
      const a = await h.sample(req), b = await r.sample(req);
      for (let i = 0; i < a.length; i++) {
        assert.deepEqual(Array.from(a[i].tokens), Array.from(b[i].tokens), `row ${i} tokens, ${threads} threads`);
        assert.ok(bits(a[i].logprobs).equals(bits(b[i].logprobs)), `row ${i} log-probs, ${threads} threads`);
      }
    }
  } finally { setThreads(before); }
  // and the rounding matters: the fp32 original samples differently somewhere, or at least scores differently
  const { p } = trio(5);
  assert.ok(!bits(await p.forward({ tokens, seqLens })).equals(bits(await h.forward({ tokens, seqLens }))));
});

test("bf16 bytes: half the size, the same digest from the fp32 master and from its copy, round trips", async () => {
  const { p, h, r } = trio(7);
  const b16 = h.toSafetensors(), f32 = p.toSafetensors();
  assert.ok(Buffer.from(b16).equals(Buffer.from(p.toSafetensors("bf16"))), "the master's BF16 bytes are its copy's");
  assert.equal(h.digest(), p.digest("bf16"));
  const header = JSON.parse(Buffer.from(b16.subarray(8, 8 + Number(Buffer.from(b16).readBigUInt64LE(0)))).toString());
  assert.equal(header["lm_head.weight"].dtype, "BF16");
  const n = h.numParams;
  assert.ok(b16.length - n * 2 < 64 * 1024 && f32.length - n * 4 < 64 * 1024, "2 bytes a parameter against 4");
  // back in as a bf16 copy: the same bytes; as fp32: exactly the rounded values
  assert.equal(Policy.fromSafetensors(b16, odd, "bf16").digest(), h.digest());
  assert.ok(bits(Policy.fromSafetensors(b16, odd).params()).equals(bits(r.params())));
  assert.ok(Buffer.from(h.toSafetensors("f32")).equals(Buffer.from(r.toSafetensors())), "a bf16 copy's F32 bytes are the rounded model's");
  // fp32 bytes loaded as bf16 are rounded on the way in
  assert.equal(Policy.fromSafetensors(f32, odd, "bf16").digest(), h.digest());
  // a folder on disk
  const dir = mkdtempSync(join(tmpdir(), "zs-bf16-"));
  try {
    await h.save(dir);
    const back = await Policy.load(dir, "bf16");
    assert.equal(back.dtype, "bf16");
    assert.equal(back.digest(), h.digest());
    assert.equal((await Policy.load(dir)).digest("bf16"), h.digest());
    assert.equal(h.clone().dtype, "bf16");
    assert.equal(h.clone("f32").digest(), r.digest());
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test("a bf16 copy is frozen: training it is refused, naming why", async () => {
  const { h } = trio(9);
  const frozen = /bf16 copy of a model is frozen/;
  const tokens = randTokens(6, odd.vocab_size, 4), seqLens = Int32Array.of(6);
  await assert.rejects(h.accumulate({ tokens, seqLens, lossMask: new Float32Array(6).fill(1) }, { kind: "ce", globalTokens: 6 }), frozen);
  assert.throws(() => h.zeroGrad(), frozen);
  assert.throws(() => h.setParams(h.params()), frozen);
  assert.throws(() => h.grads(), frozen);
  assert.throws(() => new AdamW(h, { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0 }), frozen);
  assert.throws(() => Policy.fromSafetensors(h.toSafetensors(), odd, "f16" as never), /expected "f32" or "bf16" for dtype/);
});
