// `zerostream report <run> [--server URL [--creds FILE] | --cluster DIR | --store DIR] [--out file.html]`: replays a run's log and writes one
// static, self-contained HTML report (curves, evaluation table, sample responses before and after).
// `zerostream report <run> <run> ... [--label RUN=NAME ...] [--no-mean]`: one page comparing the runs, a chart per
// metric with a line per run; runs of one label (the seeds of a setting) share a colour, with their mean drawn.
import { parseArgs } from "../args.ts";
import { BUS_FLAGS, BUS_USAGE, withBus } from "../bus.ts";
import { defaultComparisonPath, defaultReportPath, EmptyRunError, writeComparison, writeReport } from "../../offline/report/index.ts";

export const summary = "report <run> [<run> ...] [--server URL] [--out file.html] [--label RUN=NAME]: write a run's HTML report (curves, evals, samples), or one comparing several runs";

const USAGE = `usage: zerostream report <run> ${BUS_USAGE} [--out reports/<run>.html]
       zerostream report <run> <run> [...] ${BUS_USAGE} [--out reports/compare-<run>-and-<n>-more.html] [--label RUN=NAME ...] [--no-mean]
  --label RUN=NAME   groups runs under NAME (one colour; the mean of a label's runs is drawn unless --no-mean);
                     a run without one is labelled by its run_name when every run of that name has the same config up to the seed, else by its id
`;

/** `--label RUN=NAME` flags as a map; a label for a run not compared is refused (a typo would silently ungroup it). */
function labelsOf(values: string[], runIds: string[]): Map<string, string> | string {
  const labels = new Map<string, string>();
  for (const v of values) {
    const eq = v.indexOf("=");
    if (eq <= 0 || eq === v.length - 1) return `--label ${v}: expected RUN=NAME`;
    const run = v.slice(0, eq);
    if (!runIds.includes(run)) return `--label ${v}: run ${run} is not among the runs compared`;
    labels.set(run, v.slice(eq + 1));
  }
  return labels;
}

export async function run(argv: string[]): Promise<number> {
  const { positional, flags, lists } = parseArgs(argv, { string: [...BUS_FLAGS, "out"], list: ["label"], boolean: ["no-mean"] });
  const runIds = positional;
  const labels = labelsOf(lists.label, runIds);
  if (!runIds.length || typeof labels === "string" || (runIds.length === 1 && (lists.label.length || flags["no-mean"]))) {
    if (typeof labels === "string") process.stderr.write(`${labels}\n`);
    process.stderr.write(USAGE);
    return 2;
  }
  return withBus(flags, async ({ log, url }) => {
    const replayed = [];
    for (const runId of runIds) {
      const events = await log.replayAll(runId);
      if (!events.length) throw new EmptyRunError(`run ${runId} has no events in the log at ${url}`);
      replayed.push({ runId, events });
    }
    const out = flags.out as string | undefined;
    if (replayed.length === 1) {
      const [{ runId, events }] = replayed;
      const file = await writeReport(events, out ?? defaultReportPath(runId));
      process.stdout.write(`report of ${runId} (${events.length} events): ${file}\n`);
      return 0;
    }
    const file = await writeComparison(replayed.map(({ runId, events }) => ({ label: labels.get(runId), events })), out ?? defaultComparisonPath(runIds), { mean: !flags["no-mean"] });
    process.stdout.write(`comparison of ${runIds.length} runs (${replayed.reduce((a, r) => a + r.events.length, 0)} events): ${file}\n`);
    return 0;
  });
}
