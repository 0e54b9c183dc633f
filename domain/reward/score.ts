// The pure, synchronous core: score one completion (or one bare answer) against the gold answer.
// No workers, no clock limit here — the pool (pool.ts) runs this under a time limit.
import { equivalent } from "./equiv.ts";
import { answerRegion, answerTagContent, lastBoxed, lenientAnswer } from "./extract.ts";
import { formatFailure } from "./format.ts";
import { combine } from "./registry.ts";
import type { FormatRule, Outcome, RewardResult, RewardSpec } from "./types.ts";

/**
 * The answer a completion gives, as the spec's answer source says; null when it gives none. Only the
 * answer region counts (extract.ts answerRegion): not the reasoning inside <think>…</think>, not text
 * after a chat-template token.
 */
export function extractAnswer(completion: string, source: RewardSpec["answerSource"]): string | null {
  const response = answerRegion(completion);
  if (source === "boxed") return lastBoxed(response)?.content.trim() || null;
  if (source === "answer_tag") {
    const inner = answerTagContent(response);
    return inner === null ? null : (lastBoxed(inner)?.content ?? inner).trim() || null;
  }
  return lenientAnswer(response)?.trim() || null;
}

/** The format part of a verdict: 1 or 0, and the first rule that failed (null when it held or is not checked). */
type Format = { value: number; rule: FormatRule | null };
const NO_CHECK: Format = { value: 1, rule: null };

function result(spec: RewardSpec, format: Format, outcome: Outcome, extracted: string | null, t0: number, message?: string): RewardResult {
  const accuracy = outcome === "correct" ? 1 : 0;
  const r: RewardResult = { reward: combine(spec, format.value, accuracy), format: format.value, accuracy, outcome, extracted, ms: performance.now() - t0 };
  if (message !== undefined) r.message = message;
  if (format.rule !== null) r.formatRule = format.rule;
  return r;
}

/** Judge an extracted answer against the gold answer (gold goes through lenient extraction). */
function judge(spec: RewardSpec, format: Format, extracted: string, gold: string, t0: number): RewardResult {
  const goldAnswer = lenientAnswer(gold);
  if (goldAnswer === null) return result(spec, format, "error", extracted, t0, "gold answer is empty");
  const v = equivalent(goldAnswer, extracted);
  if (v.equal) return result(spec, format, "correct", extracted, t0);
  if (v.goldError) return result(spec, format, "error", extracted, t0, `gold answer cannot be parsed: ${v.goldError}`);
  if (v.predError) return result(spec, format, "unparseable", extracted, t0, v.predError);
  return result(spec, format, "wrong", extracted, t0);
}

/**
 * Score a whole completion. An internal exception becomes outcome "error" with its message —
 * reported, never a silent zero.
 */
export function score(response: string, gold: string, spec: RewardSpec): RewardResult {
  const t0 = performance.now();
  let format: Format = { value: 0, rule: null };
  let extracted: string | null = null;
  try {
    const rule = formatFailure[spec.formatMode](response);
    format = { value: rule === null ? 1 : 0, rule };
    extracted = extractAnswer(response, spec.answerSource);
    if (extracted === null) return result(spec, format, "no_answer", null, t0);
    return judge(spec, format, extracted, gold, t0);
  } catch (e) {
    return result(spec, format, "error", extracted, t0, e instanceof Error ? `${e.name}: ${e.message}` : String(e));
  }
}

/** Score a bare answer (no template, no format check): lenient extraction of the prediction. */
export function scoreAnswer(prediction: string, gold: string, spec: RewardSpec): RewardResult {
  const t0 = performance.now();
  let extracted: string | null = null;
  try {
    extracted = lenientAnswer(answerRegion(prediction))?.trim() || null;
    if (extracted === null) return result(spec, NO_CHECK, "no_answer", null, t0);
    return judge(spec, NO_CHECK, extracted, gold, t0);
  } catch (e) {
    return result(spec, NO_CHECK, "error", extracted, t0, e instanceof Error ? `${e.name}: ${e.message}` : String(e));
  }
}
