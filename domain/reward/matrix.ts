// Matrix expressions: sums, differences and products of literal matrices ("A + B", "A B",
// "A \cdot B") evaluated to one matrix when every entry is a number literal.
import type { Value } from "./structure.ts";

/** How the caller parses one entry (structure.ts's numberLiteral; passed in so the two files form no cycle). */
export type EntryParser = (s: string) => Value | null;

type M = number[][];
const ENV = /^\s*\\begin\{([pbvBV]?matrix)\}([\s\S]*?)\\end\{\1\}\s*/;
const OP = /^(\+|-|\\cdot|\\times)?\s*/;

function literal(body: string, numberLiteral: EntryParser): M | null {
  const rows = body.split(/\\\\/).map((r) => r.trim()).filter((r) => r !== "");
  const m = rows.map((r) => r.split("&").map((c) => numberLiteral(c.trim())));
  if (m.some((r) => r.some((c) => !c || c.kind !== "number"))) return null;
  const out = m.map((r) => r.map((c) => (c as Extract<Value, { kind: "number" }>).value));
  return out.every((r) => r.length === out[0].length) ? out : null;
}

function add(a: M, b: M, sign: number): M | null {
  if (a.length !== b.length || a[0].length !== b[0].length) return null;
  return a.map((r, i) => r.map((x, j) => x + sign * b[i][j]));
}

function mul(a: M, b: M): M | null {
  if (a[0].length !== b.length) return null;
  return a.map((r) => b[0].map((_, j) => r.reduce((acc, x, k) => acc + x * b[k][j], 0)));
}

/** The value of a matrix expression with at least two matrices, or null when it is not one. */
export function matrixExpression(s: string, numberLiteral: EntryParser): Value | null {
  if ((s.match(/\\begin\{[pbvBV]?matrix\}/g) ?? []).length < 2) return null;
  const terms: { sign: number; factors: M[] }[] = [];
  let rest = s.trim(), sign = 1, factors: M[] = [];
  while (rest) {
    const env = ENV.exec(rest);
    if (!env) return null;
    const m = literal(env[2], numberLiteral);
    if (!m) return null;
    factors.push(m);
    rest = rest.slice(env[0].length);
    const op = OP.exec(rest)!;
    rest = rest.slice(op[0].length);
    if (op[1] === "+" || op[1] === "-") { terms.push({ sign, factors }); sign = op[1] === "-" ? -1 : 1; factors = []; if (!rest) return null; }
  }
  terms.push({ sign, factors });
  let total: M | null = null;
  for (const t of terms) {
    let p: M | null = t.factors[0];
    for (const f of t.factors.slice(1)) p = p && mul(p, f);
    if (!p) return null;
    total = total ? add(total, p, t.sign) : p.map((r) => r.map((x) => t.sign * x));
    if (!total) return null;
  }
  return { kind: "matrix", rows: total!.map((r) => r.map((x) => ({ kind: "number", value: x, decimals: 0, text: String(x) }))) };
}
