// Run configs: the recipe validates with its exact values; invalid configs are refused with a message
// naming the field path, the bad value and what was expected.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { readFileSync } from "node:fs";
import { applyOverride, configHash, loadConfig, resolveConfig } from "../../streams/config.ts";
import { ConfigError } from "../../streams/errors.ts";

const RECIPE = "configs/r1-zero-qwen25-7b.yaml";
const raw = () => parse(readFileSync(RECIPE, "utf8")) as Record<string, unknown>;

describe("run config", () => {
  it("validates the R1-Zero Qwen2.5-7B recipe with its exact values", () => {
    const c = loadConfig(RECIPE);
    assert.equal(c.model.name, "Qwen2.5-7B");
    assert.equal(c.seed, 1);
    assert.equal(c.actor.train_iters, 800);
    assert.equal(c.actor.global_batch_size, 32);
    assert.equal(c.rollout.n_samples_per_prompt, 8);
    assert.equal(c.actor.lr, 1e-6);
    assert.equal(c.actor.lr_schedule, "constant");
    assert.equal(c.actor.weight_decay, 0.01);
    assert.equal(c.actor.clip_grad, 1.0);
    assert.deepEqual([c.actor.adam_beta1, c.actor.adam_beta2], [0.9, 0.95]);
    assert.deepEqual([c.rollout.temperature, c.rollout.top_p], [1.0, 1.0]);
    assert.deepEqual([c.algorithm.kl_coef, c.algorithm.kl_estimator, c.algorithm.use_kl_in_reward], [0.001, "k3", false]);
    assert.equal(c.algorithm.clip_ratio, 0.2);
    assert.deepEqual([c.data.max_prompt_length, c.data.max_response_length], [2048, 2048]);
    assert.equal(c.reward.fn, "base_acc");
    assert.equal(c.data.template, "qwen_r1");
    assert.deepEqual("map_keys" in c.data.train ? c.data.train.map_keys : null, { prompt: "problem", answer: "answer" });
    assert.equal(configHash(c), configHash(loadConfig(RECIPE)));
  });

  it("validates DAPO's variants with DAPO's published values (configs/dapo-qwen25-7b.yaml, configs/dapo-tiny.yaml)", () => {
    const c = loadConfig("configs/dapo-qwen25-7b.yaml");
    const a = c.algorithm;
    assert.deepEqual([a.clip_ratio_low, a.clip_ratio_high, a.kl_coef, a.loss_agg_mode, a.entropy_coeff], [0.2, 0.28, 0, "token-mean", 0]);
    assert.deepEqual(a.dynamic_sampling, { enable: true, max_fill_rounds: 29 }, "DAPO's ceiling: 10 batches of 3 x 512 prompts = the step's 512 + 29 fill rounds");
    assert.deepEqual([c.data.max_response_length, a.overlong_buffer, a.overlong_penalty_factor, a.overlong_filter], [20480, 4096, 1.0, false]);
    assert.deepEqual([c.actor.global_batch_size, c.rollout.n_samples_per_prompt, c.actor.lr, c.actor.lr_warmup_iters, c.actor.weight_decay, c.actor.clip_grad], [512, 16, 1e-6, 10, 0.1, 1.0]);
    assert.deepEqual([c.rollout.temperature, c.rollout.top_p, c.rollout.max_staleness, a.off_policy], [1.0, 1.0, 0, "none"]);
    const t = loadConfig("configs/dapo-tiny.yaml"), tiny = loadConfig("configs/tiny-r1-zero.yaml");
    assert.deepEqual([t.algorithm.clip_ratio_low, t.algorithm.clip_ratio_high, t.algorithm.kl_coef, t.algorithm.dynamic_sampling.enable, t.algorithm.overlong_buffer], [0.2, 0.28, 0, true, 16]);
    assert.deepEqual(t.model, tiny.model, "the tiny DAPO run starts from tiny-r1-zero's cached base model");
  });

  const invalid: [string, string[], RegExp][] = [
    ["a string where a number is expected", ["actor.lr=fast"], /actor\.lr: got "fast" \(expected number, received string\)/],
    ["a negative learning rate", ["actor.lr=-0.1"], /actor\.lr: got -0\.1/],
    ["one sample per prompt", ["rollout.n_samples_per_prompt=1"], /rollout\.n_samples_per_prompt: got 1 \(GRPO needs at least 2/],
    ["a fractional batch size", ["actor.global_batch_size=2.5"], /actor\.global_batch_size: got 2\.5 \(expected int/],
    ["an unknown advantage estimator", ["algorithm.adv_estimator=ppo"], /algorithm\.adv_estimator: got "ppo" \(.*"grpo"\|"dr_grpo"\|"rloo"/],
    ["an unknown KL estimator", ["algorithm.kl_estimator=k4"], /algorithm\.kl_estimator: got "k4"/],
    ["an unknown loss aggregation", ["algorithm.loss_agg_mode=sum"], /algorithm\.loss_agg_mode: got "sum"/],
    ["a misspelt field", ["actor.learning_rate=1e-6"], /actor: unknown field\(s\) 'learning_rate'/],
    ["top_p above 1", ["rollout.top_p=1.5"], /rollout\.top_p: got 1\.5/],
    ["a clip ratio of 1", ["algorithm.clip_ratio=1"], /algorithm\.clip_ratio: got 1/],
    ["both a model path and an architecture", ["model.arch={vocab_size: 8, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, intermediate_size: 8}"], /model\.path: .*exactly one of model\.path/],
    ["heads not divisible by KV heads", ["model.path=null", "model.arch={vocab_size: 8, hidden_size: 12, num_hidden_layers: 1, num_attention_heads: 3, num_key_value_heads: 2, intermediate_size: 8}"], /model\.arch\.num_key_value_heads: .*multiple of num_key_value_heads/],
    ["a head dimension the engine cannot run", ["model.path=null", "model.arch={vocab_size: 8, hidden_size: 48, num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 8}"], /model\.arch\.hidden_size: .*hidden_size \/ num_attention_heads = 48\/4 = 12 must be a multiple of 8/],
    ["an unknown template", ["data.template=chatml"], /data\.template: .*unknown template 'chatml'/],
    ["a template without {question}", ["data.templates={mine: 'Q: x'}"], /data\.templates\.mine: got "Q: x" \(a template must contain \{question\}\)/],
    ["an unknown tokenizer type", ["tokenizer.type=bpe"], /tokenizer\.type: got "bpe"/],
    ["a missing seed", ["seed=null"], /seed: got null/],
    ["warm-up longer than training", ["actor.lr_warmup_iters=900"], /actor\.lr_warmup_iters: .*must not exceed actor\.train_iters \(800\)/],
    ["a bad run name", ["run_name=My Run"], /run_name: got "My Run"/],
    ["a bad reward function name", ["reward.fn=Base-Acc"], /reward\.fn: got "Base-Acc"/],
    ["a bad data format", ["data.train.format=csv"], /data\.train/],
  ];
  for (const [what, sets, expected] of invalid) {
    it(`refuses ${what}`, () => {
      let r: unknown = raw();
      for (const s of sets) r = applyOverride(r, s);
      if (sets.includes("model.path=null")) delete ((r as { model: Record<string, unknown> }).model).path;
      assert.throws(() => resolveConfig(r, "test.yaml"), (e: Error) => {
        assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
        assert.match(e.message, expected);
        return true;
      });
    });
  }

  it("refuses a missing file and broken YAML with the file named", () => {
    assert.throws(() => loadConfig("configs/nope.yaml"), /invalid config configs\/nope\.yaml:\n  - cannot read the file/);
    assert.throws(() => resolveConfig(parse("seed: [1"), "x"), Error);
  });

  it("refuses a context longer than the model's positions", () => {
    let r: unknown = raw();
    delete ((r as { model: Record<string, unknown> }).model).path;
    r = applyOverride(r, "model.arch={vocab_size: 8, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, intermediate_size: 8, max_position_embeddings: 1024}");
    assert.throws(() => resolveConfig(r), /data\.max_response_length: .*exceeds model\.arch\.max_position_embeddings \(1024\)/);
  });
});
