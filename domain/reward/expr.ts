// compute-engine as the LaTeX parser: LaTeX → canonical MathJSON, cached (a group's gold answer
// is parsed once for its n samples). The engine is created lazily, once per thread.
import { ComputeEngine } from "@cortex-js/compute-engine";
import { AnswerTooComplexError, UnparseableAnswerError } from "./types.ts";

let engine: ComputeEngine | null = null;
function ce(): ComputeEngine {
  engine ??= new ComputeEngine();
  return engine;
}

const MAX_LATEX = 4000;
const MAX_DEPTH = 60;
const cache = new Map<string, unknown>();
const CACHE_MAX = 4096;

function braceDepth(s: string): number {
  let d = 0, max = 0;
  for (const ch of s) { if (ch === "{") max = Math.max(max, ++d); else if (ch === "}") d--; }
  return max;
}

/** Non-canonical MathJSON keeps e and i as plain symbols: they are the constants in answers. */
function constants(j: unknown): unknown {
  if (j === "e") return "ExponentialE";
  if (j === "i") return "ImaginaryUnit";
  return Array.isArray(j) ? j.map((x, k) => (k === 0 ? x : constants(x))) : j;
}

function hasError(j: unknown): boolean {
  if (Array.isArray(j)) return j[0] === "Error" || j.some(hasError);
  return false;
}

/** Canonical MathJSON of a LaTeX string; throws UnparseableAnswerError on a parse error. */
export function parseLatex(latex: string): unknown {
  const hit = cache.get(latex);
  if (hit !== undefined) return hit;
  if (latex.length > MAX_LATEX) throw new AnswerTooComplexError(`answer of ${latex.length} characters is too long to parse`);
  if (braceDepth(latex) > MAX_DEPTH) throw new AnswerTooComplexError(`answer nested more than ${MAX_DEPTH} braces deep`);
  // D, N and G mean derivative, numeric evaluation and Catalan's constant to compute-engine; in answers they are names.
  const j = constants(ce().parse(latex.replace(/(?<![\\A-Za-z])([DNG])(?![A-Za-z_])/g, "\\mathit{$1}"), { canonical: false }).json);
  if (hasError(j)) throw new UnparseableAnswerError(`cannot parse ${JSON.stringify(latex.slice(0, 80))}`);
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
  cache.set(latex, j);
  return j;
}

/** Forget cached parses (benchmarks measure cold caches). */
export function clearParseCache(): void {
  cache.clear();
}

/** compute-engine's own evaluation (matrix sums and products); null when it gives nothing usable. */
export function evaluateLatex(latex: string): unknown {
  const e = ce().parse(latex).evaluate();
  const j = e.json;
  return hasError(j) ? null : j;
}
