// `zerostream eval <run> --version N|all --bench <name|file> [--k K] [--temperature T] [--force] [--map k=f,...] [--limit N] [--reward fn@v] [--json]`:
// evaluates policy versions of a run and records the result as Evaluated events (or prints the recorded one).
import { evaluateRun, type RunEval } from "../../offline/eval/run.ts";
import { parseArgs } from "../args.ts";
import { BUS_FLAGS, BUS_USAGE, withBus } from "../bus.ts";

export const summary = "eval <run> --version N|all --bench <name|file> [--k K] [--force]: evaluate policy versions, recorded as Evaluated events";

const num = (v: string | boolean | undefined, name: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== "string" || !Number.isFinite(n)) throw new Error(`--${name} needs a number, got ${JSON.stringify(v)}`);
  return n;
};

export function formatEval(r: RunEval): string {
  const m = Object.entries(r.metrics).map(([k, v]) => `${k}=${k === "mean_length" ? v.toFixed(1) : v.toFixed(3)}`).join(" ");
  return `v${r.version} ${r.benchmark} n=${r.n} k=${r.k} ${r.scorer}${r.recorded ? " (recorded)" : ""}: ${m}`;
}

export async function run(argv: string[]): Promise<number> {
  const { positional, flags } = parseArgs(argv, {
    boolean: ["force", "json"],
    string: [...BUS_FLAGS, "version", "bench", "k", "temperature", "map", "limit", "seed", "max-new-tokens", "reward"],
  });
  const [runId] = positional;
  if (!runId || !flags.version || !flags.bench) {
    process.stderr.write(`usage: zerostream eval <run> --version N|all --bench <heldout|name|file.jsonl> [--k K] [--temperature T] [--force] [--map prompt=problem,answer=answer] [--limit N] [--reward fn@v] [--json] ${BUS_USAGE}\n`);
    return 2;
  }
  const version = flags.version === "all" ? "all" : num(flags.version, "version")!;
  return withBus(flags, async ({ log }) => {
    const results = await evaluateRun(log, runId, {
      version, bench: String(flags.bench), k: num(flags.k, "k"), temperature: num(flags.temperature, "temperature"),
      force: Boolean(flags.force), map: flags.map as string | undefined, limit: num(flags.limit, "limit"),
      seed: num(flags.seed, "seed"), maxNewTokens: num(flags["max-new-tokens"], "max-new-tokens"), reward: flags.reward as string | undefined,
      onResult: (r) => { if (!flags.json) process.stdout.write(formatEval(r) + "\n"); },
    });
    if (flags.json) process.stdout.write(JSON.stringify(results, null, 2) + "\n");
    return 0;
  });
}
