// Evaluation while a run trains (eval.every = N > 0): the policy before the run's first step, after
// every N-th step (counted from step 0, so a fork keeps its parent's rhythm) and after the last step
// is evaluated on every benchmark of eval.benchmarks, each with its own k and temperature, and recorded
// as Evaluated events. The updater awaits it between steps; an evaluation already in the log is not
// repeated, so a restarted updater evaluates the version it stopped at only if that was not recorded.
import type { RunConfig } from "../../streams/config.ts";
import type { EventLog } from "../../streams/eventlog.ts";
import { childLogger } from "../../streams/logger.ts";
import { evaluateRun, samplingOf, type RunEval } from "./run.ts";

/** Whether the policy after step `step` (0-based) is evaluated while the run trains. */
export function evaluatedAfterStep(cfg: RunConfig, step: number): boolean {
  const every = cfg.eval.every;
  return every > 0 && ((step + 1) % every === 0 || step + 1 === cfg.actor.train_iters);
}

/** The evaluations of a policy version while the run trains: every benchmark of eval.benchmarks with its k and temperature. */
export function evaluationPlan(cfg: RunConfig): { bench: string; k: number; temperature: number }[] {
  return cfg.eval.benchmarks.map((b) => ({ bench: b.name, ...samplingOf(cfg, b, {}) }));
}

/** Evaluates one policy version on every benchmark of eval.benchmarks (recorded ones are read back). */
export async function evaluateBenchmarks(log: EventLog, runId: string, cfg: RunConfig, version: number): Promise<RunEval[]> {
  const out: RunEval[] = [];
  for (const p of evaluationPlan(cfg)) out.push(...(await evaluateRun(log, runId, { version, ...p })));
  return out;
}

/** What the hooks read of the updater's view of the run (domain/run/view.ts RunView). */
type State = { config?: RunConfig; version: number; updates: readonly { event: { step: number } }[] };

/** The updater hooks (runUpdater's onReady and afterStep) of periodic evaluation; no-ops when eval.every is 0. */
export function periodicEvaluation(log: EventLog, runId: string) {
  const lg = childLogger({ role: "eval", run: runId });
  const run = async (cfg: RunConfig, version: number) => {
    for (const r of await evaluateBenchmarks(log, runId, cfg, version)) {
      lg.info({ version, benchmark: r.benchmark, k: r.k, recorded: r.recorded, [r.headline]: r.metrics[r.headline] }, "evaluated");
    }
  };
  return {
    // the starting policy, or the last updated one when the updater stopped before evaluating it
    onReady: async (s: State) => {
      const cfg = s.config;
      if (!cfg || cfg.eval.every === 0) return;
      const last = s.updates.at(-1)?.event;
      if (!last || evaluatedAfterStep(cfg, last.step)) await run(cfg, s.version);
    },
    afterStep: async (r: { event: { step: number; toVersion: number } }, s: State) => {
      if (s.config && evaluatedAfterStep(s.config, r.event.step)) await run(s.config, r.event.toVersion);
    },
  };
}
