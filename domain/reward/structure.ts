// Structural parsing of a normalised answer: lists, sets, tuples, intervals, unions, matrices,
// relations, labelled values ("x = 3"), ratios, text, numbers and expressions. Our own code:
// compute-engine only sees the scalar leaves (see expr.ts).
import { matrixExpression } from "./matrix.ts";
import { UnparseableAnswerError } from "./types.ts";

export type Value =
  | { kind: "number"; value: number; decimals: number; text: string; exact?: Rational }
  | { kind: "expr"; latex: string }
  | { kind: "text"; text: string }
  | { kind: "list"; items: Value[]; decimalComma?: number }
  | { kind: "set"; items: Value[] }
  | { kind: "tuple"; items: Value[]; ratio?: boolean; labels?: string[] }
  | { kind: "interval"; lo: Value; hi: Value; loClosed: boolean; hiClosed: boolean }
  | { kind: "union"; parts: Value[] }
  | { kind: "matrix"; rows: Value[][] }
  | { kind: "relation"; op: "=" | "<" | "<=" | "!="; lhs: Value; rhs: Value }
  | { kind: "chain"; ops: string[]; parts: Value[] }
  | { kind: "labelled"; label: string; value: Value };

/** An exact rational n/d (d > 0) of a number literal. */
export type Rational = { n: bigint; d: bigint };

function decimalRational(s: string): Rational {
  const m = /^(-?)(\d*)(?:\.(\d*))?$/.exec(s)!;
  const frac = m[3] ?? "";
  const n = BigInt((m[2] || "0") + frac) * (m[1] ? -1n : 1n);
  return { n, d: 10n ** BigInt(frac.length) };
}

const OPEN = new Set(["(", "[", "{"]);
const CLOSE = new Set([")", "]", "}"]);
const MAX_ITEMS = 500;

/** Split at top-level separators found by `sep` (returns the separator length at i, or 0). */
export function splitTop(s: string, sep: (s: string, i: number) => number): { parts: string[]; seps: string[] } {
  const parts: string[] = [], seps: string[] = [];
  let depth = 0, start = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === "\\") {
      const n = depth <= 0 ? sep(s, i) : 0;
      if (n > 0) { parts.push(s.slice(start, i)); seps.push(s.slice(i, i + n)); start = i + n; i += n - 1; continue; }
      const m = /^\\(begin|end)\{[^}]*\}|^\\[{}]|^\\[a-zA-Z]+/.exec(s.slice(i, i + 40));
      if (m) {
        if (m[0].startsWith("\\begin") || m[0] === "\\{") depth++;
        else if (m[0].startsWith("\\end") || m[0] === "\\}") depth--;
        i += m[0].length - 1;
        continue;
      }
    }
    if (OPEN.has(ch)) depth++;
    else if (CLOSE.has(ch)) depth--;
    else if (depth <= 0) {
      const n = sep(s, i);
      if (n > 0) { parts.push(s.slice(start, i)); seps.push(s.slice(i, i + n)); start = i + n; i += n - 1; }
    }
  }
  parts.push(s.slice(start));
  if (parts.length > MAX_ITEMS) throw new UnparseableAnswerError(`more than ${MAX_ITEMS} items`);
  return { parts, seps };
}

const listSep = (s: string, i: number): number => {
  if (s[i] === "," || s[i] === ";") return 1;
  const m = /^\s+(?:and|or)\s+|^or(?=[A-Z\d(\-+\\])/.exec(s.slice(i, i + 8));
  if (m && (m[0][0] !== "o" || /[\d)\]}]/.test(s[i - 1] ?? ""))) return m[0].length;
  return 0;
};

/** "12,000,023" and "1,000.99" are one number: merge digit groups split at bare commas. */
function mergeThousands(parts: string[], seps: string[]): { parts: string[]; seps: string[] } {
  const P = [parts[0]], S: string[] = [];
  for (let k = 1; k < parts.length; k++) {
    const prev = P[P.length - 1].trim();
    // a bare comma (no space after it) between 1–3 digits and exactly 3 digits is a thousands separator
    if (seps[k - 1] === "," && /^-?\d{1,3}(?:,\d{3})*$/.test(prev) && /^\d{3}(?:\.\d+)?\s*$/.test(parts[k])) {
      P[P.length - 1] = `${prev},${parts[k].trim()}`;
    } else { P.push(parts[k]); S.push(seps[k - 1]); }
  }
  return { parts: P.map((p) => p.replace(/^(-?\d{1,3}(?:,\d{3})+)(\.\d+)?$/, (_m, a: string, b = "") => a.replace(/,/g, "") + b)), seps: S };
}

export function parseValue(s: string): Value {
  s = s.trim();
  if (!s) throw new UnparseableAnswerError("empty answer");
  const top = splitTop(s, listSep);
  const split = mergeThousands(top.parts, top.seps);
  const parts = split.parts.map((p) => p.trim()).filter((p) => p !== "");
  if (parts.length > 1) {
    const items = parts.flatMap((p) => { const v = parseItem(p); return v.kind === "list" && !v.decimalComma ? v.items : [v]; });
    const grouped = assignments(items);
    if (grouped) return grouped;
    const dc = parts.length === 2 && split.seps[0] === "," && /^\d+$/.test(parts[0]) && /^\d+$/.test(split.parts[1]) && parts[1].length !== 3
      ? Number(`${parts[0]}.${parts[1]}`) : undefined;
    return { kind: "list", items, decimalComma: dc };
  }
  return parseItem(parts[0] ?? s);
}

const NAME_RE = /^[A-Za-z](?:_\{?\w+\}?)?$|^\\[a-zA-Z]+$/;

/**
 * Labelled assignments of several unknowns, "p=5, q=2" or "p=5,q=2; p=7,q=2", are tuples in the order the
 * labels are written (one solution: a tuple; several: a list of tuples); the labels are kept so that
 * "q=2, p=5" matches by name. A list of one unknown's values (x=1, x=2; x_1=2, x_2=3) stays a list.
 */
function assignments(items: Value[]): Value | null {
  if (items.length < 2 || !items.every((v) => v.kind === "labelled" && NAME_RE.test(v.label.trim()))) return null;
  const labels = items.map((v) => (v as { label: string }).label.trim());
  // x_1 = 2, x_2 = 3 name the roots of one unknown: a set of values, not a tuple
  if (new Set(labels.map((l) => l.replace(/_.*$/, ""))).size === 1) return null;
  let k = labels.indexOf(labels[0], 1);
  if (k === -1) k = labels.length;
  if (k < 2 || labels.length % k !== 0 || new Set(labels.slice(0, k)).size !== k) return null;
  const tuples: Value[] = [];
  for (let i = 0; i < labels.length; i += k) {
    if (labels.slice(i, i + k).join("\n") !== labels.slice(0, k).join("\n")) return null;
    tuples.push({ kind: "tuple", items: items.slice(i, i + k).map((v) => (v as { value: Value }).value), labels: labels.slice(0, k) });
  }
  return tuples.length === 1 ? tuples[0] : { kind: "list", items: tuples };
}

const REL_RE = /^(?:\\leq|\\geq|\\neq|<|>|=)/;
const relSep = (s: string, i: number): number => { const m = REL_RE.exec(s.slice(i, i + 5)); return m ? m[0].length : 0; };

/** A label names a quantity: x, x_1, f(x), |AB|, \frac{NO}{BO}, S_{A}:S, (p,q,r) — no digits or +/- outside subscripts. */
export function isLabel(s: string): boolean {
  const t = s.replace(/_\{[^{}]*\}|_\w/g, "").replace(/\(\s*[A-Za-z](?:\s*,\s*[A-Za-z])*\s*\)/g, "()").replace(/'/g, "").trim();
  // arguments are names only (f(x), (p,q)): x(y-1) = 0 and y^x = x^y are equations, not labelled values
  return t.length > 0 && /^[A-Za-z\\{}|:,()\s]*$/.test(t) && !/\([^)]/.test(t) && !/\\(?:infty|pi)\b/.test(t) && /[A-Za-z]/.test(s);
}

function parseItem(s: string): Value {
  s = s.trim();
  const mx = matrixExpression(s, numberLiteral);
  if (mx) return mx;
  const pm = splitTop(s, (x, i) => (x.startsWith("\\pm", i) && !/[a-zA-Z]/.test(x[i + 3] ?? "") ? 3 : 0));
  if (pm.parts.length === 2) {
    const [a, b] = pm.parts;
    const lead = a.trim() === "" ? "" : `${a}`;
    return { kind: "set", items: [parseItem(`${lead}+${b}`), parseItem(`${lead}-${b}`)] };
  }
  const rel = splitTop(s, relSep);
  if (rel.parts.length > 1) return parseRelation(rel.parts.map((p) => p.trim()), rel.seps);
  const ratio = splitTop(s, (x, i) => (x[i] === ":" ? 1 : 0));
  if (ratio.parts.length >= 2 && ratio.parts.every((p) => p.trim())) return { kind: "tuple", ratio: true, items: ratio.parts.map(parseItem) };
  const cup = splitTop(s, (x, i) => (x.startsWith("\\cup", i) ? 4 : 0));
  if (cup.parts.length > 1) return { kind: "union", parts: cup.parts.map(parseItem) };
  return parseAtom(s);
}

function parseRelation(parts: string[], seps: string[]): Value {
  if (parts.some((p) => !p)) throw new UnparseableAnswerError("relation with an empty side");
  if (seps.every((o) => o === "=")) {
    const first = parts[0], last = parts[parts.length - 1];
    if (isLabel(first)) return { kind: "labelled", label: first, value: parseValue(last) };
    // a computation written out (2 + 3 = 5, \frac{6}{4} = 1.5 = \frac32) answers with its last side; an equation
    // with a variable on either side (7 = 11a + c) is an equation, not its right-hand side
    const vars = (p: string) => /[A-Za-z]/.test(p.replace(/\\[a-zA-Z]+/g, ""));
    if (parts.length > 2 || (!vars(first) && !vars(last))) return parseValue(last);
    return { kind: "relation", op: "=", lhs: parseItem(first), rhs: parseItem(last) };
  }
  const ops = seps.map(opOf);
  const abs = absoluteBounds(parts, ops);
  if (abs) return abs;
  if (parts.length === 3 && ops.every((o) => o.dir === ops[0].dir && o.dir !== 0) && isLabel(parts[1])) {
    const [lo, hi] = ops[0].dir < 0 ? [parts[0], parts[2]] : [parts[2], parts[0]];
    const [cLo, cHi] = ops[0].dir < 0 ? [ops[0].strict, ops[1].strict] : [ops[1].strict, ops[0].strict];
    return { kind: "interval", lo: parseItem(lo), hi: parseItem(hi), loClosed: !cLo, hiClosed: !cHi };
  }
  if (parts.length !== 2) return { kind: "chain", ops: seps, parts: parts.map(parseItem) };
  const o = ops[0];
  const [l, r] = o.dir > 0 ? [parts[1], parts[0]] : [parts[0], parts[1]];
  const op = o.dir === 0 ? "!=" : o.strict ? "<" : "<=";
  return { kind: "relation", op, lhs: parseItem(l), rhs: parseItem(r) };
}

/** a ≤ |x| ≤ b (0 ≤ a) and |x| < b as intervals of x: [-b,-a] ∪ [a,b], (-b, b). */
function absoluteBounds(parts: string[], ops: { dir: number; strict: boolean }[]): Value | null {
  const isAbs = (p: string) => /^\|[^|]+\|$/.test(p) && isLabel(p.slice(1, -1));
  const num = (p: string) => { const v = numberLiteral(p); return v && v.kind === "number" && v.value >= 0 ? v : null; };
  if (parts.length === 2 && isAbs(parts[0]) && ops[0].dir === -1) {
    const b = num(parts[1]);
    if (!b) return null;
    const neg = numberLiteral(`-${parts[1]}`)!;
    return { kind: "interval", lo: neg, hi: b, loClosed: !ops[0].strict, hiClosed: !ops[0].strict };
  }
  if (parts.length !== 3 || !isAbs(parts[1]) || ops[0].dir !== -1 || ops[1].dir !== -1) return null;
  const a = num(parts[0]), b = num(parts[2]);
  if (!a || !b) return null;
  const na = numberLiteral(`-${parts[0]}`)!, nb = numberLiteral(`-${parts[2]}`)!;
  const [ca, cb] = [!ops[0].strict, !ops[1].strict];
  if (a.value === 0 && ca) return { kind: "interval", lo: nb, hi: b, loClosed: cb, hiClosed: cb };
  return { kind: "union", parts: [
    { kind: "interval", lo: nb, hi: na, loClosed: cb, hiClosed: ca },
    { kind: "interval", lo: a, hi: b, loClosed: ca, hiClosed: cb },
  ] };
}

function opOf(sep: string): { dir: number; strict: boolean } {
  switch (sep) {
    case "<": return { dir: -1, strict: true };
    case "\\leq": return { dir: -1, strict: false };
    case ">": return { dir: 1, strict: true };
    case "\\geq": return { dir: 1, strict: false };
    case "\\neq": return { dir: 0, strict: true };
    default: return { dir: 2, strict: false };
  }
}

/** The index of the bracket closing the one at `open` (for "\\{", the index of its "\\}"), or -1. */
function matching(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === "\\") {
      if (s[i + 1] === "{") depth++;
      else if (s[i + 1] === "}" && --depth === 0) return i;
      i++;
      continue;
    }
    if (OPEN.has(s[i])) depth++;
    else if (CLOSE.has(s[i]) && --depth === 0) return i;
  }
  return -1;
}

function parseAtom(s: string): Value {
  const lit = numberLiteral(s);
  if (lit) return lit;
  // brackets around one matrix environment are its delimiters: [\begin{array}{cc}…\end{array}] is the matrix
  const env = /^[([]?\s*\\begin\{([pbvBV]?matrix|array)\}(?:\{[^}]*\})?([\s\S]*)\\end\{\1\}\s*[)\]]?$/.exec(s);
  if (env && /^[([]/.test(s) === /[)\]]$/.test(s) && !/\\begin\{/.test(env[2])) return parseMatrix(env[2]);
  if (s.startsWith("\\{") && s.endsWith("\\}") && matching(s, 0) === s.length - 2) {
    const builder = splitTop(s.slice(2, -2), (x, i) => (x.startsWith("\\mid", i) ? 4 : x[i] === "|" ? 1 : 0));
    if (builder.parts.length === 2 && isLabel(builder.parts[0])) return parseValue(builder.parts[1]); // {x | 2 < x < 3}
    const inner = parseValue(s.slice(2, -2));
    return { kind: "set", items: inner.kind === "list" ? inner.items : [inner] };
  }
  if (/^[([{]/.test(s) && /[)\]}]$/.test(s) && matching(s, 0) === s.length - 1) {
    const inner = s.slice(1, -1);
    const { parts } = splitTop(inner, (x, i) => (x[i] === "," || x[i] === ";" ? 1 : 0));
    if (s[0] === "{") return parts.length > 1 ? parseValue(inner) : parseItem(inner);
    if (parts.length === 1) return s[0] === "(" ? parseItem(inner) : { kind: "tuple", items: [parseItem(inner)] };
    const items = parts.map((p) => parseItem(p));
    if (parts.length === 2 && (s[0] === "[" || s.endsWith("]"))) {
      return { kind: "interval", lo: items[0], hi: items[1], loClosed: s[0] === "[", hiClosed: s.endsWith("]") };
    }
    return { kind: "tuple", items };
  }
  const text = /^\\text\{([^{}]*)\}$/.exec(s);
  if (text) return { kind: "text", text: text[1].trim() };
  if (/^[A-Za-z][A-Za-z' -]*$/.test(s) && /[A-Za-z]{3,}/.test(s) && !/^(?:sin|cos|tan|log|ln|exp)/.test(s)) return { kind: "text", text: s };
  return { kind: "expr", latex: s };
}

function parseMatrix(body: string): Value {
  const rows = body.split(/\\\\/).map((r) => r.trim()).filter((r) => r !== "");
  return { kind: "matrix", rows: rows.map((r) => splitTop(r, (x, i) => (x[i] === "&" ? 1 : 0)).parts.map((c) => parseValue(c))) };
}

/** Integers, decimals, a/b, \frac{a}{b}, mixed numbers 918\frac{1}{2}, "1 000": no engine needed. */
export function numberLiteral(s: string): Value | null {
  const t = s.trim().replace(/^\+\s*/, "").replace(/^(-)\s+/, "$1");
  const compact = /^-?\d{1,3}(?: \d{3})+(?:\.\d+)?$/.test(t) ? t.replace(/ /g, "") : t;
  let m = /^(-?)(\d*)(?:\.(\d+))?$/.exec(compact);
  if (m && (m[2] || m[3])) return { kind: "number", value: Number(compact), decimals: m[3]?.length ?? 0, text: s, exact: decimalRational(compact) };
  const f = t.replace(/\s+/g, "");
  const based = /^(-?)([0-9A-Za-z]+)_\{?(\d+)\}?$/.exec(f); // 1112112_3: a numeral in base 3
  if (based && Number(based[3]) >= 2 && Number(based[3]) <= 36 && [...based[2]].every((d) => parseInt(d, 36) < Number(based[3]))) {
    const v = parseInt(based[2], Number(based[3]));
    return { kind: "number", value: based[1] ? -v : v, decimals: 0, text: String(based[1] ? -v : v), exact: { n: BigInt(based[1] ? -v : v), d: 1n } };
  }
  m = /^(-?)(?:\\frac\{(\d+)\}\{(\d+)\}|(\d+)\/(\d+))$/.exec(f);
  if (m) {
    const n = Number(m[2] ?? m[4]), d = Number(m[3] ?? m[5]);
    const sign = m[1] ? -1n : 1n;
    return d === 0 ? null : { kind: "number", value: (m[1] ? -1 : 1) * (n / d), decimals: 0, text: s, exact: { n: sign * BigInt(m[2] ?? m[4]), d: BigInt(m[3] ?? m[5]) } };
  }
  m = /^(-?)(\d+)\\frac\{(\d+)\}\{(\d+)\}$/.exec(f);
  if (m && Number(m[3]) < Number(m[4])) {
    const v = Number(m[2]) + Number(m[3]) / Number(m[4]);
    const d = BigInt(m[4]), n = BigInt(m[2]) * d + BigInt(m[3]);
    return { kind: "number", value: m[1] ? -v : v, decimals: 0, text: s, exact: { n: m[1] ? -n : n, d } };
  }
  return null;
}
