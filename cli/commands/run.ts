// `zerostream run <config> [--server URL [--creds FILE] | --cluster DIR | --store DIR] [--steps N] [--resume RUN] [--rollout N] [--reward M] [--set k=v ...]`
// (or `--dry-run`: resolve the config's paths, model folder, tokenizer, template and dataset, print the memory plan; cli/dry-run.ts):
// runs a config end to end on a given NATS server or the embedded one on the local store: RunStarted,
// N rollout generators and M reward consumers as child processes, the updater in this process, RunFinished.
// Ctrl-C or SIGTERM stops it after the step in hand, with every child, and prints the command that resumes it.
import { setThreads } from "../../native/index.ts";
import { periodicEvaluation } from "../../offline/eval/periodic.ts";
import { runUpdater } from "../../consumers/updater/driver.ts";
import { stepLimit } from "../../domain/run/decide.ts";
import { loadConfig, type RunConfig } from "../../streams/config.ts";
import { ZeroStreamError } from "../../streams/errors.ts";
import type { EventLog } from "../../streams/eventlog.ts";
import { runConfigOf } from "../../streams/events/index.ts";
import { childLogger } from "../../streams/logger.ts";
import { subjects } from "../../streams/subjects.ts";
import { parseArgs } from "../args.ts";
import { BUS_FLAGS, BUS_USAGE, command, openBus, workerAccess, type BusTarget } from "../bus.ts";
import { exitCodeOf, interruptOf, onInterrupt } from "../interrupt.ts";
import { spawnWorker, startRun, type WorkerProc } from "../launch.ts";
import { Progress } from "../progress.ts";
import { dryRun } from "../dry-run.ts";
import { foldRun } from "../../domain/run/view.ts";

export const summary = "run <config> [--server URL] [--steps N] [--resume RUN] [--rollout N] [--reward M]: run GRPO end to end";

export type RunOutcome = {
  runId: string; step: number; version: number; weightsDigest: string; finished: boolean;
  interrupted?: NodeJS.Signals;           // stopped by SIGINT/SIGTERM/SIGHUP
  resume: string;                         // the command that continues it
};

export async function run(argv: string[]): Promise<number> {
  const { positional, flags, lists } = parseArgs(argv, { boolean: ["dry-run"], string: [...BUS_FLAGS, "steps", "resume", "rollout", "reward", "run-id", "threads"], list: ["set"] });
  const [file] = positional;
  if (flags["dry-run"]) {
    if (!file) { process.stderr.write("usage: zerostream run <config.yaml> --dry-run [--set key=value]\n"); return 2; }
    const d = await dryRun(loadConfig(file, lists.set));
    process.stdout.write(d.lines.join("\n") + "\n");
    return 0;
  }
  if (!file && !flags.resume) {
    process.stderr.write(`usage: zerostream run <config.yaml> ${BUS_USAGE} [--steps N] [--resume RUN] [--rollout N] [--reward M] [--set key=value] [--dry-run]\n`);
    return 2;
  }
  const int = onInterrupt();
  try {
    const out = await runConfig({
      file, bus: flags, steps: flags.steps ? Number(flags.steps) : undefined,
      resume: flags.resume as string | undefined, rollout: flags.rollout ? Number(flags.rollout) : undefined,
      reward: flags.reward ? Number(flags.reward) : undefined, sets: lists.set, runId: flags["run-id"] as string | undefined,
      threads: flags.threads ? Number(flags.threads) : undefined, signal: int.signal,
    });
    process.stdout.write(`run ${out.runId}: ${out.finished ? "finished" : out.interrupted ? `interrupted by ${out.interrupted}` : "stopped"}` +
      ` after ${out.step} step(s), policy v${out.version}, weights ${out.weightsDigest}\n`);
    if (!out.finished) process.stdout.write(`resume it with: ${out.resume}\n`);
    return out.interrupted ? exitCodeOf(out.interrupted) : 0;
  } finally {
    int.dispose();
  }
}

export type RunRequest = {
  file?: string; steps?: number; resume?: string; rollout?: number; reward?: number;
  sets?: string[]; runId?: string; threads?: number; quiet?: boolean;
  bus?: Record<string, string | boolean | undefined>;  // --server/--creds/--cluster/--store (cli/bus.ts)
  server?: string; storeDir?: string;                  // shorthands for bus.server, bus.store
  signal?: AbortSignal;                                // stops the run after the step in hand
  overlapSnapshot?: boolean;                           // runUpdater's option (default true)
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

/** Where a run stands in its log: the steps done, the policy version and its weights. */
export async function standingOf(log: EventLog, runId: string): Promise<{ step: number; version: number; weightsDigest?: string }> {
  const last = foldRun(await log.replayAll(runId, { subject: subjects.policy(runId) })).updates.at(-1)?.event;
  if (last) return { step: last.step + 1, version: last.toVersion, weightsDigest: last.weightsDigest };
  return { step: 0, version: 0, weightsDigest: (await log.runStarted(runId))?.initialWeightsDigest };
}

export const resumeCommand = (runId: string, target: Pick<BusTarget, "args">) => command(["run", "--resume", runId], target);

export async function runConfig(r: RunRequest): Promise<RunOutcome> {
  // a run's config is the one its RunStarted recorded: overrides given with --resume would be ignored
  if (r.resume && (r.file || r.sets?.length)) {
    throw new RunRequestError(`--resume ${r.resume} continues the run with the config its RunStarted recorded; ${r.file ? `the config file ${r.file}` : `--set ${r.sets!.join(" --set ")}`} would be ignored: use \`zerostream fork ${r.resume} --at <step> --set key=value\` to continue with other settings`);
  }
  const lg = childLogger({ role: "run" });
  const signal = r.signal ?? new AbortController().signal;
  const flags = { ...r.bus, ...(r.server ? { server: r.server } : {}), ...(r.storeDir ? { store: r.storeDir } : {}) };
  // a run owns the embedded server it starts: it never borrows one that another command would stop
  const bus = await openBus(flags, { create: true, own: true, name: "zerostream-run" });
  const { log, url, target } = bus;
  if (bus.server) lg.info({ url, pid: bus.server.pid, store: target.storeDir }, "embedded nats-server started");
  const workers: WorkerProc[] = [];
  try {
    let runId: string;
    let cfg: RunConfig;
    if (r.resume) {
      const started = await log.runStarted(r.resume);
      if (!started) throw new Error(`cannot resume ${r.resume}: no RunStarted event in the log at ${url}`);
      runId = r.resume;
      cfg = runConfigOf(started);
      lg.info({ runId }, "resuming");
    } else {
      cfg = loadConfig(r.file!, r.sets ?? []);
      runId = (await startRun(log, cfg, { runId: r.runId, signal })).runId;
      lg.info({ runId }, "run started");
    }
    const plan = workerPlan(cfg, r);
    if (plan.threads) setThreads(plan.threads);
    const spawn = (role: "rollout" | "reward", args: string[]) => {
      const w = workerAccess(target, role);
      workers.push(spawnWorker(role, w.server, [...args, ...w.args], w.env));
    };
    if (!signal.aborted) {
      for (const args of plan.rollout) spawn("rollout", args);
      for (const args of plan.reward) spawn("reward", args);
    }
    const total = stepLimit(cfg, r.steps);
    const progress = new Progress(total, !r.quiet && Boolean(process.stderr.isTTY));
    const state = await runUpdater(log, runId, { signal, steps: r.steps, overlapSnapshot: r.overlapSnapshot, onStep: ({ event }) => progress.step(event), ...periodicEvaluation(log, runId) });
    progress.end();
    const interrupted = interruptOf(signal);
    return {
      runId, step: state.step, version: state.version, weightsDigest: state.weightsDigest!, finished: Boolean(state.finished),
      ...(interrupted ? { interrupted } : {}), resume: resumeCommand(runId, target),
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await bus.close();
  }
}
