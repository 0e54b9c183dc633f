// Generates a model folder in Hugging Face's published layout for a Qwen2 config.json: random weights
// (or headers only, for shape-only dry runs of models too large to hold), the real tensor names and
// shapes, bf16 or f32, sharded at a size limit with model.safetensors.index.json, plus the tokenizer files.
// No weights are downloaded anywhere: this is how tests and benchmarks get checkpoints of the real shapes.
//
//   npx tsx scripts/make-checkpoint.ts --config CONFIG.json --out DIR [--dtype bf16|f32] [--shard-bytes N]
//       [--headers-only] [--seed N] [--tokenizer DIR]
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { qwen2TensorShapes, writeCheckpoint, type TensorSource, type WeightDtype } from "../native/checkpoint.ts";
import { parseModelConfig, type Qwen2Config } from "../streams/config.ts";

export type MakeOptions = {
  dtype?: WeightDtype; maxShardBytes?: number; headersOnly?: boolean; seed?: number; tokenizerDir?: string;
  /** replace a tensor's shape or drop it (tests of the loader's errors) */
  shapes?: (name: string, shape: number[]) => number[] | null;
  /** extra tensors (tests: a tied head saved anyway) */
  extra?: { name: string; shape: number[] }[];
};

/** Uniform in ±std·√3 (variance std²) from xorshift32: not Gaussian, but a checkpoint's scale, fast. */
function fill(n: number, seed: number, std: number, mean: number): Float32Array {
  const a = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  const k = std * Math.sqrt(3) / 2147483648;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    a[i] = mean + (s - 2147483648) * k;
  }
  return a;
}

/** Tensors of a random Qwen2 of this config: weights std 0.02, biases std 0.02, norms near 1. */
export function randomTensors(config: Qwen2Config, o: MakeOptions = {}): TensorSource[] {
  const out: TensorSource[] = [];
  const all = [...qwen2TensorShapes(config)].map(([name, shape]) => ({ name, shape }));
  let i = 0;
  for (const t of [...all, ...(o.extra ?? [])]) {
    const shape = o.shapes ? o.shapes(t.name, t.shape) : t.shape;
    i++;
    if (!shape) continue;
    const n = shape.reduce((a, b) => a * b, 1);
    const norm = t.name.endsWith("norm.weight");
    out.push({ name: t.name, shape, data: o.headersOnly ? null : fill(n, (o.seed ?? 0) * 100003 + i, norm ? 0.1 : 0.02, norm ? 1 : 0) });
  }
  return out;
}

export function makeCheckpoint(dir: string, config: Qwen2Config, o: MakeOptions = {}): { files: string[]; weightBytes: number } {
  return writeCheckpoint(dir, config, randomTensors(config, o), {
    dtype: o.dtype ?? "bf16", maxShardBytes: o.maxShardBytes, headersOnly: o.headersOnly, tokenizerDir: o.tokenizerDir,
    generationConfig: { bos_token_id: config.bos_token_id, eos_token_id: config.eos_token_id, do_sample: false },
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { values: a } = parseArgs({ options: {
    config: { type: "string" }, out: { type: "string" }, dtype: { type: "string", default: "bf16" },
    "shard-bytes": { type: "string" }, "headers-only": { type: "boolean", default: false }, seed: { type: "string", default: "0" },
    tokenizer: { type: "string" },
  } });
  if (!a.config || !a.out || (a.dtype !== "bf16" && a.dtype !== "f32")) {
    console.error("usage: npx tsx scripts/make-checkpoint.ts --config CONFIG.json --out DIR [--dtype bf16|f32] [--shard-bytes N] [--headers-only] [--seed N] [--tokenizer DIR]");
    process.exit(2);
  }
  const config = parseModelConfig(JSON.parse(readFileSync(a.config, "utf8")), a.config);
  const r = makeCheckpoint(a.out, config, { dtype: a.dtype, maxShardBytes: a["shard-bytes"] ? Number(a["shard-bytes"]) : undefined,
    headersOnly: a["headers-only"], seed: Number(a.seed), tokenizerDir: a.tokenizer });
  console.log(`${a.out}: ${r.files.length} file(s), ${(r.weightBytes / 1e9).toFixed(3)} GB of ${a.dtype} weights${a["headers-only"] ? " (headers only)" : ""}`);
}
