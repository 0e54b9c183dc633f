// Normalisation of an extracted answer into a canonical LaTeX string before structural parsing.
// Conventions (see README): percent signs/words and units are dropped (the number is compared,
// with x% also accepted as x/100), degrees dropped, currency dropped, thousands separators removed,
// \dfrac/\tfrac/\cfrac → \frac, \left/\right and spacing commands removed, "≈ value" tails dropped.

export type Normalized = { latex: string; percent: boolean };

export const UNIT_WORDS =
  "cm|mm|km|m|in|inch|inches|ft|feet|foot|yd|yards?|mi|miles?|meters?|metres?|centimeters?|millimeters?|kilometers?|" +
  "units?|square|sq|cubic|degrees?|deg|dollars?|cents?|yuan|euros?|hours?|hrs?|minutes?|mins?|seconds?|secs?|days?|weeks?|" +
  "months?|years?|kg|grams?|kilograms?|lbs?|pounds?|liters?|litres?|ml|mph|kmh|people|persons?|students?|ways?|times";
const TRAILING_UNITS = new RegExp(
  `(?<=[\\d}).\\s])\\s*(?:(?:${UNIT_WORDS})(?![A-Za-z])|(?<=\\s)[A-Za-z]{3,})(?:\\s*(?:\\^\\s*\\{?[23]\\}?|[²³]))?` +
  `(?:\\s+(?:(?:${UNIT_WORDS})(?![A-Za-z])|[A-Za-z]{3,})(?:\\s*(?:\\^\\s*\\{?[23]\\}?|[²³]))?)*\\s*$`,
);

/** Halve a doubly escaped string ("\\frac" written for "\frac") when it has no single-escaped command. */
function unescapeDouble(s: string): string {
  if (/\\\\[a-zA-Z]/.test(s) && !/(?<!\\)\\[a-zA-Z]/.test(s.replace(/\\\\/g, ""))) return s.replace(/\\\\/g, "\\");
  return s;
}

/** Read one argument of a command at i: a {group} or a single token. Returns [text, next index]. */
function arg(s: string, i: number): [string, number] | null {
  while (s[i] === " ") i++;
  if (i >= s.length) return null;
  if (s[i] === "{") {
    let depth = 0;
    for (let j = i; j < s.length; j++) {
      if (s[j] === "\\") { j++; continue; }
      if (s[j] === "{") depth++;
      else if (s[j] === "}" && --depth === 0) return [s.slice(i + 1, j), j + 1];
    }
    return null;
  }
  if (s[i] === "\\") {
    const m = /^\\[a-zA-Z]+/.exec(s.slice(i));
    return m ? [m[0], i + m[0].length] : [s.slice(i, i + 2), i + 2];
  }
  return [s[i], i + 1];
}

/** \frac12 → \frac{1}{2}, \sqrt2 → \sqrt{2}: brace the arguments of \frac and \sqrt. */
function braceArgs(s: string): string {
  let out = "";
  let i = 0;
  const re = /\\(frac|sqrt)(?![a-zA-Z])/g;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    out += s.slice(i, m.index) + m[0];
    let j = m.index + m[0].length;
    const n = m[1] === "frac" ? 2 : 1;
    if (m[1] === "sqrt") {
      while (s[j] === " ") j++;
      if (s[j] === "[") { const k = s.indexOf("]", j); if (k === -1) break; out += s.slice(j, k + 1); j = k + 1; }
    }
    for (let a = 0; a < n; a++) {
      const r = arg(s, j);
      if (!r) break;
      out += `{${r[0]}}`;
      j = r[1];
    }
    i = j;
    re.lastIndex = j;
  }
  return out + s.slice(i);
}

/** \binom{n}{k} → n!/(k!(n−k)!), which compute-engine 0.30 does not parse but our evaluator computes. */
function binomials(s: string): string {
  const re = /\\[dt]?binom(?![a-zA-Z])/g;
  let out = "", i = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const a = arg(s, m.index + m[0].length), b = a && arg(s, a[1]);
    if (!a || !b) break;
    out += s.slice(i, m.index) + `\\frac{(${a[0]})!}{(${b[0]})!((${a[0]})-(${b[0]}))!}`;
    i = b[1];
    re.lastIndex = b[1];
  }
  return out + s.slice(i);
}

/** Font commands around math with nested braces (\mathbf{\frac{1}{2}}) are dropped: the font is no part of the value. */
function unwrapFonts(s: string): string {
  const re = /\\(?:mathbf|boldsymbol|bm|mathit|mathsf|mathrm|textbf)\s*(?=\{)/g;
  let out = "", i = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const a = arg(s, m.index + m[0].length);
    if (!a || !a[0].includes("{")) continue;
    out += s.slice(i, m.index) + `{${a[0]}}`;
    i = a[1];
    re.lastIndex = a[1];
  }
  return out + s.slice(i);
}

/** Replace \text{…}-like wrappers: connective words become " and ", others are unwrapped. */
function unwrapText(s: string): string {
  return s
    .replace(/\\(?:text|textbf|textit|mathrm|mathbf|mathit|mbox|operatorname|mathsf|boldsymbol|textnormal)\s*\{\s*(and|or)\s*\}/g, " and ")
    .replace(/\\(?:text|textbf|textit|mathrm|mathbf|mathit|mbox|mathsf|boldsymbol|textnormal)\s*\{([^{}]*)\}/g, (_m, t: string) => {
      const w = t.trim();
      if (/\d/.test(w) || /^\(?[A-E]\)?$/.test(w)) return ` ${w} `; // \text{245 yd.}, \textbf{(E) 24}, \textbf{(B) }
      return /^[A-Za-z]{2,}$/.test(w) || /\s/.test(t) ? ` \\text{${w}} ` : w;
    });
}

export function normalizeAnswer(raw: string): Normalized {
  let s = unescapeDouble(raw);
  s = s.replace(/[\t\n\r\f\v]+/g, " ").replace(/<\/?answer>|<\/?think>/g, " ");
  s = s.replace(/\\(?:displaystyle|textstyle|scriptstyle|left|right|bigl|bigr|Bigl|Bigr|big|Big)(?![a-zA-Z])\s*\.?/g, "");
  s = s.replace(/\\(?:[dtc]frac|nicefrac|sfrac)(?![a-zA-Z])/g, "\\frac").replace(/\\over(?![a-zA-Z])/g, "/");
  s = s.replace(/(\d)\s*\{\s*,\s*\}\s*(?=\d{3})/g, "$1").replace(/(\d),\\!\s*(?=\d{3})/g, "$1");
  s = s.replace(/\\(?:boxed|fbox)\s*\{([^{}]*)\}/g, "$1");
  let percent = false;
  s = s.replace(/\\?%|\s*\b(?:percentage|percent|pct)\b/g, () => { percent = true; return " "; });
  s = s.replace(/\^\s*\{?\s*\\circ\s*\}?|\\circ|°|\\degree/g, " ");
  s = s.replace(/\\\$|\$|€|£|¥|\\textdollar|\\[()[\]]/g, " ").replace(/\{\s*([-+])\s*\}/g, "$1");
  s = unwrapText(unwrapFonts(s));
  s = s.replace(/\\text\s*\{([^{}]*)\}/g, (m, t: string) => (/^\s*(?:and|or)\s*$/.test(t) ? " and " : m));
  s = s.replace(/(?<!\\)\\(?:[,;:! ]|q?quad|enspace|thinspace)/g, " ").replace(/~/g, " ");
  s = s.replace(/\\(?:hspace|vspace|kern|mkern|hskip)\*?\s*\{[^{}]*\}/g, " ");
  s = s.replace(/\\(?:le|leqslant)(?![a-zA-Z])/g, "\\leq").replace(/\\(?:ge|geqslant)(?![a-zA-Z])/g, "\\geq");
  s = s.replace(/\\ne(?![a-zA-Z])/g, "\\neq").replace(/<=|≤/g, "\\leq ").replace(/>=|≥/g, "\\geq ").replace(/!=|≠/g, "\\neq ");
  s = s.replace(/\\lt(?![a-zA-Z])/g, "<").replace(/\\gt(?![a-zA-Z])/g, ">").replace(/±/g, "\\pm ").replace(/\\mp(?![a-zA-Z])/g, "\\pm");
  s = s.replace(/\*\*/g, "^").replace(/\*/g, "\\cdot ").replace(/×/g, "\\times ").replace(/−/g, "-").replace(/π/g, "\\pi ");
  s = binomials(braceArgs(s));
  s = dropApprox(s);
  s = s.replace(/^\s*[A-Za-z](?:_\{?\w+\}?)?\s*\\in(?![a-zA-Z])/, "");
  s = s.trim().replace(/(?:\\|[.\s])+$/, "").replace(/^(?:\s|:|\.(?!\d))+/, "");
  s = stripUnits(s);
  return { latex: s.replace(/\s+/g, " ").trim(), percent };
}

/** "a \\approx b": keep b when a is a bare name (x ≈ 11), otherwise keep a (√3/3 ≈ 0.577). */
function dropApprox(s: string): string {
  const i = s.indexOf("\\approx");
  if (i === -1) return s;
  const parts = s.slice(0, i).split("=");
  const lhs = parts[parts.length - 1].trim();
  if (!/^[A-Za-z](?:_\{?\w+\}?)?$/.test(lhs)) return s.slice(0, i);
  parts[parts.length - 1] = " " + s.slice(i + "\\approx".length);
  return parts.length === 1 ? parts[0] : parts.join("=");
}

function stripUnits(s: string): string {
  let t = s.replace(/\\text\s*\{[^{}]*\}\s*(?:\^\s*\{?[23]\}?)?/g, (m, off: number) => (hasMath(s, m, off) ? " " : m));
  t = t.replace(TRAILING_UNITS, "").trim();
  return t || s;
}

/** Whether the string keeps something mathematical besides this \text{} (then the text is a unit). */
function hasMath(s: string, m: string, off: number): boolean {
  const rest = s.slice(0, off) + s.slice(off + m.length);
  return /[\d\\]/.test(rest.replace(/\\text\s*\{[^{}]*\}/g, ""));
}
