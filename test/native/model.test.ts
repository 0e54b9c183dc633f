// Whole-model checks: logits, CE loss and gradients against the PyTorch fixtures
// (scripts/make-native-fixtures.py), bf16/f16 loading, safetensors round trip, finite differences
// of the whole-model loss, micro-batch accumulation, determinism of training steps.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { AdamW, Policy, getThreads, poolWorkerItems, setThreads, type LossSpec, type Qwen2Config } from "../../native/index.ts";
import { parseModelConfig } from "../../streams/config.ts";
import { errors, fixtures, randArray, randTokens, readSafetensors, sumLens, tiny } from "./helpers.ts";

const cfg = parseModelConfig(JSON.parse(readFileSync(join(fixtures, "config.json"), "utf8")), "fixtures/config.json");
const expected = readSafetensors(join(fixtures, "expected.safetensors"));
const tokens = expected.get("tokens")!.data as Int32Array;
const seqLens = expected.get("seq_lens")!.data as Int32Array;
const ceMask = (lens: Int32Array) => {
  const m = new Float32Array(sumLens(lens)).fill(1);
  let at = 0;
  for (const l of lens) { m[at] = 0; at += l; }
  return m;
};

test("fixtures: logits, CE loss and gradients match PyTorch (float64 reference)", async () => {
  const p = await Policy.load(fixtures);
  const logits = await p.forward({ tokens, seqLens });
  const el = errors(logits, expected.get("logits")!.data as Float32Array);
  console.log(`  logits: max-abs ${el.maxAbs.toExponential(2)} rel ${el.rel.toExponential(2)}`);
  assert.ok(el.rel < 1e-5, `logits relative error ${el.rel}`);
  const mask = ceMask(seqLens);
  p.zeroGrad();
  const st = await p.accumulate({ tokens, seqLens, lossMask: mask }, { kind: "ce", globalTokens: mask.reduce((s, x) => s + x, 0) });
  const loss = (expected.get("loss")!.data as Float32Array)[0];
  console.log(`  loss: ours ${st.loss} torch ${loss} rel ${(Math.abs(st.loss - loss) / loss).toExponential(2)}`);
  assert.ok(Math.abs(st.loss - loss) / loss < 1e-5);
  const g = p.grads();
  let worst = 0;
  for (const t of p.tensorTable()) {
    const ref = expected.get("grad." + t.name)!.data as Float32Array;
    const e = errors(g.subarray(t.offset, t.offset + t.numel), ref);
    worst = Math.max(worst, e.rel);
    if (e.rel > 1e-5) console.log(`  grad ${t.name}: max-abs ${e.maxAbs.toExponential(2)} rel ${e.rel.toExponential(2)}`);
  }
  console.log(`  gradients: worst per-tensor relative error ${worst.toExponential(2)}`);
  assert.ok(worst < 1e-5, `gradient relative error ${worst}`);
});

test("fixtures: bf16 and f16 files load as their fp32 roundings", async () => {
  const f32 = await Policy.load(fixtures);
  const full = f32.params();
  for (const [file, tol] of [["model.bf16.safetensors", 2 ** -8], ["model.f16.safetensors", 2 ** -11]] as const) {
    const p = Policy.fromSafetensors(readFileSync(join(fixtures, file)), cfg);
    const e = errors(p.params(), full);
    assert.ok(e.maxAbs > 0 && e.rel < tol, `${file}: ${e.rel}`);
    const logits = await p.forward({ tokens, seqLens });
    console.log(`  ${file}: weights rel ${e.rel.toExponential(2)}, logits vs torch fp32 rel ${errors(logits, expected.get("logits")!.data as Float32Array).rel.toExponential(2)}`);
  }
});

test("safetensors round trip: save/load/clone keep weights, digest and bytes", async () => {
  const p = Policy.init(tiny, 7);
  const bytes = p.toSafetensors();
  assert.deepEqual(Policy.fromSafetensors(bytes, tiny).toSafetensors(), bytes);
  const dir = mkdtempSync(join(tmpdir(), "zs-native-"));
  try {
    await p.save(dir);
    const q = await Policy.load(dir);
    assert.equal(q.digest(), p.digest());
    assert.equal(p.clone().digest(), p.digest());
    assert.notEqual(Policy.init(tiny, 8).digest(), p.digest());
    assert.match(p.digest(), /^sha256:[0-9a-f]{64}$/);
    const names = [...readSafetensors(join(dir, "model.safetensors")).keys()];
    assert.ok(names.includes("model.layers.1.self_attn.q_proj.bias") && !names.includes("lm_head.weight"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => Policy.fromSafetensors(bytes.subarray(0, 100), tiny));
});

const grpo = (agg: "token-mean" | "seq-mean-token-mean" | "seq-mean-token-sum-norm", G: number, S: number): LossSpec =>
  ({ kind: "grpo", clipLow: 0.2, clipHigh: 0.28, klCoef: 0.1, klEstimator: "k3", aggregation: agg, temperature: 0.9, globalTokens: G, globalSeqs: S, maxResponseLength: 8 });

function grpoBatch(seed: number, lens: number[]) {
  const seqLens = Int32Array.from(lens), N = sumLens(seqLens);
  const lossMask = ceMask(seqLens);
  for (let i = 0; i < N; i += 3) lossMask[i] = 0;
  let at = 0;
  for (const l of lens) { lossMask[at] = 0; at += l; }
  return { tokens: randTokens(N, tiny.vocab_size, seed), seqLens, lossMask, advantages: randArray(N, seed + 1),
    oldLogprobs: randArray(N, seed + 2, 0.3).map((x) => x - 3.7), refLogprobs: randArray(N, seed + 3, 0.3).map((x) => x - 3.7) };
}

test("whole-model gradients match finite differences (CE and GRPO losses)", async () => {
  const p = Policy.init(tiny, 3, 0.2);
  const b = grpoBatch(11, [6, 4]);
  for (const spec of [{ kind: "ce", globalTokens: 6 } as LossSpec, grpo("seq-mean-token-mean", 6, 2)]) {
    p.zeroGrad();
    await p.accumulate(b, spec);
    const g = p.grads(), w = p.params();
    const lossAt = async () => { p.setParams(w); const q = p.clone(); const s = await q.accumulate(b, spec); q.dispose(); return s.loss; };
    const order = Array.from(g.keys()).sort((i, j) => Math.abs(g[j]) - Math.abs(g[i]));
    const picks = [...order.slice(0, 6), ...order.filter((_, i) => i % 997 === 0).slice(0, 6)];
    let worst = 0;
    for (const i of picks) {
      const eps = 1e-2, w0 = w[i];
      w[i] = w0 + eps; const a = await lossAt();
      w[i] = w0 - eps; const c = await lossAt();
      w[i] = w0;
      const num = (a - c) / (2 * eps);
      worst = Math.max(worst, Math.abs(num - g[i]) / (Math.abs(g[i]) + 1e-3));
    }
    p.setParams(w);
    console.log(`  ${spec.kind}: whole-model finite-difference worst relative error ${worst.toExponential(2)}`);
    assert.ok(worst < 2e-2, `${spec.kind}: ${worst}`);
  }
});

test("gradient accumulation: two micro-batches equal one batch", async () => {
  for (const tie of [false, true]) {
    const c = { ...tiny, tie_word_embeddings: tie };
    const p = Policy.init(c, 5, 0.1);
    const a = grpoBatch(21, [7, 5]), b = grpoBatch(31, [6, 9]);
    const cat = <T extends Float32Array | Int32Array>(x: T, y: T): T => { const o = new (x.constructor as new (n: number) => T)(x.length + y.length); o.set(x); o.set(y, x.length); return o; };
    const all = { tokens: cat(a.tokens, b.tokens), seqLens: cat(a.seqLens, b.seqLens), lossMask: cat(a.lossMask, b.lossMask),
      advantages: cat(a.advantages, b.advantages), oldLogprobs: cat(a.oldLogprobs, b.oldLogprobs), refLogprobs: cat(a.refLogprobs, b.refLogprobs) };
    const G = all.lossMask.reduce((s, x) => s + x, 0);
    for (const agg of ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"] as const) {
      const spec = grpo(agg, G, 4);
      p.zeroGrad();
      const s1 = await p.accumulate(a, spec), s2 = await p.accumulate(b, spec);
      const g2 = p.grads();
      p.zeroGrad();
      const s = await p.accumulate(all, spec);
      const e = errors(g2, p.grads());
      console.log(`  tied=${tie} ${agg}: loss ${s.loss.toFixed(6)} vs ${(s1.loss + s2.loss).toFixed(6)}, gradients max-abs ${e.maxAbs.toExponential(2)} rel ${e.rel.toExponential(2)}`);
      assert.ok(Math.abs(s.loss - (s1.loss + s2.loss)) < 1e-9 * Math.max(1, Math.abs(s.loss)));
      assert.equal(s.tokens, s1.tokens + s2.tokens);
      if (!tie) assert.equal(e.maxAbs, 0, "untied: bit-identical (every reduction runs in token order)");
      else assert.ok(e.rel < 1e-6);
    }
  }
});

// Big enough that a parallel_for's items take long enough for a woken worker to get some (with the
// tiny config the caller often takes every item before a worker wakes, so nothing would show >1 thread).
const wide: Qwen2Config = { ...tiny, vocab_size: 512, hidden_size: 128, head_dim: 32, intermediate_size: 384 };

test("determinism: identical training steps give identical digests with 1 thread and with 2 and 3 (whatever the default)", async () => {
  const before = getThreads();
  const digests = new Map<string, string>();
  try {
    for (const [name, threads] of [["2 threads", 2], ["1 thread", 1], ["3 threads", 3], ["2 threads again", 2]] as const) {
      setThreads(threads);
      assert.equal(getThreads(), threads);
      const workerItems = poolWorkerItems();
      const p = Policy.init(wide, 9, 0.05);
      const opt = new AdamW(p, { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.01 });
      for (let step = 0; step < 2; step++) {
        p.zeroGrad();
        const b = grpoBatch(41 + step, [90, 120, 60]);
        await p.accumulate(b, grpo("token-mean", 270, 3));
        await opt.step({ lr: 1e-3, clipGrad: 1 });
      }
      const ranOnWorkers = poolWorkerItems() - workerItems;
      console.log(`  ${name}: ${ranOnWorkers} items ran on pool workers`);
      // the pool's workers really took part with more than one thread, and never with one
      if (threads > 1) assert.ok(ranOnWorkers > 0, `${name}: no item ran on a pool worker`);
      else assert.equal(ranOnWorkers, 0, `${name}: items ran on a pool worker`);
      digests.set(name, p.digest());
      p.dispose();
    }
  } finally {
    setThreads(before);
  }
  assert.equal(digests.get("2 threads again"), digests.get("2 threads"), "same thread count");
  assert.equal(digests.get("1 thread"), digests.get("2 threads"), "1 thread vs 2 threads");
  assert.equal(digests.get("3 threads"), digests.get("2 threads"), "3 threads vs 2 threads");
});

test("forward, logprobs and the binding's argument checks", async () => {
  const p = Policy.init(tiny, 2);
  const t = randTokens(10, tiny.vocab_size, 3), l = Int32Array.from([4, 6]);
  const logits = await p.forward({ tokens: t, seqLens: l });
  const lp = await p.logprobs({ tokens: t, seqLens: l }, 1);
  assert.equal(lp[0], 0); assert.equal(lp[4], 0);
  const V = tiny.vocab_size, row = logits.subarray(4 * V, 5 * V);  // position 5 is predicted by row 4
  const lse = Math.log(row.reduce((s, x) => s + Math.exp(x), 0));
  assert.ok(Math.abs(lp[5] - (row[t[5]] - lse)) < 1e-5);
  // a sequence's logits do not depend on its batch neighbours
  const alone = await p.forward({ tokens: t.slice(4), seqLens: Int32Array.from([6]) });
  assert.deepEqual(alone, logits.slice(4 * V));
  await assert.rejects(p.forward({ tokens: new Float32Array(10) as never, seqLens: l }), /expected Int32Array\(-?\d*\)? ?for tokens|Int32Array.*tokens/);
  await assert.rejects(p.forward({ tokens: t, seqLens: Int32Array.from([4, 5]) }), /tokens/);
  await assert.rejects(p.accumulate({ tokens: t, seqLens: l, lossMask: new Float32Array(3) }, { kind: "ce", globalTokens: 1 }), /lossMask/);
  p.dispose();
  assert.throws(() => p.digest(), /disposed/);
});

test("releaseBuffers frees a call's activations and scratch; the next calls give the same bits", async () => {
  const p = Policy.init(tiny, 11, 0.05), q = p.clone();
  const toks = randTokens(40, tiny.vocab_size, 3), seqLens = Int32Array.from([25, 15]);
  const lossMask = new Float32Array(40).fill(1);
  const before = await p.logprobs({ tokens: toks, seqLens });
  p.releaseBuffers();
  assert.deepEqual(await p.logprobs({ tokens: toks, seqLens }), before);
  for (const m of [p, q]) { m.zeroGrad(); await m.accumulate({ tokens: toks, seqLens, lossMask }, { kind: "ce", globalTokens: 40 }); }
  p.releaseBuffers();
  assert.deepEqual(p.grads(), q.grads(), "the gradients are the model's, not scratch");
  p.zeroGrad(); q.zeroGrad();
  for (const m of [p, q]) await m.accumulate({ tokens: toks, seqLens, lossMask }, { kind: "ce", globalTokens: 40 });
  assert.deepEqual(p.grads(), q.grads());
  p.dispose(); q.dispose();
});
