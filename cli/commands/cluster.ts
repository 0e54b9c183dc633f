// `zerostream cluster init|up|join|bundle|rotate|reload|status|scale|down`: a supervised cluster (npm run cluster:*).
//   init   [--nodes 1|3] [--hosts H[,H,H]] [--listen A[,A,A]] [--cluster-file FILE] [--port BASE] [--tls on|off] [--ack-wait-ms N]
//   up     [--config FILE | --resume RUN] [init's options] [--here NODE[,NODE]] [--rollout N] [--reward M] [--threads N] [--timeout-s N]
//   join   [--config FILE | --resume RUN] [--rollout N] [--reward M]   (workers only, against the cluster's nodes)
//   bundle --for NODE|workers [--roles R,R] --out DIR   (what another host needs; prints how to copy it)
//   rotate ROLE          (a new nkey for ROLE; the local nodes reload their configuration)
//   reload               (the local nodes reload their configuration: after a new auth.conf was copied here)
//   status [--json]      scale reward=M rollout=N      down [--wipe]      (each with [--dir DIR])
// The cluster's files live in --dir (default .zerostream/cluster, or ZS_CLUSTER_DIR); see cli/cluster/README.md.
import { parseArgs } from "../args.ts";
import { credsPath, ROLES, type Role } from "../cluster/auth.ts";
import { down, scale, up } from "../cluster/control.ts";
import { bundle, initCluster, reloadNodes, rotate } from "../cluster/init.ts";
import { caFile } from "../cluster/pki.ts";
import { defaultDir, hostOf, paths, readJson, serverUrls, type ClusterSpec, type SpecOptions } from "../cluster/layout.ts";
import { clusterStatus, formatStatus } from "../cluster/status.ts";
import { supervise } from "../cluster/supervisor.ts";
import { resolve } from "node:path";

export const summary = "cluster init|up|join|bundle|rotate|reload|status|scale|down: a supervised cluster (1 or 3 nats-server nodes, workers), TLS and nkeys";

const USAGE = `usage: zerostream cluster init [--nodes 1|3] [--hosts H[,H,H]] [--listen A[,A,A]] [--cluster-file FILE] [--port BASE] [--tls on|off] [--dir DIR]
       zerostream cluster up [--config FILE | --resume RUN] [init's options] [--here NODE[,...]] [--rollout N] [--reward M] [--dir DIR]
       zerostream cluster join [--config FILE | --resume RUN] [--rollout N] [--reward M] [--dir DIR]
       zerostream cluster bundle --for NODE|workers [--roles rollout,reward,...] --out DIR [--dir DIR]
       zerostream cluster rotate ROLE [--dir DIR]        zerostream cluster reload [--dir DIR]
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
    string: ["dir", "config", "resume", "nodes", "rollout", "reward", "port", "ack-wait-ms", "threads", "timeout-s", "hosts", "listen", "cluster-file", "tls", "here", "for", "roles", "out"],
    boolean: ["json", "wipe"],
  });
  const dir = typeof flags.dir === "string" ? resolve(flags.dir) : defaultDir();
  switch (sub) {
    case "init": {
      const spec = await initCluster(dir, specOptions(flags));
      process.stdout.write(`cluster ${dir}: ${spec.nodes.map((n) => `${n.name} ${hostOf(n)}:${n.port}`).join(", ")}; TLS ${spec.tls ? `on (CA ${caFile(dir)})` : "off"}; nkeys in ${paths(dir).creds}\n`);
      return 0;
    }
    case "up": return cmdUp(dir, flags, names(flags.here));
    case "join": return cmdUp(dir, flags, []);
    case "bundle": return cmdBundle(dir, flags);
    case "rotate": {
      const role = positional[0] as Role;
      if (!ROLES.includes(role)) { process.stderr.write(`cluster rotate: expected a role (${ROLES.join(", ")}), got '${positional[0] ?? ""}'\n`); return 2; }
      const r = rotate(dir, role);
      process.stdout.write([
        `new key for ${role}: ${r.identity.nkey} (in ${credsPath(dir, role)})`,
        `reloaded here: ${r.reloaded.map((n) => `${n.name} (pid ${n.pid})`).join(", ") || "no node runs from this directory"}`,
        `other hosts: copy ${paths(dir).auth} to each node's host and run \`zerostream cluster reload --dir DIR\` there;`,
        `copy ${credsPath(dir, role)} (mode 0600) to each host running ${role} workers first: they reconnect with the new key`,
        "",
      ].join("\n"));
      return 0;
    }
    case "reload": {
      const r = reloadNodes(dir);
      process.stdout.write(`reloaded: ${r.map((n) => `${n.name} (pid ${n.pid})`).join(", ")}\n`);
      return 0;
    }
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
        here: names(flags.here),
      });
    }
    default:
      process.stderr.write(USAGE);
      return 2;
  }
}

type Flags = Record<string, string | boolean | undefined>;
const names = (v: string | boolean | undefined): string[] | undefined => (typeof v === "string" ? v.split(",").map((x) => x.trim()).filter(Boolean) : undefined);

function specOptions(flags: Flags): SpecOptions {
  const tls = flags.tls;
  if (tls !== undefined && tls !== "on" && tls !== "off") throw new Error(`--tls expects on or off, got ${String(tls)}`);
  return {
    nodes: int(flags.nodes, "nodes"), basePort: int(flags.port, "port"), ackWaitMs: int(flags["ack-wait-ms"], "ack-wait-ms"),
    hosts: names(flags.hosts), listen: names(flags.listen), file: flags["cluster-file"] as string | undefined,
    ...(tls !== undefined ? { tls: tls === "on" } : {}),
  };
}

async function cmdBundle(dir: string, flags: Flags): Promise<number> {
  const forWhat = flags.for, out = flags.out;
  if (typeof forWhat !== "string" || typeof out !== "string") { process.stderr.write(USAGE); return 2; }
  const roles = (names(flags.roles) ?? ["rollout", "reward"]) as Role[];
  const files = bundle(dir, forWhat, resolve(out), roles);
  const spec = readJson<ClusterSpec>(paths(dir).spec)!;
  const node = spec.nodes.find((n) => n.name === forWhat);
  const target = node ? hostOf(node) : "WORKER-HOST";
  const then = node
    ? `npx zerostream cluster up --dir zs-cluster --here ${node.name} --rollout 0 --reward 0`
    : `npx zerostream cluster join --dir zs-cluster${roles.includes("admin") && roles.includes("updater") ? " [--config FILE]" : ""} --rollout ${roles.includes("rollout") ? 1 : 0} --reward ${roles.includes("reward") ? 1 : 0}`;
  process.stdout.write([
    `wrote ${resolve(out)}: ${files.join(", ")}`,
    `copy it (modes kept: keys and creds are 0600) to ${node ? `the host of ${node.name} (${target})` : "the workers' host"}, in the repository's directory there:`,
    `  tar -C ${resolve(out)} -cpf - . | ssh ${target} 'mkdir -m 700 -p zs-cluster && tar -C zs-cluster -xpf -'`,
    "then, on that host:",
    `  ${then}`,
    `(it reaches ${serverUrls(spec).join(",")}${spec.tls ? " over TLS" : ""})`,
    "",
  ].join("\n"));
  return 0;
}

async function cmdUp(dir: string, flags: Flags, here: string[] | undefined): Promise<number> {
  if (flags.config && flags.resume) throw new Error("give --config (a new run) or --resume (an existing run), not both");
  const s = await up({
    dir, ...specOptions(flags), rollout: int(flags.rollout, "rollout", 1)!, reward: int(flags.reward, "reward", 1)!,
    config: flags.config as string | undefined, resume: flags.resume as string | undefined, threads: int(flags.threads, "threads"),
    timeoutMs: (int(flags["timeout-s"], "timeout-s", 600)!) * 1000, ...(here ? { here } : {}),
  });
  const workers = s.procs.filter((p) => p.kind === "worker");
  process.stdout.write([
    `cluster ready in ${dir} (supervisor pid ${s.supervisorPid}): ${s.procs.filter((p) => p.kind === "node").length} of ${s.servers.length} node(s) here, streams R${s.replicas}`,
    `  servers: ${s.servers.join(",")}`,
    `  workers: ${workers.map((w) => `${w.name} (pid ${w.pid})`).join(", ") || "none"}`,
    ...(s.runId ? [`  run: ${s.runId}`] : []),
    `  creds (nkeys, 0600): ${paths(dir).creds}; logs: ${paths(dir).logs}`,
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
