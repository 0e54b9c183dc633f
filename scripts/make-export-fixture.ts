// Writes test/fixtures/export/torch-logits.json: the logits that the PyTorch Qwen2 of the benchmark baseline
// (scripts/baselines/torch_qwen2_baseline.py --load, its own safetensors parser) reads from model folders this
// project writes in the published layout (native/checkpoint.ts writeCheckpoint, what export-model writes).
// test/replay/export-torch.test.ts rebuilds the same folders (the file digests are recorded) and compares.
//   node --import tsx scripts/make-export-fixture.ts        (needs /usr/bin/python3 with torch)
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeCheckpoint, type WeightDtype } from "../native/checkpoint.ts";
import { Policy } from "../native/index.ts";
import type { Qwen2Config } from "../streams/config.ts";

const root = join(import.meta.dirname, "..");
export const FIXTURE = join(root, "test", "fixtures", "export", "torch-logits.json");
export const BASELINE = join(root, "scripts", "baselines", "torch_qwen2_baseline.py");
export const PYTHON = "/usr/bin/python3";

const shape = (tied: boolean): Qwen2Config => ({
  vocab_size: 75, hidden_size: 48, num_hidden_layers: 2, num_attention_heads: 6, num_key_value_heads: 2, head_dim: 8,
  intermediate_size: 80, rope_theta: 10000, rms_norm_eps: 1e-5, tie_word_embeddings: tied, max_position_embeddings: 64,
});
/** The folders: f32 sharded with an untied head, bf16 in one file with a tied one. */
export const CASES: { name: string; dtype: WeightDtype; tied: boolean; maxShardBytes?: number }[] = [
  { name: "f32-sharded-untied", dtype: "f32", tied: false, maxShardBytes: 40_000 },
  { name: "bf16-tied", dtype: "bf16", tied: true },
];
export const IDS = [[1, 5, 9, 13, 17, 21, 25, 29, 74, 0, 3], [7, 7, 2]];

/** Writes the folder of a case (random weights, std 0.3); returns the sha256 of each file, by name. */
export function buildFolder(dir: string, c: (typeof CASES)[number]): Record<string, string> {
  const cfg = shape(c.tied);
  const p = Policy.init(cfg, 5, 0.3);
  try {
    const params = p.params();
    const tensors = p.tensorTable().map((t) => ({ name: t.name, shape: t.shape, data: params.subarray(t.offset, t.offset + t.numel) }));
    writeCheckpoint(dir, cfg, tensors, { dtype: c.dtype, maxShardBytes: c.maxShardBytes });
  } finally { p.dispose(); }
  return Object.fromEntries(readdirSync(dir).sort().map((f) => [f, createHash("sha256").update(readFileSync(join(dir, f))).digest("hex")]));
}

/** The baseline's logits of IDS from a folder (one flat T × V list per sequence). */
export function torchLogits(dir: string): number[][] {
  const out = join(dir, "..", "torch-logits.json");
  const r = spawnSync(PYTHON, [BASELINE, "--load", dir, "--ids", JSON.stringify(IDS), "--threads", "1", "--json", out], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`torch_qwen2_baseline.py --load ${dir} failed: ${r.stderr || r.stdout}`);
  return (JSON.parse(readFileSync(out, "utf8")) as { logits: number[][] }).logits;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const tmp = mkdtempSync(join(tmpdir(), "zs-export-fixture-"));
  try {
    const cases = CASES.map((c) => {
      const dir = join(tmp, c.name);
      const files = buildFolder(dir, c);
      return { ...c, files, logits: torchLogits(dir) };
    });
    const torch = spawnSync(PYTHON, ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8" }).stdout.trim();
    mkdirSync(join(FIXTURE, ".."), { recursive: true });
    writeFileSync(FIXTURE, JSON.stringify({ generatedBy: "scripts/make-export-fixture.ts", torch, ids: IDS, cases }) + "\n");
    console.log(`wrote ${FIXTURE} (torch ${torch}; ${cases.map((c) => `${c.name}: ${Object.keys(c.files).length} files`).join(", ")})`);
  } finally { rmSync(tmp, { recursive: true, force: true }); }
}
