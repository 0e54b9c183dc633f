// `zerostream worker rollout|reward|updater --server URL[,URL...] [--creds FILE] | --cluster DIR  [--run RUN] [--threads N] [--name NAME]`:
// one worker process. rollout and reward serve every run on the server; updater drives one run.
// SIGTERM/SIGINT stop it after the message in hand. Credentials come from a creds file (or --user with
// ZS_NATS_PASS in the environment), never from a password on the command line.
import { setThreads } from "../../native/index.ts";
import { runGenerator } from "../../producers/rollout/generator.ts";
import { runRewardConsumer } from "../../consumers/reward/consumer.ts";
import { periodicEvaluation } from "../../offline/eval/periodic.ts";
import { runUpdater } from "../../consumers/updater/driver.ts";
import { EventLog } from "../../streams/eventlog.ts";
import { parseArgs, serverUrl } from "../args.ts";
import { clusterAccess, connectEventLog, workerConnection } from "../cluster/connect.ts";
import type { Role } from "../cluster/auth.ts";
import { watchAsyncErrors } from "../cluster/watch.ts";
import { childLogger } from "../../streams/logger.ts";

export const summary = "worker rollout|reward|updater --server URL [--run RUN]: run one worker process";

export async function run(argv: string[]): Promise<number> {
  const { positional, flags } = parseArgs(argv, { string: ["server", "run", "threads", "name", "steps", "pool", "ack-wait-ms", "creds", "user", "replicas", "cluster"] });
  const role = positional[0];
  if (!["rollout", "reward", "updater"].includes(role ?? "")) {
    process.stderr.write("usage: zerostream worker rollout|reward|updater --server nats://host:port[,...] [--creds FILE] | --cluster DIR  [--run RUN] [--threads N] [--replicas N]\n");
    return 2;
  }
  process.env.ZS_ROLE = role;
  if (flags.threads) setThreads(Number(flags.threads));
  const str = (k: string) => (typeof flags[k] === "string" ? (flags[k] as string) : undefined);
  let ok = false;
  let log: EventLog | undefined;
  try {
    // --cluster DIR (a cluster's directory or a bundle of it): its servers and this role's creds
    const cluster = str("cluster") ? clusterAccess(str("cluster")!, role as Role) : undefined;
    const conn = await workerConnection({
      server: cluster?.server ?? serverUrl(flags), role: role!, name: str("name"), creds: cluster?.creds ?? str("creds"), user: str("user"), replicas: str("replicas"),
    });
    log = await connectEventLog(conn);
    // a permission violation (or any async error of the connection) fails the worker: no silent wait
    const watch = watchAsyncErrors(log.nc, childLogger({ component: "worker", role }));
    try {
      ok = await Promise.race([work(log, role!, flags), watch.failed]);
    } finally {
      watch.stop();
    }
    return 0;
  } finally {
    // a worker is its own process: a reconnecting socket or a follower left behind must not keep a
    // failed worker alive (its supervisor restarts it only once it has exited)
    setTimeout(() => process.exit(ok ? 0 : 1), 5000).unref();
    await log?.close();
  }
}

async function work(log: EventLog, role: string, flags: Record<string, string | boolean | undefined>): Promise<true> {
  const ctl = new AbortController();
  const stop = () => ctl.abort();
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  const name = typeof flags.name === "string" ? flags.name : undefined;
  const ackWaitMs = flags["ack-wait-ms"] ? Number(flags["ack-wait-ms"]) : undefined;
  try {
    if (role === "rollout") await runGenerator(log, { signal: ctl.signal, name, ackWaitMs });
    else if (role === "reward") await runRewardConsumer(log, { signal: ctl.signal, name, poolSize: flags.pool ? Number(flags.pool) : undefined, ackWaitMs });
    else {
      if (typeof flags.run !== "string") throw new Error("worker updater needs --run <run id>");
      await runUpdater(log, flags.run, { signal: ctl.signal, steps: flags.steps ? Number(flags.steps) : undefined, ...periodicEvaluation(log, flags.run) });
    }
    return true;
  } finally {
    process.off("SIGTERM", stop);
    process.off("SIGINT", stop);
  }
}
