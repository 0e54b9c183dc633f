// Numeric evaluation of MathJSON (from compute-engine) in complex floating point, with free
// variables bound to seeded random points, so symbolic equivalence is checked deterministically.
// Unknown functions become fixed pseudo-random functions of their arguments (f(x) ≠ f(y)).

export type C = { re: number; im: number };
export type Env = Map<string, C>;
type Json = unknown;

/** mulberry32: small, fast, seeded; every comparison starts from the same seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

const c = (re: number, im = 0): C => ({ re, im });
const add = (a: C, b: C): C => c(a.re + b.re, a.im + b.im);
const mul = (a: C, b: C): C => c(a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re);
function div(a: C, b: C): C {
  const d = b.re * b.re + b.im * b.im;
  return c((a.re * b.re + a.im * b.im) / d, (a.im * b.re - a.re * b.im) / d);
}
const cexp = (a: C): C => { const r = Math.exp(a.re); return c(r * Math.cos(a.im), r * Math.sin(a.im)); };
const clog = (a: C): C => c(Math.log(Math.hypot(a.re, a.im)), Math.atan2(a.im, a.re));
/** q when x ≈ p/q with q odd and small (so a negative base has a real power), else 0. */
function oddDenominator(x: number): number {
  for (let q = 1; q <= 15; q += 2) if (Math.abs(x * q - Math.round(x * q)) < 1e-9) return q;
  return 0;
}

function pow(a: C, b: C): C {
  if (a.im === 0 && b.im === 0 && (a.re >= 0 || Number.isInteger(b.re))) return c(Math.pow(a.re, b.re));
  if (a.im === 0 && b.im === 0 && a.re < 0) {
    const q = oddDenominator(b.re); // (-8)^(2/3) = (∛-8)^2 = 4, the real-root convention of \sqrt[3]{x}^2
    if (q) return c((Math.round(b.re * q) % 2 === 0 ? 1 : -1) * Math.pow(-a.re, b.re));
  }
  if (a.re === 0 && a.im === 0) return c(0);
  return cexp(mul(b, clog(a)));
}
/** Real n-th root for odd n of a negative real (the convention of \sqrt[3]{-8} = -2). */
function root(a: C, n: C): C {
  if (a.im === 0 && n.im === 0 && a.re < 0 && Number.isInteger(n.re) && n.re % 2 === 1) return c(-Math.pow(-a.re, 1 / n.re));
  return pow(a, div(c(1), n));
}
const real = (f: (x: number) => number) => (a: C): C => (a.im === 0 ? c(f(a.re)) : c(NaN));

const FUNCS: Record<string, (a: C) => C> = {
  Sqrt: (a) => root(a, c(2)), Exp: cexp, Ln: clog, Abs: (a) => c(Math.hypot(a.re, a.im)),
  Sin: real(Math.sin), Cos: real(Math.cos), Tan: real(Math.tan), Cot: real((x) => 1 / Math.tan(x)),
  Sec: real((x) => 1 / Math.cos(x)), Csc: real((x) => 1 / Math.sin(x)), Arcsin: real(Math.asin),
  Arccos: real(Math.acos), Arctan: real(Math.atan), Sinh: real(Math.sinh), Cosh: real(Math.cosh),
  Tanh: real(Math.tanh), Lg: real(Math.log10), Lb: real(Math.log2), Floor: real(Math.floor),
  Ceil: real(Math.ceil), Negate: (a) => c(-a.re, -a.im), Sign: real(Math.sign),
  Factorial: real((x) => (Number.isInteger(x) && x >= 0 && x <= 170 ? factorial(x) : x > 170 ? Infinity : NaN)),
};
const CONSTS: Record<string, C> = {
  Pi: c(Math.PI), ExponentialE: c(Math.E), ImaginaryUnit: c(0, 1), PositiveInfinity: c(Infinity),
  NegativeInfinity: c(-Infinity), Half: c(0.5), GoldenRatio: c((1 + Math.sqrt(5)) / 2),
};
export const CONSTANT_SYMBOLS = new Set(Object.keys(CONSTS).concat(["True", "False", "Nothing"]));

const MULTI = new Set(["Max", "Min", "GCD", "LCM"]);

/** The arguments of a juxtaposed call: f(a, b) is ["Delimiter", ["Sequence", a, b]]. */
function callArgs(x: Json): Json[] {
  const inner = Array.isArray(x) && x[0] === "Delimiter" ? x[1] : x;
  return Array.isArray(inner) && inner[0] === "Sequence" ? inner.slice(1) : [inner];
}

const INVERSE: Record<string, string> = { Sin: "Arcsin", Cos: "Arccos", Tan: "Arctan" };

function gcd(a: number, b: number): number { return b === 0 ? Math.abs(a) : gcd(b, a % b); }

function multi(head: string, xs: C[]): C {
  if (xs.some((x) => x.im !== 0)) return c(NaN);
  const v = xs.map((x) => x.re);
  if (head === "Max") return c(Math.max(...v));
  if (head === "Min") return c(Math.min(...v));
  if (!v.every(Number.isInteger)) return c(NaN);
  return c(head === "GCD" ? v.reduce(gcd) : v.reduce((a, b) => Math.abs(a * b) / gcd(a, b)));
}

function factorial(n: number): number { let r = 1; for (let i = 2; i <= n; i++) r *= i; return r; }

export class NotNumericError extends Error {}

/** Pseudo-random but fixed function for an unknown head: same name and arguments, same value. */
function opaque(name: string, args: C[]): C {
  const r = rng(hashString(name));
  let v = r();
  args.forEach((a) => { v += Math.sin((1 + r()) * a.re + r()) + Math.cos((1 + r()) * a.im + r()); });
  return c(v);
}

export function evaluate(j: Json, env: Env, depth = 0): C {
  if (depth > 200) throw new NotNumericError("expression too deep");
  if (typeof j === "number") return c(j);
  if (typeof j === "string") {
    const k = CONSTS[j] ?? env.get(j);
    if (k) return k;
    throw new NotNumericError(`unbound symbol ${j}`);
  }
  if (j && typeof j === "object" && !Array.isArray(j)) {
    const o = j as { num?: string; sym?: string };
    if (o.num !== undefined) return c(Number(o.num.replace(/[()]/g, "")));
    if (o.sym !== undefined) return evaluate(o.sym, env, depth + 1);
  }
  if (!Array.isArray(j) || typeof j[0] !== "string") throw new NotNumericError("not an expression");
  const [head, ...rest] = j as [string, ...Json[]];
  const ev = (x: Json) => evaluate(x, env, depth + 1);
  switch (head) {
    case "Add": return rest.map(ev).reduce(add, c(0));
    case "InvisibleOperator": // non-canonical juxtaposition: a product, or \exp(x) as ["Exp", x]
      if (rest.length === 2 && typeof rest[0] === "string" && (FUNCS[rest[0]] || MULTI.has(rest[0]))) {
        const args = callArgs(rest[1]).map(ev);
        return MULTI.has(rest[0]) ? multi(rest[0], args) : args.length === 1 ? FUNCS[rest[0]](args[0]) : c(NaN);
      }
      return rest.map(ev).reduce(mul, c(1));
    case "Multiply": return rest.map(ev).reduce(mul, c(1));
    case "Apply": {
      const f = rest[0];
      const inv = Array.isArray(f) && f[0] === "InverseFunction" ? INVERSE[f[1] as string] : undefined;
      if (inv && rest.length === 2) return FUNCS[inv](ev(rest[1]));
      return opaque(JSON.stringify(f), rest.slice(1).map(ev));
    }
    case "Max": case "Min": case "GCD": case "LCM": return multi(head, rest.map(ev));
    case "Subtract": return add(ev(rest[0]), mul(c(-1), ev(rest[1])));
    case "Divide": case "Rational": return div(ev(rest[0]), ev(rest[1]));
    case "Power": return pow(ev(rest[0]), ev(rest[1]));
    case "Root": return root(ev(rest[0]), ev(rest[1]));
    case "Complex": return c(ev(rest[0]).re, ev(rest[1]).re);
    case "Log": return rest.length > 1 ? div(clog(ev(rest[0])), clog(ev(rest[1]))) : c(Math.log10(ev(rest[0]).re));
    case "Delimiter": return rest.length === 1 ? ev(rest[0]) : opaque(head, rest.map(ev));
    case "Error": throw new NotNumericError("parse error");
  }
  const f = FUNCS[head];
  if (f && rest.length === 1) return f(ev(rest[0]));
  if (["Tuple", "List", "Matrix", "Set", "Interval", "Equal", "Less", "Greater", "LessEqual", "GreaterEqual", "NotEqual"].includes(head)) {
    throw new NotNumericError(`${head} is not a scalar`);
  }
  return opaque(head, rest.map(ev));
}

/** Symbols of an expression that are free variables (not constants, not function heads). */
export function freeSymbols(j: Json, out = new Set<string>()): Set<string> {
  if (typeof j === "string") { if (!CONSTANT_SYMBOLS.has(j)) out.add(j); }
  else if (Array.isArray(j)) j.slice(1).forEach((x) => freeSymbols(x, out));
  else if (j && typeof j === "object" && "sym" in j) freeSymbols((j as { sym: string }).sym, out);
  return out;
}

export function close(a: C, b: C, absTol: number, relTol = 1e-8): boolean {
  if (![a.re, a.im, b.re, b.im].every(Number.isFinite)) return a.re === b.re && a.im === b.im;
  const d = Math.hypot(a.re - b.re, a.im - b.im);
  return d <= absTol || d <= relTol * Math.max(Math.hypot(a.re, a.im), Math.hypot(b.re, b.im));
}
