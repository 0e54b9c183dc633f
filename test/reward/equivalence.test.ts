import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { equivalent } from "../../domain/reward/equiv.ts";
import { normalizeAnswer } from "../../domain/reward/normalize.ts";

/** Both directions: the verdict must not depend on which side is gold. */
function same(a: string, b: string): void {
  assert.equal(equivalent(a, b).equal, true, `${a} ≡ ${b}`);
  assert.equal(equivalent(b, a).equal, true, `${b} ≡ ${a}`);
}
function differ(a: string, b: string): void {
  assert.equal(equivalent(a, b).equal, false, `${a} ≢ ${b}`);
  assert.equal(equivalent(b, a).equal, false, `${b} ≢ ${a}`);
}

describe("normalisation", () => {
  it("given LaTeX variants, then they normalise to one form", () => {
    assert.equal(normalizeAnswer("\\dfrac12").latex, "\\frac{1}{2}");
    assert.equal(normalizeAnswer("\\left( x \\right)").latex, "( x )");
    assert.equal(normalizeAnswer("90^\\circ").latex, "90");
    assert.equal(normalizeAnswer("15\\mbox{ cm}^2").latex, "15");
    assert.deepEqual(normalizeAnswer("28\\%"), { latex: "28", percent: true });
  });
});

describe("equivalence by type", () => {
  it("integers and decimals: given equal values in other spellings, then equal; else not", () => {
    same("1000", "1,000"); same("1000", "1{,}000"); same("1000", "1 000"); same("5", "5.0"); same("0.4", ".4");
    same("12000023", "12,000,023"); same("004", "4"); same("32349", "32,\\!349");
    differ("5", "5.001"); differ("32349", "32, 349"); differ("100", "10");
    assert.equal(equivalent("123456789012345678901", "123456789012345678902").equal, false);
  });
  it("fractions: given a/b, \\frac, \\dfrac, decimals and mixed numbers, then equal; else not", () => {
    same("\\frac{1}{2}", "0.5"); same("1/2", "\\dfrac{1}{2}"); same("\\frac34", "\\frac{3}{4}"); same("918\\frac{1}{2}", "918.5");
    same("\\frac{1}{3}", "0.3333"); same("\\frac{1}{12}", "0.0833333333333333");
    differ("\\frac{1}{3}", "0.3"); differ("\\frac{63}{400}", "\\frac{64}{400}");
  });
  it("radicals and π: given symbolically equal forms, then equal; else not", () => {
    same("\\sqrt{2}+\\sqrt{5}", "\\sqrt 5+\\sqrt2"); same("\\frac{9}{4}\\pi", "\\frac94\\pi"); same("2\\sqrt{2}", "\\sqrt{8}");
    same("\\frac{5\\sqrt{42}}{27}", "\\frac{10\\sqrt{10.5}}{27}"); same("\\sqrt{17}", "4.123105625617661");
    differ("4", "4\\sqrt{2}"); differ("\\pi", "3.14"); differ("2", "\\frac{1+\\sqrt{5}}{2}");
  });
  it("expressions with variables: given equal polynomials/rational forms, then equal; else not", () => {
    same("x^2+2x+1", "(x+1)^2"); same("\\frac{x+2}{7}", "\\frac{x}{7}+\\frac{2}{7}"); same("x^2 + 2*x + 1", "2x+1+x^2");
    same("2 \\sin b \\cos a", "2\\cos a \\sin b"); same("\\frac34 i", "\\frac{3}{4}i");
    same("\\sqrt[3]{x}^2", "x^{2/3}"); same("\\sin^2 x + \\cos^2 x", "1"); same("e^{i\\pi}", "-1"); same("\\sqrt{x^2}", "|x|");
    differ("|x|", "x"); differ("\\sqrt{x^2}", "x");
    same("e^x", "\\exp(x)"); same("\\gcd(12,18)", "6"); same("\\sin^{-1}(1/2)", "\\pi/6"); differ("\\gcd(12,18)", "7");
    same("\\binom{5}{2}", "10"); differ("\\binom{5}{2}", "11"); same("0.\\overline{3}", "\\frac13");
    differ("x^3+2x+1", "x^2+2x+1"); differ("x+2n+1", "x+1"); differ("f(x)", "f(y)"); differ("(a+5)(b+2)", "(+5)(b+2)");
  });
  it("unordered sets: given the same elements in another order or notation, then equal; else not", () => {
    same("\\{1, 2, 3\\}", "3, 2, 1"); same("\\pm 2021", "\\{-2021, 2021\\}"); same("1 \\text{ and } 2", "2, 1");
    same("(1,2), (2,1)", "(2,1),(1,2)");
    same("15\\frac{39}{40}, \\frac{639}{40}", "\\frac{639}{40}"); differ("1, 2", "1");
    differ("\\{1, 2\\}", "\\{1, 3\\}"); differ("\\pm 2021", "2021"); differ("1, 2", "1, 2, 3");
  });
  it("ordered tuples: given the same coordinates, then equal; reordered, then not", () => {
    same("(1, \\frac{9}{2})", "(1, 4.5)"); same("(p,q,r) = (3,2,7)", "(3,2,7)");
    differ("(1, 2)", "(2, 1)"); differ("(1,2,3)", "(1,2)");
  });
  it("intervals: given the same ends and closedness, then equal; else not", () => {
    same("[0, 1)", "[0,1)"); same("(-\\infty, 3]", "x \\leq 3"); same("-2 \\leq x \\leq 7", "x \\in [-2, 7]");
    same("(1, +\\infty)", "(1, \\infty)"); same("[-1, 0) \\cup (0, 1]", "[-1,0)\\cup(0,1]");
    same("|x| < 3", "(-3, 3)"); same("1 \\leq |z| \\leq 2", "[-2,-1] \\cup [1,2]"); differ("1 \\leq |z| \\leq 2", "[1, 2]");
    differ("[0, 9)", "[0, 1)"); differ("(0, 9)", "[0, 9)"); differ("(-\\infty, 3]", "(-\\infty, 3)");
  });
  it("matrices: given pmatrix/bmatrix with equal entries, then equal; else not", () => {
    same("\\begin{pmatrix}1 & 0 \\\\ 0 & 1\\end{pmatrix}", "\\begin{bmatrix} 1&0\\\\0&1 \\end{bmatrix}");
    same("\\begin{pmatrix}\\frac{1}{2} & 3\\end{pmatrix}", "\\begin{pmatrix}0.5 & 3\\end{pmatrix}");
    differ("\\begin{pmatrix}1 & 0 \\\\ 0 & 1\\end{pmatrix}", "\\begin{pmatrix}0 & 1 \\\\ 1 & 0\\end{pmatrix}");
    differ("\\begin{pmatrix}1 & 0\\end{pmatrix}", "\\begin{pmatrix}1 \\\\ 0\\end{pmatrix}");
  });
  it("matrix expressions: given a sum or product of literal matrices, then it equals its value; else not", () => {
    const A = "\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}", B = "\\begin{pmatrix}5 & 6 \\\\ 7 & 8\\end{pmatrix}";
    same(`${A} + ${B}`, "\\begin{pmatrix}6 & 8 \\\\ 10 & 12\\end{pmatrix}");
    same(`${A} ${B}`, "\\begin{bmatrix}19 & 22 \\\\ 43 & 50\\end{bmatrix}");
    same(`${A} \\cdot ${B} - ${A}`, "\\begin{pmatrix}18 & 20 \\\\ 40 & 46\\end{pmatrix}");
    differ(`${B} ${A}`, "\\begin{pmatrix}19 & 22 \\\\ 43 & 50\\end{pmatrix}");
  });
  it("equations and inequalities: given scaled or flipped forms, then equal; else not", () => {
    same("34x+45y-20z+100=0", "-34x-45y+20z-100=0"); same("2x+4y-3=0", "y=-\\frac{1}{2}x+\\frac{3}{4}");
    same("x \\geq 5", "5 \\leq x"); same("-x > -1", "x < 1"); same("x \\neq 3", "x != 3");
    differ("x > 5", "x < 5"); differ("5x - 7y + 11z + 4 = 0", "x + y - z + 2 = 0"); differ("x \\geq 5", "x \\leq 5");
  });
  it("labelled answers: given x = 3 against 3, then equal; an equation to solve is not its right side", () => {
    same("x = 3", "3"); same("k = \\frac{1}{3}", "1/3"); same("x = 5+5+1 = 11", "11"); same("f(x) = 1", "1");
    differ("2x + z = 1", "1"); differ("a^2 + b = 0", "0"); differ("n=2, 3, 4", "n=1, 2, 3");
  });
  it("percent and units: given 28% against 28 or 0.28, then equal (our convention); other numbers not", () => {
    same("28\\%", "28"); same("28\\%", "28 percent"); same("28\\%", "0.28"); same("10\\text{ units}", "10");
    same("0.06 \\text{ yuan}", "0.06"); same("90^\\circ", "90");
    differ("28\\%", "0.29"); differ("10\\text{ units}", "100");
  });
  it("text answers: given \\text{} and bare words, then equal case-sensitively; else not", () => {
    same("\\text{odd}", "odd"); same("\\text{Evelyn}", "Evelyn"); same("\\text{(C)}", "C"); same("C. x = 42", "C");
    same("\\textbf{(A)}\\ 26", "26"); same("(B)", "\\textbf{(B)} 7"); same("\\frac{25}{32} \\ \\mathbf{(B)}", "\\frac{25}{32}");
    same("\\textbf{(B) } R", "R"); same("18, B", "18"); same("115\\Rightarrow\\text{(D)}", "115"); same("\\textbf{(C)}\\hspace{.05in}\\frac{1}{3}", "1/3");
    differ("\\textbf{(A)}\\ 26", "27"); differ("(A)", "(B) 7"); differ("A, B", "A");
    same("\\textbf{Yes}", "yes"); differ("\\text{E}", "e");
    differ("\\text{oddd}", "odd"); differ("\\text{E}", "d");
  });
  it("exact rationals: given fractions and decimals that differ past float tolerance, then not equal", () => {
    differ("\\frac{3}{161840}", "\\frac{3}{161841}"); differ("\\dfrac{1}{29,\\!322,\\!216}", "\\dfrac{1}{29322217}");
    same("0.20", "0.2"); differ("0.33", "\\frac13"); same("0.333", "\\frac13");
  });
  it("numerals with a base subscript, set-builder sets and relation chains: compared by value and structure", () => {
    same("101_2", "5"); differ("1112112_3", "1112122_3");
    same("\\{x \\mid 2 < x < 3\\}", "(2, 3)");
    same("f(2) < f(1) < f(4)", "f(2)<f(1)<f(4)"); differ("f(2) < f(1) < f(4)", "f(1) < f(2) < f(4)");
    same("4:51:06", "4 : 51 : 06"); differ("12:00", "1:00");
  });
  it("given an unparseable prediction, then the verdict says which side failed", () => {
    const v = equivalent("3", "\\frac{");
    assert.equal(v.equal, false);
    assert.ok(v.predError && !v.goldError, JSON.stringify(v));
  });
});
