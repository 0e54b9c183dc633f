// `npm run bench -- cluster [--groups N] [--reps N] [--nodes 1|3] [--consumers 1,2,4] [--json]`
// Scored groups/s of the reward consumers on a supervised cluster (default 3 nodes, R3 streams, with
// authentication): `cluster up` with no generator, a RunStarted run, then for each consumer count M
// (`cluster scale reward=M`) every worker is warmed up (it has scored a group), N pre-built
// GroupSampled events (8 R1-format completions each) are published at once, and the time from the
// first publish to the last GroupScored is measured. Prints the median of --reps repetitions.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connectAuth, credsPath } from "../cli/cluster/auth.ts";
import { down, scale, up } from "../cli/cluster/control.ts";
import { EventLog } from "../streams/eventlog.ts";
import { benchGroup, benchRun, waitScored, warmUp } from "./bench-reward-bus.ts";
import { median } from "./stats.ts";


export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: {
    groups: { type: "string", default: "200" }, reps: { type: "string", default: "2" }, nodes: { type: "string", default: "3" },
    consumers: { type: "string", default: "1,2,4" }, json: { type: "boolean", default: false },
  } });
  const groups = Number(values.groups), reps = Number(values.reps), nodes = Number(values.nodes);
  const counts = values.consumers!.split(",").map(Number);
  const dir = mkdtempSync(join(tmpdir(), "zs-bench-cluster-"));
  const state = await up({ dir, nodes, rollout: 0, reward: counts[0], timeoutMs: 180_000 });
  const log = await EventLog.connect(state.servers, { ...connectAuth(credsPath(dir, "admin")), replicas: state.replicas });
  const result: Record<string, unknown> = { suite: "cluster", nodes, replicas: state.replicas, groups, samplesPerGroup: 8, reps };
  try {
    const runId = await benchRun(log);
    let total = 0, step = 0;
    for (const m of counts) {
      await scale(dir, { reward: m });
      const all: number[] = [];
      for (let r = 0; r < reps; r++) {
        step++;
        const warm = await warmUp(log, runId, step, m, total);
        total += warm;
        const t0 = performance.now();
        await Promise.all(Array.from({ length: groups }, (_, i) => log.publish(benchGroup(runId, step, warm + i))));
        total += groups;
        await waitScored(log, runId, total, 600_000);
        all.push(groups / ((performance.now() - t0) / 1000));
      }
      result[`consumers${m}`] = { groupsPerSecond: Number(median(all).toFixed(1)), all: all.map((x) => Number(x.toFixed(1))) };
      if (!values.json) process.stdout.write(`cluster (${nodes} node(s), R${state.replicas}): ${m} reward consumer(s): ${median(all).toFixed(1)} groups/s (median of ${reps}: ${all.map((x) => x.toFixed(1)).join(", ")})\n`);
    }
  } finally {
    await log.close();
    await down(dir);
    rmSync(dir, { recursive: true, force: true });
  }
  if (values.json) process.stdout.write(JSON.stringify(result) + "\n");
  return 0;
}
