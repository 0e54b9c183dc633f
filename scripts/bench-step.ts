// `npm run bench -- step [--steps N] [--config FILE] [--json]`: the time of a GRPO step of the tiny
// config, split into sampling, scoring, reference pass, update, and the rest (bus + serialisation +
// weight transfer + waiting), from the PolicyUpdated / GroupSampled / GroupScored events of a real run
// on an embedded nats-server with 1 generator and 1 reward consumer. Medians over steps 1..N-1.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runConfig } from "../cli/commands/run.ts";
import { ensurePretrained } from "../offline/pretrain.ts";
import { modelCacheDir } from "../cli/launch.ts";
import { loadConfig } from "../streams/config.ts";
import { EventLog } from "../streams/eventlog.ts";
import type { GroupSampled, GroupScored, PolicyUpdated } from "../streams/events/index.ts";
import { startLocalServer } from "../streams/nats-server.ts";
import { parseArgs } from "../cli/args.ts";
import { median } from "./stats.ts";


export async function run(argv: string[]): Promise<number> {
  const { flags } = parseArgs(argv, { boolean: ["json"], string: ["steps", "config"] });
  const file = (flags.config as string | undefined) ?? "configs/tiny-r1-zero.yaml";
  const steps = Number(flags.steps ?? 8);
  const cfg = loadConfig(file);
  if (cfg.model.pretrain) await ensurePretrained(cfg, { cacheDir: modelCacheDir() });
  const dir = mkdtempSync(join(tmpdir(), "zs-bench-step-"));
  const server = await startLocalServer({ storeDir: dir });
  try {
    const out = await runConfig({ file, server: server.url, steps, rollout: 1, reward: 1, quiet: true });
    const log = await EventLog.connect(server.url);
    const replayed = await log.replayAll(out.runId);
    const events = replayed.map((r) => r.event);
    const at = new Map(replayed.map((r) => [r.event, r.time.getTime()]));
    await log.close();
    const sampled = events.filter((e): e is GroupSampled => e.type === "GroupSampled");
    const scored = events.filter((e): e is GroupScored => e.type === "GroupScored");
    const updates = events.filter((e): e is PolicyUpdated => e.type === "PolicyUpdated");
    const rows = updates.map((u) => {
      const gs = sampled.filter((g) => g.step === u.step);
      const sc = scored.filter((g) => g.step === u.step);
      const sampling = gs.reduce((a, g) => a + g.ms, 0);                       // one generator: tasks run one after another
      const lastTask = gs.at(-1)!.taskId;
      const scoreTail = sc.filter((g) => gs.find((x) => x.groupId === g.groupId)!.taskId === lastTask).reduce((a, g) => a + g.ms, 0);
      // the proximal pass (algorithm.off_policy other than none) is compute, like the reference pass
      const step = u.timings.stepMs, ref = u.timings.refMs + (u.timings.proxMs ?? 0), update = u.timings.updateMs;
      const rest = step - sampling - scoreTail - ref - update;
      // where the rest goes, from the JetStream timestamps of the step's events (ms resolution)
      const prev = updates.find((x) => x.step === u.step - 1);
      const tPrev = prev ? at.get(prev)! : NaN, tPolicy = at.get(u)!;
      const tFirstSampled = Math.min(...gs.map((g) => at.get(g)!)), tLastSampled = Math.max(...gs.map((g) => at.get(g)!));
      const tLastScored = Math.max(...sc.map((g) => at.get(g)!));
      return {
        step: u.step, stepMs: step, samplingMs: sampling, scoringMs: scoreTail, scoringTotalMs: sc.reduce((a, g) => a + g.ms, 0), refMs: ref, updateMs: update, busMs: rest, busShare: rest / step,
        lastScoredToPolicyMs: tPolicy - tLastScored, updaterOverheadMs: tPolicy - tLastScored - ref - update,
        lastSampledToLastScoredMs: tLastScored - tLastSampled, prevPolicyToFirstSampleMs: tFirstSampled - tPrev,
      };
    });
    const steady = rows.slice(1);
    const med = Object.fromEntries(["stepMs", "samplingMs", "scoringMs", "refMs", "updateMs", "busMs", "busShare", "updaterOverheadMs", "lastSampledToLastScoredMs", "prevPolicyToFirstSampleMs"].map((k) => [k, median(steady.map((r) => (r as Record<string, number>)[k]))]));
    if (flags.json) process.stdout.write(JSON.stringify({ config: file, steps, medians: med, rows }, null, 2) + "\n");
    else {
      process.stdout.write(`GRPO step of ${file} (${cfg.actor.global_batch_size} prompts x ${cfg.rollout.n_samples_per_prompt} samples), medians of steps 1..${steps - 1}, 1 generator + 1 reward consumer:\n`);
      for (const k of ["stepMs", "samplingMs", "scoringMs", "refMs", "updateMs", "busMs"]) {
        process.stdout.write(`  ${k.replace("Ms", "").padEnd(9)} ${med[k].toFixed(1).padStart(8)} ms  ${((100 * med[k]) / med.stepMs).toFixed(1).padStart(5)}%\n`);
      }
      process.stdout.write(`  (scoring = the last task's groups, after sampling ends; bus = the rest: publish/consume, JSON + schema, weight transfer, waits)\n`);
      process.stdout.write(`  where the rest goes (JetStream timestamps): updater after the last score, less ref+update ${med.updaterOverheadMs.toFixed(1)} ms; ` +
        `last group sampled → last scored ${med.lastSampledToLastScoredMs.toFixed(1)} ms; previous PolicyUpdated → first group sampled ${med.prevPolicyToFirstSampleMs.toFixed(1)} ms (includes the first task's sampling, which starts before it)\n`);
    }
    return 0;
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
