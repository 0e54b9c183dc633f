// The engine digest of digest.test.ts (and of its ZS_KERNELS child, digest-child.ts): pretraining steps,
// GRPO steps on sampled completions and a last sampling call, hashed with the final weights.
import { createHash } from "node:crypto";
import { AdamW, Policy, type ComputeDtype, type Qwen2Config } from "../../native/index.ts";
import { randTokens } from "./helpers.ts";

const cfg: Qwen2Config = {
  vocab_size: 300, hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16,
  intermediate_size: 96, rope_theta: 10000, rms_norm_eps: 1e-6, tie_word_embeddings: false, max_position_embeddings: 256,
};

/** Pretraining steps (CE + AdamW), two GRPO steps on sampled completions, a last sampling call. */
export async function engineDigest(compute: ComputeDtype = "f32"): Promise<string> {
  const h = createHash("sha256");
  const p = Policy.init(cfg, 11, 0.05).withCompute(compute);
  const opt = new AdamW(p, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.01 });
  const seqLens = Int32Array.from([37, 70, 5, 33]);
  const N = seqLens.reduce((s, x) => s + x, 0);
  for (let step = 0; step < 4; step++) {
    const tokens = randTokens(N, cfg.vocab_size, 100 + step);
    const lossMask = new Float32Array(N).fill(1);
    p.zeroGrad();
    const st = await p.accumulate({ tokens, seqLens, lossMask }, { kind: "ce", globalTokens: N });
    const { gradNorm } = await opt.step({ lr: 3e-3, clipGrad: 1 });
    h.update(`${st.loss}|${gradNorm}|`);
  }
  const prompt = randTokens(9, cfg.vocab_size, 7);
  for (let step = 0; step < 3; step++) {
    const out = await p.sample({ prompts: [prompt, prompt, prompt, prompt], seeds: [1, 2, 3, 4].map((s) => s + 10 * step),
      temperature: 1, topP: 0.95, topK: 50, maxNewTokens: 24, stopTokenIds: [0] });
    for (const o of out) h.update(o.tokens).update(new Uint8Array(o.logprobs.buffer)).update(o.finish);
    if (step === 2) break;
    const lens = Int32Array.from(out.map((o) => prompt.length + o.tokens.length));
    const tokens = Int32Array.from(out.flatMap((o) => [...prompt, ...o.tokens]));
    const lossMask = Float32Array.from(out.flatMap((o) => [...prompt].map(() => 0).concat([...o.tokens].map(() => 1))));
    const oldLogprobs = await p.logprobs({ tokens, seqLens: lens });
    const advantages = Float32Array.from(out.flatMap((o, i) => Array(prompt.length + o.tokens.length).fill(i % 2 ? 1 : -1)));
    const T = lossMask.reduce((s, x) => s + x, 0);
    p.zeroGrad();
    const st = await p.accumulate({ tokens, seqLens: lens, lossMask, advantages, oldLogprobs, refLogprobs: oldLogprobs },
      { kind: "grpo", clipLow: 0.2, clipHigh: 0.28, klCoef: 0.01, klEstimator: "k3", aggregation: "token-mean",
        temperature: 1, globalTokens: T, globalSeqs: 4, maxResponseLength: 24 });
    const { gradNorm } = await opt.step({ lr: 1e-3, clipGrad: 1 });
    h.update(`${st.loss}|${gradNorm}|`);
  }
  h.update(p.toSafetensors());
  p.dispose();
  return "sha256:" + h.digest("hex");
}

