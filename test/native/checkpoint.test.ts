// Model folders as published (native/checkpoint.ts): sharded and single safetensors through the index,
// bf16/f16/f32, tied and untied heads, the config's architecture fields, the tokenizer files, and a named
// error for each way a folder can be wrong. The checkpoints are generated here (scripts/make-checkpoint.ts:
// random weights, the real names and shapes); the Qwen2.5 shapes are checked against the published configs.
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, test } from "node:test";
import { CheckpointError, bf16ToF32, f32ToBf16, inspectCheckpoint, qwen2TensorShapes, readSafetensorsHeader, writeCheckpoint, INDEX_FILE } from "../../native/checkpoint.ts";
import { Policy, type Qwen2Config } from "../../native/index.ts";
import { HfTokenizer } from "../../loaders/tokenizer.ts";
import { parseModelConfig } from "../../streams/config.ts";
import { makeCheckpoint, randomTensors } from "../../scripts/make-checkpoint.ts";
import { fixtures, randTokens } from "./helpers.ts";

const here = dirname(fileURLToPath(import.meta.url));
const qwenConfigs = join(here, "..", "fixtures", "qwen2.5-configs");
const qwenTokenizer = join(here, "..", "fixtures", "qwen2.5-tokenizer");
const published = (name: string) => parseModelConfig(JSON.parse(readFileSync(join(qwenConfigs, `${name}.config.json`), "utf8")), name);

const root = mkdtempSync(join(tmpdir(), "zs-ckpt-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(root, `m${n++}`);

// a small Qwen2 in the published layout's terms (head_dim from hidden / heads, as Qwen2.5's configs)
const small: Qwen2Config = {
  architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", vocab_size: 256, hidden_size: 64, num_hidden_layers: 3,
  num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 96, rope_theta: 1000000.0, rms_norm_eps: 1e-6,
  max_position_embeddings: 256, tie_word_embeddings: true, use_sliding_window: false, sliding_window: 256, max_window_layers: 3,
};
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

test("the name → shape table of Qwen2.5-0.5B and -7B matches the published configs", () => {
  const half = qwen2TensorShapes(published("Qwen2.5-0.5B"));
  assert.equal(half.size, 1 + 24 * 12 + 1);   // tied: no lm_head.weight
  assert.deepEqual(half.get("model.embed_tokens.weight"), [151936, 896]);
  assert.deepEqual(half.get("model.layers.0.self_attn.q_proj.weight"), [14 * 64, 896]);
  assert.deepEqual(half.get("model.layers.23.self_attn.k_proj.weight"), [2 * 64, 896]);
  assert.deepEqual(half.get("model.layers.23.self_attn.v_proj.bias"), [128]);
  assert.deepEqual(half.get("model.layers.5.self_attn.o_proj.weight"), [896, 896]);
  assert.deepEqual(half.get("model.layers.5.mlp.gate_proj.weight"), [4864, 896]);
  assert.deepEqual(half.get("model.layers.5.mlp.down_proj.weight"), [896, 4864]);
  assert.equal(half.has("lm_head.weight"), false);
  const p05 = [...half.values()].reduce((a, s) => a + numel(s), 0);
  assert.equal(p05, 494_032_768);                                   // "0.49 B"
  assert.equal(Math.round((p05 - 151936 * 896) / 1e7) / 100, 0.36);  // "0.36 B without the embedding"
  const seven = qwen2TensorShapes(published("Qwen2.5-7B"));
  assert.equal(seven.size, 1 + 28 * 12 + 2);
  assert.deepEqual(seven.get("lm_head.weight"), [152064, 3584]);
  assert.deepEqual(seven.get("model.layers.27.self_attn.k_proj.weight"), [4 * 128, 3584]);
  assert.deepEqual(seven.get("model.layers.27.mlp.up_proj.weight"), [18944, 3584]);
  const p7 = [...seven.values()].reduce((a, s) => a + numel(s), 0);
  assert.equal(p7, 7_615_616_512);                                  // "7.6 B"
  assert.equal(Math.round(p7 * 2 / 1e8) / 10, 15.2);                // "about 15.2 GB" of bf16
});

test("the loader's name → shape table is the engine's own tensor table (tied and untied, GQA, head_dim given)", () => {
  for (const cfg of [small, { ...small, tie_word_embeddings: false }, { ...small, num_attention_heads: 8, num_key_value_heads: 1, head_dim: 16 }]) {
    const p = Policy.init(cfg, 1);
    assert.deepEqual(p.tensorTable().map((t) => [t.name, t.shape]), [...qwen2TensorShapes(cfg)]);
    p.dispose();
  }
});

test("the generator writes the published names and shapes: 0.5B and 7B shape-only folders inspect clean", () => {
  for (const [name, shards, files] of [["Qwen2.5-0.5B", undefined, 1], ["Qwen2.5-7B", 4e9, 4]] as const) {
    const cfg = published(name);
    const dir = fresh();
    makeCheckpoint(dir, cfg, { headersOnly: true, maxShardBytes: shards });
    const ck = inspectCheckpoint(dir, { headersOnly: true });
    assert.equal(ck.dataPresent, false);
    assert.equal(ck.files.length, files);
    assert.equal(ck.sharded, files > 1);
    if (files === 4) assert.deepEqual(ck.files.map((f) => f.slice(dir.length + 1)), [1, 2, 3, 4].map((i) => `model-0000${i}-of-00004.safetensors`));
    assert.deepEqual(ck.dtypes, ["BF16"]);
    const want = qwen2TensorShapes(cfg);
    assert.deepEqual(new Map(ck.tensors.map((t) => [t.name, t.shape])), want);
    assert.equal(ck.weightBytes, [...want.values()].reduce((a, s) => a + 2 * numel(s), 0));
    // without headersOnly, a folder without its data is refused, naming the tensor and the file
    assert.throws(() => inspectCheckpoint(dir), (e: unknown) => e instanceof CheckpointError && /tensor \S+ ends at byte \d+ of the data but the file holds 0/.test((e as Error).message));
  }
});

test("a sharded bf16 folder (≥ 3 shards, index) loads to the bf16 values, the same as one file", async () => {
  const dir = fresh();
  const tensors = randomTensors(small, { seed: 3 });
  const w = writeCheckpoint(dir, small, tensors, { dtype: "bf16", maxShardBytes: 48 * 1024, tokenizerDir: qwenTokenizer });
  assert.ok(w.files.length >= 3, `${w.files.length} shards`);
  const index = JSON.parse(readFileSync(join(dir, INDEX_FILE), "utf8"));
  assert.equal(Object.keys(index.weight_map).length, qwen2TensorShapes(small).size);
  assert.equal(index.metadata.total_size, w.weightBytes);
  for (const f of w.files) assert.ok([...readSafetensorsHeader(join(dir, f)).tensors.values()].every((t) => t.dtype === "BF16"));
  const p = await Policy.load(dir);
  const params = p.params();
  for (const t of p.tensorTable()) {
    const src = tensors.find((s) => s.name === t.name)!.data!;
    assert.deepEqual(params.subarray(t.offset, t.offset + t.numel), bf16ToF32(f32ToBf16(src)), t.name);
  }
  const one = fresh();
  writeCheckpoint(one, small, tensors, { dtype: "bf16" });
  assert.deepEqual(readdirSync(one).filter((f) => f.endsWith(".safetensors")), ["model.safetensors"]);
  assert.equal((await Policy.load(one)).digest(), p.digest());
  // the real tokenizer travels with the folder: special tokens and chat template from tokenizer_config.json
  const tok = HfTokenizer.load(dir);
  assert.equal(tok.eosId, 151645);                 // <|im_end|> (the Instruct tokenizer_config.json)
  assert.equal(tok.padId, 151643);                 // <|endoftext|>
  assert.deepEqual(tok.specialTokens, { eos: "<|im_end|>", pad: "<|endoftext|>", bos: null });
  assert.match(tok.chatTemplate!, /<\|im_start\|>/);
  // and the model runs
  const logits = await p.forward({ tokens: randTokens(10, small.vocab_size, 1), seqLens: Int32Array.of(6, 4) });
  assert.ok(logits.every(Number.isFinite));
});

test("f32 sharded round trip keeps the digest; untied heads, a saved tied head, f16 and config fields", async () => {
  for (const tie of [true, false]) {
    const cfg = { ...small, tie_word_embeddings: tie };
    const p = Policy.init(cfg, 11);
    const params = p.params();
    const dir = fresh();
    const table = p.tensorTable();
    const w = writeCheckpoint(dir, cfg, table.map((t) => ({ name: t.name, shape: t.shape, data: params.slice(t.offset, t.offset + t.numel) })),
      { dtype: "f32", maxShardBytes: 64 * 1024 });
    assert.ok(w.files.length >= 3);
    const q = await Policy.load(dir);
    assert.equal(q.digest(), p.digest());
    assert.equal(q.config.tie_word_embeddings, tie);
    assert.equal(q.config.rope_theta, 1000000);
    assert.equal(table.some((t) => t.name === "lm_head.weight"), !tie);
  }
  // a tied model whose file also holds lm_head.weight (as some exports do): the copy is ignored
  const dir = fresh();
  makeCheckpoint(dir, small, { extra: [{ name: "lm_head.weight", shape: [256, 64] }], maxShardBytes: 64 * 1024 });
  assert.deepEqual(inspectCheckpoint(dir).ignored, ["lm_head.weight"]);
  await Policy.load(dir);
  // f16 (the PyTorch fixture), as a folder's model.safetensors
  const f16 = fresh();
  makeCheckpoint(f16, parseModelConfig(JSON.parse(readFileSync(join(fixtures, "config.json"), "utf8")), "fixture"), { headersOnly: true });
  copyFileSync(join(fixtures, "model.f16.safetensors"), join(f16, "model.safetensors"));
  assert.deepEqual(inspectCheckpoint(f16).dtypes, ["F16"]);
  assert.equal((await Policy.load(f16)).digest(), Policy.fromSafetensors(readFileSync(join(fixtures, "model.f16.safetensors")), (await Policy.load(fixtures)).config).digest());
});

function refused(dir: string, pattern: RegExp): Promise<void> {
  return assert.rejects(Policy.load(dir), (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `${(e as Error).name}: ${(e as Error).message}`);
    assert.match((e as Error).message, pattern);
    return true;
  });
}
function withConfig(patch: Record<string, unknown>): string {
  const dir = fresh();
  makeCheckpoint(dir, small, { maxShardBytes: 64 * 1024 });
  const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
  writeFileSync(join(dir, "config.json"), JSON.stringify({ ...cfg, ...patch }));
  return dir;
}

test("named errors: architecture, sliding window, missing shard, missing tensor, wrong shape, unknown dtype", async () => {
  await refused(withConfig({ architectures: ["LlamaForCausalLM"] }), /config\.json: architectures is \["LlamaForCausalLM"\]; the engine runs Qwen2ForCausalLM/);
  await refused(withConfig({ model_type: "qwen3" }), /model_type is "qwen3"/);
  await refused(withConfig({ use_sliding_window: true }), /use_sliding_window is true \(sliding_window 256, max_window_layers 3\); the engine runs full attention only/);
  await refused(withConfig({ rope_scaling: { type: "yarn", factor: 4 } }), /rope_scaling is/);
  // untied by the config, but the folder has no head
  await refused(withConfig({ tie_word_embeddings: false }), /tensor lm_head\.weight \[256, 64\] is missing.*tie_word_embeddings is not true/);

  const shard = fresh();
  makeCheckpoint(shard, small, { maxShardBytes: 64 * 1024 });
  unlinkSync(join(shard, "model-00002-of-00004.safetensors"));
  await refused(shard, /missing shard model-00002-of-00004\.safetensors \(model\.safetensors\.index\.json puts \d+ tensors there, e\.g\. model\.layers\./);

  const gone = fresh();
  makeCheckpoint(gone, small, { maxShardBytes: 64 * 1024, shapes: (name, s) => (name === "model.layers.1.mlp.up_proj.weight" ? null : s) });
  await refused(gone, /tensor model\.layers\.1\.mlp\.up_proj\.weight \[96, 64\] is missing/);

  const bad = fresh();
  makeCheckpoint(bad, small, { maxShardBytes: 64 * 1024, shapes: (name, s) => (name === "model.layers.2.self_attn.k_proj.weight" ? [64, 64] : s) });
  await refused(bad, /tensor model\.layers\.2\.self_attn\.k_proj\.weight has shape \[64, 64\], config\.json needs \[32, 64\]/);

  const dt = fresh();
  writeCheckpoint(dt, small, randomTensors(small), { dtype: "f32" });
  const bytes = readFileSync(join(dt, "model.safetensors"));
  const at = bytes.indexOf('"dtype":"F32"');
  bytes.write('"dtype":"I32"', at);   // same length: the header stays valid
  writeFileSync(join(dt, "model.safetensors"), bytes);
  await refused(dt, /tensor \S+ has dtype I32; the engine loads F32, BF16 or F16/);

  const none = fresh();
  makeCheckpoint(none, small);
  unlinkSync(join(none, "model.safetensors"));
  await refused(none, /no model\.safetensors and no model\.safetensors\.index\.json/);
  await refused(join(root, "nowhere"), /no config\.json/);

  // an index that names a tensor in the wrong shard
  const idx = fresh();
  makeCheckpoint(idx, small, { maxShardBytes: 64 * 1024 });
  const index = JSON.parse(readFileSync(join(idx, INDEX_FILE), "utf8"));
  index.weight_map["model.norm.weight"] = "model-00001-of-00004.safetensors";
  writeFileSync(join(idx, INDEX_FILE), JSON.stringify(index));
  await refused(idx, /model\.safetensors\.index\.json puts model\.norm\.weight in model-00001-of-00004\.safetensors but it is in .*model-00004-of-00004/);
});
