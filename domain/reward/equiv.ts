// Typed equivalence of two answers: normalise both, parse their structure, compare by kind.
// Scalars: exact for integer literals, float tolerance otherwise, a decimal with ≥3 places may be a
// rounding of an exact value; expressions with variables: canonical MathJSON, then a numeric check
// at seeded random points (deterministic verdicts).
import { parseLatex } from "./expr.ts";
import { normalizeAnswer } from "./normalize.ts";
import { close, evaluate, freeSymbols, NotNumericError, rng, type C, type Env } from "./numeric.ts";
import { isLabel, parseValue, type Rational, type Value } from "./structure.ts";
import { UnparseableAnswerError } from "./types.ts";

export type Verdict = { equal: boolean; goldError?: string; predError?: string };
type Scale = { g: number; p: number };
const ONE: Scale = { g: 1, p: 1 };
const SEED = 0x5eed2025;
const POINTS = 6;

function toJson(v: Value): unknown {
  if (v.kind === "number") return v.value;
  if (v.kind === "expr") return parseLatex(v.latex);
  if (v.kind === "text" && /^[A-Za-z]$/.test(v.text)) return v.text;
  throw new NotNumericError(`${v.kind} is not a scalar`);
}

function tolerance(a: Value, b: Value): number {
  const places = (v: Value) => (v.kind === "number" ? v.decimals : 0);
  const exact = (v: Value) => v.kind !== "number" || v.decimals === 0;
  let d = 0;
  if (places(a) >= 3 && exact(b)) d = places(a);
  if (places(b) >= 3 && exact(a)) d = Math.max(d, places(b));
  return d ? 0.5 * 10 ** -d * (1 + 1e-9) : 1e-12;
}

/** Evaluate two expressions at the same seeded points; `cmp` judges each pair of values. */
function atPoints(ja: unknown, jb: unknown, cmp: (a: C, b: C) => boolean | null): boolean {
  const vars = [...new Set([...freeSymbols(ja), ...freeSymbols(jb)])].sort();
  if (vars.length > 12) return false;
  const r = rng(SEED);
  let valid = 0;
  const tries = vars.length ? POINTS : 1;
  for (let k = 0; k < tries; k++) {
    const sign = k % 2 === 0 ? 1 : -1; // negative points too: |x| ≢ x, \sqrt{x^2} ≢ x
    const env: Env = new Map(vars.map((v) => [v, { re: sign * (0.3 + 2.7 * r()), im: 0 }]));
    let a: C, b: C;
    try { a = evaluate(ja, env); b = evaluate(jb, env); } catch (e) { if (e instanceof NotNumericError) return false; throw e; }
    if (![a.re, a.im, b.re, b.im].every(Number.isFinite)) continue;
    const ok = cmp(a, b);
    if (ok === false) return false;
    if (ok) valid++;
  }
  return valid >= (vars.length ? 2 : 1);
}

/** Exact comparison of two rational literals (the scale is 1 or 1/100). */
function rationalEqual(a: Rational, b: Rational, s: Scale): boolean {
  const k = (x: number) => (x === 1 ? 1n : 100n);
  return a.n * b.d * k(s.p) === b.n * a.d * k(s.g);
}

function scalarEqual(a: Value, b: Value, s: Scale): boolean {
  if (a.kind === "number" && b.kind === "number") {
    const roundingA = a.decimals >= 3 && b.decimals === 0, roundingB = b.decimals >= 3 && a.decimals === 0;
    if (a.exact && b.exact && !roundingA && !roundingB) return rationalEqual(a.exact, b.exact, s);
    return close({ re: a.value * s.g, im: 0 }, { re: b.value * s.p, im: 0 }, tolerance(a, b), 0);
  }
  const ja = toJson(a), jb = toJson(b);
  if (s.g === s.p && JSON.stringify(ja) === JSON.stringify(jb)) return true;
  const tol = tolerance(a, b);
  return atPoints(ja, jb, (x, y) => close({ re: x.re * s.g, im: x.im * s.g }, { re: y.re * s.p, im: y.im * s.p }, tol, tol > 1e-12 ? 0 : 1e-9));
}

/** lhs−rhs of two relations are proportional (positive factor for inequalities). */
function relationEqual(a: Extract<Value, { kind: "relation" }>, b: Extract<Value, { kind: "relation" }>): boolean {
  if (a.op !== b.op) return false;
  const da = ["Subtract", toJson(a.lhs), toJson(a.rhs)], db = ["Subtract", toJson(b.lhs), toJson(b.rhs)];
  let ratio: number | null = null;
  return atPoints(da, db, (x, y) => {
    if (Math.hypot(y.re, y.im) < 1e-12) return Math.hypot(x.re, x.im) < 1e-12 ? null : false;
    const q = x.re / y.re;
    if (!Number.isFinite(q) || q === 0 || (a.op !== "=" && a.op !== "!=" && q < 0)) return false;
    if (ratio === null) { ratio = q; return true; }
    return Math.abs(q - ratio) <= 1e-7 * Math.max(1, Math.abs(ratio));
  });
}

const INF = { kind: "expr", latex: "\\infty" } as const;
const NEG_INF = { kind: "expr", latex: "-\\infty" } as const;

/** x < c, c ≤ x, … as an interval; null when the relation is not about one named variable. */
function relationInterval(r: Extract<Value, { kind: "relation" }>): Value | null {
  if (r.op === "=" || r.op === "!=") return null;
  const name = (v: Value) => (v.kind === "expr" && isLabel(v.latex)) || (v.kind === "text" && v.text.length === 1);
  const closed = r.op === "<=";
  if (name(r.lhs) && !name(r.rhs)) return { kind: "interval", lo: NEG_INF, hi: r.rhs, loClosed: false, hiClosed: closed };
  if (name(r.rhs) && !name(r.lhs)) return { kind: "interval", lo: r.lhs, hi: INF, loClosed: closed, hiClosed: false };
  return null;
}

function itemsMatchUnordered(a: Value[], b: Value[], s: Scale): boolean {
  const covers = (x: Value[], y: Value[], sx: Scale) => x.every((u) => y.some((v) => equalValues(u, v, sx)));
  return covers(a, b, s) && covers(b, a, { g: s.p, p: s.g });
}

function inOrder(a: Value[], b: Value[], s: Scale): boolean {
  return a.length === b.length && a.every((u, i) => equalValues(u, b[i], s));
}

export function equalValues(g: Value, p: Value, s: Scale = ONE): boolean {
  if (g.kind === "labelled" && p.kind === "labelled") return equalValues(g.value, p.value, s);
  if (g.kind === "labelled") return p.kind === "relation" ? equalValues(labelRelation(g), p, s) : equalValues(g.value, p, s);
  if (p.kind === "labelled") return g.kind === "relation" ? equalValues(g, labelRelation(p), s) : equalValues(g, p.value, s);
  const coll = (v: Value) => v.kind === "list" || v.kind === "set";
  if (coll(g) && coll(p)) return itemsMatchUnordered((g as { items: Value[] }).items, (p as { items: Value[] }).items, s);
  if (coll(g) !== coll(p) && (scalarLike(g) || scalarLike(p))) {
    // sets ignore duplicates: {15 39/40, 639/40} is the one value 639/40
    const [c, x, sc] = coll(g) ? [g as { items: Value[] }, p, s] : [p as { items: Value[] }, g, { g: s.p, p: s.g }];
    if (c.items.length > 1 && c.items.every((u) => equalValues(x, u, { g: sc.p, p: sc.g }))) return true;
  }
  if (g.kind === "list" && p.kind === "tuple") return inOrder(g.items, p.items, s);
  if (p.kind === "list" && g.kind === "tuple") return inOrder(g.items, p.items, s);
  if (g.kind === "list" && g.decimalComma !== undefined && scalarLike(p)) return equalValues({ kind: "number", value: g.decimalComma, decimals: 2, text: String(g.decimalComma) }, p, s);
  if (p.kind === "list" && p.decimalComma !== undefined && scalarLike(g)) return equalValues(g, { kind: "number", value: p.decimalComma, decimals: 2, text: String(p.decimalComma) }, s);
  if (g.kind === "tuple" && p.kind === "tuple") return inOrder(g.items, byLabel(p, g).items, s);
  if (g.kind === "interval" || p.kind === "interval") return intervalEqual(g, p, s);
  // x > 2 is the interval (2, \infty): against a two-item tuple, which is also an open interval
  if ((g.kind === "relation" && p.kind === "tuple") || (p.kind === "relation" && g.kind === "tuple")) return intervalEqual(g, p, s);
  if (g.kind === "union" && p.kind === "union") return inOrder(g.parts, p.parts, s) || itemsMatchUnordered(g.parts, p.parts, s);
  if (g.kind === "matrix" && p.kind === "matrix") {
    return g.rows.length === p.rows.length && g.rows.every((row, i) => inOrder(row, p.rows[i], s));
  }
  if (g.kind === "relation" && p.kind === "relation") return relationEqual(g, p);
  if (g.kind === "chain" && p.kind === "chain") return g.ops.join() === p.ops.join() && inOrder(g.parts, p.parts, s);
  if (g.kind === "text" || p.kind === "text") {
    const a = textOf(g), b = textOf(p);
    return a !== null && b !== null && (a === b || (/^[A-Za-z][A-Za-z' -]+$/.test(a) && a.toLowerCase() === b.toLowerCase()));
  }
  if (scalarLike(g) && scalarLike(p)) return scalarEqual(g, p, s);
  return false;
}

/** p's items in g's label order when both name the same unknowns (q=2, p=5 against p=5, q=2). */
function byLabel(p: Extract<Value, { kind: "tuple" }>, g: Extract<Value, { kind: "tuple" }>): Extract<Value, { kind: "tuple" }> {
  if (!p.labels || !g.labels || p.labels.length !== g.labels.length) return p;
  const at = g.labels.map((l) => p.labels!.indexOf(l));
  return at.every((i) => i !== -1) && new Set(at).size === at.length ? { ...p, items: at.map((i) => p.items[i]) } : p;
}

function scalarLike(v: Value): boolean { return v.kind === "number" || v.kind === "expr"; }

function labelRelation(v: Extract<Value, { kind: "labelled" }>): Value {
  return { kind: "relation", op: "=", lhs: { kind: "expr", latex: v.label }, rhs: v.value };
}

function textOf(v: Value): string | null {
  const t = v.kind === "text" ? v.text : v.kind === "expr" ? v.latex : v.kind === "number" ? v.text : null;
  return t === null ? null : t.replace(/\s+/g, "").replace(/^\((.*)\)$/, "$1");
}

function asInterval(v: Value): Extract<Value, { kind: "interval" }> | null {
  if (v.kind === "interval") return v;
  if (v.kind === "tuple" && !v.ratio && v.items.length === 2) return { kind: "interval", lo: v.items[0], hi: v.items[1], loClosed: false, hiClosed: false };
  if (v.kind === "relation") { const i = relationInterval(v); return i && i.kind === "interval" ? i : null; }
  return null;
}

function intervalEqual(g: Value, p: Value, s: Scale): boolean {
  const a = asInterval(g), b = asInterval(p);
  if (!a || !b) return false;
  return a.loClosed === b.loClosed && a.hiClosed === b.hiClosed && endpointEqual(a.lo, b.lo, s) && endpointEqual(a.hi, b.hi, s);
}

function endpointEqual(a: Value, b: Value, s: Scale): boolean {
  const inf = (v: Value) => (v.kind === "expr" ? v.latex.replace(/\s+/g, "").replace(/^\+/, "") : "");
  if (/\\infty$/.test(inf(a)) || /\\infty$/.test(inf(b))) return inf(a) === inf(b);
  return equalValues(a, b, s);
}

/** Multiple-choice letters: "C", "(C)", "C. x = 42", "(C) 28", "28 (C)" name option C. */
function choiceLetter(s: string): string | null {
  const t = s.trim();
  const m = /^\(?([A-E])\)?(?:[.:)]\s.*)?$/.exec(t) ?? /^\(([A-E])\)\s*\S/.exec(t) ?? /(?:,|\s)\s*\(([A-E])\)$/.exec(t);
  return m ? m[1] : null;
}

/** The value beside a choice label: "(C) 28", "28 (C)", "2, (C)", "18, B", "115 \Rightarrow (D)" → the number. */
function withoutChoice(s: string): string {
  const t = s
    .replace(/^\s*\([A-E]\)\s*[:.]?\s*(?=[^\s=])/, "")
    .replace(/\s*\\(?:Longrightarrow|Rightarrow|implies)\s*\(?[A-E]\)?\s*$/, "")
    .replace(/\s*(?:,|\s)\s*\([A-E]\)\s*$/, "");
  const bare = /^(.*\d.*?)\s*,\s*[A-E]$/.exec(t);
  return bare ? bare[1] : t;
}

const MAX_ANSWER = 20_000;
const MAX_NESTING = 100;

function nesting(s: string): number {
  let d = 0, max = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === "(" || ch === "[" || ch === "{") max = Math.max(max, ++d);
    else if (ch === ")" || ch === "]" || ch === "}") d--;
  }
  return max;
}

export function equivalent(goldAnswer: string, predAnswer: string): Verdict {
  if (goldAnswer.length > MAX_ANSWER) return { equal: false, goldError: `gold answer of ${goldAnswer.length} characters is too long` };
  if (predAnswer.length > MAX_ANSWER) return { equal: false, predError: `answer of ${predAnswer.length} characters is too long to parse` };
  const g = normalizeAnswer(goldAnswer), p = normalizeAnswer(predAnswer);
  if (nesting(g.latex) > MAX_NESTING) return { equal: false, goldError: `gold answer nested more than ${MAX_NESTING} deep` };
  if (nesting(p.latex) > MAX_NESTING) return { equal: false, predError: `answer nested more than ${MAX_NESTING} deep` };
  if (g.latex.replace(/\s+/g, "") === p.latex.replace(/\s+/g, "") && g.latex !== "") return { equal: true };
  const cg = choiceLetter(g.latex), cp = choiceLetter(p.latex);
  if (cg && cp && (/^\(?[A-E]\)?$/.test(g.latex.trim()) || /^\(?[A-E]\)?$/.test(p.latex.trim()))) return { equal: cg === cp };
  g.latex = withoutChoice(g.latex);
  p.latex = withoutChoice(p.latex);
  let gv: Value, pv: Value;
  try { gv = parseValue(g.latex); validate(gv); } catch (e) { return { equal: false, goldError: message(e) }; }
  try { pv = parseValue(p.latex); validate(pv); } catch (e) { return { equal: false, predError: message(e) }; }
  try {
    if (equalValues(gv, pv)) return { equal: true };
    if (g.percent !== p.percent) {
      const s: Scale = g.percent ? { g: 0.01, p: 1 } : { g: 1, p: 0.01 };
      return { equal: equalValues(gv, pv, s) };
    }
    return { equal: false };
  } catch (e) {
    if (e instanceof UnparseableAnswerError) return { equal: false, predError: e.message };
    throw e;
  }
}

function message(e: unknown): string {
  if (e instanceof UnparseableAnswerError) return e.message;
  throw e;
}

/** Parse every expression leaf now, so a parse failure is attributed to its side. */
function validate(v: Value): void {
  switch (v.kind) {
    case "expr": parseLatex(v.latex); return;
    case "list": case "set": case "tuple": v.items.forEach(validate); return;
    case "union": v.parts.forEach(validate); return;
    case "interval": validate(v.lo); validate(v.hi); return;
    case "matrix": v.rows.forEach((r) => r.forEach(validate)); return;
    case "relation": validate(v.lhs); validate(v.rhs); return;
    case "chain": v.parts.forEach(validate); return;
    case "labelled": validate(v.value); return;
    default: return;
  }
}
