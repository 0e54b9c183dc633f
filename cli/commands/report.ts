// `zerostream report <run> [--server URL [--creds FILE] | --cluster DIR | --store DIR] [--out file.html]`: replays a run's log and writes one
// static, self-contained HTML report (curves, evaluation table, sample responses before and after).
import { parseArgs } from "../args.ts";
import { BUS_FLAGS, BUS_USAGE, withBus } from "../bus.ts";
import { defaultReportPath, EmptyRunError, writeReport } from "../../offline/report/index.ts";

export const summary = "report <run> [--server URL] [--out file.html]: write a run's HTML report (curves, evals, samples)";

const USAGE = `usage: zerostream report <run> ${BUS_USAGE} [--out reports/<run>.html]\n`;

export async function run(argv: string[]): Promise<number> {
  const { positional, flags } = parseArgs(argv, { string: [...BUS_FLAGS, "out"] });
  const [runId] = positional;
  if (!runId || positional.length > 1) {
    process.stderr.write(USAGE);
    return 2;
  }
  return withBus(flags, async ({ log, url }) => {
    const events = await log.replayAll(runId);
    if (!events.length) throw new EmptyRunError(`run ${runId} has no events in the log at ${url}`);
    const file = await writeReport(events, (flags.out as string | undefined) ?? defaultReportPath(runId));
    process.stdout.write(`report of ${runId} (${events.length} events): ${file}\n`);
    return 0;
  });
}
