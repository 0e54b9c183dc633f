// `zerostream rescore <run> --reward <fn@version> [--against <fn@version>] [--examples N] [--json] [--server URL [--creds FILE] | --cluster DIR | --store DIR]`:
// re-scores every recorded rollout, publishes the new GroupScored events in the same run under their
// own scorer, and reports per step the verdicts that flipped (0→1, 1→0) with examples.
import { rescoreRun, type RescoreReport } from "../../offline/replay/rescore.ts";
import { parseArgs } from "../args.ts";
import { BUS_FLAGS, BUS_USAGE, withBus } from "../bus.ts";

export const summary = "rescore <run> --reward <fn@version>: re-score every rollout, record it, report flipped verdicts per step";

export function describeRescore(r: RescoreReport): string {
  const lines = [
    `run ${r.runId}: rescored by ${r.scorer} against ${r.against}: ${r.published} GroupScored published, ${r.alreadyRecorded} already recorded${r.unscoredBefore ? `, ${r.unscoredBefore} group(s) never scored by ${r.against}` : ""}`,
    `flipped: ${r.totals.up} 0→1, ${r.totals.down} 1→0 of ${r.totals.samples} samples`,
    "", "step  groups  samples   0→1   1→0",
  ];
  for (const s of r.steps) lines.push(`${String(s.step).padStart(4)}  ${String(s.groups).padStart(6)}  ${String(s.samples).padStart(7)}  ${String(s.up).padStart(4)}  ${String(s.down).padStart(4)}`);
  const ex = r.steps.flatMap((s) => s.examples);
  if (ex.length) lines.push("", "examples:");
  for (const f of ex) {
    lines.push(`  ${f.direction} step ${f.step} ${f.groupId}#${f.index}: ${f.from.outcome} (${f.from.reward}) → ${f.to.outcome} (${f.to.reward}), gold ${JSON.stringify(f.gold)}, extracted ${JSON.stringify(f.to.extracted)}`);
    lines.push(`      ${JSON.stringify(f.text.slice(0, 160))}`);
  }
  return lines.join("\n");
}

export async function run(argv: string[]): Promise<number> {
  const { positional, flags } = parseArgs(argv, { boolean: ["json"], string: [...BUS_FLAGS, "reward", "against", "examples"] });
  const [runId] = positional;
  if (!runId || typeof flags.reward !== "string") {
    process.stderr.write(`usage: zerostream rescore <run> --reward <fn@version> [--against <fn@version>] [--examples N] [--json] ${BUS_USAGE}\n`);
    return 2;
  }
  const reward = flags.reward;
  return withBus(flags, async ({ log }) => {
    const r = await rescoreRun(log, runId, { reward, against: flags.against as string | undefined, examples: flags.examples ? Number(flags.examples) : undefined });
    process.stdout.write((flags.json ? JSON.stringify(r, null, 2) : describeRescore(r)) + "\n");
    return 0;
  });
}
