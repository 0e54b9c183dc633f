// `npm run bench -- offpolicy`: the tiny config (configs/tiny-r1-zero.yaml) at rollout.max_staleness
// s = 0, 1, 2 with the same seeds, side by side in one run, each run on its own embedded nats-server with
// 1 generator and 1 reward consumer (the config's runtime): the step time (median over the steps after
// the first s + 1, which fill the pipeline), steps per second against s = 0, the share of the updater's
// steps that is not compute (1 − Σcompute / Σstep over those steps: waiting for groups, storing the
// snapshot, bus and serialisation; under s >= 1 only the snapshot's copy and hash are on the path, its
// store runs beside the next update, and its median is the "stored beside" column), the
// sampler–trainer mismatch, the share of the machine's cores busy during training (/proc/stat: what
// overlap can still fill), and held-out accuracy of the final policy (greedy and T = 1 avg@4, the
// 256 held-out problems of `npm start`). Runs are interleaved (seed by seed, s = 0, 1, 2) so a noisy
// neighbour hits every s alike.
//
// `npm run bench -- offpolicy --learning`: issue 13's learning check, the tiny task at s = 4 with
// algorithm.off_policy none, decoupled and tis, 3 seeds each, held-out greedy accuracy every 20 steps;
// the curves of all nine runs in one comparison report (reports/offpolicy-learning.html).
//
// Flags: --seeds 0,1,2  --lags 0,1,2 (or --lag 4 with --learning)  --corrections none,decoupled,tis
//        --steps N (default: actor.train_iters)  --set key=value (every run)  --json  --out FILE
//        --keep DIR (each run's events as JSONL; default .zerostream/bench/offpolicy[-learning])
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "../cli/args.ts";
import { runConfig } from "../cli/commands/run.ts";
import { modelCacheDir } from "../cli/launch.ts";
import { evaluateRun } from "../offline/eval/index.ts";
import { writeComparison } from "../offline/report/index.ts";
import { ensurePretrained } from "../offline/pretrain.ts";
import { loadConfig } from "../streams/config.ts";
import { EventLog } from "../streams/eventlog.ts";
import type { PolicyUpdated, ZsEvent } from "../streams/events/index.ts";
import { startLocalServer } from "../streams/nats-server.ts";
import { kernelSet } from "../native/index.ts";
import { median } from "./stats.ts";

const CONFIG = "configs/tiny-r1-zero.yaml";

type RunResult = {
  label: string; seed: number; lag: number; correction: string; runId: string; steps: number;
  stepMs: number; stepsPerSec: number; computeMs: number; waitMs: number; snapshotMs: number; storeMs: number; otherMs: number; busShare: number; waitShare: number;
  mismatchKl: number; mismatchMaxGap: number; isWeightMean?: number; isTruncatedFrac?: number; isMaskedFrac?: number;
  greedy: number; sampled?: number; cpuBusy: number; wallS: number; events: ZsEvent[];
};

/** Jiffies of the whole machine (every core) from /proc/stat: total and idle (idle + iowait); null off Linux. */
function cpuTimes(): { total: number; idle: number } | null {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    return { total: f.reduce((a, b) => a + b, 0), idle: f[3] + (f[4] ?? 0) };
  } catch { return null; }
}

const list = (s: string | undefined, dflt: string) => (s ?? dflt).split(",").map((x) => x.trim()).filter(Boolean);

async function oneRun(o: { seed: number; lag: number; correction: string; steps?: number; sets: string[]; evalEvery: number; sampledEval: boolean; label: string }): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), "zs-bench-offpolicy-"));
  const server = await startLocalServer({ storeDir: dir });
  const t0 = performance.now();
  try {
    const sets = [`seed=${o.seed}`, `rollout.max_staleness=${o.lag}`, `algorithm.off_policy=${o.correction}`, `eval.every=${o.evalEvery}`, ...o.sets];
    const c0 = cpuTimes();
    const out = await runConfig({ file: CONFIG, server: server.url, steps: o.steps, sets, quiet: true });
    const c1 = cpuTimes();
    // the share of the machine's cores busy while the run trained: what a pipeline can still fill
    const cpuBusy = c0 && c1 ? 1 - (c1.idle - c0.idle) / Math.max(1, c1.total - c0.total) : NaN;
    const log = await EventLog.connect(server.url);
    try {
      const final = out.version;
      const acc = (es: { metrics: Record<string, number> }[]) => es[0].metrics.accuracy;
      const greedy = acc(await evaluateRun(log, out.runId, { version: final, bench: "heldout", k: 1, temperature: 0 }));
      const sampled = o.sampledEval ? acc(await evaluateRun(log, out.runId, { version: final, bench: "heldout", k: 4, temperature: 1 })) : undefined;
      const events = (await log.replayAll(out.runId)).map((r) => r.event);
      const ups = events.filter((e): e is PolicyUpdated => e.type === "PolicyUpdated");
      // the pipeline fills during the first s + 1 steps; with eval.every the steps that evaluate after them wait on it
      const steady = ups.filter((u) => u.step > o.lag && !(o.evalEvery && u.step % o.evalEvery === 0));
      const t = (k: string) => (u: PolicyUpdated) => u.timings[k] ?? 0;
      const compute = (u: PolicyUpdated) => t("refMs")(u) + t("proxMs")(u) + t("updateMs")(u);
      const med = (f: (u: PolicyUpdated) => number) => median(steady.map(f));
      const sum = (f: (u: PolicyUpdated) => number) => steady.reduce((a, u) => a + f(u), 0);
      const stepMs = med(t("stepMs"));
      const s = (k: keyof PolicyUpdated["stats"]) => med((u) => Number(u.stats[k] ?? NaN));
      return {
        label: o.label, seed: o.seed, lag: o.lag, correction: o.correction, runId: out.runId, steps: ups.length,
        stepMs, stepsPerSec: 1000 / stepMs, computeMs: med(compute), waitMs: med(t("waitMs")), snapshotMs: med(t("snapshotMs")),
        otherMs: med((u) => t("stepMs")(u) - compute(u) - t("waitMs")(u) - t("snapshotMs")(u)),
        // shares of the summed step times (steps overlap under s >= 1: a step's time is the gap between two publishes)
        busShare: 1 - sum(compute) / sum(t("stepMs")), waitShare: sum(t("waitMs")) / sum(t("stepMs")), storeMs: med(t("storeMs")),
        mismatchKl: s("mismatchKl"), mismatchMaxGap: s("mismatchMaxGap"),
        ...(o.correction !== "none" ? { isWeightMean: s("isWeightMean"), isTruncatedFrac: s("isTruncatedFrac"), isMaskedFrac: s("isMaskedFrac") } : {}),
        greedy, sampled, cpuBusy, wallS: (performance.now() - t0) / 1000, events,
      };
    } finally { await log.close(); }
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const f = (x: number | undefined, d = 3) => (x === undefined || Number.isNaN(x) ? "-" : x.toFixed(d));
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export async function run(argv: string[]): Promise<number> {
  const { flags, lists } = parseArgs(argv, { boolean: ["json", "learning"], string: ["seeds", "lags", "lag", "corrections", "steps", "out", "keep"], list: ["set"] });
  const learning = Boolean(flags.learning);
  const seeds = list(flags.seeds as string | undefined, "0,1,2").map(Number);
  const lags = learning ? [Number(flags.lag ?? 4)] : list(flags.lags as string | undefined, "0,1,2").map(Number);
  const corrections = learning ? list(flags.corrections as string | undefined, "none,decoupled,tis") : ["none"];
  const steps = flags.steps ? Number(flags.steps) : undefined;
  const sets = lists.set;
  process.env.ZS_LOG_LEVEL ??= "warn";                // the workers' per-step logs would bury the table
  const cfg = loadConfig(CONFIG);
  if (cfg.model.pretrain) await ensurePretrained(cfg, { cacheDir: modelCacheDir() });
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  process.stderr.write(`offpolicy bench on ${cpu} (${cpus().length} cores, kernels ${kernelSet()}): seeds ${seeds.join(",")}, s ${lags.join(",")}, corrections ${corrections.join(",")}\n`);
  const results: RunResult[] = [];
  // every run's log, kept for the report (`zerostream report --compare`-style rebuilds) after the servers are gone
  const keep = (flags.keep as string | undefined) ?? join(".zerostream", "bench", learning ? "offpolicy-learning" : "offpolicy");
  mkdirSync(keep, { recursive: true });
  for (const seed of seeds) {
    for (const lag of lags) {
      for (const correction of corrections) {
        const label = learning ? `${correction} s=${lag}` : `s=${lag}`;
        const r = await oneRun({ seed, lag, correction, steps, sets, evalEvery: learning ? 20 : 0, sampledEval: !learning, label });
        process.stderr.write(`  seed ${seed} ${label}: ${r.steps} steps, step ${f(r.stepMs, 0)} ms, not compute ${pct(r.busShare)}, greedy ${f(r.greedy)}${r.sampled !== undefined ? `, T=1 ${f(r.sampled)}` : ""} (${f(r.wallS, 0)} s)\n`);
        results.push(r);
        writeFileSync(join(keep, `${r.label.replace(/[^a-z0-9=.-]+/gi, "_")}-seed${seed}.jsonl`), r.events.map((e) => JSON.stringify(e)).join("\n") + "\n");
      }
    }
  }
  const byLabel = new Map<string, RunResult[]>();
  for (const r of results) byLabel.set(r.label, [...(byLabel.get(r.label) ?? []), r]);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const base = byLabel.get(learning ? [...byLabel.keys()][0] : "s=0");
  const rows = [...byLabel].map(([label, rs]) => {
    const speed = median(rs.map((r) => r.stepsPerSec));
    return {
      label, runs: rs.length, stepMs: median(rs.map((r) => r.stepMs)), stepsPerSec: speed,
      speedup: base ? speed / median(base.map((r) => r.stepsPerSec)) : NaN,
      busShare: median(rs.map((r) => r.busShare)), waitShare: median(rs.map((r) => r.waitShare)), cpuBusy: median(rs.map((r) => r.cpuBusy)),
      waitMs: median(rs.map((r) => r.waitMs)), snapshotMs: median(rs.map((r) => r.snapshotMs)), storeMs: median(rs.map((r) => r.storeMs)), otherMs: median(rs.map((r) => r.otherMs)),
      mismatchKl: median(rs.map((r) => r.mismatchKl)), mismatchMaxGap: median(rs.map((r) => r.mismatchMaxGap)),
      isWeightMean: rs[0].isWeightMean === undefined ? undefined : median(rs.map((r) => r.isWeightMean!)),
      greedy: rs.map((r) => r.greedy), greedyMean: mean(rs.map((r) => r.greedy)),
      sampled: rs.every((r) => r.sampled !== undefined) ? rs.map((r) => r.sampled!) : undefined,
      sampledMean: rs.every((r) => r.sampled !== undefined) ? mean(rs.map((r) => r.sampled!)) : undefined,
    };
  });
  let report: string | undefined;
  if (learning) {
    report = (flags.out as string | undefined) ?? join("reports", "offpolicy-learning.html");
    mkdirSync(dirname(report), { recursive: true });
    // one label per setting: its seeds share a colour, with their mean drawn over them
    report = await writeComparison(results.map((r) => ({ label: r.label, events: r.events })), report);
  }
  const summary = { cpu, cores: cpus().length, kernels: kernelSet(), config: CONFIG, seeds, lags, corrections, steps: steps ?? cfg.actor.train_iters, sets, rows,
    runs: results.map(({ events: _e, ...r }) => r), report };
  if (!learning) {
    const file = (flags.out as string | undefined) ?? join("reports", "bench-offpolicy.json");
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(summary, null, 2) + "\n");
  }
  if (flags.json) { process.stdout.write(JSON.stringify(summary, null, 2) + "\n"); return 0; }
  process.stdout.write(`\n${learning ? "Learning check" : "Off-policy pipeline"}: ${CONFIG}, ${summary.steps} steps, seeds ${seeds.join(",")}, on ${cpu} (${cpus().length} cores, ${kernelSet()})\n`);
  process.stdout.write(`| run | step (median) | steps/s | vs ${base?.[0].label ?? "-"} | not compute | of which waiting | snapshot | stored beside | cores busy | mismatch k3 | max gap |${learning ? " mean w |" : ""} held-out greedy (per seed) | mean |${learning ? "" : " T=1 avg@4 (per seed) | mean |"}\n`);
  process.stdout.write(`|---|---|---|---|---|---|---|---|---|---|---|${learning ? "---|" : ""}---|---|${learning ? "" : "---|---|"}\n`);
  for (const r of rows) {
    process.stdout.write(`| ${r.label} | ${f(r.stepMs, 0)} ms | ${f(r.stepsPerSec, 2)} | ${f(r.speedup, 2)}× | ${pct(r.busShare)} | ${pct(r.waitShare)} | ${f(r.snapshotMs, 0)} ms | ${r.storeMs ? `${f(r.storeMs, 0)} ms` : "-"} | ${pct(r.cpuBusy)} | ${r.mismatchKl.toExponential(1)} | ${r.mismatchMaxGap.toExponential(1)} |` +
      `${learning ? ` ${f(r.isWeightMean)} |` : ""} ${r.greedy.map((x) => f(x)).join(" / ")} | ${f(r.greedyMean)} |${learning ? "" : ` ${r.sampled?.map((x) => f(x)).join(" / ") ?? "-"} | ${f(r.sampledMean)} |`}\n`);
  }
  if (report) process.stdout.write(`curves of every run: ${report}\n`);
  return 0;
}
