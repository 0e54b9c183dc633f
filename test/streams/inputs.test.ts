// Inputs a user brings (training set, model, tokenizer, evaluation sets) are paths in the config: a
// missing one is an error naming the config key and the path, from the loader, from the check before a
// run starts and in `config check`; the recipe's evaluation sets are the vendored ones.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { after, describe, it } from "node:test";
import { resolveBenchmark } from "../../offline/eval/benchmarks.ts";
import { loadConfig } from "../../streams/config.ts";
import { DatasetNotFoundError, loadRows, prepareTrainSet } from "../../loaders/datasets.ts";
import { assertInputs, InputNotFoundError, missingInputs } from "../../loaders/inputs.ts";
import { CharTokenizer } from "../../loaders/tokenizer.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const RECIPE = join(root, "configs", "r1-zero-qwen25-7b.yaml");
const tmp = mkdtempSync(join(tmpdir(), "zs-inputs-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe("inputs the user brings", () => {
  it("given the 7B recipe in a clone, then only the training set, the model and the tokenizer are missing: its evaluation sets are vendored", () => {
    const missing = missingInputs(loadConfig(RECIPE), { cwd: root });
    assert.deepEqual(missing.map((m) => [m.key, m.path]), [
      ["data.train.path", "datasets/deepscaler-train.jsonl"],
      ["model.path", "models/Qwen2.5-7B"],
      ["tokenizer.path", "models/Qwen2.5-7B"],
    ]);
    assert.equal(missing[0].resolved, join(root, "datasets", "deepscaler-train.jsonl"));
  });

  it("given the recipe pointed at a training set, a model directory and a tokenizer that exist, then nothing is missing", () => {
    const train = join(tmp, "train.jsonl");
    writeFileSync(train, `${JSON.stringify({ problem: "1+1?", answer: "2" })}\n`);
    const cfg = loadConfig(RECIPE, [`data.train.path=${train}`, "model.path=test/fixtures/native", "tokenizer.path=test/fixtures/qwen2.5-tokenizer"]);
    assert.deepEqual(missingInputs(cfg, { cwd: root }), []);
    assert.doesNotThrow(() => assertInputs(cfg, { cwd: root }));
  });

  it("given a missing training set, then the check before a run names data.train.path and the path as written and as resolved", () => {
    const cfg = loadConfig(RECIPE, ["data.train.path=nowhere/train.jsonl", "model.path=test/fixtures/native", "tokenizer.path=test/fixtures/qwen2.5-tokenizer"]);
    assert.throws(() => assertInputs(cfg, { cwd: root }), (e: unknown) => {
      assert.ok(e instanceof InputNotFoundError);
      assert.match(e.message, /^data\.train\.path: no file at nowhere\/train\.jsonl \(relative to the working directory: .*\/nowhere\/train\.jsonl\); a training set is a file you bring/);
      return true;
    });
  });

  it("given a model directory without its weights and a directory as a training set, then each is named with its key", () => {
    const model = join(tmp, "model");
    mkdirSync(model);
    writeFileSync(join(model, "config.json"), "{}");
    const cfg = loadConfig(RECIPE, [`data.train.path=${tmp}`, `model.path=${model}`, "tokenizer.path=test/fixtures/qwen2.5-tokenizer/tokenizer.json"]);
    const missing = missingInputs(cfg, { cwd: root });
    assert.deepEqual(missing.map((m) => [m.key, m.problem, m.path]), [
      ["data.train.path", "a directory, not a file,", tmp],
      ["model.path", "no model.safetensors (nor model.safetensors.index.json)", join(model, "model.safetensors")],
    ]);
    assert.throws(() => assertInputs(cfg, { cwd: root }), /the config names files that are not here:\n {2}- data\.train\.path: a directory, not a file, at .*\n {2}- model\.path: no model\.safetensors \(nor model\.safetensors\.index\.json\) at /);
    // weights taken from elsewhere (fork): the model directory is not needed
    assert.deepEqual(missingInputs(cfg, { cwd: root, model: false }).map((m) => m.key), ["data.train.path"]);
  });

  it("given a missing training set, then the loader (a worker's) names data.train.path and the path", async () => {
    const cfg = loadConfig(RECIPE, [`data.train.path=${join(tmp, "absent.jsonl")}`]);
    await assert.rejects(prepareTrainSet(cfg, new CharTokenizer()), (e: unknown) => {
      assert.ok(e instanceof DatasetNotFoundError);
      assert.equal(e.message.split(";")[0], `data.train.path: no file at ${join(tmp, "absent.jsonl")}`);
      return true;
    });
  });

  it("given a missing evaluation set, then evaluating names its eval.benchmarks key", async () => {
    const cfg = loadConfig(RECIPE);
    cfg.eval.benchmarks[1] = { ...cfg.eval.benchmarks[1], source: { path: join(tmp, "aime.jsonl"), format: "auto", map_keys: { prompt: "problem", answer: "answer" } } };
    await assert.rejects(resolveBenchmark(cfg, new CharTokenizer(), "aime24"), /^DatasetNotFoundError: eval\.benchmarks\[1\]\.source\.path: no file at .*aime\.jsonl; set eval\.benchmarks\[1\]\.source\.path/);
    await assert.rejects(loadRows({ path: join(tmp, "b.jsonl"), format: "auto", map_keys: { prompt: "p", answer: "a" } }, 0, null), /^DatasetNotFoundError: no file at .*b\.jsonl$/);
  });

  it("given the recipe, then `config check` validates it (exit 0) and lists on stderr what is not here, by key", () => {
    const r = spawnSync(process.execPath, [join(root, "cli", "bin.mjs"), "config", "check", "configs/r1-zero-qwen25-7b.yaml"], { cwd: root, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /valid \(config hash/);
    const listed = r.stderr.split("\n").filter((l) => l.startsWith("#   ")).map((l) => l.slice(4).split(":")[0]);
    assert.deepEqual(listed, ["data.train.path", "model.path", "tokenizer.path"], r.stderr);
  });
});
