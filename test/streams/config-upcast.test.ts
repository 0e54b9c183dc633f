// A run's recorded configs are parsed, never cast: RunStarted.config and .modelConfig go through
// runConfigOf / modelConfigOf (streams/events/run.ts), which upcast the configs of old logs and refuse,
// with the field path, the value and what was expected, a config that no longer parses.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { auditEvents } from "../../domain/audit.ts";
import { foldRun } from "../../domain/run/view.ts";
import { RunContexts } from "../../loaders/runctx.ts";
import { Policy } from "../../native/index.ts";
import { Qwen2Config, configHash, loadConfig, resolveConfig, type RunConfig } from "../../streams/config.ts";
import { ConfigError, RecordedConfigError } from "../../streams/errors.ts";
import { events, modelConfigOf, runConfigOf, upcastConfigV1, type RunStarted } from "../../streams/events/index.ts";
import { runStarted } from "../helpers/events.ts";
import { startBus, uniqueRunId, type Bus } from "../helpers/nats.ts";
import { tinyConfig } from "../helpers/tiny.ts";

/** A RunStarted as this code records it (v2). */
const today = (config: unknown): RunStarted => ({ ...runStarted("r1"), config: JSON.parse(JSON.stringify(config)), codeVersion: "abc1234" });
/** A RunStarted as an old log (v1, run config schema 1) recorded it. */
const recorded = (config: unknown, modelConfig: Record<string, unknown> = {}) =>
  ({ ...runStarted("r1"), v: 1 as const, config: JSON.parse(JSON.stringify(config)), modelConfig, codeVersion: "abc1234" });

const arch = { vocab_size: 104, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 64,
  rope_theta: 10000, rms_norm_eps: 1e-6, tie_word_embeddings: true, max_position_embeddings: 128, head_dim: 8 };

/** A config as 87dfe9c resolved and recorded it: defaults that today's schema refuses. */
function oldEraConfig(): Record<string, unknown> {
  const c = structuredClone(loadConfig("configs/r1-zero-qwen25-7b.yaml")) as unknown as Record<string, any>;
  c.model.init_seed = 0; c.model.init_std = 0.02;                                 // recorded with model.path too
  c.rollout.max_staleness = 1;                                                     // accepted, without effect
  c.eval.benchmarks = c.eval.benchmarks.map((b: Record<string, unknown>) => ({ ...b, temperature: 0 })); // the old default
  return c;
}

describe("runConfigOf: the run config of a RunStarted", () => {
  it("given a config recorded today, returns it unchanged (same config hash, nothing upcast)", () => {
    for (const file of ["configs/tiny-r1-zero.yaml", "configs/r1-zero-qwen25-7b.yaml"]) {
      const cfg = loadConfig(file);
      const json = JSON.parse(JSON.stringify(cfg)) as Record<string, unknown>;
      assert.deepEqual(upcastConfigV1(json), json, file);
      const read = runConfigOf(recorded(cfg));
      assert.deepEqual(read, json, file);
      assert.equal(configHash(read), configHash(cfg), file);
    }
  });

  it("fills what a recorded config left to defaults (a section added later reads as its defaults)", () => {
    const raw = tinyConfig();
    delete raw.runtime;
    assert.equal(runConfigOf(recorded(raw)).runtime.threads, 0);
  });

  it("given an old log's config that today's schema refuses, upcasts it to what it meant", () => {
    const old = oldEraConfig();
    assert.throws(() => resolveConfig(old), ConfigError, "the old shape must not parse as it is, or the upcaster would prove nothing");
    const cfg = runConfigOf(recorded(old));
    assert.equal(cfg.model.init_seed, undefined);
    assert.equal(cfg.model.init_std, undefined);
    assert.equal(cfg.rollout.max_staleness, 0);
    assert.ok(cfg.eval.benchmarks.some((b) => b.k === 1) && cfg.eval.benchmarks.some((b) => b.k > 1), "the recipe has benchmarks of k = 1 and k > 1");
    for (const b of cfg.eval.benchmarks) assert.equal(b.temperature, b.k === 1 ? 0 : undefined, b.name); // k = 1: greedy, as it was
  });

  it("rollout.max_staleness: a v1 log's (accepted, lock-step) reads as 0 through the registry; a v2 log's fixed lag is kept", () => {
    const raw = tinyConfig({ rollout: { ...(tinyConfig().rollout as object), max_staleness: 2 } });
    const v1 = events.parse(recorded(raw)) as RunStarted;
    assert.equal(v1.v, 2, "the registry upcasts a v1 RunStarted");
    assert.equal(runConfigOf(v1).rollout.max_staleness, 0);
    assert.equal(runConfigOf(recorded(raw)).rollout.max_staleness, 0, "a v1 event built in memory reads the same");
    const v2: RunStarted = { ...runStarted("r1"), config: JSON.parse(JSON.stringify(raw)) };
    assert.equal(runConfigOf(events.parse(v2) as RunStarted).rollout.max_staleness, 2);
  });

  it("upcasts eval.every > 0 without benchmarks (which evaluated nothing) to 0", () => {
    assert.equal(runConfigOf(recorded(tinyConfig({ eval: { every: 2 } }))).eval.every, 0);
  });

  it("given a corrupt config, throws RecordedConfigError naming the run, the field, its value and the expectation", () => {
    const raw = tinyConfig();
    (raw.actor as Record<string, unknown>).lr = 2;
    (raw.rollout as Record<string, unknown>).n_samples_per_prompt = "four";
    assert.throws(() => runConfigOf(recorded(raw)), (e: unknown) => {
      assert.ok(e instanceof RecordedConfigError && e instanceof ConfigError, String(e));
      assert.match(e.message, /RunStarted\.config of run r1 \(v1, written by abc1234\)/);
      assert.match(e.message, /actor\.lr: got 2 \(.*1/);
      assert.match(e.message, /rollout\.n_samples_per_prompt: got "four" \(expected number/);
      return true;
    });
  });

  it("names a field the schema no longer has", () => {
    const raw = tinyConfig({ rollout: { n_samples_per_prompt: 4, max_stalenes: 0 } });
    assert.throws(() => runConfigOf(recorded(raw)), /rollout: unknown field\(s\) 'max_stalenes'/);
  });
});

describe("modelConfigOf: the policy's model config of a RunStarted", () => {
  it("given the config a run records today, returns it as recorded (keys and their order)", () => {
    const policy = Policy.init(resolveConfig(tinyConfig()).model.arch!, 1);
    try {
      const started = recorded({}, { ...policy.config });
      assert.equal(JSON.stringify(modelConfigOf(started)), JSON.stringify(started.modelConfig));
    } finally { policy.dispose(); }
  });

  it("keeps the other keys of a Hugging Face config.json", () => {
    const hf = { architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", torch_dtype: "bfloat16", ...arch, tie_word_embeddings: false };
    const m = modelConfigOf(recorded({}, hf));
    assert.deepEqual(m, hf);
    assert.deepEqual(Object.keys(m), Object.keys(hf));
  });

  it("refuses a model config the engine cannot build, naming the field", () => {
    const { rope_theta: _, ...noRope } = arch;
    assert.throws(() => modelConfigOf(recorded({}, noRope)), (e: unknown) =>
      e instanceof RecordedConfigError && /RunStarted\.modelConfig of run r1/.test(e.message) && /rope_theta: got nothing \(missing\)/.test(e.message));
    assert.throws(() => modelConfigOf(recorded({}, { ...arch, num_key_value_heads: 3 })), /num_key_value_heads: got 3 \(num_attention_heads must be a multiple/);
  });

  it("the schema names exactly the fields the engine's binding reads (addon.cc config_of), required where it requires them", () => {
    const cc = readFileSync("native/binding/addon.cc", "utf8");
    const body = cc.slice(cc.indexOf("zs::Config config_of("), cc.indexOf("return c;", cc.indexOf("zs::Config config_of(")));
    const read = new Set([...body.matchAll(/(?:num|o\.Get)\("([a-z_]+)"\)/g)].map((m) => m[1]));
    assert.deepEqual([...read].sort(), Object.keys(Qwen2Config.shape).sort());
    // the binding tests head_dim and reads tie_word_embeddings as a boolean: the two optional fields
    const optional = Object.entries(Qwen2Config.shape).filter(([, t]) => t.safeParse(undefined).success).map(([k]) => k).sort();
    assert.deepEqual(optional, ["head_dim", "tie_word_embeddings"]);
    for (const k of optional) assert.match(body, new RegExp(`o\\.Get\\("${k}"\\)\\.(IsNumber|ToBoolean)\\(\\)`), k);
  });

  it("Policy.load refuses a config.json that does not parse before the engine sees it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zs-model-"));
    try {
      writeFileSync(join(dir, "config.json"), JSON.stringify({ ...arch, hidden_size: "32" }));
      await assert.rejects(Policy.load(dir), (e: unknown) => e instanceof ConfigError && /config\.json/.test(e.message) && /hidden_size: got "32"/.test(e.message));
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});

describe("every reader of a run goes through runConfigOf", () => {
  const corrupt = (): Record<string, unknown> => {
    const raw = tinyConfig();
    (raw.actor as Record<string, unknown>).global_batch_size = 0;
    return raw;
  };

  it("the updater's fold refuses a RunStarted whose config does not parse", () => {
    assert.throws(() => foldRun([{ seq: 1, event: today(corrupt()) }]), (e: unknown) => e instanceof RecordedConfigError && /actor\.global_batch_size: got 0/.test(e.message));
  });

  it("the audit refuses it too, rather than checking against a mistyped config", () => {
    assert.throws(() => auditEvents([{ seq: 1, event: today(corrupt()) }]), RecordedConfigError);
  });

  it("no source file casts to a config type", () => {
    const r = spawnSync("git", ["grep", "-nE", String.raw`as (unknown as )?(RunConfig|Qwen2Config)\b`, "--", "*.ts"], { encoding: "utf8" });
    assert.equal(r.status, 1, `git grep found casts (or failed: ${r.stderr}):\n${r.stdout}`);
  });

  describe("the run loader (loaders/runctx.ts)", () => {
    let bus: Bus;
    before(async () => { bus = await startBus(); });
    after(async () => { await bus.stop(); });

    it("loads today's RunStarted with its configs parsed", async () => {
      const runId = uniqueRunId("ok");
      const cfg: RunConfig = resolveConfig(tinyConfig());
      await bus.log.publish({ ...runStarted(runId), config: cfg, modelConfig: { ...arch } });
      const rc = await new RunContexts(bus.log).get(runId);
      assert.deepEqual(rc.config, JSON.parse(JSON.stringify(cfg)));
      assert.equal(rc.modelConfig.hidden_size, 32);
    });

    it("refuses a RunStarted whose config violates the schema with a clear error", async () => {
      const runId = uniqueRunId("bad");
      await bus.log.publish({ ...runStarted(runId), config: corrupt(), modelConfig: { ...arch } });
      await assert.rejects(new RunContexts(bus.log).get(runId), (e: unknown) =>
        e instanceof RecordedConfigError && e.message.includes(`run ${runId}`) && /actor\.global_batch_size: got 0/.test(e.message));
    });
  });
});
