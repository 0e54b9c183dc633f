// `zerostream replay <run> [--server URL [--creds FILE] | --cluster DIR | --store DIR] [--verify-updates] [--from-step N]
//   [--verify-rollouts [--fraction F] [--seed S]] [--skip-weights] [--json]`:
// folds a run's log into its history (steps, groups, curves), audits every invariant from the events
// alone (and every weights object against its digest), and with --verify-updates re-executes the
// updater and checks every PolicyUpdated bit for bit; with --verify-rollouts re-samples a seeded fraction
// of the groups (default 0.1, seed 0) and names each that does not reproduce. Exit code 0: clean; 1: a
// violation, a divergence or a group that does not reproduce.
import { auditRun } from "../../offline/replay/audit.ts";
import { describeHistory, foldHistory } from "../../offline/replay/fold.ts";
import { verifyUpdates, type VerifyReport } from "../../offline/replay/verify.ts";
import { verifyRollouts, type RolloutReport } from "../../offline/replay/rollouts.ts";
import { parseArgs } from "../args.ts";
import { BUS_FLAGS, BUS_USAGE, openBus } from "../bus.ts";

export const summary = "replay <run> [--verify-updates] [--json]: history, invariant audit and bit-for-bit re-execution of a run";

export async function run(argv: string[]): Promise<number> {
  const { positional, flags } = parseArgs(argv, { boolean: ["verify-updates", "verify-rollouts", "json", "skip-weights"], string: [...BUS_FLAGS, "from-step", "fraction", "seed"] });
  const [runId] = positional;
  if (!runId) {
    process.stderr.write(`usage: zerostream replay <run> ${BUS_USAGE} [--verify-updates [--from-step N]] [--verify-rollouts [--fraction F] [--seed S]] [--skip-weights] [--json]\n`);
    return 2;
  }
  const bus = await openBus(flags);
  const log = bus.log;
  const out = (s: string) => process.stdout.write(s + "\n");
  try {
    const audit = await auditRun(log, runId, { weights: !flags["skip-weights"] });
    const history = foldHistory(runId, audit.events);
    if (!flags.json) {
      out(describeHistory(history));
      out("");
      out(audit.violations.length ? `audit: ${audit.violations.length} violation(s)` : `audit: every invariant holds (${audit.events.length} events${flags["skip-weights"] ? ", weights not read" : ""})`);
      for (const v of audit.violations) out(`  #${v.seq} [${v.rule}] ${v.message}`);
    }
    let verify: VerifyReport | undefined;
    if (flags["verify-updates"]) {
      verify = await verifyUpdates(log, runId, {
        events: audit.events, fromStep: flags["from-step"] ? Number(flags["from-step"]) : 0,
        onStep: (step, ok, ms) => { if (!flags.json) out(`  verify step ${step}: ${ok ? "identical" : "DIVERGES"} (${Math.round(ms)} ms)`); },
      });
      if (!flags.json) {
        out(verify.divergence
          ? `verify-updates: first divergence at step ${verify.divergence.step} (PolicyUpdated #${verify.divergence.seq}, ${verify.divergence.what}): ${verify.divergence.message}`
          : `verify-updates: ${verify.checked.length} update(s) from step ${verify.fromStep} re-executed, every digest identical`);
      }
    }
    let rollouts: RolloutReport | undefined;
    if (flags["verify-rollouts"]) {
      rollouts = await verifyRollouts(log, runId, {
        events: audit.events, fraction: flags.fraction ? Number(flags.fraction) : undefined, seed: flags.seed ? Number(flags.seed) : undefined,
      });
      if (!flags.json) {
        out(`verify-rollouts: ${rollouts.chosen.length} of ${rollouts.total} group(s) re-sampled (fraction ${rollouts.fraction}, seed ${rollouts.seed}): ` +
          (rollouts.mismatches.length ? `${rollouts.mismatches.length} do not reproduce` : "every one bit for bit"));
        for (const m of rollouts.mismatches) out(`  ${m.groupId} (GroupSampled #${m.seq} by ${m.generator}) [${m.what}] ${m.message}`);
        if (rollouts.elsewhere.length) out(`  ${rollouts.elsewhere.length} chosen group(s) were sampled under another kernel set (${[...new Set(rollouts.elsewhere.map((x) => x.kernels))].join(", ")}): re-sample them on such a machine`);
      }
    }
    if (flags.json) out(JSON.stringify({ history: { ...history, started: undefined }, violations: audit.violations, verify, rollouts }, null, 2));
    return audit.violations.length || verify?.divergence || rollouts?.mismatches.length ? 1 : 0;
  } finally {
    await bus.close();
  }
}
