// `zerostream run configs/r1-zero-qwen25-7b.yaml --dry-run --set model.path=DIR` on a generated 7B-shaped
// folder holding only the shards' headers (a few KB on disk): every path, the model's tensors, the real
// Qwen2.5 tokenizer, the qwen_r1 template and the training set resolved, the memory plan per component, and
// a plain answer on whether it fits this machine.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, readdirSync, writeFileSync } from "node:fs";
import { readFileSync } from "node:fs";
import { tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { dryRun } from "../../cli/dry-run.ts";
import { CheckpointError } from "../../native/checkpoint.ts";
import { memoryPlan, paramCount } from "../../native/memory.ts";
import { loadConfig, parseModelConfig } from "../../streams/config.ts";
import { makeCheckpoint } from "../../scripts/make-checkpoint.ts";
import { cliRun } from "../helpers/cli.ts";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const RECIPE = "configs/r1-zero-qwen25-7b.yaml";
const seven = parseModelConfig(JSON.parse(readFileSync(join(repo, "test/fixtures/qwen2.5-configs/Qwen2.5-7B.config.json"), "utf8")), "7B");
const tmp = mkdtempSync(join(tmpdir(), "zs-dry-"));
const model = join(tmp, "Qwen2.5-7B"), train = join(tmp, "train.jsonl");
const sets = [`model.path=${model}`, `tokenizer.path=${model}`, `data.train.path=${train}`];
before(() => {
  makeCheckpoint(model, seven, { headersOnly: true, maxShardBytes: 4e9, tokenizerDir: join(repo, "test/fixtures/qwen2.5-tokenizer") });
  writeFileSync(train, ['{"problem":"What is 2+3?","answer":"5"}', '{"problem":"Compute 7 times 8.","answer":"56"}'].join("\n") + "\n");
});
after(() => rmSync(tmp, { recursive: true, force: true }));
const GiB = 1024 ** 3;

test("the generated 7B-shaped folder is tiny on disk: headers and an index", () => {
  const shards = readdirSync(model).filter((f) => /^model-0000\d-of-00004\.safetensors$/.test(f));
  assert.equal(shards.length, 4);
  assert.ok(shards.every((f) => statSync(join(model, f)).size < 64 * 1024));
});

test("run --dry-run resolves the recipe and prints the memory plan per component, with a verdict for this machine", async () => {
  const r = await cliRun(["run", RECIPE, "--dry-run", ...sets.flatMap((s) => ["--set", s])], { cwd: repo });
  assert.equal(r.code, 0, r.stderr);
  const o = r.stdout;
  assert.match(o, /4 shards through model\.safetensors\.index\.json, 339 tensors, 7,615,616,512 parameters, BF16 on disk \(14\.2 GiB\) — headers only/);
  assert.match(o, /28 layers, hidden 3584, 28 query \/ 4 KV heads of 128, FFN 18944, vocab 152064, rope_theta 1000000, rms_norm_eps 0\.000001, untied head/);
  assert.match(o, /151,665 ids, eos 151645, pad 151643, stop ids \[151643, 151645\].*a chat template in tokenizer_config\.json/);
  assert.match(o, /template qwen_r1, rendered by the tokenizer:\n {2}"<\|im_start\|>system/);
  assert.match(o, /first prompt \(row-0\): \d+ tokens; longest \d+ of max_prompt_length 2048/);
  assert.match(o, /2 prompts, 2 kept, 0 longer than max_prompt_length/);
  for (const c of ["policy weights \\(f32 master\\) +28\\.4 GiB", "gradients \\(f32\\) +28\\.4 GiB", "AdamW moments m, v \\(f32\\) +56\\.7 GiB",
    "reference model \\(bf16\\) +14\\.2 GiB", "activations saved for backward +183\\.0 GiB", "logits and their gradient, one chunk of rows +0\\.12 GiB  2 × 110 rows × 152,064 vocab",
    "KV cache +14\\.0 GiB  2 × 28 layers × 32 rows"]) assert.match(o, new RegExp(c));
  const total = /total on one machine: ([\d.]+) GiB; this machine has ([\d.]+) GiB \(os\.totalmem\(\)\)/.exec(o);
  assert.ok(total, o);
  assert.equal(Number(total[2]), Number((totalmem() / GiB).toFixed(1)));
  if (Number(total[1]) * GiB > totalmem()) assert.match(o, /does NOT fit: it would need [\d.]+ GiB of memory \([\d.]+ GiB more than this machine's/);
  else assert.match(o, /^fits: /m);
});

test("the verdict follows the machine's memory; the plan's figures are the engine's buffers", async () => {
  const cfg = loadConfig(join(repo, RECIPE), sets);
  const big = await dryRun(cfg, { machineBytes: 1024 * GiB });
  assert.equal(big.fits, true);
  assert.match(big.lines.at(-1)!, /^fits: 372\.5 GiB of 1024\.0 GiB$/);
  const small = await dryRun(cfg, { machineBytes: 24 * GiB });
  assert.equal(small.fits, false);
  assert.match(small.lines.at(-1)!, /^does NOT fit: it would need 372\.5 GiB of memory \(348\.5 GiB more than this machine's 24\.0 GiB\); the largest process, the updater, alone needs 328\.4 GiB$/);
  const P = paramCount(seven);
  assert.equal(P, 7_615_616_512);
  const plan = memoryPlan(seven, cfg);
  const item = (proc: string, c: string) => plan.processes.find((p) => p.process === proc)!.items.find((i) => i.component.startsWith(c))!.bytes;
  assert.equal(item("updater", "policy weights"), 4 * P);
  assert.equal(item("updater", "AdamW"), 8 * P);
  assert.equal(item("updater", "logits"), 2 * 4 * 110 * 152064);   // 110 rows = 16 M floats / 152,064
  // the LM head's fp32 panels, packed once per call: the policy's for logits and for dln, the reference's for logits
  assert.equal(item("updater", "LM head panels"), 3 * 4 * 152064 * 3584);
  // one layer's packing: the micro-batch's FFN activations (8 x 4096 rows x 18,944) packed for the down weight's gradient
  assert.equal(item("updater", "packing workspace"), 4 * 8 * 4096 * 18944);
  assert.equal(item("rollout generator", "KV cache"), 4 * 2 * 28 * 32 * 4096 * 4 * 128);
  // kl_coef 0: no reference copy
  const noRef = memoryPlan(seven, loadConfig(join(repo, RECIPE), [...sets, "algorithm.kl_coef=0"]));
  assert.equal(plan.total - noRef.total, 2 * P + 4 * 152064 * 3584);   // the recipe's model.dtype bf16: a bf16 reference, and its head's fp32 panels
  // model.dtype bf16 (the recipe's): the reference and each generator's weights and panels in half the bytes of f32;
  // the master weights and moments stay f32
  const full = memoryPlan(seven, loadConfig(join(repo, RECIPE), [...sets, "model.dtype=f32"]));
  const fitem = (proc: string, c: string) => full.processes.find((p) => p.process === proc)!.items.find((i) => i.component.startsWith(c))!;
  const pitem = (proc: string, c: string) => plan.processes.find((p) => p.process === proc)!.items.find((i) => i.component.startsWith(c))!;
  assert.equal(fitem("updater", "policy weights").bytes, 4 * P);
  assert.equal(fitem("updater", "AdamW").bytes, 8 * P);
  assert.equal(fitem("updater", "reference model").bytes, 4 * P);
  assert.equal(pitem("updater", "reference model").bytes, 2 * P);
  assert.match(pitem("updater", "reference model").component, /\(bf16\)/);
  assert.equal(fitem("rollout generator", "policy weights").bytes, 4 * P);
  assert.equal(pitem("rollout generator", "policy weights").bytes, 2 * P);
  assert.equal(pitem("rollout generator", "packed weight panels").bytes * 2, fitem("rollout generator", "packed weight panels").bytes);
  // model.compute_dtype bf16 with f32 copies: the weights stay f32, sampling's panels are bf16
  const computeBf16 = memoryPlan(seven, loadConfig(join(repo, RECIPE), [...sets, "model.dtype=f32", "model.compute_dtype=bf16"]));
  const citem = (proc: string, c: string) => computeBf16.processes.find((p) => p.process === proc)!.items.find((i) => i.component.startsWith(c))!;
  assert.equal(citem("rollout generator", "policy weights").bytes, 4 * P);
  assert.equal(citem("rollout generator", "packed weight panels").bytes, pitem("rollout generator", "packed weight panels").bytes);
  assert.match(citem("rollout generator", "packed weight panels").component, /\(bf16\)/);
});

test("the issue's command as written names what is still missing; a wrong tensor in a header is named", async () => {
  const r = await cliRun(["run", RECIPE, "--dry-run", "--set", `model.path=${model}`], { cwd: repo });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /tokenizer\.path: no tokenizer at models\/Qwen2\.5-7B/);
  assert.match(r.stderr, /data\.train\.path: no file at datasets\/deepscaler-train\.jsonl/);
  const bad = join(tmp, "bad");
  makeCheckpoint(bad, seven, { headersOnly: true, maxShardBytes: 4e9, shapes: (n, s) => (n === "model.layers.27.mlp.down_proj.weight" ? [3584, 18432] : s) });
  await assert.rejects(dryRun(loadConfig(join(repo, RECIPE), [`model.path=${bad}`, `tokenizer.path=${model}`, `data.train.path=${train}`])),
    (e: unknown) => e instanceof CheckpointError && /model\.layers\.27\.mlp\.down_proj\.weight has shape \[3584, 18432\], config\.json needs \[3584, 18944\]/.test((e as Error).message));
});
