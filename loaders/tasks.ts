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

/** a+b with `digits`-digit operands. The held-out split is a fixed set the train split never contains. */
const addition: TaskFamily = {
  describe: "a+b with n-digit operands (params: digits, default 3)",
  params: ["digits"],
  rows(split, size, seed, params) {
    const digits = intParam(params, "digits", 3, 1, 9);
    const lo = digits === 1 ? 0 : 10 ** (digits - 1);
    const hi = 10 ** digits;
    const heldN = Math.min(256, Math.floor((hi - lo) ** 2 / 10));
    const held = new Set<string>();
    const heldRng = new Rng(HELDOUT_KEY, digits);
    const heldRows: TaskRow[] = [];
    while (heldRows.length < heldN) {
      const a = heldRng.int(lo, hi), b = heldRng.int(lo, hi);
      const q = `${a}+${b}`;
      if (held.has(q)) continue;
      held.add(q);
      heldRows.push({ id: `add${digits}-h${heldRows.length}`, question: q, answer: String(a + b) });
    }
    if (split === "heldout") return heldRows.slice(0, size);
    const rng = new Rng(seed, digits, 1);
    const out: TaskRow[] = [];
    while (out.length < size) {
      const a = rng.int(lo, hi), b = rng.int(lo, hi);
      const q = `${a}+${b}`;
      if (held.has(q)) continue;
      out.push({ id: `add${digits}-${a}-${b}`, question: q, answer: String(a + b) });
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
