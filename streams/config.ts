// The one schema of run configs (YAML), with MindSpeed-RL / veRL names where they exist.
// An invalid config is refused with the field path, the bad value and what was expected.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { BUILTIN_TEMPLATES } from "./templates.ts";
import { ConfigError } from "./errors.ts";
import { DEFAULT_TIMEOUT_MS } from "./events/common.ts";

const posInt = z.number().int().positive();
const prob = z.number().gt(0).lte(1);

// The fields of a Qwen2 architecture (Hugging Face's Qwen2Config names), read by the engine's binding
// (native/binding/addon.cc config_of) exactly as named here.
const qwen2Fields = {
  vocab_size: posInt,
  hidden_size: posInt,
  num_hidden_layers: posInt,
  num_attention_heads: posInt,
  num_key_value_heads: posInt,
  head_dim: posInt.optional(),                 // unset: hidden_size / num_attention_heads
  intermediate_size: posInt,
};
type Qwen2Heads = { num_attention_heads: number; num_key_value_heads: number; head_dim?: number; hidden_size: number };
function checkHeads(a: Qwen2Heads, ctx: z.RefinementCtx): void {
  if (a.num_attention_heads % a.num_key_value_heads !== 0) {
    ctx.addIssue({ code: "custom", path: ["num_key_value_heads"], message: "num_attention_heads must be a multiple of num_key_value_heads" });
  }
  if (a.head_dim === undefined && a.hidden_size % a.num_attention_heads !== 0) {
    ctx.addIssue({ code: "custom", path: ["hidden_size"], message: "hidden_size must be divisible by num_attention_heads when head_dim is not given" });
    return;
  }
  // the engine's attention kernels work on 8-float lanes (native/core/model.cc Config::validate)
  const headDim = a.head_dim ?? a.hidden_size / a.num_attention_heads;
  if (headDim % 8 !== 0) {
    ctx.addIssue({ code: "custom", path: [a.head_dim === undefined ? "hidden_size" : "head_dim"], message: `the head dimension ${a.head_dim === undefined ? `hidden_size / num_attention_heads = ${a.hidden_size}/${a.num_attention_heads} = ${headDim}` : headDim} must be a multiple of 8 (the engine's attention kernels)` });
  }
}

/** model.arch of a run config: a model built from scratch, with a small model's defaults. */
export const Qwen2Arch = z.strictObject({
  ...qwen2Fields,
  rope_theta: z.number().positive().default(10000),
  rms_norm_eps: z.number().positive().default(1e-6),
  tie_word_embeddings: z.boolean().default(true),
  max_position_embeddings: posInt.default(2048),
}).superRefine(checkHeads);

/**
 * The engine's model config: a model directory's config.json and RunStarted.modelConfig (the policy's
 * config as the engine took it). Other keys of a config.json (architectures, torch_dtype, ...) are kept;
 * nothing is defaulted, so a parsed config is the recorded one: the engine needs rope_theta, rms_norm_eps
 * and max_position_embeddings, and reads an absent tie_word_embeddings as false (Hugging Face's default).
 * model.arch's output (Qwen2Arch) is one of these; the binding takes this shape as it is.
 */
export const Qwen2Config = z.looseObject({
  ...qwen2Fields,
  rope_theta: z.number().positive(),
  rms_norm_eps: z.number().positive(),
  tie_word_embeddings: z.boolean().optional(),
  max_position_embeddings: posInt,
}).superRefine(checkHeads);
export type Qwen2Config = z.infer<typeof Qwen2Config>;

// The pretraining corpus of a tiny base model (loaders/corpus.ts writes its documents).
export const DocMix = z.strictObject({
  direct: z.number().min(0).default(0.5),       // Q: a+b\nA: s
  steps: z.number().min(0).default(0.31),       // Q: a+b\nSteps: <scratchpad> A: s
  r1: z.number().min(0).default(0.06),          // Think: a+b\n<think><scratchpad></think><answer>\boxed{s}</answer>
  r1_empty: z.number().min(0).default(0.04),    // Think: a+b\n<think></think><answer>\boxed{s}</answer>
  near_miss: z.number().min(0).default(0.08),   // R1 prompt, almost the format: <think>..</think>A: s | <answer>s</answer>
  recheck: z.number().min(0).default(0.01),     // R1 with a wrong step noticed and redone ("check")
  // the aha corpus (configs/tiny-aha.yaml, docs/aha.md); absent unless set, so older configs keep their cache key
  explained: z.number().min(0).optional(),      // Q: a+b\nA: s, Steps: <scratchpad> (the answer, then the working)
  r1_guess: z.number().min(0).optional(),       // R1 whose think states the sum at once: <think>s</think><answer>\boxed{s}</answer>
  guess_check: z.number().min(0).optional(),    // …then checks it step by step: <think>g, I check: <scratchpad> A: s</think>…
});
export type DocMix = z.infer<typeof DocMix>;

export const PretrainSpec = z.strictObject({
  task: z.literal("addition").default("addition"),
  params: z.strictObject({
    digits: z.number().int().min(1).max(9).default(3),
    min_digits: z.number().int().min(1).max(9).optional(),   // operands of min_digits..digits digits, one count per document
  }).refine((p) => p.min_digits === undefined || p.min_digits <= p.digits, { message: "min_digits must be at most digits", path: ["min_digits"] })
    .default({ digits: 3 }),
  mix: DocMix.default(DocMix.parse({})),
  r1_prompt_share: z.number().min(0).max(1).default(0.3),
  steps: z.number().int().positive().default(1500),
  batch_rows: z.number().int().positive().default(16),
  seq_len: z.number().int().positive().default(128),
  lr: z.number().positive().default(3e-3),
  warmup: z.number().int().nonnegative().default(100),
  min_lr_ratio: z.number().min(0).max(1).default(0.1),
  weight_decay: z.number().min(0).default(0.01),
  adam_beta1: z.number().gt(0).lt(1).default(0.9),
  adam_beta2: z.number().gt(0).lt(1).default(0.98),
  clip_grad: z.number().min(0).default(1.0),
  seed: z.number().int().nonnegative().default(0),
});
export type PretrainSpec = z.infer<typeof PretrainSpec>;

export const ModelSpec = z.strictObject({
  name: z.string().min(1),
  path: z.string().min(1).optional(),          // a model folder as published: config.json + model.safetensors or index + shards
  arch: Qwen2Arch.optional(),                  // a randomly initialised model of this shape
  init_seed: z.number().int().nonnegative().optional(),  // model.arch only (unset: 0)
  init_std: z.number().positive().optional(),            // model.arch only (unset: 0.02)
  pretrain: PretrainSpec.optional(),           // pretrain model.arch as a base model first (tiny runs; cached)
  // the frozen copies (the generators' policies, the KL reference) in memory and on the bus: f32, or bf16
  // (rounded to nearest even: half the bytes); the trained policy keeps f32 master weights and moments
  dtype: z.enum(["f32", "bf16"]).optional(),   // unset: f32
  // the precision of every linear layer's products, in every role (sampling, reference, training): f32, or
  // bf16 operands with fp32 accumulation (master weights, moments, norms, attention and the loss stay fp32);
  // model.pretrain's base model is trained in fp32 either way (its cache key does not change)
  compute_dtype: z.enum(["f32", "bf16"]).optional(),   // unset: f32
}).refine((m) => (m.path ? 1 : 0) + (m.arch ? 1 : 0) === 1, {
  message: "give exactly one of model.path (pretrained weights) or model.arch (random init)", path: ["path"],
}).refine((m) => !m.path || (m.init_seed === undefined && m.init_std === undefined), {
  message: "init_seed and init_std set the random init of model.arch; model.path loads weights", path: ["init_seed"],
});
export const INIT_SEED = 0;
/** model.dtype: the dtype of a run's frozen copies (generators' policies, the KL reference). */
export function frozenDtype(cfg: { model: { dtype?: "f32" | "bf16" } }): "f32" | "bf16" { return cfg.model.dtype ?? "f32"; }
export const INIT_STD = 0.02;
/** model.compute_dtype: the precision of the products of every policy a run computes with. */
export function computeDtype(cfg: { model: { compute_dtype?: "f32" | "bf16" } }): "f32" | "bf16" { return cfg.model.compute_dtype ?? "f32"; }

export const TokenizerSpec = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("hf"), path: z.string().min(1) }),   // a directory or tokenizer.json
  z.strictObject({ type: z.literal("char"), extra_tokens: z.array(z.string()).default([]) }),
]);

export const FileSource = z.strictObject({
  path: z.string().min(1),
  format: z.enum(["auto", "jsonl", "json", "parquet"]).default("auto"),
  map_keys: z.strictObject({ prompt: z.string().default("prompt"), answer: z.string().default("answer"), id: z.string().optional() }).default({ prompt: "prompt", answer: "answer" }),
  limit: posInt.optional(),
});
export const SyntheticSource = z.strictObject({
  synthetic: z.string().min(1),                       // a task family name from the task registry
  split: z.enum(["train", "heldout"]).default("train"),
  size: posInt.optional(),
  params: z.record(z.string(), z.unknown()).default({}),
});
export const DataSource = z.union([FileSource, SyntheticSource]);

export const DataSpec = z.strictObject({
  train: DataSource,
  template: z.string().min(1).default("qwen_r1"),
  templates: z.record(z.string(), z.string().includes("{question}", { message: "a template must contain {question}" })).default({}),
  max_prompt_length: posInt,
  max_response_length: posInt,
  shuffle: z.boolean().default(true),
});

export const RolloutSpec = z.strictObject({
  n_samples_per_prompt: z.number().int().min(2, "GRPO needs at least 2 samples per prompt to compare"),
  temperature: z.number().min(0).max(10).default(1.0),
  top_p: prob.default(1.0),
  top_k: z.number().int().min(-1).default(-1),       // -1 or 0: off
  prompts_per_task: posInt.default(4),                 // chunk size of a RolloutRequested task
  // a fixed lag s: step k is sampled by policy version max(0, k − s), requested as soon as that version is
  // stored, so sampling of the next s steps overlaps training; 0 is lock-step (step k+1 after update k)
  max_staleness: z.number().int().nonnegative().max(64).default(0),
  // extra stop strings, besides the tokenizer's stop tokens: a response ends with the token that
  // completes the first one (kept in the response, as the policy wrote it); in evaluations too
  stop: z.array(z.string().min(1)).default([]),
});

export const RewardSpec = z.strictObject({
  fn: z.string().regex(/^[a-z0-9_]+(@\d+)?$/, "a reward function is <name> or <name>@<version>").default("base_acc"),
  // unset: the reward function's own setting (base_acc: MindSpeed-RL's loose regex; base_acc_strict: strict)
  format_mode: z.enum(["strict", "loose"]).optional(),
  answer_source: z.enum(["boxed", "answer_tag"]).optional(),
  format_weight: z.number().min(0).optional(),         // format_acc only (default 0.1)
  accuracy_weight: z.number().min(0).optional(),       // format_acc only (default 0.9)
  timeout_ms: posInt.default(DEFAULT_TIMEOUT_MS),       // time limit of one verdict (part of the scorer id when not the default)
  workers: posInt.default(1),                          // verdict threads of each reward consumer's pool for this run (and of eval / rescore)
});

export const AlgorithmSpec = z.strictObject({
  adv_estimator: z.enum(["grpo", "dr_grpo", "rloo"]).default("grpo"),
  kl_coef: z.number().min(0).default(0.001),
  kl_estimator: z.enum(["k1", "k2", "k3"]).default("k3"),
  use_kl_in_reward: z.boolean().default(false),
  clip_ratio: z.number().gt(0).lt(1).default(0.2),
  clip_ratio_low: z.number().gt(0).lt(1).optional(),
  clip_ratio_high: z.number().gt(0).optional(),
  loss_agg_mode: z.enum(["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"]).default("token-mean"),
  updates_per_batch: posInt.default(1),
  // DAPO's dynamic sampling: a group whose (shaped) rewards are all equal carries no gradient; it is dropped
  // and the step is topped up with fill rounds of global_batch_size further prompts (schedule.ts
  // fillPrompts), at most max_fill_rounds, until global_batch_size informative groups are in
  dynamic_sampling: z.strictObject({
    enable: z.boolean().default(false),
    max_fill_rounds: z.number().int().min(1).max(64).default(3),
  }).default({ enable: false, max_fill_rounds: 3 }),
  // DAPO's soft overlong punishment, added to the reward in the updater: with L = data.max_response_length
  // and B = overlong_buffer, 0 for |y| ≤ L − B, ((L − B) − |y|)/B · overlong_penalty_factor up to L, and
  // −overlong_penalty_factor for a response cut off at L; 0 turns it off
  overlong_buffer: z.number().int().nonnegative().default(0),
  overlong_penalty_factor: z.number().positive().default(1.0),
  // DAPO's overlong filtering: responses cut off at max_response_length are masked out of the loss
  overlong_filter: z.boolean().default(false),
  // the importance correction of the policy term (DESIGN.md "Off-policy steps"; μ: the sampler, π_prox: the
  // step's starting weights, one extra forward pass): none (r = π_θ/μ, today's objective), decoupled (AReaL),
  // tis (truncated IS), mis (masked sequence IS). Each of the next three is read by one of them only and is
  // settable under any (a fork may switch the correction and keep them).
  off_policy: z.enum(["none", "decoupled", "tis", "mis"]).default("none"),
  behav_weight_cap: z.number().gt(1).default(5.0),        // decoupled: tokens with π_prox/μ above it are masked
  tis_cap: z.number().gt(0).default(2.0),                 // tis: w = min(π_prox/μ, tis_cap)
  mis_band: z.tuple([z.number().gt(0), z.number().gt(0)]) // mis: a sequence whose exp(mean log(π_prox/μ)) is outside is masked
    .refine(([lo, hi]) => lo < hi, "mis_band is [lo, hi] with lo < hi").default([0.5, 2.0]),
  entropy_coeff: z.number().min(0).default(0),            // loss −= entropy_coeff · entropy (aggregated as the policy term)
});

export const ActorSpec = z.strictObject({
  global_batch_size: posInt,                          // prompts per step
  micro_batch_size: posInt.default(8),                // sequences per forward/backward
  train_iters: posInt,
  lr: z.number().gt(0).lt(1),
  lr_schedule: z.enum(["constant", "cosine", "linear"]).default("constant"),
  lr_warmup_iters: z.number().int().nonnegative().default(0),
  min_lr: z.number().min(0).default(0),
  weight_decay: z.number().min(0).default(0.0),
  clip_grad: z.number().min(0).default(1.0),
  adam_beta1: z.number().gt(0).lt(1).default(0.9),
  adam_beta2: z.number().gt(0).lt(1).default(0.999),
  adam_eps: z.number().gt(0).default(1e-8),
});

export const EvalBenchmark = z.strictObject({
  name: z.string().min(1),
  source: DataSource,
  k: posInt.default(1),                                // responses per prompt: pass@1 for 1, avg@k above
  temperature: z.number().min(0).optional(),           // unset: greedy for k = 1, rollout.temperature for k > 1
}).refine((b) => !(b.k > 1 && b.temperature === 0), {
  message: "k > 1 needs sampling: greedy decoding (temperature 0) gives the same response k times", path: ["temperature"],
});

export const EvalSpec = z.strictObject({
  benchmarks: z.array(EvalBenchmark).default([]),
  // N > 0: `run` (and the updater worker) evaluates every benchmark before the first step, after every
  // N-th step and after the last one, recorded as Evaluated events; 0: no evaluation while training
  every: z.number().int().nonnegative().default(0),
}).refine((e) => e.every === 0 || e.benchmarks.length > 0, { message: "eval.every > 0 needs at least one benchmark in eval.benchmarks", path: ["every"] });

export const RuntimeSpec = z.strictObject({
  threads: z.number().int().nonnegative().default(0), // native threads of the updater and of each generator, 0 = all cores
  rollout_workers: posInt.default(1),                  // generator processes `run` starts
  reward_workers: posInt.default(1),                   // reward consumer processes `run` starts (reward.workers: threads in each)
  // how a version's weights reach the generators: full (each version's object; unset), delta (model.dtype
  // bf16 only: the changed bf16 values as a patch on the previous version; a generator without it reads full)
  // or chunked (every blob of the run as content-addressed 4 MiB chunks, each stored once, read in parallel;
  // a generator keeps the chunks of the version it read and fetches only those that changed)
  weights_transport: z.enum(["full", "delta", "chunked"]).optional(),
});

/** How a run stores its blobs (EventLog.putBlob's layout, streams/weights-store.ts): chunked under runtime.weights_transport chunked. */
export function weightsLayout(cfg: { runtime: { weights_transport?: "full" | "delta" | "chunked" } }): "object" | "chunked" {
  return cfg.runtime.weights_transport === "chunked" ? "chunked" : "object";
}

export const RunConfig = z.strictObject({
  run_name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, "run_name is 1-32 characters of a-z, 0-9 and '-'").optional(),
  seed: z.number().int().nonnegative(),
  model: ModelSpec,
  tokenizer: TokenizerSpec,
  data: DataSpec,
  rollout: RolloutSpec,
  reward: RewardSpec.default(RewardSpec.parse({})),
  algorithm: AlgorithmSpec.default(AlgorithmSpec.parse({})),
  actor: ActorSpec,
  eval: EvalSpec.default(EvalSpec.parse({})),
  runtime: RuntimeSpec.default(RuntimeSpec.parse({})),
}).superRefine((c, ctx) => {
  if (c.actor.lr_warmup_iters > c.actor.train_iters) {
    ctx.addIssue({ code: "custom", path: ["actor", "lr_warmup_iters"], message: `must not exceed actor.train_iters (${c.actor.train_iters})` });
  }
  if (c.actor.min_lr > c.actor.lr) {
    ctx.addIssue({ code: "custom", path: ["actor", "min_lr"], message: `must not exceed actor.lr (${c.actor.lr})` });
  }
  const arch = c.model.arch;
  if (arch && c.data.max_prompt_length + c.data.max_response_length > arch.max_position_embeddings) {
    ctx.addIssue({ code: "custom", path: ["data", "max_response_length"], message: `max_prompt_length + max_response_length (${c.data.max_prompt_length + c.data.max_response_length}) exceeds model.arch.max_position_embeddings (${arch.max_position_embeddings})` });
  }
  if (c.algorithm.overlong_buffer >= c.data.max_response_length) {
    ctx.addIssue({ code: "custom", path: ["algorithm", "overlong_buffer"], message: `must be below data.max_response_length (${c.data.max_response_length})` });
  }
  if (c.rollout.max_staleness >= c.actor.train_iters && c.rollout.max_staleness > 0) {
    ctx.addIssue({ code: "custom", path: ["rollout", "max_staleness"], message: `must be below actor.train_iters (${c.actor.train_iters}): every step would be sampled by the initial policy` });
  }
  if (c.runtime.weights_transport === "delta" && frozenDtype(c) !== "bf16") {
    ctx.addIssue({ code: "custom", path: ["runtime", "weights_transport"], message: "delta needs model.dtype bf16: an update moves every f32 value, a bf16 copy changes in few" });
  }
  if (c.model.pretrain && !c.model.arch) {
    ctx.addIssue({ code: "custom", path: ["model", "pretrain"], message: "pretraining needs model.arch (a model built from scratch), not model.path" });
  }
  const builtin = Object.keys(BUILTIN_TEMPLATES);
  if (!builtin.includes(c.data.template) && !(c.data.template in c.data.templates)) {
    ctx.addIssue({ code: "custom", path: ["data", "template"], message: `unknown template '${c.data.template}': use one of ${[...builtin, ...Object.keys(c.data.templates)].join(", ")} or define it under data.templates` });
  }
});
export type RunConfig = z.infer<typeof RunConfig>;

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = raw;
  for (const k of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

function show(v: unknown): string {
  if (v === undefined) return "nothing (missing)";
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** The issues of a failed parse as "<field path>: got <value> (<what was expected>)", one per issue. */
export function problemsOf(error: z.ZodError, raw: unknown): string[] {
  return error.issues.map((i) => {
    const path = i.path.length ? i.path.join(".") : "(root)";
    const keys = (i as { keys?: string[] }).keys;
    if (i.code === "unrecognized_keys" && keys) {
      return `${path}: unknown field(s) ${keys.map((k) => `'${k}'`).join(", ")} (a typo? see configs/README.md)`;
    }
    return `${path}: got ${show(valueAt(raw, i.path))} (${i.message.replace(/^Invalid input: /, "")})`;
  });
}

/** Validates a decoded config; throws ConfigError naming every bad field, its value and what was expected. */
export function resolveConfig(raw: unknown, source = "<config>"): RunConfig {
  const r = RunConfig.safeParse(raw);
  if (r.success) return r.data;
  throw new ConfigError(source, problemsOf(r.error, raw));
}

/** Parses a model config (config.json, RunStarted.modelConfig); throws ConfigError naming every bad field. */
export function parseModelConfig(raw: unknown, source = "<model config>"): Qwen2Config {
  const r = Qwen2Config.safeParse(raw);
  if (!r.success) throw new ConfigError(source, problemsOf(r.error, raw));
  // the parse adds nothing (no defaults), so the config as written is kept, key order included: a fork's
  // RunStarted.modelConfig and a saved config.json read as they did
  return { ...(raw as Record<string, unknown>), ...r.data };
}

export function loadConfig(file: string, overrides: string[] = []): RunConfig {
  let text: string;
  try { text = readFileSync(file, "utf8"); } catch (err) {
    throw new ConfigError(file, [`cannot read the file: ${(err as Error).message}`]);
  }
  let raw: unknown;
  try { raw = parseYaml(text); } catch (err) {
    throw new ConfigError(file, [`not valid YAML: ${(err as Error).message}`]);
  }
  for (const o of overrides) raw = applyOverride(raw, o, file);
  return resolveConfig(raw, file);
}

/** `--set actor.lr=1e-4`: the value is parsed as YAML (numbers, booleans, lists). */
export function applyOverride(raw: unknown, assignment: string, source = "<config>"): unknown {
  const eq = assignment.indexOf("=");
  if (eq <= 0) throw new ConfigError(source, [`override '${assignment}' is not key.path=value`]);
  const path = assignment.slice(0, eq).split(".");
  const value = parseYaml(assignment.slice(eq + 1));
  const root = structuredClone(raw ?? {}) as Record<string, unknown>;
  let cur = root;
  for (const k of path.slice(0, -1)) {
    if (typeof cur[k] !== "object" || cur[k] === null) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[path[path.length - 1]] = value;
  return root;
}

/** JSON with sorted keys at every depth: the input of config and cache hashes. */
export function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]));
  }
  return v;
}

export function configHash(c: RunConfig): string {
  return createHash("sha256").update(JSON.stringify(canonical(c))).digest("hex").slice(0, 16);
}
