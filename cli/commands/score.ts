// `zerostream score [--reward <name>] [--timeout-ms N] [--workers N]`: reads JSON lines
// {"gold":…, "prediction":…} (a bare answer) or {"gold":…, "response":…} (a whole completion) on
// stdin and prints one JSON line per input, in input order:
// {correct, outcome, format, reward, extracted}. A malformed line prints {"line": n, "error": …}
// and scoring goes on; the exit code is then 1.
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { z } from "zod";
import { DEFAULT_TIMEOUT_MS, ScorerPool, type ScoreJob } from "../../compute/scoring/pool.ts";
import { resolveReward } from "../../domain/reward/registry.ts";
import type { RewardResult } from "../../domain/reward/types.ts";

export const summary = "score JSON lines {gold, prediction|response} from stdin with a reward function (--reward base_acc)";

const answer = z.union([z.string(), z.number().transform(String)]);
const InputLine = z
  .object({ gold: answer, prediction: answer.optional(), response: z.string().optional() })
  .strict()
  .refine((d) => (d.prediction === undefined) !== (d.response === undefined), {
    message: "needs exactly one of 'prediction' (a bare answer) or 'response' (a whole completion)",
  });

function describe(err: z.ZodError): string {
  return err.issues.map((i) => (i.path.length ? `'${i.path.join(".")}': ${i.message}` : i.message)).join("; ");
}

function toJob(raw: string, spec: ReturnType<typeof resolveReward>): ScoreJob | string {
  let value: unknown;
  try { value = JSON.parse(raw); } catch (e) { return `invalid JSON: ${(e as Error).message}`; }
  const parsed = InputLine.safeParse(value);
  if (!parsed.success) return describe(parsed.error);
  const d = parsed.data;
  return d.response !== undefined
    ? { kind: "response", text: d.response, gold: d.gold, spec }
    : { kind: "answer", text: d.prediction!, gold: d.gold, spec };
}

function view(r: RewardResult): Record<string, unknown> {
  const out: Record<string, unknown> = { correct: r.outcome === "correct", outcome: r.outcome, format: r.format, reward: r.reward, extracted: r.extracted };
  if (r.message) out.message = r.message;
  return out;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { reward: { type: "string", default: "base_acc" }, "timeout-ms": { type: "string" }, workers: { type: "string" } },
  });
  const spec = resolveReward(values.reward!);
  const timeoutMs = values["timeout-ms"] === undefined ? DEFAULT_TIMEOUT_MS : Number(values["timeout-ms"]);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new Error(`--timeout-ms must be a positive number, got '${values["timeout-ms"]}'`);
  const size = values.workers === undefined ? undefined : Number(values.workers);
  const pool = new ScorerPool({ timeoutMs, size });
  let malformed = 0;
  let chain: Promise<void> = Promise.resolve();
  const emit = (p: Promise<Record<string, unknown>>) => {
    chain = chain.then(async () => { process.stdout.write(JSON.stringify(await p) + "\n"); });
  };
  let n = 0, sinceDrain = 0;
  const MAX_IN_FLIGHT = 1024; // bound memory on long inputs: drain the output every 1024 lines
  try {
    for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
      n++;
      if (!line.trim()) continue;
      const job = toJob(line, spec);
      if (typeof job === "string") { malformed++; emit(Promise.resolve({ line: n, error: job })); continue; }
      emit(pool.score(job).then(view));
      if (++sinceDrain >= MAX_IN_FLIGHT) { await chain; sinceDrain = 0; }
    }
    await chain;
  } finally {
    await pool.close();
  }
  return malformed ? 1 : 0;
}
