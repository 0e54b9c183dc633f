// Answer extraction: the last \boxed{…}/\fbox{…} (nested braces, adjacent boxes joined), the
// content of <answer>, and a lenient chain for bare predictions and gold answers.
// Every function here is linear in the input length: a 1 MB completion is a few scans.

import { UNIT_WORDS } from "./normalize.ts";

export type Span = { start: number; end: number; content: string };

const BOX_RE = /\\(?:boxed|fbox)\b/g;

/** The text between braces starting at `open` (which must be "{"), honouring nesting and \{ \}. */
function braced(s: string, open: number): { content: string; end: number } | null {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === "\\") { i++; continue; }
    if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return { content: s.slice(open + 1, i), end: i + 1 };
  }
  return null;
}

/** Every \boxed / \fbox in order. An unclosed box is kept only when `allowUnclosed` (rest of text). */
export function boxedSpans(s: string, allowUnclosed = false): Span[] {
  const out: Span[] = [];
  BOX_RE.lastIndex = 0;
  for (let m = BOX_RE.exec(s); m; m = BOX_RE.exec(s)) {
    let i = m.index + m[0].length;
    while (s[i] === " ") i++;
    if (s[i] === "{") {
      const b = braced(s, i);
      if (b) { out.push({ start: m.index, end: b.end, content: b.content }); BOX_RE.lastIndex = b.end; }
      else if (allowUnclosed) { out.push({ start: m.index, end: s.length, content: s.slice(i + 1) }); break; }
    } else if (i > m.index + m[0].length) {
      const tok = /^[^\s$]+/.exec(s.slice(i, i + 200)); // "\boxed 5"
      if (tok) out.push({ start: m.index, end: i + tok[0].length, content: tok[0] });
    }
  }
  return out;
}

const CONNECTIVES = new Set(["and", "or", "&"]);

/** Whether the text between two boxes only joins them ("and", commas, \quad, a few words). */
export function isConnectiveGap(gap: string): boolean {
  if (gap.length > 80) return false;
  const g = gap
    .replace(/\\(?:text|textbf|mathrm|mbox)\s*\{([^{}]*)\}/g, " $1 ")
    .replace(/\\[()[\]]|\$|\\q?quad|\\[,;:! ]/g, " ")
    .trim();
  if (g === "") return true;
  const hasComma = /[,;]/.test(g);
  const words = g.split(/[\s,;]+/).filter((w) => w && w !== ".");
  const conn = words.filter((w) => CONNECTIVES.has(w.toLowerCase())).length;
  return (hasComma || conn > 0) && words.length - conn <= 4;
}

/** The last box, joined with the boxes before it that only connectives separate. */
export function lastBoxed(s: string, allowUnclosed = false): Span | null {
  const spans = boxedSpans(s, allowUnclosed);
  if (!spans.length) return null;
  let first = spans.length - 1;
  while (first > 0 && isConnectiveGap(s.slice(spans[first - 1].end, spans[first].start))) first--;
  const parts = spans.slice(first);
  return { start: parts[0].start, end: parts[parts.length - 1].end, content: parts.map((p) => p.content).join(", ") };
}

/** Chat-template tokens: a turn ends there; what follows is not the model's answer. */
const CHAT_TOKEN_RE = /<\|(?:im_end|im_start|endoftext|eot_id|end_of_text|start_header_id|end|user|assistant)\|>|<\/s>|<｜end▁of▁sentence｜>/;

/**
 * The part of a completion that can hold its answer: the text before the first chat-template token,
 * and of that the text after the last </think> (the reasoning is not the answer). A <think> that is
 * never closed leaves nothing: the completion never left its reasoning.
 */
export function answerRegion(s: string): string {
  const cut = CHAT_TOKEN_RE.exec(s);
  let t = cut && cut.index > 0 ? s.slice(0, cut.index) : s;
  const close = t.lastIndexOf("</think>");
  if (close !== -1) t = t.slice(close + "</think>".length);
  else if (t.includes("<think>")) return "";
  return t;
}

/** The content of the last <answer>…</answer>, or null. */
export function answerTagContent(s: string): string | null {
  const close = s.lastIndexOf("</answer>");
  if (close === -1) return null;
  const open = s.lastIndexOf("<answer>", close);
  return open === -1 ? null : s.slice(open + "<answer>".length, close);
}

// ---------------------------------------------------------------- lenient chain

type MathSpan = { start: number; end: number; content: string };

/** Paired math delimiters: $$…$$, $…$, \(…\), \[…\]. A lone $ (currency) is not a delimiter. */
export function mathSpans(s: string): MathSpan[] {
  const out: MathSpan[] = [];
  const re = /\$\$([\s\S]+?)\$\$|(?<!\\)\$((?:\\\$|[^$])+?)(?<!\\)\$|\\\(([\s\S]+?)\\\)|\\\[([\s\S]+?)\\\]/g;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const content = m[1] ?? m[2] ?? m[3] ?? m[4] ?? "";
    if (content.trim()) out.push({ start: m.index, end: m.index + m[0].length, content });
  }
  return out;
}

/** Math spans at the end that connectives join ("$21,16$ or $11$") become one answer. */
function lastMathGroup(s: string, spans: MathSpan[]): MathSpan | null {
  if (!spans.length) return null;
  let first = spans.length - 1;
  while (first > 0 && isConnectiveGap(s.slice(spans[first - 1].end, spans[first].start))) first--;
  const parts = spans.slice(first);
  return { start: parts[0].start, end: parts[parts.length - 1].end, content: parts.map((p) => p.content).join(", ") };
}

// a number in prose: thousands groups (1,000.5), a decimal comma (2,74: one or two digits after the comma,
// read as a decimal only against a single-number gold, see structure.ts), a simple fraction (2/3), a percent
const NUMBER_RE = /(?<![A-Za-z0-9_.\\/])-?(?:\d{1,3}(?:,\d{3})+(?!\d|,\d)|\d+,\d{1,2}(?!\d|,\d)|\d+)(?:\.\d+)?(?:\s*\/\s*\d+(?!\d|[.,]\d))?(?:\s*(?:\\?%|percent))?|(?<![A-Za-z0-9_.\\])\.\d+/g;

function lastNumber(s: string): { start: number; content: string } | null {
  let last: RegExpExecArray | null = null;
  NUMBER_RE.lastIndex = 0;
  for (let m = NUMBER_RE.exec(s); m; m = NUMBER_RE.exec(s)) last = m;
  return last ? { start: last.index, content: last[0] } : null;
}

/** Phrases that announce the answer: "final answer is", "Final Answer:", "the answer is". */
const ANCHOR_RE = /final answer\s*(?:is|:)\s*:?|(?:the|my) answer is\s*:?/gi;

/** The answer a phrase announces: the math that follows it, or the rest of its sentence. */
function anchoredSnippet(s: string, from: number): string {
  const rest = s.slice(from, from + 2000).replace(/^(?:\s|\\?["“])+/, "");
  const spans = mathSpans(rest);
  if (spans.length && spans[0].start === 0) {
    return lastMathGroup(rest, spans.filter((sp, i) => i === 0 || sp.start < sentenceEnd(rest)))!.content;
  }
  let sentence = rest.slice(0, sentenceEnd(rest)).trim();
  const is = sentence.lastIndexOf(" is ");
  if (is !== -1) sentence = sentence.slice(is + 4);
  return sentence;
}

function sentenceEnd(s: string): number {
  const m = /\.(?=\s|$)|\n|I hope|<\|/.exec(s);
  return m ? m.index : s.length;
}

/** A bare answer has no delimiters and at most one English word outside commands and \text{}. */
export function looksBare(s: string): boolean {
  if (s.length > 300 || /(?<!\\)\$|\\\(|\\\[/.test(s)) return false;
  const words = s.replace(/\\[a-zA-Z]+(?:\{[^{}]*\})?/g, " ").match(/[A-Za-z]{3,}/g) ?? [];
  return words.filter((w) => !UNIT_OR_CONNECTIVE.test(w)).length <= 1;
}

const UNIT_OR_CONNECTIVE = new RegExp(`^(?:and|or|${UNIT_WORDS})$`, "i");

/**
 * Lenient extraction for bare predictions and gold answers: the latest of the last box and the
 * last answer phrase; else the whole text when it is a bare answer; else the latest of the last
 * group of math spans and the last plain number.
 */
export function lenientAnswer(s: string): string | null {
  const box = lastBoxed(s, true);
  let anchor: { start: number; content: string } | null = null;
  ANCHOR_RE.lastIndex = 0;
  for (let m = ANCHOR_RE.exec(s); m; m = ANCHOR_RE.exec(s)) anchor = { start: m.index, content: anchoredSnippet(s, m.index + m[0].length) };
  if (box && (!anchor || box.start >= anchor.start || !anchor.content.trim())) return box.content;
  if (anchor && anchor.content.trim()) return lenientAnswer(anchor.content) ?? anchor.content;
  const t = s.trim();
  if (!t) return null;
  if (looksBare(t)) return t;
  const group = lastMathGroup(s, mathSpans(s));
  const num = lastNumber(s);
  if (group && (!num || group.end > num.start)) return group.content;
  if (num) return num.content;
  return group ? group.content : null;
}
