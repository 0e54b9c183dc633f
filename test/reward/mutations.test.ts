// Issue 20: the mutation benchmark as a test, on a subset of the gold answers (benchSubset: every gold
// answer that is not a plain integer and every 8th one that is, 1,528 golds, about 9,600 verdicts; the full
// benchmark is `npm run bench -- verifier`). Targets: false accepts ≤ 0.5 %, false rejects ≤ 2 %, no kind
// above 5 %, no verdict over its time limit.
import assert from "node:assert/strict";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { benchSubset, loadBenchGolds } from "../../loaders/verifier-cases.ts";
import { runMutationBench } from "../../domain/reward/mutation-bench.ts";
import { FAIL_KINDS, mutations, PASS_KINDS } from "../../domain/reward/mutations.ts";
import { resolveReward } from "../../domain/reward/registry.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

describe("mutation generator", () => {
  it("given a gold fraction, then its rewrites are equal and its variants wrong, by construction", () => {
    const m = mutations("-\\frac{3}{4}");
    const of = (k: string) => m.filter((x) => x.kind === k).map((x) => x.text);
    assert.deepEqual(of("fraction-decimal"), ["-0.75"]);
    assert.deepEqual(of("swapped-fraction"), ["-\\frac{4}{3}"]);
    assert.deepEqual(of("sign"), ["\\frac{3}{4}"]);
    assert.deepEqual(of("off-by-one"), ["-\\frac{3}{5}"]);
  });
  it("given a plane's equation, then each side alone is a wrong variant, and a labelled line is not", () => {
    assert.deepEqual(mutations("2x - y + 3z + 8 = 0").filter((x) => x.kind === "equation-side").map((x) => x.text), ["2x - y + 3z + 8", "0"]);
    assert.equal(mutations("y = 2x + 3").filter((x) => x.kind === "equation-side").length, 0);
  });
  it("given an interval and a pmatrix, then notation rewrites keep them and end flips change them", () => {
    const iv = mutations("[-2, 7)");
    assert.deepEqual(iv.filter((x) => x.kind === "interval-notation").map((x) => x.text), ["-2 \\le x < 7"]);
    assert.deepEqual(iv.filter((x) => x.kind === "interval-end").map((x) => x.text), ["(-2, 7)"]);
    assert.ok(mutations("\\begin{pmatrix} \\frac{1}{4} \\\\ 2 \\end{pmatrix}").some((x) => x.kind === "matrix-decimal" && x.text.includes("0.25")));
  });
});

describe("mutation benchmark (subset)", () => {
  it("given the subset of vendored gold answers, then every kind and the totals meet the targets", () => {
    const golds = benchSubset(loadBenchGolds(root));
    const r = runMutationBench(golds, resolveReward("base_acc", { formatMode: "strict" }));
    const lines = [`${r.golds} golds, ${r.verdicts} verdicts: false accepts ${(100 * r.falseAcceptRate).toFixed(2)}%, false rejects ${(100 * r.falseRejectRate).toFixed(2)}%, slowest ${r.maxMs.toFixed(0)} ms, over limit ${r.overLimit}`,
      ...r.kinds.filter((k) => k.wrong).map((k) => `  ${k.kind} (${k.expect}) ${k.wrong}/${k.n}\n    ${k.examples.join("\n    ")}`)];
    console.log(lines.join("\n"));
    assert.ok(r.golds > 1000 && r.verdicts > 5000, lines[0]);
    assert.deepEqual(new Set(r.kinds.map((k) => k.kind)), new Set([...PASS_KINDS, ...FAIL_KINDS]), "every kind is exercised");
    assert.ok(r.falseAcceptRate <= 0.005, lines.join("\n"));
    assert.ok(r.falseRejectRate <= 0.02, lines.join("\n"));
    for (const k of r.kinds) assert.ok(k.rate <= 0.05, `${k.kind}: ${k.wrong}/${k.n}\n${lines.join("\n")}`);
    assert.equal(r.overLimit, 0, lines[0]);
    assert.equal(r.errors, 0, lines[0]);
  });
});
