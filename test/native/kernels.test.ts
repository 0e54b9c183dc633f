// Each optimised kernel against its _ref twin, and every backward against finite differences of
// its forward (loss = <r, out> for a fixed random r).
import assert from "node:assert/strict";
import { test } from "node:test";
import { kernels } from "../../native/index.ts";
import { dot, errors, fd, randArray, randTokens } from "./helpers.ts";

const k = kernels();

function checkFd(name: string, f: () => number, x: Float32Array, g: Float32Array, eps: number, tol: number): void {
  let worst = 0;
  const idx = Array.from({ length: Math.min(24, x.length) }, (_, i) => Math.floor((i * 7919) % x.length));
  for (const i of idx) {
    const num = fd(f, x, i, eps);
    worst = Math.max(worst, Math.abs(num - g[i]) / (Math.abs(g[i]) + 1e-2));
  }
  console.log(`  ${name}: finite-difference worst relative error ${worst.toExponential(2)}`);
  assert.ok(worst < tol, `${name}: finite differences disagree (${worst})`);
}

test("matmul: optimised vs _ref on odd shapes, forward and backward", () => {
  for (const [N, I, O] of [[1, 5, 3], [7, 33, 17], [50, 64, 40], [13, 300, 70]]) {
    const x = randArray(N * I, 1), w = randArray(O * I, 2), b = randArray(O, 3);
    const a = new Float32Array(N * O), r = new Float32Array(N * O);
    k.matmul(false, a, x, w, b, N, I, O); k.matmul(true, r, x, w, b, N, I, O);
    const e = errors(a, r);
    console.log(`  matmul ${N}x${I}x${O}: max-abs ${e.maxAbs.toExponential(2)} rel ${e.rel.toExponential(2)}`);
    assert.ok(e.rel < 1e-5);
    const dout = randArray(N * O, 4);
    const d1 = [new Float32Array(N * I), new Float32Array(O * I), new Float32Array(O)];
    const d2 = [new Float32Array(N * I), new Float32Array(O * I), new Float32Array(O)];
    k.matmulBackward(false, d1[0], d1[1], d1[2], dout, x, w, N, I, O);
    k.matmulBackward(true, d2[0], d2[1], d2[2], dout, x, w, N, I, O);
    for (let j = 0; j < 3; j++) assert.ok(errors(d1[j], d2[j]).rel < 1e-5, `matmul backward part ${j}`);
  }
});

/** Forward, dX (accumulated onto 0.5) and dW of one shape with a GEMM switch set (restored after): set returns the previous value. */
function productsWith<T>(set: (v: T) => T, v: T, [N, I, O]: number[], seed: number): Float32Array[] {
  const x = randArray(N * I, seed), w = randArray(O * I, seed + 1), dout = randArray(N * O, seed + 2);
  const before = set(v);
  try {
    const y = new Float32Array(N * O), dx = new Float32Array(N * I).fill(0.5), dw = new Float32Array(O * I);
    k.matmul(false, y, x, w, null, N, I, O);
    k.matmulBackward(false, dx, dw, null, dout, x, w, N, I, O);
    return [y, dx, dw];
  } finally { set(before); }
}

function assertSameBits(a: Float32Array[], b: Float32Array[]): void {
  for (let j = 0; j < 3; j++) assert.deepEqual(Buffer.from(a[j].buffer), Buffer.from(b[j].buffer), `product ${j}`);
}

test("matmul: wide row blocks (B past the threshold) give the bits of narrow ones; bad thresholds are refused", () => {
  const wideRows = (bytes: number): number => k.setWideRowBytes(bytes);
  assertSameBits(productsWith(wideRows, 0, [401, 96, 70], 11), productsWith(wideRows, 1.9e19, [401, 96, 70], 11));
  assert.throws(() => k.setWideRowBytes(-1), /setWideRowBytes: expected bytes >= 0/);
});

test("matmul: fp32 A read in place (avx512 sets) gives the bits of packed A", () => {
  const inPlace = (on: boolean): boolean => k.setUnpackedA(on);
  const shape = [203, 300, 70];  // rows past a row block, k past one k block, a column tail
  assertSameBits(productsWith(inPlace, true, shape, 14), productsWith(inPlace, false, shape, 14));
});

test("matmul backward matches finite differences", () => {
  const N = 6, I = 9, O = 5;
  const x = randArray(N * I, 5), w = randArray(O * I, 6), b = randArray(O, 7), r = randArray(N * O, 8);
  const out = new Float32Array(N * O);
  const f = () => { k.matmul(true, out, x, w, b, N, I, O); return dot(out, r); };
  const din = new Float32Array(N * I), dw = new Float32Array(O * I), db = new Float32Array(O);
  k.matmulBackward(false, din, dw, db, r, x, w, N, I, O);
  checkFd("matmul din", f, x, din, 1e-2, 1e-3);
  checkFd("matmul dw", f, w, dw, 1e-2, 1e-3);
  checkFd("matmul db", f, b, db, 1e-2, 1e-3);
});

test("rmsnorm: optimised vs _ref and finite differences", () => {
  const N = 5, C = 37;
  const x = randArray(N * C, 9), w = randArray(C, 10), r = randArray(N * C, 11);
  const o1 = new Float32Array(N * C), o2 = new Float32Array(N * C), s1 = new Float32Array(N), s2 = new Float32Array(N);
  k.rmsnorm(false, o1, s1, x, w, N, C, 1e-6); k.rmsnorm(true, o2, s2, x, w, N, C, 1e-6);
  assert.ok(errors(o1, o2).rel < 1e-6);
  const din = new Float32Array(N * C), dw = new Float32Array(C), din2 = new Float32Array(N * C), dw2 = new Float32Array(C);
  k.rmsnormBackward(false, din, dw, r, x, s1, w, N, C);
  k.rmsnormBackward(true, din2, dw2, r, x, s1, w, N, C);
  assert.ok(errors(din, din2).rel < 1e-5 && errors(dw, dw2).rel < 1e-5);
  const f = () => { k.rmsnorm(true, o2, s2, x, w, N, C, 1e-6); return dot(o2, r); };
  checkFd("rmsnorm din", f, x, din, 1e-2, 3e-3);
  checkFd("rmsnorm dw", f, w, dw, 1e-2, 3e-3);
});

test("swiglu: optimised vs _ref and finite differences", () => {
  const N = 4, F = 19;
  const gu = randArray(N * 2 * F, 12, 3), r = randArray(N * F, 13);
  const o1 = new Float32Array(N * F), o2 = new Float32Array(N * F);
  k.swiglu(false, o1, gu, N, F); k.swiglu(true, o2, gu, N, F);
  assert.ok(errors(o1, o2).rel < 1e-6);
  const d1 = new Float32Array(N * 2 * F), d2 = new Float32Array(N * 2 * F);
  k.swigluBackward(false, d1, r, gu, N, F); k.swigluBackward(true, d2, r, gu, N, F);
  assert.ok(errors(d1, d2).rel < 1e-5);
  checkFd("swiglu", () => { k.swiglu(true, o2, gu, N, F); return dot(o2, r); }, gu, d1, 1e-3, 2e-3);
});

test("rope: backward is the inverse rotation and matches finite differences", () => {
  const N = 6, heads = 3, D = 8;
  const x = randArray(N * heads * D, 14), pos = Int32Array.from([0, 1, 2, 5, 9, 100]), r = randArray(N * heads * D, 15);
  const y = x.slice();
  k.rope(y, pos, N, heads, D, 10000, false);
  assert.equal(y.slice(0, D).join(), x.slice(0, D).join(), "position 0 is the identity");
  const back = y.slice();
  k.rope(back, pos, N, heads, D, 10000, true);
  assert.ok(errors(back, x).maxAbs < 1e-6);
  const g = r.slice();
  k.rope(g, pos, N, heads, D, 10000, true);
  checkFd("rope", () => { const t = x.slice(); k.rope(t, pos, N, heads, D, 10000, false); return dot(t, r); }, x, g, 1e-2, 1e-3);
});

test("attention: optimised vs _ref (packed, GQA) and finite differences", () => {
  // lengths cover every remainder of the 8- and 32-key blocking
  const H = 4, KVH = 2, D = 8, seqLens = Int32Array.from([5, 1, 7, 33, 26, 70]), N = 142, QKV = (H + 2 * KVH) * D;
  const qkv = randArray(N * QKV, 16), r = randArray(N * H * D, 17);
  const o1 = new Float32Array(N * H * D), o2 = new Float32Array(N * H * D), lse = new Float32Array(N * H);
  k.attention(false, o1, lse, qkv, seqLens, H, KVH, D); k.attention(true, o2, lse.slice(), qkv, seqLens, H, KVH, D);
  const e = errors(o1, o2);
  console.log(`  attention: max-abs ${e.maxAbs.toExponential(2)} rel ${e.rel.toExponential(2)}`);
  assert.ok(e.rel < 1e-5);
  const dqkv = new Float32Array(N * QKV);
  k.attentionBackward(dqkv, r, o1, lse, qkv, seqLens, H, KVH, D);
  const f = () => { k.attention(true, o2, lse.slice(), qkv, seqLens, H, KVH, D); return dot(o2, r); };
  checkFd("attention dq/dk/dv", f, qkv, dqkv, 1e-2, 2e-3);
});

test("attention backward on a long sequence (row-at-a-time path past 512 tokens) matches finite differences", () => {
  const H = 2, KVH = 1, D = 8, seqLens = Int32Array.from([530]), N = 530, QKV = (H + 2 * KVH) * D;
  const qkv = randArray(N * QKV, 26), r = randArray(N * H * D, 27);
  const o1 = new Float32Array(N * H * D), o2 = new Float32Array(N * H * D), lse = new Float32Array(N * H);
  k.attention(false, o1, lse, qkv, seqLens, H, KVH, D);
  k.attention(true, o2, lse.slice(), qkv, seqLens, H, KVH, D);
  assert.ok(errors(o1, o2).rel < 1e-5, "optimised vs _ref at T=530");
  const dqkv = new Float32Array(N * QKV);
  k.attentionBackward(dqkv, r, o1, lse, qkv, seqLens, H, KVH, D);
  const f = () => { k.attention(false, o2, lse.slice(), qkv, seqLens, H, KVH, D); return dot(o2, r); };
  checkFd("attention (T=530) dq/dk/dv", f, qkv, dqkv, 1e-2, 5e-3);
});

test("logprob: optimised vs _ref, entropy, and finite differences of the backward", () => {
  const V = 23, seqLens = Int32Array.from([4, 3]), N = 7, T = 0.7;
  const logits = randArray(N * V, 18, 3), tokens = randTokens(N, V, 19);
  const lp1 = new Float32Array(N), e1 = new Float32Array(N), lp2 = new Float32Array(N), e2 = new Float32Array(N);
  k.logprob(false, lp1, e1, logits, tokens, seqLens, V, T); k.logprob(true, lp2, e2, logits, tokens, seqLens, V, T);
  assert.ok(errors(lp1, lp2).maxAbs < 1e-5 && errors(e1, e2).maxAbs < 1e-5);
  assert.equal(lp1[0], 0); assert.equal(lp1[4], 0);
  const dlp = randArray(N, 20), dl = new Float32Array(N * V);
  k.logprobBackward(dl, dlp, logits, tokens, seqLens, V, T);
  const f = () => { k.logprob(true, lp2, e2, logits, tokens, seqLens, V, T); return dot(lp2, dlp); };
  checkFd("logprob", f, logits, dl, 1e-2, 2e-3);
});

test("sampleRow: greedy, top-k 1, top-p and full-vocabulary log-probs, for the kernel and its twin", () => {
  const z = Float32Array.from([0.1, 2.0, -1.0, 1.5, 0.3]);
  const lse = Math.log(z.reduce((s, x) => s + Math.exp(x), 0));
  const p = Array.from(z, (x) => Math.exp(x - lse));  // 0.076, 0.509, 0.025, 0.309, 0.093
  for (const ref of [false, true]) {
    const [g, glp] = k.sampleRow(ref, z, 0, 1, 0, 0.5);
    assert.equal(g, 1);
    assert.ok(Math.abs(glp - (2.0 - lse)) < 1e-6);
    for (const u of [0, 0.3, 0.99]) assert.equal(k.sampleRow(ref, z, 1, 1, 1, u)[0], 1, "top-k 1 is greedy");
    // top-p 0.5: token 1 alone holds 0.509 >= 0.5, so every draw is token 1
    assert.ok(p[1] >= 0.5);
    for (const u of [0, 0.5, 0.999]) assert.equal(k.sampleRow(ref, z, 1, 0.5, 0, u)[0], 1, "top-p 0.5 keeps token 1 alone");
    // top-p 0.8: tokens 1 and 3 (0.818); u splits them at 0.509 / 0.818
    assert.equal(k.sampleRow(ref, z, 1, 0.8, 0, 0.6)[0], 1);
    assert.equal(k.sampleRow(ref, z, 1, 0.8, 0, 0.7)[0], 3);
    // nothing cut: the draw walks the vocabulary in index order (0, 1, 2, ...)
    assert.equal(k.sampleRow(ref, z, 1, 1, 0, 0.05)[0], 0);
    assert.equal(k.sampleRow(ref, z, 1, 1, 0, 0.59)[0], 2);
    const [t, lp] = k.sampleRow(ref, z, 1, 0.8, 0, 0.999);
    assert.ok(Math.abs(lp - (z[t] - lse)) < 1e-6, "log-prob over the full vocabulary, not the truncated set");
  }
});

// sample_row against sample_row_ref, a plain twin written from the contract (double precision, one
// full sort): many rows and every edge. Tokens must agree unless the twin's draw or top-p cut sat
// within float rounding of an edge (its margin < 1e-6: by design for some cuts of the all-tied row,
// else at most 1 in 1000 draws); log-probs within 1e-5.
test("sampleRow: the optimised kernel agrees with its independent twin on many rows (ties, top-k/top-p edges, greedy)", () => {
  let draws = 0, ambiguous = 0, worst = 0;
  for (const V of [3, 50, 400]) {
    const rows: Float32Array[] = [randArray(V, 100 + V, 4)];
    rows.push(rows[0].map((x) => Math.round(x * 2) / 2));           // many exact ties
    rows.push(Float32Array.from(rows[0], (x, i) => (i === 7 % V ? x + 15 : x)));  // nearly all mass on one token
    rows.push(new Float32Array(V));                                   // all tied
    for (const z of rows) {
      const allTied = z.every((x) => x === z[0]);
      for (const T of [0, 0.25, 1, 2])
        for (const topK of [-1, 0, 1, 2, 5, V - 1, V, V + 3])
          for (const topP of [1, 0.999, 0.95, 0.5, 0.05, 1e-7])
            for (let j = 0; j < 8; j++) {
              const u = j === 0 ? 0 : ((draws * 0.6180339887498949) % 1);
              const [t1, lp1] = k.sampleRow(false, z, T, topP, topK, u);
              const [t2, lp2, margin] = k.sampleRow(true, z, T, topP, topK, u);
              draws++;
              if (t1 !== t2) {
                assert.ok(margin < 1e-6, `V=${V} T=${T} topP=${topP} topK=${topK} u=${u}: token ${t1}, twin ${t2} (margin ${margin})`);
                if (!allTied) ambiguous++;  // all tied: top-p 0.5 of 50 equal tokens cuts exactly on an edge, by design
                continue;
              }
              const e = Math.abs(lp1 - lp2) / Math.max(1, Math.abs(lp2));
              worst = Math.max(worst, e);
              assert.ok(e <= 1e-5, `V=${V} T=${T}: log-prob ${lp1}, twin ${lp2}`);
            }
    }
  }
  console.log(`  ${draws} draws: tokens equal in all but ${ambiguous} within rounding of an edge; log-prob worst rel ${worst.toExponential(2)}`);
  assert.ok(ambiguous * 1000 <= draws, `${ambiguous} of ${draws} draws disagreed within rounding of an edge`);
});
