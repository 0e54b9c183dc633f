// `npm run bench -- reward [--json] [--reps N] [--n N] [--workers N] [--data DIR] [--cases PATH]`
// Verdicts/s of the reward verifier:
//   1. core, in process, on the verifier cases file (bare predictions and completions as stored;
//      default: the vendored test/fixtures/reward/verifier-cases.jsonl);
//   2. core, in process, on N synthetic R1-template completions of realistic length (~2 KB), built
//      from gold answers (1 group of 8 samples per prompt): DeepScaleR's when --data DIR (or
//      $ZS_DATA_DIR) holds your deepscaler-train.jsonl, else the vendored MATH-500's; split into
//      short answers (plain numbers/fractions) and all answers;
//   3. the bounded worker pool (time limit on) on the same synthetic completions.
//   4. groups/s over NATS with 1 and 2 reward consumer processes (scripts/bench-reward-bus.ts).
// Prints the median of --reps repetitions (default 5) after one uncounted warm-up pass; the parse
// cache is cleared before every timed repetition.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loadVerifierCases } from "../loaders/verifier-cases.ts";
import { natsGroupsPerSecond } from "./bench-reward-bus.ts";
import { clearParseCache } from "../domain/reward/expr.ts";
import { rng } from "../domain/reward/numeric.ts";
import { ScorerPool, type ScoreJob } from "../compute/scoring/pool.ts";
import { resolveReward } from "../domain/reward/registry.ts";
import { score, scoreAnswer } from "../domain/reward/score.ts";
import type { RewardSpec } from "../domain/reward/types.ts";
import { median } from "./stats.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
type Completion = { response: string; gold: string; short: boolean };

const FALLBACK_GOLDS = ["144", "-\\frac{2}{3}", "4\\sqrt{3}", "(-3,5)", "13a^2(a+7)", "\\dfrac{1}{2}", "34,\\!560", "26.9", "35^\\circ", "[0, 1)"];

/** The gold answers of the synthetic completions and the file they came from. */
function golds(dataDir: string | undefined): { path: string; answers: string[] } {
  const f = dataDir ? join(dataDir, "deepscaler-train.jsonl") : join(root, "data", "eval", "math500.jsonl");
  if (!existsSync(f)) return { path: `${f} missing: ${FALLBACK_GOLDS.length} built-in answers`, answers: FALLBACK_GOLDS };
  return { path: f, answers: readFileSync(f, "utf8").split("\n").filter(Boolean).map((l) => String((JSON.parse(l) as { answer: string }).answer)) };
}

const WORDS = "so we compute the sum of both sides then divide by and check that it holds for every case thus the value is".split(" ");

/** Deterministic synthetic completions: ~2 KB of reasoning with inline math, then the answer. */
export function synthesize(n: number, answers: string[], seed = 7): Completion[] {
  const r = rng(seed);
  const out: Completion[] = [];
  for (let i = 0; out.length < n; i++) {
    const gold = answers[Math.floor(r() * answers.length)];
    const short = /^-?\d+(?:\.\d+)?$|^-?\\d?frac\{\d+\}\{\d+\}$/.test(gold.trim());
    for (let k = 0; k < 8 && out.length < n; k++) {
      let think = "";
      while (think.length < 1800) {
        think += WORDS[Math.floor(r() * WORDS.length)] + " ";
        if (r() < 0.08) think += `$a_{${k}} = ${Math.floor(r() * 90)}x^2 + \\frac{${Math.floor(r() * 9) + 1}}{${Math.floor(r() * 9) + 2}}$ `;
      }
      const u = r();
      const ans = u < 0.5 ? gold : u < 0.9 ? (/^-?\d+$/.test(gold) ? String(Number(gold) + 1) : `${gold}+1`) : null;
      const tail = ans === null ? "<answer>I am not sure.</answer>" : `<answer>The answer is $\\boxed{${ans}}$.</answer>`;
      out.push({ response: `<think>${think}</think>${tail}`, gold, short });
    }
  }
  return out;
}


function timeRate(reps: number, n: number, f: () => void): { median: number; all: number[] } {
  const all: number[] = [];
  f(); // warm-up pass (JIT, compute-engine dictionaries), not counted
  for (let i = 0; i < reps; i++) {
    clearParseCache();
    const t0 = performance.now();
    f();
    all.push(n / ((performance.now() - t0) / 1000));
  }
  return { median: median(all), all };
}

async function poolRate(reps: number, items: Completion[], spec: RewardSpec, workers: number): Promise<{ median: number; all: number[] }> {
  const pool = new ScorerPool({ size: workers });
  await pool.ready();
  const all: number[] = [];
  try {
    for (let i = 0; i < reps; i++) {
      const jobs: ScoreJob[] = items.map((c) => ({ kind: "response", text: c.response, gold: c.gold, spec }));
      const t0 = performance.now();
      await pool.scoreMany(jobs);
      all.push(jobs.length / ((performance.now() - t0) / 1000));
    }
  } finally { await pool.close(); }
  return { median: median(all), all };
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: "boolean", default: false }, reps: { type: "string", default: "5" }, n: { type: "string", default: "10000" },
      workers: { type: "string", default: "1" }, data: { type: "string" }, cases: { type: "string" }, "no-pool": { type: "boolean", default: false },
    },
  });
  const reps = Number(values.reps), n = Number(values.n), workers = Number(values.workers);
  const dataDir = values.data ?? process.env.ZS_DATA_DIR;
  const casesPath = values.cases ?? process.env.ZS_VERIFIER_CASES ?? join(root, "test", "fixtures", "reward", "verifier-cases.jsonl");
  const spec = resolveReward("base_acc");
  const acc = resolveReward("acc");
  const report: Record<string, unknown> = { reward: "base_acc@1", reps, cpus: (await import("node:os")).availableParallelism() };

  if (existsSync(casesPath)) {
    const cases = loadVerifierCases(casesPath);
    const r = timeRate(reps, cases.length, () => { for (const c of cases) scoreAnswer(c.prediction, c.gold, acc); });
    report.cases = { path: casesPath, n: cases.length, verdictsPerSecond: Math.round(r.median), reps: r.all.map(Math.round) };
  } else report.cases = { path: casesPath, skipped: "file not found (pass --cases PATH)" };

  const g = golds(dataDir);
  report.golds = { path: g.path, n: g.answers.length };
  const items = synthesize(n, g.answers);
  const short = items.filter((c) => c.short);
  for (const [key, set] of [["syntheticShort", short], ["syntheticAll", items]] as const) {
    const r = timeRate(reps, set.length, () => { for (const c of set) score(c.response, c.gold, spec); });
    report[key] = { n: set.length, meanChars: Math.round(set.reduce((a, c) => a + c.response.length, 0) / set.length), verdictsPerSecond: Math.round(r.median), reps: r.all.map(Math.round) };
  }
  if (!values["no-pool"]) {
    const r = await poolRate(Math.min(reps, 3), items, spec, workers);
    report.pool = { workers, n: items.length, timeoutMs: 2000, verdictsPerSecond: Math.round(r.median), reps: r.all.map(Math.round) };
  }
  report.natsGroupsPerSecond = await natsGroupsPerSecond();

  if (values.json) process.stdout.write(JSON.stringify(report) + "\n");
  else {
    process.stdout.write(`reward verifier benchmark (median of ${reps} reps, ${report.cpus} cpus)\n`);
    for (const [k, v] of Object.entries(report)) if (typeof v === "object") process.stdout.write(`  ${k.padEnd(20)} ${JSON.stringify(v)}\n`);
  }
  return 0;
}
