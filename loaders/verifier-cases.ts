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
