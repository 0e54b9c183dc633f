// `npm run bench -- chaos [--config FILE] [--steps N] [--nodes 3] [--rollout 2] [--reward 2] [--seed N]
//                         [--every-ms MIN,MAX] [--max-down N] [--ack-wait-ms N] [--deadline-s N] [--json]`
// Chaos with a digest, on a supervised cluster (default 3 nodes, R3 streams, with authentication):
// an undisturbed run of the config (default configs/tiny-r1-zero.yaml shortened to --steps, default 20),
// then, after down/up, a second run of the same config and seed while a random running worker
// (generator, reward consumer or updater; seeded choice) is killed with SIGKILL every MIN..MAX ms for the
// whole run (no kill while --max-down workers, default 2, are restarting: with no limit the supervisor's
// back-off soon keeps every worker down) and the JetStream meta-leader node once. Prints the kills of each kind, the audit of the
// chaos run and both runs' final weights digests; exits 1 when any step's digest differs (or the audit
// finds a violation), 2 when a run does not end within --deadline-s.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parse, stringify } from "yaml";
import { connectAuth, credsPath } from "../cli/cluster/auth.ts";
import { chaos, formatKills, runStatusOf, stepDigests, type ChaosReport } from "../cli/cluster/chaos.ts";
import { down, up } from "../cli/cluster/control.ts";
import { readState, type ClusterState } from "../cli/cluster/layout.ts";
import { initialPolicy } from "../cli/launch.ts";
import { auditEvents } from "../domain/audit.ts";
import { loadConfig } from "../streams/config.ts";
import { EventLog } from "../streams/eventlog.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class RunDeadlineError extends Error {}

async function waitEnd(dir: string, deadline: number, runId?: string): Promise<void> {
  while ((await runStatusOf(dir, runId)) !== "completed") {
    if (Date.now() > deadline) throw new RunDeadlineError("the run did not complete before the deadline");
    await sleep(1000);
  }
}

async function admin(dir: string, s: ClusterState): Promise<EventLog> {
  return EventLog.connect(s.servers, { ...connectAuth(credsPath(dir, "admin")), replicas: s.replicas, name: "zerostream-admin/bench-chaos" });
}

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({ args: argv, options: {
    config: { type: "string", default: join(root, "configs", "tiny-r1-zero.yaml") }, steps: { type: "string", default: "20" },
    nodes: { type: "string", default: "3" }, rollout: { type: "string", default: "2" }, reward: { type: "string", default: "2" },
    seed: { type: "string", default: "1" }, "every-ms": { type: "string", default: "2000,5000" }, "max-down": { type: "string", default: "2" }, "ack-wait-ms": { type: "string", default: "5000" },
    "deadline-s": { type: "string", default: "1800" }, json: { type: "boolean", default: false },
  } });
  const say = (s: string) => { if (!v.json) process.stdout.write(s + "\n"); };
  const steps = Number(v.steps), nodes = Number(v.nodes), seed = Number(v.seed);
  const [lo, hi] = v["every-ms"]!.split(",").map(Number);
  const work = mkdtempSync(join(tmpdir(), "zs-bench-chaos-"));
  const dir = join(work, "cluster");
  const raw = parse(readFileSync(v.config!, "utf8")) as { actor: Record<string, unknown> };
  raw.actor.train_iters = steps;
  const config = join(work, "run.yaml");
  writeFileSync(config, stringify(raw));
  const t0 = Date.now();
  const deadline = t0 + Number(v["deadline-s"]) * 1000;
  say(`chaos: ${v.config} shortened to ${steps} steps, ${nodes} node(s), rollout ${v.rollout}, reward ${v.reward}, seed ${seed}, a kill every ${lo}-${hi} ms${Number(v["max-down"]) > 0 ? ` unless ${v["max-down"]} workers are down` : ""}`);
  await initialPolicy(loadConfig(config)); // pretrains into the cache once, outside the measured runs
  const upOpts = { dir, nodes, rollout: Number(v.rollout), reward: Number(v.reward), config, ackWaitMs: Number(v["ack-wait-ms"]), timeoutMs: 600_000 };
  let report: ChaosReport | undefined;
  const result: Record<string, unknown> = { suite: "chaos", steps, nodes, seed, everyMs: [lo, hi], maxDown: Number(v["max-down"]) };
  try {
    let s = await up(upOpts);
    const r0 = Date.now();
    await waitEnd(dir, deadline, s.runId);
    let log = await admin(dir, s);
    const reference = await stepDigests(log, s.runId!);
    await log.close();
    say(`undisturbed run ${s.runId}: ${reference.length} steps in ${((Date.now() - r0) / 1000).toFixed(0)} s, final weights ${reference.at(-1)}`);
    await down(dir);

    s = await up(upOpts);
    report = await chaos({
      dir, seed, everyMs: [lo, hi], nodeAfter: 2, ...(Number(v["max-down"]) > 0 ? { maxDown: Number(v["max-down"]) } : {}), deadlineMs: deadline - Date.now(),
      done: async () => (await runStatusOf(dir, s.runId)) === "completed",
      onKill: (k) => say(`  ${(k.atMs / 1000).toFixed(1).padStart(6)} s  kill -9 ${k.kind.padEnd(7)} ${k.name} (pid ${k.pid})`),
    });
    // restarts beyond the kills: a worker that died by itself (a crash, an async connection error)
    const procs = readState(dir)?.procs ?? [];
    const restarts = { workers: procs.filter((p) => p.kind === "worker").reduce((a, p) => a + p.restarts, 0), nodes: procs.filter((p) => p.kind === "node").reduce((a, p) => a + p.restarts, 0) };
    log = await admin(dir, s);
    const digests = await stepDigests(log, s.runId!);
    const audit = auditEvents(await log.replayAll(s.runId!));
    await log.close();
    const differ = reference.map((d, i) => (d === digests[i] ? -1 : i)).filter((i) => i >= 0);
    if (digests.length !== reference.length) differ.push(Math.min(digests.length, reference.length));
    Object.assign(result, {
      kills: report.kills, restarts, chaosS: Math.round(report.ms / 1000), reference: reference.at(-1), chaos: digests.at(-1),
      stepsDiffering: differ, violations: audit.violations.length, totalS: Math.round((Date.now() - t0) / 1000),
    });
    say(`chaos run ${s.runId}: ${formatKills(report)}; audit: ${audit.steps} steps, ${audit.violations.length} violation(s)`);
    const killed = report.kills.rollout + report.kills.reward + report.kills.updater;
    say(`supervisor restarts: workers ${restarts.workers}, nodes ${restarts.nodes}${restarts.workers > killed || restarts.nodes > report.kills.node ? " (more than the kills: a process died by itself)" : ""}`);
    for (const x of audit.violations.slice(0, 5)) say(`  violation ${x.rule} #${x.seq}: ${x.message}`);
    say(`final weights digest: undisturbed ${reference.at(-1)}`);
    say(`                      chaos       ${digests.at(-1)}`);
    say(differ.length ? `MISMATCH at step(s) ${differ.join(", ")}` : `identical after every one of the ${steps} steps`);
    if (v.json) process.stdout.write(JSON.stringify(result) + "\n");
    return differ.length || audit.violations.length ? 1 : 0;
  } catch (err) {
    if (err instanceof RunDeadlineError || (err as Error).name === "ChaosDeadlineError") {
      process.stderr.write(`chaos: ${(err as Error).message}${report ? `; ${formatKills(report)}` : ""}\n`);
      return 2;
    }
    throw err;
  } finally {
    await down(dir, { wipe: true });
    rmSync(work, { recursive: true, force: true });
  }
}
