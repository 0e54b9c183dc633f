// `zerostream export <run> --out <dir> [--scorer fn@version] [--server URL]`: rollouts.jsonl (one line
// per sample with rewards and advantages), metrics.csv (one row per step), evaluations.csv.
import { exportRun } from "../../consumers/replay/export.ts";
import { EventLog } from "../../streams/eventlog.ts";
import { parseArgs, serverUrl } from "../args.ts";

export const summary = "export <run> --out <dir>: rollouts.jsonl with rewards and advantages, metrics.csv, evaluations.csv";

export async function run(argv: string[]): Promise<number> {
  const { positional, flags } = parseArgs(argv, { string: ["server", "out", "scorer"] });
  const [runId] = positional;
  if (!runId || typeof flags.out !== "string") {
    process.stderr.write("usage: zerostream export <run> --out <dir> [--scorer fn@version] [--server nats://host:port]\n");
    return 2;
  }
  const log = await EventLog.connect(serverUrl(flags));
  try {
    const r = await exportRun(log, runId, flags.out, { scorer: flags.scorer as string | undefined });
    process.stdout.write(`run ${runId}: ${r.rollouts} rollouts, ${r.steps} steps, ${r.evaluations} evaluation events\n${r.files.map((f) => `  ${f}`).join("\n")}\n`);
    return 0;
  } finally {
    await log.close();
  }
}
