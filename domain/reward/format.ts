// Format check of the R1 template `<think> … </think><answer> … </answer>`.
// strict: MindSpeed-RL's original base_acc check — exactly one of each tag, in order, the response
//         starts with <think> and ends with </answer>; whitespace at both ends is tolerated.
// loose:  MindSpeed-RL's later single regex, re.fullmatch(r"<think>.*</think>.*<answer>.*\\boxed\{.*\}.*</answer>", DOTALL),
//         evaluated here with indexOf scans (same language, linear time, no backtracking on 1 MB inputs).
import type { FormatMode } from "./types.ts";

const TAGS = ["<think>", "</think>", "<answer>", "</answer>"] as const;

function countOf(s: string, needle: string): number {
  let n = 0;
  for (let i = s.indexOf(needle); i !== -1; i = s.indexOf(needle, i + needle.length)) n++;
  return n;
}

export function strictFormat(response: string): boolean {
  const s = response.trim();
  if (!s.startsWith("<think>") || !s.endsWith("</answer>")) return false;
  if (TAGS.some((t) => countOf(s, t) !== 1)) return false;
  const pos = TAGS.map((t) => s.indexOf(t));
  return pos[0] < pos[1] && pos[1] < pos[2] && pos[2] < pos[3];
}

export function looseFormat(response: string): boolean {
  const s = response;
  if (!s.startsWith("<think>") || !s.endsWith("</answer>")) return false;
  const end = s.length - "</answer>".length; // the final </answer> is the suffix
  const thinkEnd = s.indexOf("</think>", "<think>".length);
  if (thinkEnd === -1) return false;
  const answer = s.indexOf("<answer>", thinkEnd + "</think>".length);
  if (answer === -1) return false;
  const boxed = s.indexOf("\\boxed{", answer + "<answer>".length);
  if (boxed === -1) return false;
  const close = s.indexOf("}", boxed + "\\boxed{".length);
  return close !== -1 && close < end;
}

export const formatChecks: Record<FormatMode, (response: string) => boolean> = {
  strict: strictFormat,
  loose: looseFormat,
  none: () => true,
};
