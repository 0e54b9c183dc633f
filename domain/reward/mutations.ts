// The mutation benchmark's generator (issue 20): from one gold answer, rewrites that are equal to it
// (the verifier must pay them) and variants that are not (it must not). Pure and deterministic: the
// same gold gives the same variants. Each kind applies only where it is sound for that gold (and,
// for degrees, percent and units, only when the problem mentions them); otherwise it yields nothing.
// The generator is written from mathematics, not from the verifier: a variant the verifier gets
// wrong is a verifier error, unless the variant itself is wrong (then the generator is fixed).
import { splitTop } from "./structure.ts";

export type MutationKind =
  | "fraction-decimal" | "reordered-sum" | "reordered-product" | "frac-spelling" | "spacing"
  | "thousands" | "left-right" | "text-around-box" | "units" | "degrees" | "percent" | "matrix-notation"
  | "interval-notation" | "list-order" | "transcript-chat" | "matrix-decimal" | "prose-decimal-comma"
  | "off-by-one" | "sign" | "swapped-fraction" | "dropped-term" | "partial-set" | "interval-end"
  | "tuple-order" | "equation-side" | "think-box" | "dropped-root";

/** `answer`: the text goes into the R1 template as the box's content; `response`: a whole completion; `bare`: a bare transcript (scoreAnswer). */
export type Mutation = { kind: MutationKind; expect: "pass" | "fail"; mode: "answer" | "response" | "bare"; text: string };

export const PASS_KINDS: MutationKind[] = ["fraction-decimal", "reordered-sum", "reordered-product", "frac-spelling", "spacing", "thousands",
  "left-right", "text-around-box", "units", "degrees", "percent", "matrix-notation", "interval-notation", "list-order", "transcript-chat", "matrix-decimal", "prose-decimal-comma"];
export const FAIL_KINDS: MutationKind[] = ["off-by-one", "sign", "swapped-fraction", "dropped-term", "partial-set", "interval-end",
  "tuple-order", "equation-side", "think-box", "dropped-root"];

/** The R1 template around an answer, as the benchmark's completions have it. */
export function inTemplate(answer: string): string {
  return `<think>\nWe work it out step by step and check the result.\n</think>\n<answer>\nThe final answer is $\\boxed{${answer}}$.\n</answer>`;
}

const hasTopLevel = (s: string, re: RegExp) => splitTop(s, (x, i) => (re.test(x[i]) ? 1 : 0)).parts.length > 1;
const isWrapped = (s: string) => /^[([{]|^\\\{|^\\left/.test(s) && /[)\]}]$|\\\}$|\\right.$/.test(s);
/** Words outside commands ("9 and -7", "2, 3, or 4"): a list in words, not a sum or a plain list. */
const hasWords = (s: string) => /[a-zA-Z]{2,}/.test(s.replace(/\\[a-zA-Z]+/g, " "));
/** Something complicated enough that no string rewrite below is safe on it. */
const exotic = (s: string) => hasWords(s) || /\\(?:text|mathrm|mbox|begin|sum|int|prod|lim|cup|cap|in|pm|mp|approx|infty|circ)\b|[=<>%]|\\[lg]eq?\b|\\neq|\\ne\b|\\\$|\\!|\{,\}|\d,\d{3}/.test(s);

function gcd(a: bigint, b: bigint): bigint { while (b) [a, b] = [b, a % b]; return a < 0n ? -a : a; }

/** -\frac{a}{b} or -a/b with integer a, b, as [sign, a, b]. */
function intFraction(s: string): [string, bigint, bigint] | null {
  const m = /^(-?)\s*(?:\\[dt]?frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}|(\d+)\s*\/\s*(\d+))$/.exec(s.trim());
  if (!m) return null;
  const a = BigInt(m[2] ?? m[4]), b = BigInt(m[3] ?? m[5]);
  return b === 0n ? null : [m[1], a, b];
}

/** The exact decimal of a/b when b has no prime factor but 2 and 5 (≤ 8 places), else null. */
function exactDecimal(a: bigint, b: bigint): string | null {
  const g = gcd(a, b); a /= g; b /= g;
  let d = b, k = 0;
  while (d % 2n === 0n) { d /= 2n; k++; }
  let k5 = 0;
  while (d % 5n === 0n) { d /= 5n; k5++; }
  if (d !== 1n || b === 1n) return null;
  const places = Math.max(k, k5);
  if (places > 8) return null;
  const scaled = (a * 10n ** BigInt(places)) / b;
  const str = scaled.toString().padStart(places + 1, "0");
  return `${str.slice(0, -places)}.${str.slice(-places)}`;
}

function fractionDecimal(g: string): string | null {
  const f = intFraction(g);
  if (f) { const d = exactDecimal(f[1], f[2]); return d ? f[0] + d : null; }
  const m = /^(-?)(\d+)\.(\d{1,6})$/.exec(g.trim());
  if (!m) return null;
  let n = BigInt(m[2] + m[3]), d = 10n ** BigInt(m[3].length);
  const k = gcd(n, d); n /= k; d /= k;
  return d === 1n ? null : `${m[1]}\\frac{${n}}{${d}}`;
}

/** Top-level terms of a sum with their signs: "1-\sqrt{3}+x" → [["+","1"],["-","\sqrt{3}"],["+","x"]]. */
function terms(g: string): [string, string][] | null {
  if (exotic(g) || hasTopLevel(g, /[,;:]/)) return null;
  const out: [string, string][] = [];
  const { parts, seps } = splitTop(g, (x, i) => {
    if (x[i] !== "+" && x[i] !== "-") return 0;
    const before = x.slice(0, i).trimEnd();
    return before === "" || /[\^_{(\[+\-*/]$|\\cdot$|\\times$/.test(before) ? 0 : 1;
  });
  let sign = "+";
  parts.forEach((p, i) => {
    let t = p.trim();
    if (i === 0 && t.startsWith("-")) { sign = "-"; t = t.slice(1).trim(); }
    else if (i === 0 && t.startsWith("+")) t = t.slice(1).trim();
    out.push([sign, t]);
    sign = seps[i] ?? "+";
  });
  return out.length >= 2 && out.every(([, t]) => t !== "" && !/^[-+]/.test(t)) ? out : null;
}

function joinTerms(ts: [string, string][]): string {
  return ts.map(([s, t], i) => (i === 0 ? (s === "-" ? `-${t}` : t) : ` ${s} ${t}`)).join("");
}

function reorderedProduct(g: string): string | null {
  if (exotic(g) || terms(g) || hasTopLevel(g, /[,;:]/)) return null;
  const m = /^(-?)(\d+)\s*(\\sqrt\{[^{}]+\}|\\pi|[a-z](?:\^\{?\d+\}?)?|\([^()]+\))$/.exec(g.trim());
  return m ? `${m[1]}${m[3]} \\cdot ${m[2]}` : null;
}

function fracSpelling(g: string, h: number): string | null {
  if (/\\[dt]frac/.test(g)) return g.replace(/\\[dt]frac/g, "\\frac");
  if (!/\\frac/.test(g)) return null;
  const digits = /\\frac\{(\d)\}\{(\d)\}/;
  if (h % 3 === 2 && digits.test(g)) return g.replace(new RegExp(digits, "g"), "\\frac$1$2");
  return g.replace(/\\frac/g, h % 3 === 0 ? "\\dfrac" : "\\tfrac");
}

function spacing(g: string): string | null {
  if (/\d,\d{3}|\{,\}|\\!|\\begin|\\text/.test(g)) return null;
  const s = g.replace(/,\s*/g, ",\\, ").replace(/(\d)(\\sqrt|\\pi|[a-z](?![a-z]))/g, "$1\\!$2").replace(/\s*([+=])\s*/g, " \\; $1 \\; ");
  return s === g ? null : s;
}

function thousands(g: string, h: number): string | null {
  const m = /^(-?)(\d{4,})$/.exec(g.trim());
  if (!m) return null;
  const sep = ["{,}", ",\\!", ","][h % 3];
  return m[1] + m[2].replace(/\B(?=(\d{3})+(?!\d))/g, sep);
}

function leftRight(g: string): string | null {
  if (!/[()[\]]/.test(g) || /\\left|\\right|\\sqrt\[|\\begin/.test(g)) return null;
  return g.replace(/\(/g, "\\left(").replace(/\)/g, "\\right)").replace(/\[/g, "\\left[").replace(/\]/g, "\\right]");
}

function matrixNotation(g: string, h: number): string | null {
  const m = /^\\begin\{pmatrix\}([\s\S]*)\\end\{pmatrix\}$/.exec(g.trim());
  if (!m) return null;
  if (h % 2 === 0) return `\\begin{bmatrix}${m[1]}\\end{bmatrix}`;
  const cols = (m[1].split("\\\\")[0].match(/&/g) ?? []).length + 1;
  return `\\left[\\begin{array}{${"c".repeat(cols)}}${m[1]}\\end{array}\\right]`;
}

/** A matrix of fractions with its entries as exact decimals (every entry must have one). */
function matrixDecimal(g: string): string | null {
  const m = /^\\begin\{([pb]matrix)\}([\s\S]*)\\end\{\1\}$/.exec(g.trim());
  if (!m || !/frac|\//.test(m[2])) return null;
  const rows = m[2].split("\\\\").map((r) => r.split("&").map((c) => c.trim()));
  const out = rows.map((r) => r.map((c) => (/^-?\d+$/.test(c) ? c : fractionDecimal(c))));
  return out.every((r) => r.every((c) => c !== null)) ? `\\begin{${m[1]}}${out.map((r) => r.join(" & ")).join(" \\\\ ")}\\end{${m[1]}}` : null;
}

type Interval = { lo: string; hi: string; loClosed: boolean; hiClosed: boolean };

function singleInterval(g: string): Interval | null {
  const t = g.trim();
  if (!/^[([]/.test(t) || !/[)\]]$/.test(t) || /\\cup|\\cap/.test(t)) return null;
  const inner = t.slice(1, -1);
  const { parts } = splitTop(inner, (x, i) => (x[i] === "," ? 1 : 0));
  if (parts.length !== 2 || splitTop(t, (x, i) => (x[i] === "," ? 1 : 0)).parts.length !== 1) return null;
  const [lo, hi] = parts.map((p) => p.trim());
  if (!lo || !hi || /[a-wyzA-Z](?<!\\[a-z]*)/.test((lo + hi).replace(/\\[a-zA-Z]+/g, ""))) return null;
  return { lo, hi, loClosed: t[0] === "[", hiClosed: t.endsWith("]") };
}

const infinite = (e: string) => /\\infty/.test(e);

function intervalNotation(g: string): string | null {
  const iv = singleInterval(g);
  if (!iv || /x/.test(g)) return null;
  const lo = infinite(iv.lo), hi = infinite(iv.hi);
  if (lo && hi) return null;
  if (!lo && !hi && !iv.loClosed && !iv.hiClosed) return null; // (a, b) is also a point: leave it
  const l = iv.loClosed ? "\\le" : "<", r = iv.hiClosed ? "\\le" : "<";
  if (lo) return `x ${r} ${iv.hi}`;
  if (hi) return `x ${iv.loClosed ? "\\ge" : ">"} ${iv.lo}`;
  return `${iv.lo} ${l} x ${r} ${iv.hi}`;
}

function intervalEnd(g: string): string | null {
  const iv = singleInterval(g);
  if (!iv) return null;
  if (!infinite(iv.lo)) return `${iv.loClosed ? "(" : "["}${iv.lo}, ${iv.hi}${iv.hiClosed ? "]" : ")"}`;
  if (!infinite(iv.hi)) return `(${iv.lo}, ${iv.hi}${iv.hiClosed ? ")" : "]"}`;
  return null;
}

/** The items of a bare top-level list "a, b, c" (no brackets around the whole). */
function bareList(g: string): string[] | null {
  if (isWrapped(g.trim()) || hasWords(g) || /=|\\begin|\\text|<|>|\\\$|\\!|\{,\}/.test(g) || /\d,\d{3}/.test(g)) return null;
  const { parts } = splitTop(g, (x, i) => (x[i] === "," ? 1 : 0));
  const items = parts.map((p) => p.trim());
  return items.length >= 2 && items.every((p) => p) && new Set(items).size === items.length ? items : null;
}

function tupleItems(g: string): string[] | null {
  const t = g.trim();
  if (!t.startsWith("(") || !t.endsWith(")") || /\\infty|=|\\begin/.test(t)) return null;
  if (splitTop(t, (x, i) => (x[i] === "," ? 1 : 0)).parts.length !== 1) return null; // one tuple, not a list of them
  const items = splitTop(t.slice(1, -1), (x, i) => (x[i] === "," ? 1 : 0)).parts.map((p) => p.trim());
  return items.length >= 2 && items.every((p) => p) && new Set(items).size === items.length ? items : null;
}

function offByOne(g: string): string | null {
  if (/\d,\d{3}|\{,\}|,\\!|\\begin\{array|_\{?\d|\\text|\d\s+\d/.test(g)) return null;
  const re = /\d+(?:\.\d+)?/g;
  let last: RegExpExecArray | null = null;
  for (let m = re.exec(g); m; m = re.exec(g)) {
    const before = g.slice(0, m.index);
    if (/(?:\^|\^\{|\\sqrt\[|_)\s*$/.test(before)) continue; // exponents, root indices, subscripts
    last = m;
  }
  if (!last) return null;
  const lit = last[0];
  const bumped = lit.includes(".") ? (Number(lit) + 1).toFixed(lit.split(".")[1].length) : (BigInt(lit) + 1n).toString();
  return g.slice(0, last.index) + bumped + g.slice(last.index + lit.length);
}

function negate(item: string): string | null {
  const t = item.trim();
  if (/^0(?:\.0*)?$/.test(t) || /\\pm|\\mp|=|<|>|\\infty|\\text|\\begin/.test(t)) return null;
  if (t.startsWith("-")) return terms(t) ? `-(${t})` : t.slice(1).trim();
  return terms(t) ? `-(${t})` : `-${t}`;
}

function sign(g: string): string | null {
  if (exotic(g)) return null;
  const tup = tupleItems(g);
  if (tup) { const n = negate(tup[tup.length - 1]); return n === null ? null : `(${[...tup.slice(0, -1), n].join(", ")})`; }
  if (hasTopLevel(g, /[,;]/) || isWrapped(g.trim()) && /,/.test(g)) return null;
  return negate(g);
}

function swappedFraction(g: string): string | null {
  const f = intFraction(g);
  if (f) return f[1] === f[2] ? null : `${f[0]}\\frac{${f[2]}}{${f[1]}}`;
  const m = /\\[dt]?frac\{([^{}]+)\}\{([^{}]+)\}/.exec(g);
  if (!m || m[1].trim() === m[2].trim() || exotic(g)) return null;
  return g.slice(0, m.index) + `\\frac{${m[2]}}{${m[1]}}` + g.slice(m.index + m[0].length);
}

function droppedTerm(g: string): string | null {
  const ts = terms(g);
  if (!ts || ts.some(([, t]) => /^0+$/.test(t))) return null;
  return joinTerms(ts.slice(0, -1));
}

function partialSet(g: string): string | null {
  const set = /^\\\{(.*)\\\}$/.exec(g.trim());
  const items = set ? bareList(set[1]) : bareList(g);
  if (!items) return null;
  const kept = items.slice(0, -1).join(", ");
  return set ? `\\{${kept}\\}` : kept;
}

function equationSides(g: string): string[] {
  const parts = splitTop(g, (x, i) => (x[i] === "=" ? 1 : 0)).parts.map((p) => p.trim());
  if (parts.length !== 2 || /<|>|\\[lg]eq|,/.test(g)) return [];
  const [l, r] = parts;
  // a bare name on the left is a label (y = 2x + 1 is answered by 2x + 1): not an equation to keep whole
  if (/^[A-Za-z]+(?:_\{?\w+\}?)?(?:\([a-z]\))?$/.test(l)) return [];
  return [l, r].filter((s) => s && /\d|[a-z]/.test(s));
}

const WORDS = "so we compute the sum of both sides then divide by and check that it holds for every case thus".split(" ");

function transcript(h: number): string {
  let s = "", k = h;
  while (s.length < 1500) { k = (Math.imul(k, 1103515245) + 12345) >>> 0; s += WORDS[k % WORDS.length] + ((k >>> 8) % 17 === 0 ? ". " : " "); }
  return s;
}

function hashOf(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13;
  return h >>> 0;
}

const UNIT_OF_PROBLEM = /\b(cm|centimeters|meters|inches|feet|miles|dollars|units|square units|hours|minutes|seconds|days|pounds)\b/i;

/** Every mutation of one gold answer (with the problem it answers, when known). */
export function mutations(gold: string, problem = ""): Mutation[] {
  const g = gold.trim().replace(/^\$+([^$]*)\$+$/, "$1").trim(); // "$y^x=x^y$" is y^x=x^y
  const h = hashOf(g);
  const out: Mutation[] = [];
  const add = (kind: MutationKind, text: string | null, mode: Mutation["mode"] = "answer") => {
    if (text === null || text.trim() === "" || text.trim() === g) return;
    out.push({ kind, expect: PASS_KINDS.includes(kind) ? "pass" : "fail", mode, text });
  };
  const number = /^-?\d+(?:\.\d+)?$/.test(g);
  add("fraction-decimal", fractionDecimal(g));
  const ts = terms(g);
  add("reordered-sum", ts ? joinTerms([...ts].reverse()) : null);
  add("reordered-product", reorderedProduct(g));
  add("frac-spelling", fracSpelling(g, h));
  add("spacing", spacing(g));
  add("thousands", thousands(g, h));
  add("left-right", leftRight(g));
  add("text-around-box", `<think>\nLet us compute.\n</think>\n<answer>\nAfter simplifying, we get $\\boxed{${g}}$, which is the answer to the question.\n</answer>`, "response");
  const unit = UNIT_OF_PROBLEM.exec(problem);
  add("units", number && unit ? `${g}\\text{ ${unit[1].toLowerCase()}}` : null);
  add("degrees", number && /degree|\^\\circ|\^\{\\circ\}/.test(problem) ? `${g}^\\circ` : null);
  add("percent", number && /percent|\\%/.test(problem) ? `${g}\\%` : null);
  add("matrix-notation", matrixNotation(g, h));
  add("interval-notation", intervalNotation(g));
  const list = bareList(g);
  add("list-order", list && !/^\(/.test(g) ? [...list].reverse().join(", ") : null);
  add("transcript-chat", `${transcript(h)}\nTherefore, the final answer is $\\boxed{${g}}$.<|im_end|>\n<|endoftext|>`, "bare");

  add("matrix-decimal", matrixDecimal(g));
  const dec = /^(\d+)\.(\d{1,2})$/.exec(g);
  add("prose-decimal-comma", dec ? `${transcript(h + 1)}\nSo in the end each one costs \\$${dec[1]},${dec[2]} in total.` : null, "bare");

  const wrong = offByOne(g);
  add("off-by-one", wrong);
  add("sign", sign(g));
  add("swapped-fraction", swappedFraction(g));
  add("dropped-term", droppedTerm(g));
  add("partial-set", partialSet(g));
  add("interval-end", intervalEnd(g));
  const tup = tupleItems(g);
  add("tuple-order", tup && !singleInterval(g)?.lo.includes("infty") ? `(${[...tup].reverse().join(", ")})` : null);
  for (const side of equationSides(g)) add("equation-side", side);
  add("dropped-root", /\\pm/.test(g) && !/\\mp/.test(g) ? g.replace(/\\pm/g, "+") : null);
  if (wrong) add("think-box", `<think>\nFirst guess: $\\boxed{${g}}$. Let me check again.\n</think>\n<answer>\nThe final answer is $${wrong}$.\n</answer>`, "response");
  return out;
}
