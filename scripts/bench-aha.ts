// `npm run bench -- aha`: issue 19's experiment (docs/aha.md). For each seed, configs/tiny-aha.yaml with
// that seed as the run seed, the pretraining seed and the init seed (so the three base models differ):
// pretrain the base model (cached), measure it, run GRPO on an embedded nats-server, measure the final
// policy, and read the per-step curves back from the run's events. Measured on the 256 held-out problems:
//   - greedy accuracy (format AND correct), base → final;
//   - T=1, 4 samples a problem: accuracy, the share of responses that check or revise their work
//     (isSelfCheck, domain/reward/selfcheck.ts: fixed before the runs, never part of the reward), the
//     accuracy of the responses that check against those that do not, and how many checks caught and
//     fixed a wrong first value (caughtAndFixed);
//   - the curves (from PolicyUpdated and GroupSampled): accuracy, check rate and mean length per step, the
//     step where the check rate climbs (report rule), and the length's rise over the second half.
// Each run's report (reports/<run>.html) draws the curves; --keep keeps each run's events as JSONL.
//
// Flags: --seeds 0,1,2  --steps N (default actor.train_iters)  --set key=value (every run)
//        --config FILE (default configs/tiny-aha.yaml)  --json  --out FILE  --keep DIR
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "../cli/args.ts";
import { runConfig } from "../cli/commands/run.ts";
import { modelCacheDir } from "../cli/launch.ts";
import { evaluateRun } from "../offline/eval/index.ts";
import { ensurePretrained } from "../offline/pretrain.ts";
import { defaultReportPath, foldReport, writeReport } from "../offline/report/index.ts";
import { loadConfig, type RunConfig } from "../streams/config.ts";
import { EventLog } from "../streams/eventlog.ts";
import { modelConfigOf, type PolicyUpdated, type ZsEvent } from "../streams/events/index.ts";
import { startLocalServer } from "../streams/nats-server.ts";
import { kernelSet, Policy } from "../native/index.ts";
import { loadTokenizer, type Tokenizer } from "../loaders/tokenizer.ts";
import { loadRows, preparePrompts } from "../loaders/datasets.ts";
import { applyStops, responseText } from "../domain/stops.ts";
import { caughtAndFixed, isSelfCheck, rewardSpecOf, score } from "../domain/reward/index.ts";
import { hashKeys } from "../domain/rng.ts";

const CONFIG = "configs/tiny-aha.yaml";
const K = 4;                 // samples per held-out problem at T = 1
const EDGE = 10;             // steps averaged at the start, middle and end of the length curve

export type Sampled = {
  n: number; format: number; accuracy: number; checkRate: number; meanLength: number;
  accChecked: number | null; accUnchecked: number | null; checked: number; caught: number;
  examples: { question: string; gold: string; text: string; caught: boolean; correct: boolean }[];
};

/** T = 1 samples of every held-out problem, scored with the run's reward; the self-check split of accuracy. */
export async function sampleHeldout(policy: Policy, cfg: RunConfig, tok: Tokenizer, seed: number): Promise<Sampled> {
  const bench = cfg.eval.benchmarks.find((b) => b.name === "heldout");
  if (!bench) throw new Error("the aha config needs an eval benchmark named heldout");
  const rows = preparePrompts(await loadRows(bench.source, cfg.seed, null), tok, cfg.data.template, cfg.data.templates ?? {}, cfg.data.max_prompt_length).rows;
  const spec = rewardSpecOf(cfg);
  const stops = new Set(tok.stopIds);
  const jobs = rows.flatMap((row, i) => Array.from({ length: K }, (_, j) => ({ row, i, j })));
  const out: { text: string; tokens: number; question: string; gold: string; correct: boolean; format: boolean; answer: string | null }[] = [];
  for (let i = 0; i < jobs.length; i += 128) {
    const chunk = jobs.slice(i, i + 128);
    const res = await policy.sample({
      prompts: chunk.map((c) => Int32Array.from(c.row.tokens)), seeds: chunk.map((c) => hashKeys(seed, c.i, c.j, 0xa4a)),
      temperature: 1, topP: 1, topK: 0, maxNewTokens: cfg.data.max_response_length, stopTokenIds: tok.stopIds,
    });
    res.forEach((raw, k) => {
      const r = applyStops(raw, tok, cfg.rollout.stop ?? []);
      const text = responseText(r, tok, stops);
      const v = score(text, chunk[k].row.answer, spec);
      out.push({ text, tokens: r.tokens.length, question: chunk[k].row.question, gold: chunk[k].row.answer, correct: v.accuracy > 0 && v.reward > 0, format: v.format > 0, answer: v.extracted ?? null });
    });
  }
  const rate = (xs: typeof out, f: (x: typeof out[0]) => boolean) => (xs.length ? xs.filter(f).length / xs.length : null);
  const checked = out.filter((x) => isSelfCheck(x.text)), unchecked = out.filter((x) => !isSelfCheck(x.text));
  const caught = out.filter((x) => caughtAndFixed(x.text, x.answer, x.correct));
  return {
    n: out.length, format: rate(out, (x) => x.format)!, accuracy: rate(out, (x) => x.correct)!, checkRate: checked.length / out.length,
    meanLength: out.reduce((a, x) => a + x.tokens, 0) / out.length,
    accChecked: rate(checked, (x) => x.correct), accUnchecked: rate(unchecked, (x) => x.correct), checked: checked.length, caught: caught.length,
    examples: [...caught.slice(0, 3), ...checked.filter((x) => !caught.includes(x)).slice(0, 2), ...unchecked.slice(0, 2)]
      .map((x) => ({ question: x.question, gold: x.gold, text: x.text, caught: caught.includes(x), correct: x.correct })),
  };
}

/** Least-squares slope of y over x. */
function slope(pts: [number, number][]): number {
  const n = pts.length;
  if (n < 2) return NaN;
  const mx = pts.reduce((a, p) => a + p[0], 0) / n, my = pts.reduce((a, p) => a + p[1], 0) / n;
  const sxy = pts.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0), sxx = pts.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
  return sxx ? sxy / sxx : NaN;
}

export type Curves = {
  steps: number; climbStep?: number; checkFirst: number; checkLast: number;
  lenFirst: number; lenMid: number; lenLast: number; lenSlope2: number; rising2: boolean;
  caughtInTraining: number; caughtExample?: string;
};

/** The curves of a run's events: check rate, length, and the length's rise over the second half. */
export function curves(events: ZsEvent[]): Curves {
  const m = foldReport(events);
  const ups: PolicyUpdated[] = m.steps;
  const len = ups.map((u) => [u.step, u.stats.responseLengthMean] as [number, number]);
  const mean = (xs: [number, number][]) => xs.reduce((a, p) => a + p[1], 0) / Math.max(1, xs.length);
  const half = Math.floor(len.length / 2);
  const mid = len.slice(Math.max(0, half - EDGE / 2), half + EDGE / 2);
  const lenFirst = mean(len.slice(0, EDGE)), lenMid = mean(mid), lenLast = mean(len.slice(-EDGE));
  const lenSlope2 = slope(len.slice(half));
  const rate = (p?: { samples: number; selfChecks: number }) => (p && p.samples ? p.selfChecks / p.samples : 0);
  const avg = (ps: typeof m.checks) => ps.reduce((a, p) => a + rate(p), 0) / Math.max(1, ps.length);
  // training rollouts whose check caught and fixed a wrong first value (the verifier's verdict from GroupScored)
  let caughtInTraining = 0, caughtExample: string | undefined;
  const scored = new Map<string, Map<number, { correct: boolean; answer: string | null }>>();
  for (const e of events) {
    if (e.type !== "GroupScored") continue;
    scored.set(e.groupId, new Map(e.scores.map((s) => [s.index, { correct: s.reward > 0 && s.accuracy > 0, answer: s.extracted ?? null }])));
  }
  for (const e of events) {
    if (e.type !== "GroupSampled") continue;
    for (const s of e.samples) {
      const v = scored.get(e.groupId)?.get(s.index);
      if (v && caughtAndFixed(s.text, v.answer, v.correct)) { caughtInTraining++; caughtExample ??= `step ${e.step}, ${e.prompt.text.replace(/^<eos>/, "").trim()} (gold ${e.gold}): ${s.text}`; }
    }
  }
  return {
    steps: ups.length, climbStep: m.climbStep, checkFirst: avg(m.checks.slice(0, EDGE)), checkLast: avg(m.checks.slice(-EDGE)),
    lenFirst, lenMid, lenLast, lenSlope2, rising2: lenSlope2 > 0 && lenLast > lenMid + 1, caughtInTraining, caughtExample,
  };
}

type SeedResult = {
  seed: number; runId: string; report: string; pretrainS: number; grpoS: number; totalS: number; weightsDigest: string;
  baseGreedy: number; finalGreedy: number; base: Sampled; final: Sampled; curves: Curves;
};

const f = (x: number | null | undefined, d = 3) => (x === null || x === undefined || Number.isNaN(x) ? "-" : x.toFixed(d));

async function oneSeed(file: string, seed: number, o: { steps?: number; sets: string[]; keep: string }): Promise<SeedResult> {
  const sets = [`seed=${seed}`, `model.pretrain.seed=${seed}`, `model.init_seed=${seed}`, ...o.sets];
  const cfg = loadConfig(file, sets);
  const tok = loadTokenizer(cfg.tokenizer);
  const t0 = performance.now();
  const p = await ensurePretrained(cfg, { cacheDir: modelCacheDir() });
  const pretrainS = p.cached ? p.seconds : (performance.now() - t0) / 1000;
  const basePolicy = await Policy.load(p.dir);
  let base: Sampled;
  try { base = await sampleHeldout(basePolicy, cfg, tok, seed); } finally { basePolicy.dispose(); }
  process.stderr.write(`  seed ${seed}: base model ${p.cached ? "(cached) " : ""}${f(pretrainS, 0)} s; T=1 accuracy ${f(base.accuracy)}, check rate ${f(base.checkRate)} (${base.checked} of ${base.n}), accuracy when checking ${f(base.accChecked)} vs not ${f(base.accUnchecked)}\n`);
  const dir = mkdtempSync(join(tmpdir(), "zs-bench-aha-"));
  const server = await startLocalServer({ storeDir: dir });
  try {
    const t1 = performance.now();
    const out = await runConfig({ file, server: server.url, steps: o.steps, sets, quiet: true });
    const grpoS = (performance.now() - t1) / 1000;
    const log = await EventLog.connect(server.url);
    try {
      const greedy = async (v: number) => (await evaluateRun(log, out.runId, { version: v, bench: "heldout", k: 1, temperature: 0 }))[0].metrics.accuracy;
      const baseGreedy = await greedy(0), finalGreedy = await greedy(out.version);
      const started = await log.runStarted(out.runId);
      if (!started) throw new Error(`run ${out.runId} has no RunStarted event`);
      const finalPolicy = Policy.fromSafetensors(await log.getBlob(out.runId, out.weightsDigest), modelConfigOf(started));
      let final: Sampled;
      try { final = await sampleHeldout(finalPolicy, cfg, tok, seed); } finally { finalPolicy.dispose(); }
      const records = await log.replayAll(out.runId);
      const events = records.map((r) => r.event);
      const report = await writeReport(records, defaultReportPath(out.runId));
      writeFileSync(join(o.keep, `seed${seed}.jsonl`), events.map((e) => JSON.stringify(e)).join("\n") + "\n");
      const c = curves(events);
      const totalS = (performance.now() - t0) / 1000 + (p.cached ? p.seconds : 0);
      process.stderr.write(`  seed ${seed}: ${c.steps} steps in ${f(grpoS, 0)} s; greedy ${f(baseGreedy)} → ${f(finalGreedy)}; T=1 check rate ${f(base.checkRate)} → ${f(final.checkRate)}; length ${f(c.lenFirst, 1)} / ${f(c.lenMid, 1)} / ${f(c.lenLast, 1)}; climbs at ${c.climbStep ?? "-"}; ${report}\n`);
      return { seed, runId: out.runId, report, pretrainS, grpoS, totalS, weightsDigest: out.weightsDigest, baseGreedy, finalGreedy, base, final, curves: c };
    } finally { await log.close(); }
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(argv: string[]): Promise<number> {
  const { flags, lists } = parseArgs(argv, { boolean: ["json"], string: ["seeds", "steps", "out", "keep", "config"], list: ["set"] });
  const seeds = String(flags.seeds ?? "0,1,2").split(",").map((x) => Number(x.trim()));
  const steps = flags.steps ? Number(flags.steps) : undefined;
  const file = (flags.config as string | undefined) ?? CONFIG;
  process.env.ZS_LOG_LEVEL ??= "warn";
  const keep = (flags.keep as string | undefined) ?? join(".zerostream", "bench", "aha");
  mkdirSync(keep, { recursive: true });
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  process.stderr.write(`aha experiment on ${cpu} (${cpus().length} cores, kernels ${kernelSet()}): ${file}, seeds ${seeds.join(",")}\n`);
  const results: SeedResult[] = [];
  for (const seed of seeds) results.push(await oneSeed(file, seed, { steps, sets: lists.set, keep }));

  const lines = [
    `aha experiment, ${file}, ${cpu}, kernels ${kernelSet()}; held-out 256 problems (greedy) and 256 x ${K} samples at T=1`,
    "",
    "| seed | greedy accuracy base → final | T=1 accuracy | check rate (T=1) | ×  | accuracy checking / not (base) | checks that caught a slip (final, T=1) | length first / mid / last 10 steps | 2nd-half slope | checks climb at | time (pretrain + GRPO) |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...results.map((r) => `| ${r.seed} | ${f(r.baseGreedy)} → ${f(r.finalGreedy)} | ${f(r.base.accuracy)} → ${f(r.final.accuracy)} | ${f(r.base.checkRate)} → ${f(r.final.checkRate)} | ${r.base.checkRate ? f(r.final.checkRate / r.base.checkRate, 1) : "∞"} | ${f(r.base.accChecked)} (${r.base.checked}) / ${f(r.base.accUnchecked)} | ${r.final.caught} of ${r.final.checked} | ${f(r.curves.lenFirst, 1)} / ${f(r.curves.lenMid, 1)} / ${f(r.curves.lenLast, 1)} | ${f(r.curves.lenSlope2, 3)} | ${r.curves.climbStep ?? "-"} | ${f(r.pretrainS, 0)} + ${f(r.grpoS, 0)} s |`),
    "",
    "targets (issue 19 item 3): greedy accuracy +0.25; check rate ×3 over the base model's sampled rate; length rising over the second half (slope > 0 and last 10 > middle 10 + 1 token); a check that caught and fixed a slip",
    ...results.map((r) => {
      const ok = [r.finalGreedy - r.baseGreedy >= 0.25, r.final.checkRate >= 3 * r.base.checkRate && r.final.checkRate > 0, r.curves.rising2, r.final.caught + r.curves.caughtInTraining > 0];
      return `seed ${r.seed}: accuracy ${ok[0] ? "met" : "NOT met"}, checks ${ok[1] ? "met" : "NOT met"}, length ${ok[2] ? "met" : "NOT met"}, caught ${ok[3] ? "met" : "NOT met"} (${r.curves.caughtInTraining} in training rollouts); report ${r.report}; digest ${r.weightsDigest}`;
    }),
    "",
    "examples (final policy, T=1):",
    ...results.flatMap((r) => r.final.examples.slice(0, 2).map((e) => `  seed ${r.seed} ${e.question} (gold ${e.gold}) ${e.caught ? "CAUGHT" : e.correct ? "correct" : "wrong"}: ${JSON.stringify(e.text)}`)),
    ...results.flatMap((r) => (r.curves.caughtExample ? [`  seed ${r.seed}, training rollout: ${JSON.stringify(r.curves.caughtExample)}`] : [])),
  ];
  process.stdout.write(lines.join("\n") + "\n");
  if (flags.out) { mkdirSync(dirname(String(flags.out)), { recursive: true }); writeFileSync(String(flags.out), lines.join("\n") + "\n"); }
  if (flags.json) process.stdout.write(JSON.stringify(results.map(({ base, final, ...r }) => ({ ...r, base: { ...base, examples: undefined }, final: { ...final, examples: undefined } }))) + "\n");
  return 0;
}
