// The mutation benchmark's verdict loop (issue 20): score every mutation of every gold answer and
// count false rejects (an equal rewrite not paid) and false accepts (a wrong variant paid) per kind.
// Pure: the caller loads the gold answers (loaders/verifier-cases.ts loadBenchGolds).
import { inTemplate, mutations, type MutationKind } from "./mutations.ts";
import { score, scoreAnswer } from "./score.ts";
import { DEFAULT_TIMEOUT_MS, type RewardSpec } from "./types.ts";

export type KindTally = { kind: MutationKind; expect: "pass" | "fail"; n: number; wrong: number; rate: number; examples: string[] };
export type BenchReport = {
  golds: number; verdicts: number; kinds: KindTally[];
  falseAcceptRate: number; falseRejectRate: number; worstKind: KindTally | null;
  maxMs: number; overLimit: number; errors: number;
};

/** Run every mutation of `golds` through the verifier (`spec` for completions, its bare scoring for transcripts). */
export function runMutationBench(golds: { answer: string; problem: string; id: string }[], spec: RewardSpec, examples = 3): BenchReport {
  const tally = new Map<MutationKind, KindTally>();
  let verdicts = 0, maxMs = 0, overLimit = 0, errors = 0;
  const limit = spec.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // one uncounted verdict first: compute-engine's start-up (about 0.6 s) happens once per worker, in ScorerPool.ready()
  score(inTemplate("\\left( 3, \\frac{\\pi}{3} + x \\right)"), "\\left( 3, \\frac{\\pi}{2} + x\\right)", spec);
  for (const g of golds) {
    for (const m of mutations(g.answer, g.problem)) {
      const text = m.mode === "answer" ? inTemplate(m.text) : m.text;
      const t0 = performance.now();
      const r = m.mode === "bare" ? scoreAnswer(text, g.answer, spec) : score(text, g.answer, spec);
      const ms = performance.now() - t0;
      verdicts++;
      maxMs = Math.max(maxMs, ms);
      if (ms > limit) overLimit++;
      if (r.outcome === "error") errors++;
      const t = tally.get(m.kind) ?? { kind: m.kind, expect: m.expect, n: 0, wrong: 0, rate: 0, examples: [] };
      tally.set(m.kind, t);
      t.n++;
      const paid = r.outcome === "correct";
      if (paid !== (m.expect === "pass")) {
        t.wrong++;
        if (t.examples.length < examples) t.examples.push(`${g.id}: gold ${JSON.stringify(g.answer)} variant ${JSON.stringify(m.text.slice(-120))} → ${r.outcome}`);
      }
    }
  }
  const kinds = [...tally.values()].map((t) => ({ ...t, rate: t.n ? t.wrong / t.n : 0 }));
  const sum = (e: "pass" | "fail", f: (t: KindTally) => number) => kinds.filter((t) => t.expect === e).reduce((a, t) => a + f(t), 0);
  const worst = kinds.reduce<KindTally | null>((w, t) => (!w || t.rate > w.rate ? t : w), null);
  return {
    golds: golds.length, verdicts, kinds,
    falseAcceptRate: sum("fail", (t) => t.wrong) / Math.max(1, sum("fail", (t) => t.n)),
    falseRejectRate: sum("pass", (t) => t.wrong) / Math.max(1, sum("pass", (t) => t.n)),
    worstKind: worst, maxMs, overLimit, errors,
  };
}
