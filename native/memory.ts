// The engine's memory for a run, per process and component, from the buffers it allocates (native/core/
// model.h Acts and Scratch, generate.cc Workspace and PackedWeights, adamw.cc): the figures a dry run prints
// before any weight is loaded. Exact where the engine's sizes are plain products (weights, gradients,
// AdamW moments, saved activations, logits, KV cache); "≈" where they depend on kernel padding or threads.
import type { Qwen2Config, RunConfig } from "../streams/config.ts";

export type MemoryItem = { component: string; bytes: number; detail: string; approx?: boolean };
export type ProcessPlan = { process: string; count: number; items: MemoryItem[]; bytes: number };
export type MemoryPlan = { processes: ProcessPlan[]; total: number; numParams: number };

export function paramCount(c: Qwen2Config): number {
  const D = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  const C = c.hidden_size, HD = c.num_attention_heads * D, KD = c.num_key_value_heads * D, F = c.intermediate_size, V = c.vocab_size;
  const layer = 2 * C + HD * C + 2 * KD * C + HD + 2 * KD + C * HD + 3 * F * C;
  return V * C + c.num_hidden_layers * layer + C + (c.tie_word_embeddings ? 0 : V * C);
}

/**
 * The chunk cache of a generator under runtime.weights_transport chunked: about one copy of the weights it
 * samples (f32 or bf16), plus 16 MiB (the safetensors header and a few chunks) so that reading version k+1
 * does not evict the chunks of version k it has yet to reuse.
 */
export function chunkCacheBytes(c: Qwen2Config, dtype: "f32" | "bf16"): number {
  return (dtype === "bf16" ? 2 : 4) * paramCount(c) + 16 * 1024 * 1024;
}

const GiB = 1024 ** 3;
export const gib = (b: number) => `${(b / GiB).toFixed(b < 10 * GiB ? 2 : 1)} GiB`;

/** The plan of a run's processes on one machine: the updater and runtime.rollout_workers generators. */
export function memoryPlan(c: Qwen2Config, run: Pick<RunConfig, "actor" | "data" | "rollout" | "algorithm" | "runtime"> & { model?: { dtype?: "f32" | "bf16"; compute_dtype?: "f32" | "bf16" } }): MemoryPlan {
  const D = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  const C = c.hidden_size, L = c.num_hidden_layers, H = c.num_attention_heads, KVH = c.num_key_value_heads;
  const HD = H * D, QKV = (H + 2 * KVH) * D, F = c.intermediate_size, V = c.vocab_size;
  const P = paramCount(c);
  const f32 = (n: number) => 4 * n;
  // model.dtype: the frozen copies (the KL reference, a generator's policy and its packed panels) in f32 or bf16
  const dtype = run.model?.dtype ?? "f32";
  const frozen = (n: number) => (dtype === "bf16" ? 2 : 4) * n;
  // sampling's panels are bf16 for a bf16 copy and for model.compute_dtype bf16 (fp32 weights rounded as packed)
  const panelDtype = dtype === "bf16" || run.model?.compute_dtype === "bf16" ? "bf16" : "f32";
  const panels = (n: number) => (panelDtype === "bf16" ? 2 : 4) * n;
  // the LM head's panels in training and log-probs: bf16 for compute bf16, else fp32 (a bf16 copy's are widened)
  const headPanelDtype = run.model?.compute_dtype === "bf16" ? "bf16" : "f32";
  const headPanel = (n: number) => (headPanelDtype === "bf16" ? 2 : 4) * n;
  const T = run.data.max_prompt_length + run.data.max_response_length;

  // updater: one micro-batch of micro_batch_size sequences of up to T tokens
  const N = run.actor.micro_batch_size * T;
  // native/core/model.cc logit_chunk_rows: about 16 M floats of logits per chunk, at least 16 rows
  const chunkRows = Math.min(N, Math.max(16, Math.floor((16 << 20) / V)));
  const perToken = (L + 1) * C + 2 * L + 1 + L * QKV + L * HD + L * H + L * C + L * 2 * F + C;
  const updater: MemoryItem[] = [
    { component: "policy weights (f32 master)", bytes: f32(P), detail: `${P.toLocaleString("en-US")} parameters × 4 B` },
    { component: "gradients (f32)", bytes: f32(P), detail: "one per parameter" },
    { component: "AdamW moments m, v (f32)", bytes: 2 * f32(P), detail: "two per parameter" },
  ];
  if (run.algorithm.kl_coef > 0) updater.push({ component: `reference model (${dtype})`, bytes: frozen(P), detail: `kl_coef ${run.algorithm.kl_coef} > 0: a frozen copy (model.dtype ${dtype})` });
  updater.push(
    { component: "activations saved for backward", bytes: f32(N * perToken),
      detail: `micro_batch_size ${run.actor.micro_batch_size} × ${T} tokens (max_prompt_length + max_response_length) × ${perToken.toLocaleString("en-US")} floats` },
    { component: "logits and their gradient, one chunk of rows", bytes: 2 * f32(chunkRows * V),
      detail: `2 × ${chunkRows.toLocaleString("en-US")} rows × ${V.toLocaleString("en-US")} vocab (never tokens × vocab: native/core/train.cc)` },
    { component: "layer temporaries of backward", bytes: f32(N * (2 * F + F + QKV + 4 * C)), detail: "one layer's dx, dln, dqkv, dgu buffers", approx: true },
    { component: "packing workspace of one layer's product", bytes: f32(Math.max(C * QKV, HD * C, C * 2 * F, F * C, N * Math.max(C, HD, F))),
      detail: "the largest weight's panels, or a micro-batch's activations packed for a weight gradient" },
    { component: `LM head panels (${headPanelDtype})`, bytes: (run.algorithm.kl_coef > 0 ? 3 : 2) * headPanel(V * C),
      detail: `packed once per call, for the logits and for their gradient${run.algorithm.kl_coef > 0 ? ", and the reference's for its logits" : ""} (native/core/model.cc model_head_pack)` },
  );

  // a generator: prompts_per_task prompts × n_samples_per_prompt rows, up to T positions each
  const R = run.rollout.prompts_per_task * run.rollout.n_samples_per_prompt;
  const prefill = Math.max(run.rollout.prompts_per_task * run.data.max_prompt_length, R);
  const matmul = L * (C * QKV + HD * C + C * 2 * F + F * C) + V * C;
  const generator: MemoryItem[] = [
    { component: `policy weights (${dtype})`, bytes: frozen(P), detail: `the version being sampled (model.dtype ${dtype})` },
    { component: `packed weight panels for sampling (${panelDtype})`, bytes: panels(matmul), detail: "a GEMM-ready copy of every matmul weight and the head", approx: true },
    { component: "KV cache", bytes: f32(2 * L * R * T * KVH * D),
      detail: `2 × ${L} layers × ${R} rows (prompts_per_task ${run.rollout.prompts_per_task} × n_samples_per_prompt ${run.rollout.n_samples_per_prompt}) × ${T} positions × ${KVH * D}` },
    { component: "step buffers and logits", bytes: f32(prefill * (6 * C + QKV + HD + 3 * F) + 2 * R * V),
      detail: `a prefill of ${prefill.toLocaleString("en-US")} tokens; next-token logits of ${R} rows`, approx: true },
  ];
  if (run.runtime.weights_transport === "chunked") {
    generator.push({ component: "chunk cache", bytes: chunkCacheBytes(c, dtype), detail: "runtime.weights_transport chunked: the chunks of the last version read, reused by the next" });
  }
  const sum = (items: MemoryItem[]) => items.reduce((a, i) => a + i.bytes, 0);
  const processes: ProcessPlan[] = [
    { process: "updater", count: 1, items: updater, bytes: sum(updater) },
    { process: "rollout generator", count: run.runtime.rollout_workers, items: generator, bytes: sum(generator) },
  ];
  return { processes, total: processes.reduce((a, p) => a + p.count * p.bytes, 0), numParams: P };
}
