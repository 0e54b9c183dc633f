// Advantage estimators, a registry chosen once at start-up (DESIGN.md "GRPO, precisely").
import { ZeroStreamError } from "../../streams/errors.ts";

export type AdvantageEstimator = (rewards: readonly number[]) => number[];

const mean = (r: readonly number[]) => r.reduce((a, b) => a + b, 0) / r.length;

/** Unbiased standard deviation (n − 1), 0 for a single sample. */
export function stdUnbiased(r: readonly number[]): number {
  if (r.length < 2) return 0;
  const m = mean(r);
  return Math.sqrt(r.reduce((a, b) => a + (b - m) ** 2, 0) / (r.length - 1));
}

export const advantageEstimators: ReadonlyMap<string, AdvantageEstimator> = new Map<string, AdvantageEstimator>([
  // MindSpeed-RL / veRL GRPO: (r − mean) / (std_unbiased + 1e-6)
  ["grpo", (r) => { const m = mean(r), s = stdUnbiased(r); return r.map((x) => (x - m) / (s + 1e-6)); }],
  // Dr. GRPO: r − mean, no std normalisation
  ["dr_grpo", (r) => { const m = mean(r); return r.map((x) => x - m); }],
  // RLOO: r_i − mean of the others
  ["rloo", (r) => {
    const n = r.length;
    if (n < 2) return r.map(() => 0);
    const sum = r.reduce((a, b) => a + b, 0);
    return r.map((x) => x - (sum - x) / (n - 1));
  }],
]);

export class UnknownEstimatorError extends ZeroStreamError {}

export function advantageEstimator(name: string): AdvantageEstimator {
  const f = advantageEstimators.get(name);
  if (!f) throw new UnknownEstimatorError(`unknown advantage estimator '${name}': known are ${[...advantageEstimators.keys()].join(", ")}`);
  return f;
}
