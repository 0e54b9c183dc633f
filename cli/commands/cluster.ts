// `zerostream cluster up|status|scale|down`: a supervised cluster on this machine (npm run cluster:*).
//   up     [--config FILE | --resume RUN] [--nodes 1|3] [--rollout N] [--reward M] [--dir DIR] [--port BASE]
//          [--ack-wait-ms N] [--threads N] [--timeout-s N]
//   status [--dir DIR] [--json]
//   scale  reward=M rollout=N [--dir DIR]
//   down   [--dir DIR] [--wipe]
// The cluster's files live in --dir (default .zerostream/cluster, or ZS_CLUSTER_DIR); see cli/cluster/README.md.
import { parseArgs } from "../args.ts";
import { credsPath } from "../cluster/auth.ts";
import { down, scale, up } from "../cluster/control.ts";
import { defaultDir, paths, readJson, type ClusterSpec } from "../cluster/layout.ts";
import { clusterStatus, formatStatus } from "../cluster/status.ts";
import { supervise } from "../cluster/supervisor.ts";
import { resolve } from "node:path";

export const summary = "cluster up|status|scale|down: a supervised local cluster (1 or 3 nats-server nodes, workers)";

const USAGE = `usage: zerostream cluster up [--config FILE | --resume RUN] [--nodes 1|3] [--rollout N] [--reward M] [--dir DIR]
       zerostream cluster status [--json] [--dir DIR]
       zerostream cluster scale reward=M [rollout=N] [--dir DIR]
       zerostream cluster down [--wipe] [--dir DIR]
`;

const int = (v: unknown, name: string, dflt?: number): number | undefined => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} expects a non-negative integer, got ${String(v)}`);
  return n;
};

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { positional, flags } = parseArgs(rest, {
    string: ["dir", "config", "resume", "nodes", "rollout", "reward", "port", "ack-wait-ms", "threads", "timeout-s"], boolean: ["json", "wipe"],
  });
  const dir = typeof flags.dir === "string" ? resolve(flags.dir) : defaultDir();
  switch (sub) {
    case "up": return cmdUp(dir, flags);
    case "status": {
      const s = await clusterStatus(dir);
      process.stdout.write(flags.json ? JSON.stringify(s, null, 2) + "\n" : formatStatus(s));
      return s.running ? 0 : 3;
    }
    case "scale": return cmdScale(dir, positional);
    case "down": {
      const r = await down(dir, { wipe: Boolean(flags.wipe) });
      process.stdout.write(r.stopped.length ? `stopped: ${r.stopped.join(", ")}\n` : `nothing was running in ${dir}\n`);
      if (flags.wipe) process.stdout.write(`wiped the stores of ${dir} (creds kept)\n`);
      return 0;
    }
    case "supervise": {
      const spec = readJson<ClusterSpec>(paths(dir).spec);
      if (!spec) throw new Error(`no cluster spec in ${dir}: the supervisor is started by cluster up`);
      return supervise({
        dir, spec, rollout: int(flags.rollout, "rollout", 1)!, reward: int(flags.reward, "reward", 1)!,
        config: flags.config as string | undefined, resume: flags.resume as string | undefined, threads: int(flags.threads, "threads"),
      });
    }
    default:
      process.stderr.write(USAGE);
      return 2;
  }
}

async function cmdUp(dir: string, flags: Record<string, string | boolean | undefined>): Promise<number> {
  if (flags.config && flags.resume) throw new Error("give --config (a new run) or --resume (an existing run), not both");
  const s = await up({
    dir, nodes: int(flags.nodes, "nodes", 1)!, rollout: int(flags.rollout, "rollout", 1)!, reward: int(flags.reward, "reward", 1)!,
    config: flags.config as string | undefined, resume: flags.resume as string | undefined, basePort: int(flags.port, "port"),
    ackWaitMs: int(flags["ack-wait-ms"], "ack-wait-ms"), threads: int(flags.threads, "threads"),
    timeoutMs: (int(flags["timeout-s"], "timeout-s", 600)!) * 1000,
  });
  const workers = s.procs.filter((p) => p.kind === "worker");
  process.stdout.write([
    `cluster ready in ${dir} (supervisor pid ${s.supervisorPid}): ${s.servers.length} node(s), streams R${s.replicas}`,
    `  servers: ${s.servers.join(",")}`,
    `  workers: ${workers.map((w) => `${w.name} (pid ${w.pid})`).join(", ") || "none"}`,
    ...(s.runId ? [`  run: ${s.runId}`] : []),
    `  admin creds: ${credsPath(dir, "admin")}; logs: ${paths(dir).logs}`,
    "  npm run cluster:status | npm run cluster:scale -- reward=N | npm run cluster:down",
    "",
  ].join("\n"));
  return 0;
}

async function cmdScale(dir: string, positional: string[]): Promise<number> {
  const want: { rollout?: number; reward?: number } = {};
  for (const p of positional) {
    const m = /^(rollout|reward)=(\d+)$/.exec(p);
    if (!m) { process.stderr.write(`cluster scale: expected rollout=N or reward=M, got '${p}'\n${USAGE}`); return 2; }
    want[m[1] as "rollout" | "reward"] = Number(m[2]);
  }
  if (!Object.keys(want).length) { process.stderr.write(USAGE); return 2; }
  const s = await scale(dir, want);
  const count = (r: string) => s.procs.filter((p) => p.role === r).length;
  process.stdout.write(`scaled: rollout ${count("rollout")}, reward ${count("reward")}\n`);
  return 0;
}
