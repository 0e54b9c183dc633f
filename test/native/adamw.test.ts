// AdamW against a hand-written PyTorch-semantics reference, global-norm clipping, and the exact
// state round trip.
import assert from "node:assert/strict";
import { test } from "node:test";
import { AdamW, Policy } from "../../native/index.ts";
import { randTokens, tiny } from "./helpers.ts";

async function grads(p: Policy, seed: number) {
  const tokens = randTokens(12, tiny.vocab_size, seed), seqLens = Int32Array.from([12]);
  const lossMask = new Float32Array(12).fill(1); lossMask[0] = 0;
  p.zeroGrad();
  await p.accumulate({ tokens, seqLens, lossMask }, { kind: "ce", globalTokens: 11 });
}

test("AdamW step matches the reference (decay on >= 2-D tensors only, bias correction, clipping)", async () => {
  const p = Policy.init(tiny, 1, 0.05);
  const o = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
  const opt = new AdamW(p, o);
  const w0 = p.params();
  await grads(p, 2);
  const g = p.grads();
  const norm = Math.sqrt(g.reduce((s, x) => s + x * x, 0));
  const clip = norm / 2, lr = 1e-2;
  const { gradNorm } = await opt.step({ lr, clipGrad: clip });
  assert.ok(Math.abs(gradNorm - norm) < 1e-6 * norm);
  assert.equal(opt.t, 1);
  const w1 = p.params(), scale = clip / (norm + 1e-6);
  let worst = 0;
  for (const t of p.tensorTable()) {
    for (let i = t.offset; i < t.offset + t.numel; i++) {
      const gi = g[i] * scale, m = (1 - o.beta1) * gi, v = (1 - o.beta2) * gi * gi;
      const mh = m / (1 - o.beta1), vh = v / (1 - o.beta2);
      const ref = w0[i] * (1 - lr * (t.decay ? o.weightDecay : 0)) - lr * mh / (Math.sqrt(vh) + o.eps);
      worst = Math.max(worst, Math.abs(w1[i] - ref));
    }
  }
  console.log(`  AdamW one step: max-abs vs reference ${worst.toExponential(2)}`);
  assert.ok(worst < 1e-6);
  assert.deepEqual(p.grads(), g, "step zeroes nothing");
});

test("AdamW toBytes/fromBytes is an exact round trip", async () => {
  const o = { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.01 };
  const a = Policy.init(tiny, 3, 0.05), opt = new AdamW(a, o);
  for (let s = 0; s < 2; s++) { await grads(a, 10 + s); await opt.step({ lr: 1e-3, clipGrad: 1 }); }
  const b = a.clone(), optB = AdamW.fromBytes(b, opt.toBytes());
  assert.equal(optB.t, 2);
  assert.deepEqual(optB.toBytes(), opt.toBytes());
  for (const [p, q] of [[a, opt], [b, optB]] as const) { await grads(p, 20); await q.step({ lr: 1e-3, clipGrad: 1 }); }
  assert.equal(a.digest(), b.digest());
  assert.throws(() => AdamW.fromBytes(Policy.init({ ...tiny, hidden_size: 16 }, 1), opt.toBytes()), /parameters/);
});

test("AdamW toSource reads the bytes of toBytes in any slices; the moments are m then v, after the header", async () => {
  const o = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.01 };
  const p = Policy.init(tiny, 5, 0.05), opt = new AdamW(p, o);
  await grads(p, 7);
  const g = p.grads();
  await opt.step({ lr: 1e-3, clipGrad: 0 });
  const bytes = opt.toBytes(), src = opt.toSource();
  assert.equal(src.size, bytes.length);
  // sequential slices of awkward sizes, crossing the header/m and m/v boundaries
  for (const slice of [1, 7, 4093, bytes.length]) {
    const got = new Uint8Array(bytes.length);
    for (let off = 0; off < bytes.length; off += slice) src.read(off, got.subarray(off, Math.min(off + slice, bytes.length)));
    assert.ok(Buffer.from(got).equals(Buffer.from(bytes)), `slices of ${slice} bytes`);
  }
  assert.throws(() => src.read(bytes.length - 3, new Uint8Array(4)), /outside/);
  // the layout, independently: one step from zero moments without clipping, m = (1-β1)·g, v = (1-β2)·g²
  const hl = Buffer.from(bytes).readUInt32LE(8), body = 12 + hl, n = p.numParams;
  assert.equal(Buffer.from(bytes.subarray(0, 8)).toString(), "ZSADAMW1");
  assert.equal(bytes.length, body + 8 * n);
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  let worst = 0;
  for (let i = 0; i < n; i += 97) {
    const m = view.getFloat32(body + 4 * i, true), v = view.getFloat32(body + 4 * (n + i), true);
    worst = Math.max(worst, Math.abs(m - 0.1 * g[i]) / (Math.abs(0.1 * g[i]) + 1e-12), Math.abs(v - 0.05 * g[i] * g[i]) / (0.05 * g[i] * g[i] + 1e-20));
  }
  assert.ok(worst < 1e-5, `moments vs (1-β)·g: worst relative error ${worst}`);
});
