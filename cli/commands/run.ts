// `zerostream run <config> [--server URL] [--steps N] [--resume RUN] [--rollout N] [--reward M] [--set k=v ...]`:
// runs a config end to end on a given NATS server or an embedded one: RunStarted, N rollout generators
// and M reward consumers as child processes, the updater in this process, RunFinished.
import { join } from "node:path";
import { setThreads } from "../../native/index.ts";
import { periodicEvaluation } from "../../consumers/eval/periodic.ts";
import { runUpdater, stepLimit } from "../../consumers/updater/driver.ts";
import { loadConfig, type RunConfig } from "../../streams/config.ts";
import { ZeroStreamError } from "../../streams/errors.ts";
import { EventLog } from "../../streams/eventlog.ts";
import { startLocalServer, type LocalServer } from "../../streams/nats-server.ts";
import { childLogger } from "../../streams/logger.ts";
import { parseArgs } from "../args.ts";
import { spawnWorker, startRun, type WorkerProc } from "../launch.ts";
import { Progress } from "../progress.ts";

export const summary = "run <config> [--server URL] [--steps N] [--resume RUN] [--rollout N] [--reward M]: run GRPO end to end";

export type RunOutcome = { runId: string; step: number; version: number; weightsDigest: string; finished: boolean };

export async function run(argv: string[]): Promise<number> {
  const { positional, flags, lists } = parseArgs(argv, { string: ["server", "steps", "resume", "rollout", "reward", "run-id", "threads"], list: ["set"] });
  const [file] = positional;
  if (!file && !flags.resume) {
    process.stderr.write("usage: zerostream run <config.yaml> [--server nats://host:port] [--steps N] [--resume RUN] [--rollout N] [--reward M] [--set key=value]\n");
    return 2;
  }
  const out = await runConfig({
    file, server: flags.server as string | undefined, steps: flags.steps ? Number(flags.steps) : undefined,
    resume: flags.resume as string | undefined, rollout: flags.rollout ? Number(flags.rollout) : undefined,
    reward: flags.reward ? Number(flags.reward) : undefined, sets: lists.set, runId: flags["run-id"] as string | undefined,
    threads: flags.threads ? Number(flags.threads) : undefined,
  });
  process.stdout.write(`run ${out.runId}: ${out.finished ? "finished" : "stopped"} at step ${out.step}, policy v${out.version}, weights ${out.weightsDigest}\n`);
  return 0;
}

export type RunRequest = {
  file?: string; server?: string; steps?: number; resume?: string; rollout?: number; reward?: number;
  sets?: string[]; runId?: string; threads?: number; storeDir?: string; quiet?: boolean;
};

export class RunRequestError extends ZeroStreamError {}

/**
 * What `run` starts for a config: native threads of the updater (this process) and of every generator
 * (runtime.threads, or --threads; 0 = all cores), and the numbers of generator and reward processes
 * (runtime.rollout_workers / reward_workers, or --rollout / --reward).
 */
export function workerPlan(cfg: RunConfig, r: Pick<RunRequest, "threads" | "rollout" | "reward">): { threads: number; rollout: string[][]; reward: string[][] } {
  const threads = r.threads ?? cfg.runtime.threads;
  const threadArgs = threads ? ["--threads", String(threads)] : [];
  return {
    threads,
    rollout: Array.from({ length: r.rollout ?? cfg.runtime.rollout_workers }, (_, i) => [...threadArgs, "--name", `rollout-${i}`]),
    reward: Array.from({ length: r.reward ?? cfg.runtime.reward_workers }, (_, i) => ["--name", `reward-${i}`]),
  };
}

export async function runConfig(r: RunRequest): Promise<RunOutcome> {
  // a run's config is the one its RunStarted recorded: overrides given with --resume would be ignored
  if (r.resume && (r.file || r.sets?.length)) {
    throw new RunRequestError(`--resume ${r.resume} continues the run with the config its RunStarted recorded; ${r.file ? `the config file ${r.file}` : `--set ${r.sets!.join(" --set ")}`} would be ignored: use \`zerostream fork ${r.resume} --at <step> --set key=value\` to continue with other settings`);
  }
  const lg = childLogger({ role: "run" });
  let server: LocalServer | undefined;
  const url = r.server ?? process.env.NATS_URL ?? (server = await startLocalServer({ storeDir: r.storeDir ?? join(process.cwd(), ".zerostream", "nats") })).url;
  if (server) lg.info({ url, pid: server.pid }, "embedded nats-server started");
  const log = await EventLog.connect(url);
  const workers: WorkerProc[] = [];
  const ctl = new AbortController();
  const stop = () => ctl.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    let runId: string;
    let cfg: RunConfig;
    if (r.resume) {
      const started = await log.runStarted(r.resume);
      if (!started) throw new Error(`cannot resume ${r.resume}: no RunStarted event in the log at ${url}`);
      runId = r.resume;
      cfg = started.config as RunConfig;
      lg.info({ runId }, "resuming");
    } else {
      cfg = loadConfig(r.file!, r.sets ?? []);
      runId = (await startRun(log, cfg, { runId: r.runId })).runId;
      lg.info({ runId }, "run started");
    }
    const plan = workerPlan(cfg, r);
    if (plan.threads) setThreads(plan.threads);
    for (const args of plan.rollout) workers.push(spawnWorker("rollout", url, args));
    for (const args of plan.reward) workers.push(spawnWorker("reward", url, args));
    const total = stepLimit(cfg, r.steps);
    const progress = new Progress(total, !r.quiet && Boolean(process.stderr.isTTY));
    const state = await runUpdater(log, runId, { signal: ctl.signal, steps: r.steps, onStep: ({ event }) => progress.step(event), ...periodicEvaluation(log, runId) });
    progress.end();
    return { runId, step: state.step, version: state.version, weightsDigest: state.weightsDigest!, finished: Boolean(state.finished) };
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    await Promise.all(workers.map((w) => w.stop()));
    await log.close();
    await server?.stop();
  }
}
