// `zerostream export <run> --out <dir> [--scorer fn@version] [--server URL [--creds FILE] | --cluster DIR | --store DIR]`: rollouts.jsonl (one line
// per sample with rewards and advantages), metrics.csv (one row per step), evaluations.csv.
import { exportRun } from "../../offline/replay/export.ts";
import { parseArgs } from "../args.ts";
import { BUS_FLAGS, BUS_USAGE, withBus } from "../bus.ts";

export const summary = "export <run> --out <dir>: rollouts.jsonl with rewards and advantages, metrics.csv, evaluations.csv";

export async function run(argv: string[]): Promise<number> {
  const { positional, flags } = parseArgs(argv, { string: [...BUS_FLAGS, "out", "scorer"] });
  const [runId] = positional;
  if (!runId || typeof flags.out !== "string") {
    process.stderr.write(`usage: zerostream export <run> --out <dir> [--scorer fn@version] ${BUS_USAGE}\n`);
    return 2;
  }
  const out = flags.out;
  return withBus(flags, async ({ log }) => {
    const r = await exportRun(log, runId, out, { scorer: flags.scorer as string | undefined });
    process.stdout.write(`run ${runId}: ${r.rollouts} rollouts, ${r.steps} steps, ${r.evaluations} evaluation events\n${r.files.map((f) => `  ${f}`).join("\n")}\n`);
    return 0;
  });
}
