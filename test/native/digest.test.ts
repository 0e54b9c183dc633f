// A pinned digest of the engine: the same bits on every x86-64 machine we run on (AVX2-only
// laptops, AMD Zen 4, Intel Xeon with AVX-512/AMX), whatever the thread count. The addon is built
// for x86-64-v3 (AVX2 + FMA) and picks nothing by CPU, so its arithmetic is the same instruction
// stream everywhere; this test is what notices when that stops being true (a kernel chosen at run
// time, -march=native, a libm variant). A change that is meant to change the numbers updates PINNED
// and says so in its commit, naming the machines it was checked on.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { execSync } from "node:child_process";
import { test } from "node:test";
import { AdamW, Policy, checkCpu, getThreads, setThreads, type ComputeDtype, type Qwen2Config } from "../../native/index.ts";
import { randTokens } from "./helpers.ts";

// First pinned on an AMD EPYC with AVX2 only (no AVX-512), 2026-11-30.
const PINNED = "sha256:cf68821b7caf539f6a0a48eaa3f7b8db83a5701e5b65b67cf70523700a08120f";
// The same steps with model.compute_dtype bf16 (emulated: fp32 FMAs on bf16-rounded operands), first pinned on
// the same AMD EPYC (AVX2 only), 2026-11-30. A kernel set with bf16 instructions would sum in another order.
const PINNED_BF16 = "sha256:67766a784f2d8d8a92e659e45d8e91468d8abc3908a195483e223629d43d06fa";

const cfg: Qwen2Config = {
  vocab_size: 300, hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16,
  intermediate_size: 96, rope_theta: 10000, rms_norm_eps: 1e-6, tie_word_embeddings: false, max_position_embeddings: 256,
};

/** Pretraining steps (CE + AdamW), two GRPO steps on sampled completions, a last sampling call. */
async function engineDigest(compute: ComputeDtype = "f32"): Promise<string> {
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

function cpu(): string {
  try { return execSync("grep -m1 'model name' /proc/cpuinfo", { encoding: "utf8" }).split(":")[1].trim(); } catch { return "unknown CPU"; }
}

test("engine digest: pinned, the same with 1 and 2 threads, on any x86-64 CPU", async () => {
  const before = getThreads();
  const digests: string[] = [];
  for (const t of [1, 2]) {
    setThreads(t);
    digests.push(await engineDigest());
  }
  setThreads(before);
  const flags = (() => { try { return execSync("grep -m1 flags /proc/cpuinfo", { encoding: "utf8" }); } catch { return ""; } })();
  console.log(`  ${cpu()} (avx512f: ${/\bavx512f\b/.test(flags)}, amx: ${/\bamx_tile\b/.test(flags)}): ${digests[0]}`);
  assert.equal(digests[1], digests[0], "1 and 2 threads gave different bits");
  assert.equal(digests[0], PINNED, "the engine's bits changed on this CPU (see the comment at the top of this file)");
});

test("engine digest, compute bf16: pinned, the same with 1 and 2 threads, not the fp32 digest", async () => {
  const before = getThreads();
  const digests: string[] = [];
  for (const t of [1, 2]) {
    setThreads(t);
    digests.push(await engineDigest("bf16"));
  }
  setThreads(before);
  console.log(`  ${cpu()}, compute bf16: ${digests[0]}`);
  assert.equal(digests[1], digests[0], "1 and 2 threads gave different bits");
  assert.notEqual(digests[0], PINNED);
  assert.equal(digests[0], PINNED_BF16, "the engine's bf16-compute bits changed on this CPU (see the comment at the top of this file)");
});

test("a CPU without AVX2/FMA is refused by name before the addon loads (no SIGILL)", () => {
  const old = "model name\t: Intel(R) Core(TM)2 Duo\nflags\t\t: fpu sse sse2 ssse3 sse4_1\n";
  assert.throws(() => checkCpu(old), /Core\(TM\)2 Duo lacks avx2, fma, bmi2, f16c/);
  assert.doesNotThrow(() => checkCpu("model name\t: X\nflags\t\t: fpu sse2 avx avx2 fma bmi2 f16c\n"));
});
