// Loader of verifier-case files (JSON lines {id, source, gold, prediction, expected, note}), e.g.
// test/fixtures/reward/verifier-cases.jsonl. Takes any path: users bring their own copies.
import { readFileSync } from "node:fs";
import { z } from "zod";

export const VerifierCase = z.object({
  id: z.string(),
  source: z.string(),
  gold: z.string(),
  prediction: z.string(),
  expected: z.boolean(),
  note: z.string().default(""),
});
export type VerifierCase = z.infer<typeof VerifierCase>;

export class VerifierCasesError extends Error {
  constructor(message: string, options?: { cause?: unknown }) { super(message, options); this.name = "VerifierCasesError"; }
}

export function loadVerifierCases(path: string): VerifierCase[] {
  let text: string;
  try { text = readFileSync(path, "utf8"); } catch (e) {
    throw new VerifierCasesError(`cannot read verifier cases at ${path}: set ZS_VERIFIER_CASES to a verifier-cases file (the repository's is test/fixtures/reward/verifier-cases.jsonl)`, { cause: e });
  }
  return text.split("\n").filter((l) => l.trim()).map((l, i) => {
    const r = VerifierCase.safeParse(JSON.parse(l));
    if (!r.success) throw new VerifierCasesError(`${path}:${i + 1}: ${r.error.issues.map((x) => `${x.path.join(".")}: ${x.message}`).join("; ")}`);
    return r.data;
  });
}

/** The verifier whose convention a case follows, from its source and note (for reports). */
export function caseCategory(c: VerifierCase): string {
  const repo = c.source.split(":")[0];
  const test = c.note.split(/[;:]/)[0].trim();
  return `${repo} ${test}`;
}

/** The seed of the tuning / held-out split (issue 20). Changing it changes which cases the tuning saw. */
export const SPLIT_SEED = "zerostream-verifier-split-1";

/** FNV-1a (32 bit) of a string, finished with murmur3's fmix32 (FNV's low bit alone is a parity of the input). */
function hash32(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Which half a case belongs to: a seeded hash of the case itself (gold, prediction, expected
 * verdict), so the split does not depend on ids, file order or which file a case came from.
 * The verifier is tuned on "tuning" only; "heldout" is measured, never looked at case by case.
 */
export function caseHalf(c: VerifierCase): "tuning" | "heldout" {
  return hash32(`${SPLIT_SEED}\n${c.gold}\n${c.prediction}\n${c.expected}`) % 2 === 0 ? "tuning" : "heldout";
}

/** The repository's case files: the shared developer set and the cases collected for issue 20. */
export const CASE_FILES = ["verifier-cases.jsonl", "collected-cases.jsonl"] as const;

/** A gold answer of the mutation benchmark, with the problem it answers when the file has it. */
export type BenchGold = { source: string; id: string; answer: string; problem: string };

/**
 * The gold answers of the mutation benchmark (issue 20), all vendored in the repository:
 * data/eval/{math500,aime24,aime25,amc23}.jsonl (data/eval/SOURCES.md) and the DeepScaleR AMC/AIME
 * answers of test/fixtures/reward/deepscaler-boxed.jsonl and 800 non-integer answers of DeepScaleR's MATH
 * part, test/fixtures/reward/deepscaler-math-golds.jsonl (test/fixtures/reward/SOURCES.md).
 */
export function loadBenchGolds(root: string): BenchGold[] {
  const files: [string, string][] = [
    ["math500", `${root}/data/eval/math500.jsonl`], ["aime24", `${root}/data/eval/aime24.jsonl`],
    ["aime25", `${root}/data/eval/aime25.jsonl`], ["amc23", `${root}/data/eval/amc23.jsonl`],
    ["deepscaler", `${root}/test/fixtures/reward/deepscaler-boxed.jsonl`],
    ["deepscaler-math", `${root}/test/fixtures/reward/deepscaler-math-golds.jsonl`],
  ];
  return files.flatMap(([source, path]) => {
    let text: string;
    try { text = readFileSync(path, "utf8"); } catch (e) { throw new VerifierCasesError(`cannot read benchmark gold answers at ${path}`, { cause: e }); }
    return text.split("\n").filter((l) => l.trim()).map((l) => {
      const r = JSON.parse(l) as { id: string; answer: unknown; problem?: string };
      return { source, id: r.id, answer: String(r.answer), problem: r.problem ?? "" };
    });
  });
}

/** The subset the unit test runs: every gold answer that is not a plain integer, and every 8th one that is. */
export function benchSubset(golds: BenchGold[]): BenchGold[] {
  let k = 0;
  return golds.filter((g) => !/^-?\d+$/.test(g.answer.trim()) || k++ % 8 === 0);
}
