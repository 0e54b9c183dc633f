// Step bookkeeping that must be identical wherever it is computed: prompt selection, group ids and
// seeds, task chunks, the learning-rate schedule. Pure functions of the config and the step.
import type { RunConfig } from "../../streams/config.ts";
import { groupIdOf } from "../../streams/events/index.ts";
import { hashKeys, Rng } from "../rng.ts";

export type Selected = { groupId: string; step: number; slot: number; index: number; epoch: number; seed: number };

const permCache = new Map<string, number[]>();

/** The dataset order of an epoch: a seeded permutation (or file order when shuffle is off). */
export function epochOrder(n: number, seed: number, epoch: number, shuffle: boolean): number[] {
  const key = `${n}:${seed}:${epoch}:${shuffle}`;
  let p = permCache.get(key);
  if (!p) {
    p = Array.from({ length: n }, (_, i) => i);
    if (shuffle) new Rng(seed, epoch, 0xda7a).shuffle(p);
    if (permCache.size > 8) permCache.clear();
    permCache.set(key, p);
  }
  return p;
}

/** The global_batch_size prompts of step k: consecutive positions of the epoch orders, wrapping epochs. */
export function selectPrompts(cfg: RunConfig, datasetSize: number, step: number): Selected[] {
  const B = cfg.actor.global_batch_size;
  const out: Selected[] = [];
  for (let slot = 0; slot < B; slot++) {
    const pos = step * B + slot;
    const epoch = Math.floor(pos / datasetSize);
    const index = epochOrder(datasetSize, cfg.seed, epoch, cfg.data.shuffle)[pos % datasetSize];
    out.push({ groupId: groupIdOf(step, slot), step, slot, index, epoch, seed: hashKeys(cfg.seed, step, slot, 0x5a3d1e) });
  }
  return out;
}

/** Tasks of a step: chunks of prompts_per_task consecutive slots. */
export function taskChunks(selected: Selected[], promptsPerTask: number): { taskId: string; chunk: number; prompts: Selected[] }[] {
  const out = [];
  for (let c = 0; c * promptsPerTask < selected.length; c++) {
    const prompts = selected.slice(c * promptsPerTask, (c + 1) * promptsPerTask);
    out.push({ taskId: `s${prompts[0].step}.c${c}`, chunk: c, prompts });
  }
  return out;
}

/** A learning-rate schedule: linear warm-up over `warmup` steps, then constant, cosine or linear decay to minLr at step `total`. */
export type LrSchedule = { lr: number; minLr: number; warmup: number; total: number; shape: "constant" | "cosine" | "linear" };

/** lr at step k (0-based) of a schedule: the one formula of the GRPO updater and of pretraining. */
export function scheduledLr(s: LrSchedule, step: number): number {
  if (s.warmup > 0 && step < s.warmup) return s.lr * (step + 1) / s.warmup;
  if (s.shape === "constant") return s.lr;
  const span = Math.max(1, s.total - s.warmup);
  const t = Math.min(1, (step - s.warmup) / span);
  const frac = s.shape === "cosine" ? 0.5 * (1 + Math.cos(Math.PI * t)) : 1 - t;
  return s.minLr + (s.lr - s.minLr) * frac;
}

/** lr at step k (0-based) of the actor: linear warm-up, then constant, cosine or linear decay to min_lr. */
export function learningRate(a: RunConfig["actor"], step: number): number {
  return scheduledLr({ lr: a.lr, minLr: a.min_lr, warmup: a.lr_warmup_iters, total: a.train_iters, shape: a.lr_schedule }, step);
}
