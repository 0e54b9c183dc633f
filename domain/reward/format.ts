// Format check of the R1 template `<think> … </think><answer> … </answer>`; each check returns the first
// rule that failed (FormatRule, recorded in the verdict) or null when the format holds.
// strict: MindSpeed-RL's original base_acc check (`_validate_response_structure` of
//         mindspeed_rl/models/rule_verifier.py): exactly one of each tag, in order, the response starts
//         with <think> and ends with </answer>, and exactly one \boxed{…} (counted as re.findall(r"\\boxed\{.*?\}"),
//         no DOTALL: a box whose closing brace is on a later line does not count) placed between
//         <answer> and </answer>. Ours tolerates whitespace at both ends (the original does not).
// loose:  MindSpeed-RL's later single regex, re.fullmatch(r"<think>.*</think>.*<answer>.*\\boxed\{.*\}.*</answer>", DOTALL),
//         evaluated here with indexOf scans (same language, linear time, no backtracking on 1 MB inputs).
import type { FormatMode, FormatRule } from "./types.ts";

const TAGS = ["<think>", "</think>", "<answer>", "</answer>"] as const;

function countOf(s: string, needle: string): number {
  let n = 0;
  for (let i = s.indexOf(needle); i !== -1; i = s.indexOf(needle, i + needle.length)) n++;
  return n;
}

/** The boxes as the original counts them: non-overlapping `\boxed{` … first `}` on the same line. */
const BOX_RE = /\\boxed\{.*?\}/g;

export function strictFormatFailure(response: string): FormatRule | null {
  const s = response.trim();
  if (!s.startsWith("<think>")) return "starts_with_think";
  if (!s.endsWith("</answer>")) return "ends_with_answer";
  if (TAGS.some((t) => countOf(s, t) !== 1)) return "tag_count";
  const pos = TAGS.map((t) => s.indexOf(t));
  if (!(pos[0] < pos[1] && pos[1] < pos[2] && pos[2] < pos[3])) return "tag_order";
  const boxes = [...s.matchAll(BOX_RE)];
  if (boxes.length !== 1) return "box_count";
  const at = boxes[0].index;
  return at > pos[2] && at < pos[3] ? null : "box_outside_answer";
}

export function looseFormatFailure(response: string): FormatRule | null {
  const s = response;
  if (!s.startsWith("<think>")) return "starts_with_think";
  if (!s.endsWith("</answer>")) return "ends_with_answer";
  const end = s.length - "</answer>".length; // the final </answer> is the suffix
  const thinkEnd = s.indexOf("</think>", "<think>".length);
  if (thinkEnd === -1) return "tag_order";
  const answer = s.indexOf("<answer>", thinkEnd + "</think>".length);
  if (answer === -1) return "tag_order";
  const boxed = s.indexOf("\\boxed{", answer + "<answer>".length);
  if (boxed === -1) return "box_count";
  const close = s.indexOf("}", boxed + "\\boxed{".length);
  return close !== -1 && close < end ? null : "box_count";
}

export const strictFormat = (response: string): boolean => strictFormatFailure(response) === null;
export const looseFormat = (response: string): boolean => looseFormatFailure(response) === null;

/** The first format rule a response fails under a mode; null when it passes (always, for "none"). */
export const formatFailure: Record<FormatMode, (response: string) => FormatRule | null> = {
  strict: strictFormatFailure,
  loose: looseFormatFailure,
  none: () => null,
};

export const formatChecks: Record<FormatMode, (response: string) => boolean> = {
  strict: strictFormat,
  loose: looseFormat,
  none: () => true,
};
