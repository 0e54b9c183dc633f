// Shared helpers of the native engine tests: tiny configs, a safetensors reader, error metrics.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Qwen2Config } from "../../native/index.ts";

export const fixtures = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "native");

export const tiny: Qwen2Config = {
  vocab_size: 40, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8,
  intermediate_size: 48, rope_theta: 10000, rms_norm_eps: 1e-6, tie_word_embeddings: true, max_position_embeddings: 128,
};

/** Deterministic pseudo-random numbers in [-1, 1) (tests only). */
export function rand(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return (s / 4294967296) * 2 - 1;
  };
}
export function randArray(n: number, seed: number, scale = 1): Float32Array {
  const r = rand(seed);
  return Float32Array.from({ length: n }, () => r() * scale);
}
export function randTokens(n: number, V: number, seed: number): Int32Array {
  const r = rand(seed);
  return Int32Array.from({ length: n }, () => Math.floor(((r() + 1) / 2) * V) % V);
}

export type Tensor = { dtype: string; shape: number[]; data: Float32Array | Int32Array | Uint8Array };
export function readSafetensors(path: string): Map<string, Tensor> {
  const buf = readFileSync(path);
  const hl = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + hl).toString()) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out = new Map<string, Tensor>();
  for (const [name, e] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const bytes = buf.subarray(8 + hl + e.data_offsets[0], 8 + hl + e.data_offsets[1]);
    const copy = new Uint8Array(bytes);
    const data = e.dtype === "F32" ? new Float32Array(copy.buffer) : e.dtype === "I32" ? new Int32Array(copy.buffer) : copy;
    out.set(name, { dtype: e.dtype, shape: e.shape, data });
  }
  return out;
}

/** max |a-b|, and that divided by max |b| (norm-wise relative error). */
export function errors(a: ArrayLike<number>, b: ArrayLike<number>): { maxAbs: number; rel: number } {
  let maxAbs = 0, ref = 0;
  for (let i = 0; i < b.length; i++) { maxAbs = Math.max(maxAbs, Math.abs(a[i] - b[i])); ref = Math.max(ref, Math.abs(b[i])); }
  return { maxAbs, rel: maxAbs / (ref || 1) };
}

export function sumLens(l: Int32Array): number { return l.reduce((s, x) => s + x, 0); }

/** Central finite difference of f at x[i]. */
export function fd(f: () => number, x: Float32Array, i: number, eps: number): number {
  const x0 = x[i];
  x[i] = x0 + eps; const a = f();
  x[i] = x0 - eps; const b = f();
  x[i] = x0;
  return (a - b) / (2 * eps);
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
