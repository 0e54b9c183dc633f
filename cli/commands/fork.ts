// `zerostream fork <run> --at <step> [--set key=value ...] [--run-id ID] [--server URL [--creds FILE] | --cluster DIR | --store DIR]`: starts a new
// run (RunStarted with parent {runId, step, version}) from the weights and optimizer state after
// <step> of an old run, copied into the new run's bucket, with the config overrides applied. It does
// not run it: `zerostream run --resume <new run>` does.
import { Policy } from "../../native/index.ts";
import { ForkError, forkConfig, snapshotAt } from "../../offline/replay/fork.ts";
import { sha256, EventLog } from "../../streams/eventlog.ts";
import { modelConfigOf, runConfigOf, type RunStarted } from "../../streams/events/index.ts";
import { subjects } from "../../streams/subjects.ts";
import { parseArgs } from "../args.ts";
import { BUS_FLAGS, BUS_USAGE, command, withBus } from "../bus.ts";
import { startRun } from "../launch.ts";

export const summary = "fork <run> --at <step> [--set k=v ...]: start a new run from the policy and optimizer state after a step";

export async function forkRun(log: EventLog, runId: string, o: { at: number; sets?: string[]; runId?: string }): Promise<RunStarted> {
  const parent = await log.runStarted(runId);
  if (!parent) throw new ForkError(`run ${runId} has no RunStarted event in the log`);
  const snap = snapshotAt(await log.replayAll(runId, { subject: subjects.policy(runId) }), o.at);
  const cfg = forkConfig(runConfigOf(parent), o.sets ?? [], `fork of ${runId}`);
  const weights = await log.getBlob(runId, snap.weightsDigest);        // verified against the digest
  const optimizer = await log.getBlob(runId, snap.optimizerDigest);
  const policy = Policy.fromSafetensors(weights, modelConfigOf(parent));
  try {
    const digest = sha256(policy.toSafetensors());
    if (digest !== snap.weightsDigest) throw new ForkError(`the weights of step ${o.at} do not round-trip through the engine (${digest} ≠ ${snap.weightsDigest})`);
    // the fork keeps its parent's KL reference (the root's base model), not the snapshot
    const reference = await log.getBlob(runId, parent.referenceWeightsDigest ?? parent.initialWeightsDigest);
    return await startRun(log, cfg, { runId: o.runId, policy, optimizerBytes: optimizer, referenceBytes: reference, parent: { runId, step: o.at, version: snap.toVersion } });
  } finally {
    policy.dispose();
  }
}

export async function run(argv: string[]): Promise<number> {
  const { positional, flags, lists } = parseArgs(argv, { string: [...BUS_FLAGS, "at", "run-id"], list: ["set"] });
  const [runId] = positional;
  const at = Number(flags.at);
  if (!runId || flags.at === undefined || !Number.isInteger(at) || at < 0) {
    process.stderr.write(`usage: zerostream fork <run> --at <step> [--set key=value ...] [--run-id ID] ${BUS_USAGE}\n`);
    return 2;
  }
  return withBus(flags, async ({ log, target }) => {
    const started = await forkRun(log, runId, { at, sets: lists.set, runId: flags["run-id"] as string | undefined });
    process.stdout.write(`forked ${runId} after step ${at} (v${started.parent!.version}) → ${started.runId}\n` +
      `continue it with: ${command(["run", "--resume", started.runId], target)}\n`);
    return 0;
  });
}
