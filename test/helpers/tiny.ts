// A tiny random-weight Qwen2 run config for loop tests (char tokenizer, 2-digit addition).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";

export function tinyConfig(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    run_name: "tiny",
    seed: 7,
    model: {
      name: "tiny-random", init_seed: 3,
      arch: { vocab_size: 104, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 64, max_position_embeddings: 128 },
    },
    tokenizer: { type: "char" },
    data: { train: { synthetic: "addition", size: 200, params: { digits: 2 } }, template: "r1_plain", max_prompt_length: 32, max_response_length: 16 },
    rollout: { n_samples_per_prompt: 4, prompts_per_task: 2 },
    reward: { fn: "base_acc" },
    algorithm: { kl_coef: 0.001 },
    // weight decay makes every step change the weights even when a random model earns no reward
    actor: { global_batch_size: 4, micro_batch_size: 8, train_iters: 3, lr: 1e-3, weight_decay: 0.1 },
    runtime: { rollout_workers: 2, reward_workers: 2, threads: 1 },
    ...over,
  };
}

export function writeConfig(cfg: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), "zs-cfg-"));
  const file = join(dir, "run.yaml");
  writeFileSync(file, stringify(cfg));
  return file;
}
