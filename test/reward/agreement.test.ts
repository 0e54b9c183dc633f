// Agreement of our verdicts with the `expected` verdicts of public verifier test suites
// (test/fixtures/reward/verifier-cases.jsonl). Fails below 95%; prints the disagreements by category.
// Data is vendored (test/fixtures/reward/SOURCES.md, data/eval/SOURCES.md); $ZS_VERIFIER_CASES,
// $ZS_MATH500 and $ZS_DEEPSCALER point the tests at other copies.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { caseCategory, loadVerifierCases } from "../../loaders/verifier-cases.ts";
import { resolveReward } from "../../domain/reward/registry.ts";
import { readFileSync } from "node:fs";
import { equivalent } from "../../domain/reward/equiv.ts";
import { extractAnswer, scoreAnswer } from "../../domain/reward/score.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const path = process.env.ZS_VERIFIER_CASES ?? join(root, "test", "fixtures", "reward", "verifier-cases.jsonl");
const TARGET = 0.95;
const math500 = process.env.ZS_MATH500 ?? join(root, "data", "eval", "math500.jsonl");
// of each DeepScaleR row with a reference solution: its gold answer and the end of the solution
// (from ~200 characters before the last box); a full deepscaler-train.jsonl works as well
const deepscaler = process.env.ZS_DEEPSCALER ?? join(root, "test", "fixtures", "reward", "deepscaler-boxed.jsonl");

describe("agreement with public verifier test suites", () => {
  it(`given ${path}, then at least ${TARGET * 100}% of verdicts agree`, () => {
    assert.ok(existsSync(path), `verifier cases not found at ${path}: set ZS_VERIFIER_CASES to the file (this test never skips)`);
    const cases = loadVerifierCases(path);
    assert.ok(cases.length > 100, `only ${cases.length} cases in ${path}`);
    const spec = resolveReward("acc");
    const byCategory = new Map<string, string[]>();
    let agree = 0;
    for (const c of cases) {
      const r = scoreAnswer(c.prediction, c.gold, spec);
      assert.notEqual(r.outcome, "error", `${c.id}: ${r.message}`);
      if ((r.outcome === "correct") === c.expected) { agree++; continue; }
      const key = caseCategory(c);
      byCategory.set(key, [...(byCategory.get(key) ?? []), `${c.id} expected=${c.expected} ours=${r.outcome} extracted=${JSON.stringify(r.extracted?.slice(0, 60))}`]);
    }
    const rate = agree / cases.length;
    const lines = [`agreement ${agree}/${cases.length} = ${(100 * rate).toFixed(1)}% (target ${TARGET * 100}%)`];
    for (const [k, v] of [...byCategory].sort()) lines.push(`  ${k}: ${v.length}`, ...v.map((x) => `    ${x}`));
    console.log(lines.join("\n"));
    assert.ok(rate >= TARGET, lines.join("\n"));
  });
});

describe("reference solutions against their gold answers", () => {
  it(`given MATH-500 (${math500}), then the last box of every reference solution equals its gold answer`, () => {
    assert.ok(existsSync(math500), `MATH-500 not found at ${math500}: set ZS_MATH500 (this test never skips)`);
    const rows = readFileSync(math500, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { id: string; answer: string; solution: string });
    const misses: string[] = [];
    for (const r of rows) {
      const ex = extractAnswer(r.solution, "boxed");
      if (ex === null || !equivalent(r.answer, ex).equal) misses.push(`${r.id}: gold ${JSON.stringify(r.answer)} boxed ${JSON.stringify(ex)}`);
    }
    console.log(`MATH-500 solutions: ${rows.length - misses.length}/${rows.length} agree`);
    assert.ok(misses.length <= rows.length * 0.01, misses.join("\n"));
  });
});

describe("DeepScaleR reference solutions against their gold answers", () => {
  it(`given the AMC/AIME rows with boxed solutions (${deepscaler}), then at least 97% agree`, () => {
    assert.ok(existsSync(deepscaler), `DeepScaleR not found at ${deepscaler}: set ZS_DEEPSCALER (this test never skips)`);
    let n = 0;
    const misses: string[] = [];
    for (const l of readFileSync(deepscaler, "utf8").split("\n")) {
      if (!l) continue;
      const r = JSON.parse(l) as { id: string; answer: string; solution?: string; excerpt?: string };
      const text = r.excerpt ?? r.solution;
      const ex = text ? extractAnswer(text, "boxed") : null;
      // a box holding only a choice letter cannot be checked against a value without the choices
      if (ex === null || /^\s*(?:\\text(?:bf)?\{|\\mathrm\{)?\s*\(?[A-E]\)?\s*\}?\s*$/.test(ex)) continue;
      n++;
      if (!equivalent(String(r.answer), ex).equal) misses.push(`${r.id}: gold ${JSON.stringify(r.answer)} boxed ${JSON.stringify(ex)}`);
    }
    console.log(`DeepScaleR solutions: ${n - misses.length}/${n} agree; the misses are mostly wrong reference boxes:\n  ${misses.slice(0, 30).join("\n  ")}`);
    assert.ok(n > 1000, `only ${n} rows`);
    assert.ok(misses.length <= n * 0.03, misses.join("\n"));
  });
});
