// Datasets: JSONL / JSON / Parquet files with map_keys, or a synthetic task family; prompts rendered
// with a template and tokenized; prompts longer than max_prompt_length are filtered and counted.
// A file is named by a config key (data.train, eval.benchmarks[i].source): a missing one is an error
// naming that key and the path.
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { z } from "zod";
import type { DataSource as DataSourceSchema, RunConfig } from "../streams/config.ts";
import { ZeroStreamError } from "../streams/errors.ts";
import { describeMissing, describePath, fileAt } from "./inputs.ts";
import { taskRows } from "./tasks.ts";
import { renderPrompt } from "./templates.ts";
import type { Tokenizer } from "./tokenizer.ts";

export class DatasetError extends ZeroStreamError {}
export class DatasetNotFoundError extends DatasetError {}

export type DataSource = z.infer<typeof DataSourceSchema>;
export type Row = { id: string; index: number; question: string; answer: string };
export type PromptRow = Row & { text: string; tokens: number[] };
export type PreparedDataset = { rows: PromptRow[]; total: number; filteredTooLong: number; filteredIds: string[] };

/** `key`: the config key of the source (data.train, eval.benchmarks[0].source), null for a path given on the command line. */
async function readRecords(path: string, format: string, key: string | null): Promise<Record<string, unknown>[]> {
  const missing = fileAt(key ? `${key}.path` : "path", path);
  if (missing) throw new DatasetNotFoundError(key ? describeMissing(missing) : `${missing.problem} at ${describePath(path, missing.resolved)}`);
  const fmt = format === "auto" ? ({ ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet" } as Record<string, string>)[extname(path)] : format;
  if (!fmt) throw new DatasetError(`cannot tell the format of ${path} from its extension (.jsonl, .ndjson, .json, .parquet)${key ? `: set ${key}.format` : ""}`);
  if (fmt === "parquet") {
    const { parquetReadObjects, asyncBufferFromFile } = await import("hyparquet");
    const file = await asyncBufferFromFile(path);
    return (await parquetReadObjects({ file })) as Record<string, unknown>[];
  }
  let text: string;
  try { text = readFileSync(path, "utf8"); } catch (err) { throw new DatasetError(`cannot read dataset ${path}: ${(err as Error).message}`); }
  if (fmt === "json") {
    const v = JSON.parse(text) as unknown;
    const arr = Array.isArray(v) ? v : (v as { data?: unknown })?.data;
    if (!Array.isArray(arr)) throw new DatasetError(`${path}: a JSON dataset is an array of rows or {"data": [...]}`);
    return arr as Record<string, unknown>[];
  }
  const out: Record<string, unknown>[] = [];
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    try { out.push(JSON.parse(line) as Record<string, unknown>); } catch (err) {
      throw new DatasetError(`${path}:${i + 1}: not a JSON line (${(err as Error).message})`);
    }
  });
  return out;
}

/** The rows of a data source, in file order (or the task family's order); `key` names it in errors. */
export async function loadRows(src: DataSource, seed: number, key: string | null = "data.train"): Promise<Row[]> {
  if ("synthetic" in src) {
    return taskRows(src.synthetic, src.split, src.size ?? (src.split === "heldout" ? 256 : 20000), seed, src.params)
      .map((r, index) => ({ id: r.id, index, question: r.question, answer: r.answer }));
  }
  const recs = await readRecords(src.path, src.format, key);
  const { prompt, answer, id } = src.map_keys;
  const rows = recs.slice(0, src.limit ?? recs.length).map((r, index) => {
    const q = r[prompt], a = r[answer];
    if (typeof q !== "string") throw new DatasetError(`${src.path} row ${index}: map_keys.prompt '${prompt}' is ${q === undefined ? "missing" : typeof q}, expected a string`);
    if (typeof a !== "string" && typeof a !== "number") throw new DatasetError(`${src.path} row ${index}: map_keys.answer '${answer}' is ${a === undefined ? "missing" : typeof a}, expected a string or number`);
    const rid = id ? r[id] : r.id;
    return { id: typeof rid === "string" || typeof rid === "number" ? String(rid) : `row-${index}`, index, question: q, answer: String(a) };
  });
  if (!rows.length) throw new DatasetError(`${src.path}: no rows`);
  return rows;
}

/** Renders and tokenizes every row; too-long prompts are filtered and counted, never truncated. */
export function preparePrompts(rows: Row[], tok: Tokenizer, template: string, userTemplates: Record<string, string>, maxPromptLength: number): PreparedDataset {
  const out: PromptRow[] = [];
  const filteredIds: string[] = [];
  for (const r of rows) {
    const text = renderPrompt(template, r.question, userTemplates);
    const tokens = tok.encode(text);
    if (tokens.length > maxPromptLength) { filteredIds.push(r.id); continue; }
    out.push({ ...r, text, tokens });
  }
  if (!out.length) throw new DatasetError(`every prompt is longer than max_prompt_length (${maxPromptLength})`);
  return { rows: out, total: rows.length, filteredTooLong: filteredIds.length, filteredIds };
}

export async function prepareTrainSet(cfg: RunConfig, tok: Tokenizer): Promise<PreparedDataset> {
  const rows = await loadRows(cfg.data.train, cfg.seed);
  return preparePrompts(rows, tok, cfg.data.template, cfg.data.templates, cfg.data.max_prompt_length);
}
