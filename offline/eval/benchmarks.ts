// Benchmarks by name, for a run: `heldout` (the held-out split of the run's synthetic task), a name
// from the run config's eval.benchmarks, or a path to a JSONL / JSON / Parquet file (with map_keys,
// e.g. `prompt=problem,answer=answer`). Prompts are rendered with the run's template and tokenizer;
// prompts longer than the run's max_prompt_length are filtered and counted, as in training.
import { existsSync } from "node:fs";
import { basename, extname } from "node:path";
import type { RunConfig } from "../../streams/config.ts";
import { loadRows, preparePrompts, type DataSource, type PromptRow } from "../../loaders/datasets.ts";
import type { Tokenizer } from "../../loaders/tokenizer.ts";
import { ZeroStreamError } from "../../streams/errors.ts";

export class UnknownBenchmarkError extends ZeroStreamError {}

export type Benchmark = {
  name: string;                 // recorded in Evaluated events
  rows: PromptRow[];
  total: number;                // rows before the too-long filter
  filteredTooLong: number;
  k?: number;                   // settings of a config benchmark (unset: the evaluation's defaults)
  temperature?: number;
};

/** Parses `prompt=problem,answer=answer,id=unique_id` into map_keys. */
export function parseMapKeys(spec: string | undefined): { prompt: string; answer: string; id?: string } {
  const keys: { prompt: string; answer: string; id?: string } = { prompt: "prompt", answer: "answer" };
  for (const part of (spec ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
    const [k, v] = part.split("=");
    if (!v || !["prompt", "answer", "id"].includes(k)) throw new UnknownBenchmarkError(`--map takes prompt=<field>,answer=<field>[,id=<field>], got '${part}'`);
    (keys as Record<string, string>)[k] = v;
  }
  return keys;
}

function sourceOf(cfg: RunConfig, bench: string, map?: string): { name: string; source: DataSource; key: string | null; k?: number; temperature?: number } {
  // a benchmark of eval.benchmarks first (one named 'heldout' too: its source, k and temperature apply)
  const i = cfg.eval.benchmarks.findIndex((b) => b.name === bench);
  const named = cfg.eval.benchmarks[i];
  if (named) return { name: named.name, source: named.source, key: `eval.benchmarks[${i}].source`, k: named.k, temperature: named.temperature };
  if (bench === "heldout") {
    const train = cfg.data.train;
    if (!("synthetic" in train)) throw new UnknownBenchmarkError(`benchmark 'heldout' is the held-out split of a synthetic task; this run trains on ${train.path}: name a benchmark of eval.benchmarks or a file`);
    return { name: "heldout", source: { synthetic: train.synthetic, split: "heldout", params: train.params }, key: "data.train" };
  }
  if (existsSync(bench)) {
    return { name: basename(bench, extname(bench)), source: { path: bench, format: "auto", map_keys: parseMapKeys(map) }, key: null };
  }
  const known = ["heldout", ...cfg.eval.benchmarks.map((b) => b.name)];
  throw new UnknownBenchmarkError(`unknown benchmark '${bench}': use one of ${known.join(", ")} or a path to a JSONL file`);
}

/** The prompts of a benchmark for a run, rendered and tokenized as its training prompts are. */
export async function resolveBenchmark(cfg: RunConfig, tok: Tokenizer, bench: string, o: { map?: string; limit?: number } = {}): Promise<Benchmark> {
  const s = sourceOf(cfg, bench, o.map);
  let rows = await loadRows(s.source, cfg.seed, s.key);
  if (o.limit !== undefined) rows = rows.slice(0, o.limit);
  const ds = preparePrompts(rows, tok, cfg.data.template, cfg.data.templates, cfg.data.max_prompt_length);
  return { name: s.name, rows: ds.rows, total: ds.total, filteredTooLong: ds.filteredTooLong, k: s.k, temperature: s.temperature };
}
