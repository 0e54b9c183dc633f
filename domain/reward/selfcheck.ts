// Self-verification in a completion (the R1-Zero "aha" behaviour): does the reasoning re-check or
// revise its own work? A response counts when its think part
//   1. contains a re-check marker word: check, recheck, re-check, double-check, verify, verification,
//      wait, re-evaluate, recompute, recalculate, let me redo (case-insensitive, whole words), or
//   2. computes the same step twice with different results: an arithmetic left-hand side such as
//      `7+6+0` or `12 * 3` appears twice with different numeric results (`7+6+0=13 ... 7+6+0=12`).
// The same step repeated with the same result is not a revision. Pure, linear in the text.

const MARKER_SOURCE = String.raw`\b(?:re-?check(?:ed|ing|s)?|double-check(?:ed|ing|s)?|check(?:ed|ing|s)?|verif(?:y|ied|ies|ying|ication)|wait|re-?evaluat(?:e|ed|ing)|re-?comput(?:e|ed|ing)|re-?calculat(?:e|ed|ing)|let me redo)\b`;
const MARKERS = new RegExp(MARKER_SOURCE, "i");
/** Every re-check marker word of a text (global), for highlighting. */
export const MARKERS_ALL = (): RegExp => new RegExp(MARKER_SOURCE, "gi");

// an arithmetic expression of at least two operands, `=`, a number; not preceded by more of an expression
const STEP = /(?<![\d.+\-*/×x])((?:\d+(?:\.\d+)?\s*[+\-*/×]\s*)+\d+(?:\.\d+)?)\s*=\s*(-?\d+(?:\.\d+)?)/g;

/** The reasoning part of a completion: inside <think>…</think> when present, else up to <answer>, else all. */
export function thinkPart(text: string): string {
  const open = text.indexOf("<think>");
  if (open !== -1) {
    const close = text.indexOf("</think>", open + 7);
    return text.slice(open + 7, close === -1 ? undefined : close);
  }
  const answer = text.indexOf("<answer>");
  return answer === -1 ? text : text.slice(0, answer);
}

/** True when the step `lhs = result` appears twice in the text with different numeric results. */
export function hasRevisedStep(text: string): boolean {
  const seen = new Map<string, number>();
  for (const m of text.matchAll(STEP)) {
    const lhs = m[1].replace(/\s+/g, "");
    const value = Number(m[2]);
    const prev = seen.get(lhs);
    if (prev !== undefined && prev !== value) return true;
    if (prev === undefined) seen.set(lhs, value);
  }
  return false;
}

/** Whether a completion re-checks or revises its own work (see the header for the exact rule). */
export function isSelfCheck(text: string): boolean {
  const think = thinkPart(text);
  return MARKERS.test(think) || hasRevisedStep(think);
}

/** The last number the reasoning states before its first re-check marker (`0923` in `<think>… so 0923, I
 * check: …`): the value the check is about; null without a marker or a number before it. */
export function statedBeforeCheck(text: string): number | null {
  const think = thinkPart(text);
  const m = MARKERS.exec(think);
  if (!m) return null;
  const nums = think.slice(0, m.index).match(/\d+(?:\.\d+)?/g);
  return nums ? Number(nums.at(-1)) : null;
}

/**
 * Whether a response's check caught and fixed a mistake: it checks or revises its work (isSelfCheck), its
 * final answer is correct (`correct`, from the verifier), and either one of its steps was computed twice
 * with different results, or the value it stated before its first re-check marker differs from the final
 * answer (`answer`).
 */
export function caughtAndFixed(text: string, answer: string | null, correct: boolean): boolean {
  if (!correct || answer === null || !isSelfCheck(text)) return false;
  if (hasRevisedStep(thinkPart(text))) return true;
  const before = statedBeforeCheck(text);
  return before !== null && Number.isFinite(Number(answer)) && before !== Number(answer);
}
