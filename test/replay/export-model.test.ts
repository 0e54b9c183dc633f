// export-model on a real tiny run (real nats-server, real worker processes): a policy version written as
// a published-layout folder (shards + index, config.json, generation_config.json) that this project loads
// back to the version's own digest (f32), or to its bf16 rounding; named errors for a version that does not
// exist and for an output folder in use.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runConfig } from "../../cli/commands/run.ts";
import { run as exportModelCommand } from "../../cli/commands/export-model.ts";
import { ExportModelError, exportModel, parseSize } from "../../offline/replay/export-model.ts";
import { bf16ToF32, f32ToBf16, inspectCheckpoint, INDEX_FILE } from "../../native/checkpoint.ts";
import { Policy } from "../../native/index.ts";
import { modelConfigOf } from "../../streams/events/index.ts";
import { startBus, type Bus } from "../helpers/nats.ts";
import { tinyConfig, writeConfig } from "../helpers/tiny.ts";
import { startRun } from "../../cli/launch.ts";
import { HfTokenizer } from "../../loaders/tokenizer.ts";
import { makeCheckpoint } from "../../scripts/make-checkpoint.ts";
import { loadConfig } from "../../streams/config.ts";
import { IDS, PYTHON, torchLogits } from "../../scripts/make-export-fixture.ts";
import { spawnSync } from "node:child_process";

const hasTorch = spawnSync(PYTHON, ["-c", "import torch, numpy"], { stdio: "ignore" }).status === 0;

const repo = join(import.meta.dirname, "..", "..");

async function quietly<T>(f: () => Promise<T>): Promise<{ value: T; stdout: string }> {
  const write = process.stdout.write.bind(process.stdout);
  let stdout = "";
  process.stdout.write = ((chunk: string | Uint8Array) => { stdout += chunk.toString(); return true; }) as typeof process.stdout.write;
  try { return { value: await f(), stdout }; } finally { process.stdout.write = write; }
}

describe("export-model", () => {
  let bus: Bus;
  let runId: string;
  let v1: string;
  const tmp = mkdtempSync(join(tmpdir(), "zs-export-model-"));
  before(async () => {
    bus = await startBus();
    const out = await runConfig({ file: writeConfig(tinyConfig()), server: bus.server.url, rollout: 1, reward: 1, quiet: true, steps: 1 });
    runId = out.runId;
    v1 = out.weightsDigest;
    assert.equal(out.version, 1);
  });
  after(async () => { await bus.stop(); rmSync(tmp, { recursive: true, force: true }); });

  it("writes version 1 as f32 shards with an index, config and generation config, loading back to its digest", async () => {
    const out = join(tmp, "v1-f32");
    const { value: code, stdout } = await quietly(() => exportModelCommand([runId, "--version", "1", "--out", out, "--dtype", "f32", "--shard-size", "20KB", "--server", bus.server.url]));
    assert.equal(code, 0, stdout);
    assert.match(stdout, new RegExp(`policy v1 \\(after step 0\\), ${v1}`));
    assert.match(stdout, /loaded back: sha256:[0-9a-f]{64} \(the version's digest, bit for bit\)/);
    assert.match(stdout, /tokenizer: none \(the run's char tokenizer is built in/);
    const files = readdirSync(out).sort();
    const shards = files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
    assert.ok(shards.length >= 3, files.join(" "));
    for (const f of [INDEX_FILE, "config.json", "generation_config.json"]) assert.ok(files.includes(f), f);
    const cfg = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
    assert.deepEqual([cfg.architectures, cfg.model_type, cfg.torch_dtype, cfg.use_sliding_window], [["Qwen2ForCausalLM"], "qwen2", "float32", false]);
    const gen = JSON.parse(readFileSync(join(out, "generation_config.json"), "utf8"));
    assert.deepEqual(gen.zerostream, { run: runId, version: 1, step: 0, weights: v1 });
    const p = await Policy.load(out);
    assert.equal(p.digest(), v1);
    assert.deepEqual(inspectCheckpoint(out).dtypes, ["F32"]);
    // the version-0 export is the run's initial weights
    const r0 = await exportModel(bus.log, runId, { version: 0, out: join(tmp, "v0"), dtype: "f32" });
    assert.equal(r0.loadedDigest, (await bus.log.runStarted(runId))!.initialWeightsDigest);
    assert.notEqual(r0.loadedDigest, v1);
    assert.deepEqual(r0.files, ["model.safetensors"]);   // no limit given: one file
  });

  it("bf16 halves the bytes and loads back to the version's weights rounded to bf16", async () => {
    const r = await exportModel(bus.log, runId, { version: 1, out: join(tmp, "v1-bf16"), dtype: "bf16", maxShardBytes: 10_000 });
    assert.ok(r.files.length >= 3);
    const started = (await bus.log.runStarted(runId))!;
    const exact = Policy.fromSafetensors(await bus.log.getBlob(runId, v1), modelConfigOf(started));
    assert.equal(r.weightBytes, exact.numParams * 2);
    const back = await Policy.load(join(tmp, "v1-bf16"));
    assert.equal(back.digest(), r.loadedDigest);
    assert.notEqual(r.loadedDigest, v1);
    assert.deepEqual(back.params(), bf16ToF32(f32ToBf16(exact.params())));
    assert.deepEqual(inspectCheckpoint(join(tmp, "v1-bf16")).dtypes, ["BF16"]);
  });

  it("the exported folders read by an independent loader (the PyTorch baseline, its own parser) give our logits within 1e-5",
    { skip: hasTorch ? false : `${PYTHON} has no torch: test/replay/export-torch.test.ts checks the recorded fixture instead` }, async () => {
      for (const name of ["v1-f32", "v1-bf16"]) {   // written by the two tests above
        const dir = join(tmp, name);
        const p = await Policy.load(dir);
        const theirs = torchLogits(dir);
        for (let i = 0; i < IDS.length; i++) {
          const mine = await p.forward({ tokens: Int32Array.from(IDS[i]), seqLens: Int32Array.of(IDS[i].length) });
          let num = 0, den = 0;
          mine.forEach((x, j) => { num += (x - theirs[i][j]) ** 2; den += theirs[i][j] ** 2; });
          assert.ok(Math.sqrt(num / den) < 1e-5, `${name} sequence ${i}: relative error ${Math.sqrt(num / den)}`);
        }
        p.dispose();
      }
    });

  it("names a version the run does not have, and refuses an output folder in use", async () => {
    await assert.rejects(exportModel(bus.log, runId, { version: 7, out: join(tmp, "v7") }),
      (e: unknown) => e instanceof ExportModelError && /has no policy version 7: versions 0\.\.1 are recorded/.test((e as Error).message));
    const used = join(tmp, "used");
    mkdirSync(used);
    writeFileSync(join(used, "notes.txt"), "mine");
    await assert.rejects(exportModel(bus.log, runId, { version: 1, out: used }), /exists and is not an empty directory/);
    assert.equal(parseSize("5GB"), 5e9);
    assert.equal(parseSize("2GiB"), 2 * 1024 ** 3);
    assert.throws(() => parseSize("lots"), ExportModelError);
  });

  it("a run started from a generated published folder (sharded bf16, real tokenizer) exports back with its tokenizer files", async () => {
    const model = join(tmp, "published");
    const tokDir = join(repo, "test", "fixtures", "qwen2.5-tokenizer");
    const arch = { architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", vocab_size: 151936, hidden_size: 32, num_hidden_layers: 1,
      num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 32, rope_theta: 1000000.0, rms_norm_eps: 1e-6,
      max_position_embeddings: 512, tie_word_embeddings: true, use_sliding_window: false };
    makeCheckpoint(model, arch, { seed: 5, maxShardBytes: 8000, tokenizerDir: tokDir });
    assert.ok(inspectCheckpoint(model).files.length >= 3);
    const cfg = loadConfig(writeConfig(tinyConfig({
      model: { name: "qwen2-shaped", path: model }, tokenizer: { type: "hf", path: model },
      data: { train: { synthetic: "addition", size: 8, params: { digits: 2 } }, template: "qwen_r1", max_prompt_length: 256, max_response_length: 16 },
    })));
    const started = await startRun(bus.log, cfg);
    assert.equal(started.initialWeightsDigest, (await Policy.load(model)).digest());
    assert.equal(started.modelConfig.rope_theta, 1000000);
    const out = join(tmp, "published-v0");
    const r = await exportModel(bus.log, started.runId, { version: 0, out, dtype: "f32", maxShardBytes: 8e6 });
    assert.equal(r.loadedDigest, started.initialWeightsDigest);
    assert.match(r.tokenizer, /tokenizer\.json \+ tokenizer_config\.json from /);
    for (const f of ["tokenizer.json", "tokenizer_config.json"]) assert.deepEqual(readFileSync(join(out, f)), readFileSync(join(tokDir, f)), f);
    const gen = JSON.parse(readFileSync(join(out, "generation_config.json"), "utf8"));
    assert.deepEqual([gen.eos_token_id, gen.pad_token_id], [[151643, 151645], 151643]);
    assert.equal(HfTokenizer.load(out).eosId, 151645);
  });
});
