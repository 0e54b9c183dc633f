// Weight deltas (streams/weights-delta.ts): a patch of the changed 16-bit words rebuilds the target byte for
// byte, whatever the density and the gaps; it refuses another base, a corrupted body and unequal sizes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { sha256 } from "../../streams/eventlog.ts";
import { WeightsDeltaError, applyDelta, deltaHeader, encodeDelta } from "../../streams/weights-delta.ts";

function rng(seed: number) { let s = seed >>> 0 || 1; return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32); }
function words(n: number, seed: number): Uint8Array {
  const r = rng(seed), w = new Uint16Array(n);
  for (let i = 0; i < n; i++) w[i] = Math.floor(r() * 65536);
  return new Uint8Array(w.buffer);
}
function changed(base: Uint8Array, idx: number[], seed: number): Uint8Array {
  const out = new Uint8Array(base), w = new Uint16Array(out.buffer), r = rng(seed);
  for (const i of idx) w[i] = (w[i] + 1 + Math.floor(r() * 65000)) & 0xffff;
  return out;
}

test("a patch rebuilds the target byte for byte: sparse, dense, none, the first and last words, gaps past 2^21", () => {
  const n = 3_000_000, base = words(n, 1), r = rng(2);
  const cases: Record<string, number[]> = {
    none: [],
    sparse: Array.from({ length: n }, (_, i) => i).filter(() => r() < 0.01),
    dense: Array.from({ length: n }, (_, i) => i),
    ends: [0, n - 1],
    "long gaps": [5, 2_500_000, 2_999_000],
  };
  for (const [name, idx] of Object.entries(cases)) {
    const next = changed(base, idx, 3);
    const d = encodeDelta(base, next);
    assert.equal(d.header.changed, idx.length, name);
    assert.deepEqual(deltaHeader(d.bytes), d.header);
    const out = applyDelta(base, d.bytes);
    assert.ok(Buffer.from(out.bytes).equals(Buffer.from(next)), name);
    assert.equal(out.digest, sha256(next));
    if (name === "sparse") assert.ok(d.bytes.length < 0.05 * next.length, `1 % of the words changed: ${d.bytes.length} B of ${next.length}`);
  }
  assert.ok(Buffer.from(base).equals(Buffer.from(words(n, 1))), "the base is left as it was");
});

test("a patch refuses another base, a corrupted body, unequal or odd sizes, naming what is wrong", () => {
  const base = words(10_000, 4), next = changed(base, [3, 700, 9_999], 5);
  const d = encodeDelta(base, next);
  const other = words(10_000, 6);
  assert.throws(() => applyDelta(other, d.bytes), (e: unknown) => e instanceof WeightsDeltaError && /applies to sha256:[0-9a-f]{64}, not to sha256:/.test((e as Error).message));
  assert.throws(() => applyDelta(other, d.bytes, d.header.base), /gives sha256:[0-9a-f]{64}, not its target/);  // told the wrong base's digest
  const bad = new Uint8Array(d.bytes);
  bad[bad.length - 1] ^= 0xff;
  assert.throws(() => applyDelta(base, bad), WeightsDeltaError);
  assert.throws(() => applyDelta(base, new Uint8Array(20)), /no ZSDELTA1 magic/);
  assert.throws(() => encodeDelta(base, base.subarray(0, 100)), /one size: 20000 and 100/);
  assert.throws(() => encodeDelta(base.subarray(0, 3), next.subarray(0, 3)), /odd/);
});

test("the same patch whatever the alignment of the byte strings (pairs compared at once when 4-byte aligned, word by word otherwise), odd word counts too", () => {
  for (const n of [1, 2, 7, 1001]) {
    const base = words(n, 11), idx = [0, n - 1, Math.floor(n / 2), Math.floor(n / 3)].filter((v, i, a) => a.indexOf(v) === i);
    const next = changed(base, idx, 12);
    const ref = encodeDelta(base, next);
    assert.equal(ref.header.changed, idx.length);
    for (const off of [1, 2, 3, 4]) {
      // the same bytes at an offset inside a larger buffer
      const at = (x: Uint8Array) => { const buf = new Uint8Array(x.length + 8); buf.set(x, off); return buf.subarray(off, off + x.length); };
      const d = encodeDelta(at(base), at(next));
      assert.deepEqual(Buffer.from(d.bytes), Buffer.from(ref.bytes), `n ${n}, offset ${off}`);
      assert.deepEqual(Buffer.from(applyDelta(at(base), d.bytes).bytes), Buffer.from(next));
    }
  }
});
