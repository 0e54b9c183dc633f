// The files a run config names that the user brings: the training set, evaluation sets, the model
// directory and the tokenizer. Relative paths are read from the working directory. A missing one is
// reported with its config key and its path (as written and as resolved), before a run starts.
import { statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import type { RunConfig } from "../streams/config.ts";
import { ZeroStreamError } from "../streams/errors.ts";

export type MissingInput = { key: string; path: string; resolved: string; problem: string };

export class InputNotFoundError extends ZeroStreamError {
  constructor(readonly missing: MissingInput[]) {
    super(missing.length === 1 ? describeMissing(missing[0]) : `the config names files that are not here:\n  - ${missing.map(describeMissing).join("\n  - ")}`);
  }
}

const HINTS: Record<string, string> = {
  "data.train.path": "a training set is a file you bring: put it there, or point data.train.path at your copy (--set data.train.path=FILE)",
  "model.path": "the model is a directory you bring (config.json + model.safetensors, or model.safetensors.index.json and its shards, as published): put it there, or set model.path",
  "tokenizer.path": "the tokenizer is a tokenizer.json (or a directory holding one) you bring: put it there, or set tokenizer.path",
};

/** `datasets/x.jsonl (relative to the working directory: /cwd/datasets/x.jsonl)`: what a path means here. */
export function describePath(path: string, resolved = resolve(path)): string {
  return isAbsolute(path) ? path : `${path} (relative to the working directory: ${resolved})`;
}

export function describeMissing(m: MissingInput): string {
  const hint = HINTS[m.key] ?? `set ${m.key} to an existing file`;
  return `${m.key}: ${m.problem} at ${describePath(m.path, m.resolved)}; ${hint}`;
}

function kind(path: string): "file" | "dir" | null {
  try { const s = statSync(path); return s.isDirectory() ? "dir" : s.isFile() ? "file" : null; } catch { return null; }
}

/** null when `path` is a file; otherwise what is wrong with it. */
export function fileAt(key: string, path: string, cwd = process.cwd()): MissingInput | null {
  const resolved = resolve(cwd, path);
  const k = kind(resolved);
  return k === "file" ? null : { key, path, resolved, problem: k === "dir" ? "a directory, not a file," : "no file" };
}

/** Every input of the config that is not where it says; `model: false` when the weights come from elsewhere (fork). */
export function missingInputs(cfg: RunConfig, o: { model?: boolean; cwd?: string } = {}): MissingInput[] {
  const cwd = o.cwd ?? process.cwd();
  const out: (MissingInput | null)[] = [];
  if ("path" in cfg.data.train) out.push(fileAt("data.train.path", cfg.data.train.path, cwd));
  cfg.eval.benchmarks.forEach((b, i) => {
    if ("path" in b.source) out.push(fileAt(`eval.benchmarks[${i}].source.path`, b.source.path, cwd));
  });
  if (cfg.model.path && o.model !== false) {
    const dir = resolve(cwd, cfg.model.path);
    if (kind(dir) !== "dir") out.push({ key: "model.path", path: cfg.model.path, resolved: dir, problem: "no model directory" });
    else {
      if (kind(join(dir, "config.json")) !== "file") out.push({ key: "model.path", path: join(cfg.model.path, "config.json"), resolved: join(dir, "config.json"), problem: "no config.json" });
      // one model.safetensors, or the shards model.safetensors.index.json names (checked when the model loads)
      if (kind(join(dir, "model.safetensors")) !== "file" && kind(join(dir, "model.safetensors.index.json")) !== "file") {
        out.push({ key: "model.path", path: join(cfg.model.path, "model.safetensors"), resolved: join(dir, "model.safetensors"), problem: "no model.safetensors (nor model.safetensors.index.json)" });
      }
    }
  }
  if (cfg.tokenizer.type === "hf") {
    const p = resolve(cwd, cfg.tokenizer.path);
    const k = kind(p);
    if (k === null) out.push({ key: "tokenizer.path", path: cfg.tokenizer.path, resolved: p, problem: "no tokenizer" });
    else if (k === "dir" && kind(join(p, "tokenizer.json")) !== "file") out.push({ key: "tokenizer.path", path: join(cfg.tokenizer.path, "tokenizer.json"), resolved: join(p, "tokenizer.json"), problem: "no tokenizer.json" });
  }
  return out.filter((m): m is MissingInput => m !== null);
}

/** Throws InputNotFoundError naming every missing input. */
export function assertInputs(cfg: RunConfig, o: { model?: boolean; cwd?: string } = {}): void {
  const missing = missingInputs(cfg, o);
  if (missing.length) throw new InputNotFoundError(missing);
}
