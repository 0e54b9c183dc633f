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

/** The prompt at position `pos` of the schedule (the epoch orders end to end), as step `step`'s slot `slot`. */
function atPosition(cfg: RunConfig, datasetSize: number, pos: number, step: number, slot: number): Selected {
  const epoch = Math.floor(pos / datasetSize);
  const index = epochOrder(datasetSize, cfg.seed, epoch, cfg.data.shuffle)[pos % datasetSize];
  return { groupId: groupIdOf(step, slot), step, slot, index, epoch, seed: hashKeys(cfg.seed, step, slot, 0x5a3d1e) };
}

/** The global_batch_size prompts of step k: consecutive positions of the epoch orders, wrapping epochs. */
export function selectPrompts(cfg: RunConfig, datasetSize: number, step: number): Selected[] {
  const B = cfg.actor.global_batch_size;
  return Array.from({ length: B }, (_, slot) => atPosition(cfg, datasetSize, step * B + slot, step, slot));
}

/**
 * The prompts of fill round r (1..max_fill_rounds) of step k under dynamic sampling: slots r·B..r·B+B−1
 * of the step, taken from the schedule past the run's own steps (positions from train_iters·B on, B per
 * round, max_fill_rounds rounds per step). They depend on the step and the round only, never on what
 * earlier steps dropped, so a step's fill can be requested while other steps are in flight (a fixed lag)
 * and a replay selects the same prompts.
 */
export function fillPrompts(cfg: RunConfig, datasetSize: number, step: number, round: number): Selected[] {
  const B = cfg.actor.global_batch_size, R = cfg.algorithm.dynamic_sampling.max_fill_rounds;
  if (round < 1 || round > R) throw new RangeError(`fill round ${round} of step ${step}: rounds are 1..${R} (algorithm.dynamic_sampling.max_fill_rounds)`);
  const first = (cfg.actor.train_iters + step * R + (round - 1)) * B;
  return Array.from({ length: B }, (_, i) => atPosition(cfg, datasetSize, first + i, step, round * B + i));
}

/** The prompt of a step's slot: a slot below global_batch_size is the step's own, above it a fill round's. */
export function promptOfSlot(cfg: RunConfig, datasetSize: number, step: number, slot: number): Selected | undefined {
  const B = cfg.actor.global_batch_size, round = Math.floor(slot / B);
  if (slot < 0 || !Number.isInteger(slot)) return undefined;
  if (round === 0) return selectPrompts(cfg, datasetSize, step)[slot];
  if (!cfg.algorithm.dynamic_sampling.enable || round > cfg.algorithm.dynamic_sampling.max_fill_rounds) return undefined;
  return fillPrompts(cfg, datasetSize, step, round)[slot - round * B];
}

/**
 * The policy version that samples step k's groups: a fixed lag of rollout.max_staleness = s versions,
 * version max(v₀, v₀ + k − k₀ − s) for a run (or fork) whose first step k₀ starts from version v₀. Never
 * "the freshest version": the lag is a function of the step, so a run is a function of its config and seed.
 */
export function samplingVersion(staleness: number, first: { step: number; version: number }, step: number): number {
  return first.version + Math.max(0, step - first.step - staleness);
}

/** Tasks of a step: chunks of prompts_per_task consecutive slots; a fill round r's ids are s<k>.f<r>.c<i>. */
export function taskChunks(selected: Selected[], promptsPerTask: number, round = 0): { taskId: string; chunk: number; prompts: Selected[] }[] {
  const out = [];
  for (let c = 0; c * promptsPerTask < selected.length; c++) {
    const prompts = selected.slice(c * promptsPerTask, (c + 1) * promptsPerTask);
    out.push({ taskId: round ? `s${prompts[0].step}.f${round}.c${c}` : `s${prompts[0].step}.c${c}`, chunk: c, prompts });
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
