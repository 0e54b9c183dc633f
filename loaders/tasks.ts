// Synthetic math task families with exact gold answers and a held-out split, for tiny models.
// A registry: each family turns (split, size, seed, params) into rows, deterministically.
import { ZeroStreamError } from "../streams/errors.ts";
import { Rng } from "../domain/rng.ts";

export type TaskRow = { id: string; question: string; answer: string };
export type TaskFamily = {
  describe: string;
  params: readonly string[];          // the parameters it reads; any other is refused
  rows(split: "train" | "heldout", size: number, seed: number, params: Record<string, unknown>): TaskRow[];
};

export class TaskError extends ZeroStreamError {}

const HELDOUT_KEY = 0x5eed;

function intParam(params: Record<string, unknown>, key: string, dflt: number, lo: number, hi: number): number {
  const v = params[key] ?? dflt;
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
    throw new TaskError(`task parameter ${key}: got ${JSON.stringify(v)}, expected an integer in [${lo}, ${hi}]`);
  }
  return v;
}

/** The operands' digit count of one row: `digits`, or uniform in [min_digits, digits] when min_digits is set. */
function rowDigits(rng: Rng, minDigits: number | undefined, digits: number): number {
  return minDigits === undefined || minDigits === digits ? digits : rng.int(minDigits, digits + 1);
}

/** [lo, hi) of d-digit operands. */
export function operandRange(d: number): [number, number] {
  return [d === 1 ? 0 : 10 ** (d - 1), 10 ** d];
}

/** a+b with `digits`-digit operands (or, with `min_digits`, both operands of one row have a digit count drawn
 * uniformly from [min_digits, digits]). The held-out split is a fixed set the train split never contains. */
const addition: TaskFamily = {
  describe: "a+b with n-digit operands (params: digits, default 3; min_digits: mix digit counts min_digits..digits)",
  params: ["digits", "min_digits"],
  rows(split, size, seed, params) {
    const digits = intParam(params, "digits", 3, 1, 9);
    const minDigits = params.min_digits === undefined ? undefined : intParam(params, "min_digits", digits, 1, digits);
    const [lo0, hi0] = operandRange(minDigits ?? digits);
    const heldN = Math.min(256, Math.floor((hi0 - lo0) ** 2 / 10));
    const held = new Set<string>();
    const heldRng = new Rng(HELDOUT_KEY, digits);
    const heldRows: TaskRow[] = [];
    const tag = minDigits === undefined || minDigits === digits ? `add${digits}` : `add${minDigits}-${digits}`;
    while (heldRows.length < heldN) {
      const [lo, hi] = operandRange(rowDigits(heldRng, minDigits, digits));   // no draw unless the counts are mixed
      const a = heldRng.int(lo, hi), b = heldRng.int(lo, hi);
      const q = `${a}+${b}`;
      if (held.has(q)) continue;
      held.add(q);
      heldRows.push({ id: `${tag}-h${heldRows.length}`, question: q, answer: String(a + b) });
    }
    if (split === "heldout") return heldRows.slice(0, size);
    const rng = new Rng(seed, digits, 1);
    const out: TaskRow[] = [];
    while (out.length < size) {
      const [lo, hi] = operandRange(rowDigits(rng, minDigits, digits));
      const a = rng.int(lo, hi), b = rng.int(lo, hi);
      const q = `${a}+${b}`;
      if (held.has(q)) continue;
      out.push({ id: `${tag}-${a}-${b}`, question: q, answer: String(a + b) });
    }
    return out;
  },
};

export const taskFamilies = new Map<string, TaskFamily>([["addition", addition]]);

export function taskRows(name: string, split: "train" | "heldout", size: number, seed: number, params: Record<string, unknown>): TaskRow[] {
  const fam = taskFamilies.get(name);
  if (!fam) throw new TaskError(`unknown synthetic task '${name}': known tasks are ${[...taskFamilies.keys()].join(", ")}`);
  const unknown = Object.keys(params).filter((k) => !fam.params.includes(k));
  if (unknown.length) throw new TaskError(`synthetic task '${name}' has no parameter ${unknown.map((k) => `'${k}'`).join(", ")}: its parameters are ${fam.params.join(", ") || "none"}`);
  return fam.rows(split, size, seed, params);
}
