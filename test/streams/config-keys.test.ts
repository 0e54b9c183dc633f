// Every key of the run config does what it says, or the schema refuses it. The list of keys is derived
// from the zod schema itself (every leaf path), so a key added without a case here fails this test.
// For each key, the test changes it in a small valid config and shows that what a component consumes
// changes — the prompts and tokens, the tasks and sampler, the initial or pretrained weights, the
// weights after a real GRPO update through the native engine, the verdicts and scorer id, the
// evaluation plan, the worker plan — or that the changed config is refused with a message naming it.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { newRunId, initialPolicy } from "../../cli/launch.ts";
import { workerPlan } from "../../cli/commands/run.ts";
import { headerSection } from "../../offline/report/html.ts";
import { resolveBenchmark } from "../../offline/eval/benchmarks.ts";
import { evaluatedAfterStep, evaluationPlan } from "../../offline/eval/periodic.ts";
import { poolSettingsOf, rewardSpecOf, scorerOf } from "../../domain/reward/spec.ts";
import { score } from "../../domain/reward/score.ts";
import { microBatches, sequencesOf, type StepGroup } from "../../domain/grpo/batch.ts";
import { decide, evolve, initialUpdaterState, stepBatch, stepLimit, tasksOfStep, type DecideContext } from "../../domain/run/decide.ts";
import { emptyView, foldRun } from "../../domain/run/view.ts";
import { groupSampled, groupScored, runStarted } from "../helpers/events.ts";
import { ensurePretrained } from "../../offline/pretrain.ts";
import { learningRate, selectPrompts } from "../../domain/grpo/schedule.ts";
import { grpoUpdate } from "../../compute/update.ts";
import { AdamW, Policy } from "../../native/index.ts";
import { computeDtype, frozenDtype, resolveConfig, RunConfig } from "../../streams/config.ts";
import { prepareTrainSet } from "../../loaders/datasets.ts";
import { applyStops } from "../../domain/stops.ts";
import { loadTokenizer } from "../../loaders/tokenizer.ts";
import { ConfigError } from "../../streams/errors.ts";
import type { ReportModel } from "../../offline/report/fold.ts";
import { tinyConfig } from "../helpers/tiny.ts";

type Raw = Record<string, unknown>;
type Def = { type: string; [k: string]: unknown };

/** Every leaf path of a zod schema: objects by key, unions merged, arrays of objects as `key[]`. */
export function leafPaths(schema: unknown, path = ""): string[] {
  const d = (schema as { _zod: { def: Def } })._zod.def;
  switch (d.type) {
    case "object": return Object.entries(d.shape as Record<string, unknown>).flatMap(([k, v]) => leafPaths(v, path ? `${path}.${k}` : k));
    case "optional": case "default": case "nullable": case "prefault": case "readonly": case "catch": return leafPaths(d.innerType, path);
    case "pipe": return leafPaths(d.in, path);
    case "union": return [...new Set((d.options as unknown[]).flatMap((o) => leafPaths(o, path)))];
    case "array": return (d.element as { _zod: { def: Def } })._zod.def.type === "object" ? leafPaths(d.element, `${path}[]`) : [path];
    default: return [path];
  }
}

// ---- fixtures: files a config can name ----------------------------------------------------------
const dir = mkdtempSync(join(tmpdir(), "zs-keys-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const jsonl = (name: string, rows: Raw[]) => { const f = join(dir, name); writeFileSync(f, rows.map((r) => JSON.stringify(r)).join("\n") + "\n"); return f; };
const rowsA = Array.from({ length: 12 }, (_, i) => ({ prompt: `${i}+1`, answer: String(i + 1), problem: `${i}+2`, solution: String(i + 2), uid: `u${i}` }));
const fileA = jsonl("a.jsonl", rowsA);
const fileB = jsonl("b.jsonl", rowsA.map((r) => ({ ...r, prompt: `${r.prompt}+0` })));
const fileNoExt = jsonl("rows.data", rowsA);
function hfTokenizer(name: string, merges: string[]): string {
  const chars = ["<|endoftext|>", "\n", ...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i))];
  const vocab: Record<string, number> = Object.fromEntries(chars.map((c, i) => [c, i]));
  for (const m of merges) vocab[m.replace(" ", "")] = Object.keys(vocab).length;
  const d = join(dir, name);
  mkdirSync(d);
  writeFileSync(join(d, "tokenizer.json"), JSON.stringify({
    version: "1.0", truncation: null, padding: null, normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null,
    added_tokens: [{ id: 0, content: "<|endoftext|>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges },
  }));
  writeFileSync(join(d, "tokenizer_config.json"), JSON.stringify({ eos_token: "<|endoftext|>" }));
  return d;
}
const tokA = hfTokenizer("tok-a", []), tokB = hfTokenizer("tok-b", ["T h"]);
const modelA = join(dir, "model-a"), modelB = join(dir, "model-b");
const cacheDir = join(dir, "cache");

// ---- base configs -------------------------------------------------------------------------------
function set(raw: Raw, path: string, value: unknown): Raw {
  const keys = path.replace(/\[\]/g, ".0").split(".");
  let cur = raw as Record<string, unknown>;
  for (const k of keys.slice(0, -1)) cur = (cur[k] ??= {}) as Record<string, unknown>;
  if (value === undefined) delete cur[keys[keys.length - 1]];
  else cur[keys[keys.length - 1]] = value;
  return raw;
}
const base = (): Raw => ({
  ...tinyConfig(),
  rollout: { n_samples_per_prompt: 4, prompts_per_task: 2, temperature: 1 },
  eval: { benchmarks: [{ name: "held", source: { synthetic: "addition", split: "heldout", size: 8, params: { digits: 2 } } }], every: 0 },
  runtime: { threads: 1, rollout_workers: 1, reward_workers: 1 },
});
type Patch = [string, unknown][];
const FILE: Patch = [["data.train", { path: fileA, map_keys: { prompt: "prompt", answer: "answer" } }]];
const EVAL_FILE: Patch = [["eval.benchmarks[].source", { path: fileA, map_keys: { prompt: "prompt", answer: "answer" } }]];
const HF: Patch = [["tokenizer", { type: "hf", path: tokA }]];
const PRETRAIN: Patch = [["model.pretrain", { steps: 3, batch_rows: 2, seq_len: 32, warmup: 1, params: { digits: 2 } }]];
const PATH: Patch = [["model", { name: "m", path: modelA }]];
const FORMAT_ACC: Patch = [["reward.fn", "format_acc"]];
const COSINE: Patch = [["actor.lr_schedule", "cosine"], ["actor.train_iters", 4]];
const TWO_UPDATES: Patch = [["algorithm.updates_per_batch", 2]];
const DYNAMIC: Patch = [["algorithm.dynamic_sampling", { enable: true, max_fill_rounds: 3 }]];
const DECOUPLED: Patch = [["algorithm.off_policy", "decoupled"]];
const TEMPLATE: Patch = [["data.template", "mine"], ["data.templates", { mine: "Solve {question}" }]];

// ---- what components consume (each a pure function of the resolved config, or the real engine) --
const hash = (x: unknown) => createHash("sha256").update(typeof x === "string" ? x : Buffer.from((x as Float32Array).buffer)).digest("hex").slice(0, 16);
const attempt = async (f: () => Promise<unknown> | unknown) => { try { return await f(); } catch (err) { return { error: (err as Error).message }; } };

async function prompts(cfg: RunConfig) {
  return attempt(async () => {
    const ds = await prepareTrainSet(cfg, loadTokenizer(cfg.tokenizer));
    return { total: ds.total, filtered: ds.filteredTooLong, rows: ds.rows.slice(0, 6).map((r) => [r.id, r.text, r.answer, r.tokens.join(" ")]) };
  });
}
async function benchmark(cfg: RunConfig) {
  return attempt(async () => (await resolveBenchmark(cfg, loadTokenizer(cfg.tokenizer), cfg.eval.benchmarks[0].name)).rows.map((r) => [r.id, r.text, r.answer]));
}
const tasks = (cfg: RunConfig) => tasksOfStep(cfg, "r", 0, 0, "sha256:0", selectPrompts(cfg, 200, 0), [1], Array.from({ length: 200 }, (_, i) => `row-${i}`));
const schedule = (cfg: RunConfig) => [0, 1, 2].map((k) => selectPrompts(cfg, 200, k));
const lr = (cfg: RunConfig) => ({ steps: stepLimit(cfg), lr: Array.from({ length: cfg.actor.train_iters }, (_, k) => learningRate(cfg.actor, k)) });
async function weights(cfg: RunConfig) {
  return attempt(async () => {
    const p = await initialPolicy(cfg);
    try {
      const v = p.config.vocab_size;
      return { digest: p.digest(), logits: hash(await p.forward({ tokens: Int32Array.from([1, 5, 9, 13, 17, 21, 25, 29].map((t) => t % v)), seqLens: Int32Array.from([8]) })) };
    } finally { p.dispose(); }
  });
}
/** The frozen copy a generator samples with and the KL reference is (model.dtype): its dtype, digest and logits. */
async function frozenCopy(cfg: RunConfig) {
  return attempt(async () => {
    const p = await initialPolicy(cfg);
    const f = Policy.fromSafetensors(p.toSafetensors(), p.config, frozenDtype(cfg));
    try {
      const v = p.config.vocab_size;
      return { dtype: f.dtype, digest: f.digest(), logits: hash(await f.forward({ tokens: Int32Array.from([1, 5, 9, 13, 17, 21, 25, 29].map((t) => t % v)), seqLens: Int32Array.from([8]) })) };
    } finally { p.dispose(); f.dispose(); }
  });
}
async function pretrained(cfg: RunConfig) {
  return attempt(async () => { const r = await ensurePretrained(cfg, { cacheDir }); return { digest: r.digest, losses: r.losses }; });
}
const RESPONSES = [
  "<think>a</think><answer>\\boxed{3}</answer>",
  "<think>a</think> <think>b</think><answer>\\boxed{3}</answer>",   // loose format only
  "<think>a</think><answer>3</answer>",                              // an answer tag without a box
  "The answer is \\boxed{3}.",                                       // no format, right answer
  "<think>a</think><answer>\\boxed{4}</answer>",                     // format, wrong answer
];
function verdicts(cfg: RunConfig) {
  const spec = rewardSpecOf(cfg);
  return { id: scorerOf(cfg), pool: poolSettingsOf(cfg), rewards: RESPONSES.map((t) => score(t, "3", spec).reward) };
}
const evalPlan = (cfg: RunConfig) => ({ plan: evaluationPlan(cfg), after: Array.from({ length: cfg.actor.train_iters }, (_, k) => k).filter((k) => evaluatedAfterStep(cfg, k)) });
const workers = (cfg: RunConfig) => workerPlan(cfg, {});
const report = (cfg: RunConfig) => headerSection({ runId: "r", steps: [], evals: [], deadLettered: 0, started: { config: cfg, modelConfig: {} } } as unknown as ReportModel);
const stopped = (cfg: RunConfig) => {
  const tok = loadTokenizer(cfg.tokenizer);
  const tokens = Int32Array.from(tok.encode("<think>1+2=3</think><answer>\\boxed{3}</answer> and then more"));
  const r = applyStops({ tokens, logprobs: new Float32Array(tokens.length), finish: "length" as const }, tok, cfg.rollout.stop);
  return { text: tok.decode(r.tokens), finish: r.finish };
};

/** Two real groups sampled by a tiny policy, their old log-probs moved ±0.3 (so clipping acts), rewards 1,0,1,0. */
async function groupsFor(cfg: RunConfig, policy: Policy): Promise<StepGroup[]> {
  const ds = await prepareTrainSet(cfg, loadTokenizer(cfg.tokenizer));
  const rows = ds.rows.slice(0, 2), n = 4;
  const res = await policy.sample({ prompts: rows.flatMap((r) => Array.from({ length: n }, () => Int32Array.from(r.tokens))), seeds: Array.from({ length: 2 * n }, (_, i) => 100 + i), temperature: 1, topP: 1, topK: 0, maxNewTokens: 12, stopTokenIds: [1] });
  return rows.map((r, g) => ({
    sampled: { groupId: `s0.g${g}`, prompt: { id: r.id, index: r.index, text: r.text, tokens: r.tokens },
      samples: Array.from({ length: n }, (_, j) => { const x = res[g * n + j]; return { index: j, seed: 0, tokens: Array.from(x.tokens), text: "", logprobs: Array.from(x.logprobs, (l, t) => l + (t % 2 ? 0.3 : -0.3)), finish: x.finish }; }) },
    scored: { groupId: `s0.g${g}`, scorer: "base_acc@1", scores: Array.from({ length: n }, (_, j) => ({ index: j, reward: (j + g) % 2, format: 1, accuracy: (j + g) % 2, outcome: "correct", extracted: null, ms: 0 })) },
  })) as unknown as StepGroup[];
}
async function update(cfg: RunConfig) {
  const arch = cfg.model.arch!;
  // every policy of a run computes at model.compute_dtype (the updater's, the reference, the generators')
  const policy = Policy.init(arch, 3).withCompute(computeDtype(cfg)), reference = Policy.init(arch, 4).withCompute(computeDtype(cfg));
  try {
    const groups = await groupsFor(cfg, policy);
    const a = cfg.actor;
    const optimizer = new AdamW(policy, { beta1: a.adam_beta1, beta2: a.adam_beta2, eps: a.adam_eps, weightDecay: a.weight_decay });
    const up = await grpoUpdate({ cfg, step: 0, policy, optimizer, reference, groups });
    return { advantages: up.advantages, digest: policy.digest() };
  } finally { policy.dispose(); reference.dispose(); }
}
async function partition(cfg: RunConfig) {
  const policy = Policy.init(cfg.model.arch!, 3);
  try {
    const groups = await groupsFor(cfg, policy);
    return microBatches(sequencesOf(groups, new Map(groups.map((g) => [g.sampled.groupId, [0, 0, 0, 0]]))), cfg.actor.micro_batch_size).map((mb) => mb.length);
  } finally { policy.dispose(); }
}

/** The steps (and their versions) a fresh updater requests before its first update: the fixed lag. */
function inFlight(cfg: RunConfig) {
  const c: DecideContext = { runId: "r", config: cfg, limit: cfg.actor.train_iters, rowIds: Array.from({ length: 200 }, (_, i) => `row-${i}`), stopTokenIds: [1] };
  let s = evolve(initialUpdaterState(emptyView("pending")), { seq: 1, event: { ...runStarted("r"), config: cfg } });
  const out: [number, number][] = [];
  for (let cmd = decide(s, c); cmd.kind === "request"; cmd = decide(s, c)) {
    out.push([cmd.step, cmd.tasks[0].policyVersion]);
    s = evolve(s, { type: "TasksPublished", taskIds: cmd.tasks.map((t) => t.taskId) });
  }
  return out;
}
/** Step 0's batch when every group of every round earns rewards all equal (uniform): what dynamic sampling does. */
function dynamicBatch(cfg: RunConfig) {
  let v = foldRun([{ seq: 1, event: { ...runStarted("r"), config: cfg } }], emptyView("pending"));
  let seq = 1;
  for (let i = 0; i < 20; i++) {
    const plan = stepBatch(v, cfg, 200, 0);
    if (plan.status === "ready") return { groups: plan.groups.map((g) => g.sampled.groupId), dropped: plan.dropped.length, rounds: plan.fillRounds };
    v = foldRun(plan.selected.flatMap((x) => [{ seq: ++seq, event: groupSampled("r", 0, x.slot) }, { seq: ++seq, event: groupScored("r", 0, x.slot, [1, 1]) }]), v);
  }
  throw new Error("no batch after 20 rounds");
}

type Effect = (cfg: RunConfig) => unknown;
// patch: the base of the case (both sides); also: what the change needs besides the key (changed side only);
// fails: the error the component must raise with the change (a schema-valid value the loader refuses).
// Without `fails`, the changed config must run: an error never counts as "changes what X gets".
type Case = { patch?: Patch; to: unknown; effect: Effect; also?: Patch; fails?: RegExp } | { patch?: Patch; refuse: unknown; message: RegExp };
const change = (to: unknown, effect: Effect, patch?: Patch, also?: Patch): Case => ({ to, effect, patch, also });
const failsWith = (to: unknown, effect: Effect, fails: RegExp, patch?: Patch): Case => ({ to, effect, patch, fails });
const refuse = (value: unknown, message: RegExp, patch?: Patch): Case => ({ refuse: value, message, patch });

// the keys of a data source, for data.train and for eval.benchmarks[].source
const sourceCases = (prefix: string, effect: Effect, FILE_PATCH: Patch): Record<string, Case> => ({
  [`${prefix}.path`]: change(fileB, effect, FILE_PATCH),
  [`${prefix}.format`]: failsWith("json", effect, /Unexpected non-whitespace character after JSON/, [[prefix, { path: fileNoExt, format: "jsonl" }]]), // JSONL parsed as JSON
  [`${prefix}.map_keys.prompt`]: change("problem", effect, FILE_PATCH),
  [`${prefix}.map_keys.answer`]: change("solution", effect, FILE_PATCH),
  [`${prefix}.map_keys.id`]: change("uid", effect, FILE_PATCH),
  [`${prefix}.limit`]: change(3, effect, FILE_PATCH),
  [`${prefix}.synthetic`]: failsWith("multiplication", effect, /unknown synthetic task 'multiplication': known tasks are addition/), // refused on load
  [`${prefix}.split`]: change(prefix.startsWith("data") ? "heldout" : "train", effect),
  [`${prefix}.size`]: change(5, effect),
  [`${prefix}.params`]: change({ digits: 3 }, effect),
});

const CASES: Record<string, Case> = {
  run_name: change("other", (c) => newRunId(c).replace(/-\d{8}-\d{6}-[0-9a-f]{4}$/, "")),
  seed: change(8, schedule),
  "model.name": change("another-name", report),
  "model.path": change(modelB, weights, PATH),
  "model.arch.vocab_size": change(120, weights),
  "model.arch.hidden_size": change(64, weights),
  "model.arch.num_hidden_layers": change(1, weights),
  "model.arch.num_attention_heads": change(2, weights),
  "model.arch.num_key_value_heads": change(4, weights),
  "model.arch.head_dim": change(16, weights),
  "model.arch.intermediate_size": change(96, weights),
  "model.arch.rope_theta": change(500, weights),
  "model.arch.rms_norm_eps": change(0.5, weights),
  "model.arch.tie_word_embeddings": change(false, weights),
  "model.arch.max_position_embeddings": refuse(40, /max_prompt_length \+ max_response_length \(48\) exceeds model\.arch\.max_position_embeddings \(40\)/),
  "model.init_seed": change(4, weights),
  "model.init_std": change(0.5, weights),
  "model.dtype": change("bf16", frozenCopy),
  "model.compute_dtype": change("bf16", update),
  "model.pretrain.task": refuse("subtraction", /model\.pretrain\.task: got "subtraction"/, PRETRAIN),
  "model.pretrain.params.digits": change(3, pretrained, PRETRAIN),
  "model.pretrain.params.min_digits": change(1, pretrained, PRETRAIN),
  "model.pretrain.mix.direct": change(5, pretrained, PRETRAIN),
  "model.pretrain.mix.steps": change(5, pretrained, PRETRAIN),
  "model.pretrain.mix.r1": change(5, pretrained, PRETRAIN),
  "model.pretrain.mix.r1_empty": change(5, pretrained, PRETRAIN),
  "model.pretrain.mix.near_miss": change(5, pretrained, PRETRAIN),
  "model.pretrain.mix.recheck": change(5, pretrained, PRETRAIN),
  "model.pretrain.mix.explained": change(5, pretrained, PRETRAIN),
  "model.pretrain.mix.r1_guess": change(5, pretrained, PRETRAIN),
  "model.pretrain.mix.guess_check": change(5, pretrained, PRETRAIN),
  "model.pretrain.r1_prompt_share": change(1, pretrained, PRETRAIN),
  "model.pretrain.steps": change(2, pretrained, PRETRAIN),
  "model.pretrain.batch_rows": change(3, pretrained, PRETRAIN),
  "model.pretrain.seq_len": change(24, pretrained, PRETRAIN),
  "model.pretrain.lr": change(0.01, pretrained, PRETRAIN),
  "model.pretrain.warmup": change(2, pretrained, PRETRAIN),
  "model.pretrain.min_lr_ratio": change(0.9, pretrained, PRETRAIN),
  "model.pretrain.weight_decay": change(0.5, pretrained, PRETRAIN),
  "model.pretrain.adam_beta1": change(0.5, pretrained, PRETRAIN),
  "model.pretrain.adam_beta2": change(0.5, pretrained, PRETRAIN),
  "model.pretrain.clip_grad": change(0.001, pretrained, PRETRAIN),
  "model.pretrain.seed": change(1, pretrained, PRETRAIN),
  "tokenizer.type": change("hf", prompts, undefined, [["tokenizer.path", tokA]]),
  "tokenizer.path": change(tokB, prompts, HF),
  "tokenizer.extra_tokens": change(["<sep>"], prompts),
  ...sourceCases("data.train", prompts, FILE),
  "data.template": change("plain", prompts),
  "data.templates": change({ mine: "Add {question}" }, prompts, TEMPLATE),
  "data.max_prompt_length": failsWith(8, prompts, /every prompt is longer than max_prompt_length \(8\)/),   // every prompt of the set has 13 tokens
  "data.max_response_length": change(12, tasks),
  "data.shuffle": change(false, schedule),
  "rollout.n_samples_per_prompt": change(3, tasks),
  "rollout.temperature": change(0.7, tasks),
  "rollout.top_p": change(0.9, tasks),
  "rollout.top_k": change(5, tasks),
  "rollout.prompts_per_task": change(1, tasks),
  "rollout.max_staleness": change(2, inFlight),
  "rollout.stop": change(["</answer>"], stopped),
  "reward.fn": change("acc", verdicts),
  "reward.format_mode": change("strict", verdicts),
  "reward.answer_source": change("answer_tag", verdicts),
  "reward.format_weight": change(0.5, verdicts, FORMAT_ACC),
  "reward.accuracy_weight": change(0.5, verdicts, FORMAT_ACC),
  "reward.timeout_ms": change(5000, verdicts),
  "reward.workers": change(3, verdicts),
  "algorithm.adv_estimator": change("rloo", update),
  "algorithm.kl_coef": change(0.5, update),
  "algorithm.kl_estimator": change("k1", update),
  "algorithm.use_kl_in_reward": change(true, update),
  "algorithm.clip_ratio": change(0.5, update),
  "algorithm.clip_ratio_low": change(0.5, update),
  "algorithm.clip_ratio_high": change(0.5, update),
  "algorithm.loss_agg_mode": change("seq-mean-token-sum-norm", update),
  "algorithm.updates_per_batch": change(2, update),
  "algorithm.dynamic_sampling.enable": change(true, dynamicBatch),
  "algorithm.dynamic_sampling.max_fill_rounds": change(1, dynamicBatch, DYNAMIC),
  "algorithm.overlong_buffer": change(8, update),
  "algorithm.overlong_penalty_factor": change(0.5, update, [["algorithm.overlong_buffer", 8]]),
  "algorithm.overlong_filter": change(true, update),
  // groupsFor's sampler log-probs are π ± 0.3, so ρ = π_prox/μ is e^0.3 or e^−0.3 on alternate tokens: a cap
  // or C of 1.2 bites on half the tokens; a band starting above 1 masks the sequences of geometric mean 1
  "algorithm.off_policy": change("decoupled", update),
  "algorithm.behav_weight_cap": change(1.2, update, DECOUPLED),
  "algorithm.tis_cap": change(1.2, update, [["algorithm.off_policy", "tis"]]),
  "algorithm.mis_band": change([1.001, 2], update, [["algorithm.off_policy", "mis"]]),
  "algorithm.entropy_coeff": change(0.1, update),
  "actor.global_batch_size": change(2, schedule),
  "actor.micro_batch_size": change(3, partition),
  "actor.train_iters": change(5, lr),
  "actor.lr": change(0.05, update),
  "actor.lr_schedule": change("linear", lr, COSINE),
  "actor.lr_warmup_iters": change(2, lr),
  "actor.min_lr": change(1e-4, lr, COSINE),
  "actor.weight_decay": change(0.9, update),
  "actor.clip_grad": change(0.001, update),
  "actor.adam_beta1": change(0.5, update, TWO_UPDATES),
  "actor.adam_beta2": change(0.5, update, TWO_UPDATES),
  "actor.adam_eps": change(0.1, update),
  "eval.benchmarks[].name": change("other", evalPlan),
  ...sourceCases("eval.benchmarks[].source", benchmark, EVAL_FILE),
  "eval.benchmarks[].k": change(4, evalPlan),
  "eval.benchmarks[].temperature": change(0.6, evalPlan),
  "eval.every": change(2, evalPlan),
  "runtime.threads": change(2, workers),
  "runtime.rollout_workers": change(3, workers),
  "runtime.reward_workers": change(3, workers),
  // its effect (patches stored, tasks naming them, generators applying them) is test/grpo/bf16-run.test.ts's
  "runtime.weights_transport": refuse("delta", /runtime\.weights_transport: got "delta" \(delta needs model\.dtype bf16/),
};

const resolve = (raw: Raw) => resolveConfig(raw, "test");
function configOf(patch: Patch | undefined, key?: string, value?: unknown, also?: Patch): Raw {
  const raw = base();
  for (const [p, v] of patch ?? []) set(raw, p, structuredClone(v));
  if (key) set(raw, key, structuredClone(value));
  for (const [p, v] of also ?? []) set(raw, p, structuredClone(v));
  return raw;
}
const memo = new Map<string, Promise<unknown>>();
const effectOf = (effect: Effect, raw: Raw) => {
  const key = `${CASE_NAMES.get(effect)}|${JSON.stringify(raw)}`;
  if (!memo.has(key)) memo.set(key, Promise.resolve().then(() => effect(resolve(raw))));
  return memo.get(key)!;
};
const CASE_NAMES = new Map<Effect, string>(Object.entries({ prompts, benchmark, tasks, schedule, lr, weights, frozenCopy, pretrained, verdicts, evalPlan, workers, report, stopped, update, partition, inFlight, dynamicBatch }).map(([k, f]) => [f as Effect, k]));

describe("every config key", () => {
  before(async () => {
    for (const [d, seed] of [[modelA, 10], [modelB, 11]] as const) {
      const p = Policy.init(resolve(base()).model.arch!, seed);
      await p.save(d);
      p.dispose();
    }
  });

  it("has a case here for every leaf of the schema, and no case for a key that is not one", () => {
    const keys = leafPaths(RunConfig);
    assert.ok(keys.length > 100, `${keys.length} keys`);
    assert.deepEqual(keys.filter((k) => !(k in CASES)), [], "keys without a case");
    assert.deepEqual(Object.keys(CASES).filter((k) => !keys.includes(k)), [], "cases for no key");
  });

  for (const [key, c] of Object.entries(CASES)) {
    if ("refuse" in c) {
      it(`${key}: refused when set to ${JSON.stringify(c.refuse)}`, () => {
        resolve(configOf(c.patch));   // the base is valid
        assert.throws(() => resolve(configOf(c.patch, key, c.refuse)), (e: unknown) => e instanceof ConfigError && c.message.test(e.message));
      });
    } else {
      it(`${key}: ${JSON.stringify(c.to)} changes what ${CASE_NAMES.get(c.effect)} gets`, async () => {
        const before = await effectOf(c.effect, configOf(c.patch));
        const after = await effectOf(c.effect, configOf(c.patch, key, c.to, c.also));
        const failed = (x: unknown): x is { error: string } => Boolean(x && typeof x === "object" && "error" in x);
        assert.ok(!failed(before), `the base config must run: ${JSON.stringify(before)}`);
        if (c.fails) assert.ok(failed(after) && c.fails.test(after.error), `expected an error matching ${c.fails}, got ${JSON.stringify(after).slice(0, 300)}`);
        else assert.ok(!failed(after), `the changed config must run: ${JSON.stringify(after)}`);
        assert.notDeepStrictEqual(after, before);
      });
    }
  }
});

describe("combinations of keys", () => {
  it("algorithm.kl_estimator applies to the KL in the reward (use_kl_in_reward), not only to the loss", async () => {
    const adv = async (est: string) => (await update(resolve(configOf([["algorithm.use_kl_in_reward", true], ["algorithm.kl_coef", 0.5], ["algorithm.kl_estimator", est]])))).advantages;
    const [k1, k2, k3] = [await adv("k1"), await adv("k2"), await adv("k3")];
    assert.notDeepStrictEqual(k1, k3);
    assert.notDeepStrictEqual(k2, k3);
  });
  it("refuses an empty or inverted mis_band and a behaviour-weight cap of 1 or less", () => {
    assert.throws(() => resolve(configOf([["algorithm.mis_band", [2, 2]]])), /algorithm\.mis_band: got \[2,2\] \(mis_band is \[lo, hi\] with lo < hi\)/);
    assert.throws(() => resolve(configOf([["algorithm.mis_band", [2, 0.5]]])), /algorithm\.mis_band/);
    assert.throws(() => resolve(configOf([["algorithm.behav_weight_cap", 1]])), /algorithm\.behav_weight_cap: got 1/);
    assert.throws(() => resolve(configOf([["algorithm.entropy_coeff", -0.1]])), /algorithm\.entropy_coeff: got -0\.1/);
  });
  it("refuses avg@k at temperature 0 and a sampled evaluation schedule without benchmarks", () => {
    assert.throws(() => resolve(configOf([["eval.benchmarks[].k", 4], ["eval.benchmarks[].temperature", 0]])), /eval\.benchmarks\.0\.temperature: got 0 \(k > 1 needs sampling/);
    assert.throws(() => resolve(configOf([["eval.benchmarks", []], ["eval.every", 5]])), /eval\.every: .*needs at least one benchmark/);
  });
  it("a k = 1 benchmark with a temperature samples (seeded), a bare one is greedy", () => {
    assert.deepEqual(evaluationPlan(resolve(configOf([["eval.benchmarks[].temperature", 0.6]]))), [{ bench: "held", k: 1, temperature: 0.6 }]);
    assert.deepEqual(evaluationPlan(resolve(configOf([]))), [{ bench: "held", k: 1, temperature: 0 }]);
    assert.deepEqual(evaluationPlan(resolve(configOf([["eval.benchmarks[].k", 4]]))), [{ bench: "held", k: 4, temperature: 1 }]);
  });
  it("refuses weights on a reward that is 1 only when format and accuracy hold", () => {
    assert.throws(() => rewardSpecOf(resolve(configOf([["reward.format_weight", 0.5]]))), /format_weight \/ accuracy_weight do not apply/);
    assert.equal(rewardSpecOf(resolve(configOf([["reward.fn", "acc"], ["reward.format_weight", 0.5]]))).formatWeight, 0.5);
  });
  it("refuses a parameter the synthetic task does not have, and init settings for a model loaded from a path", async () => {
    const r = await prompts(resolve(configOf([["data.train.params", { digitz: 3 }]])));
    assert.match(JSON.stringify(r), /synthetic task 'addition' has no parameter 'digitz'/);
    assert.throws(() => resolve(configOf([...PATH, ["model.init_seed", 3]])), /model\.init_seed: .*model\.path loads weights/);
  });
});
