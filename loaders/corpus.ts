// The pretraining corpus of a tiny base model (after docs/tiny-r1-zero.md): documents that
// mix plain answers, step-by-step answers and a minority in the R1 format, so the base model rarely
// follows the format and is partly accurate — the starting point of a pretrained base model.
import { Rng } from "../domain/rng.ts";
import { operandRange } from "./tasks.ts";
import type { DocMix, PretrainSpec } from "../streams/config.ts";
export type { PretrainSpec };

/** The fixed-width scratchpad from the lowest digit: 347+586 → 7+6+0=13,4+8+1=13,3+5+1=09. */
export function scratchpad(a: number, b: number, digits: number): { steps: string[]; sum: number } {
  const steps: string[] = [];
  let carry = 0;
  for (let i = 0; i < digits; i++) {
    const x = Math.floor(a / 10 ** i) % 10, y = Math.floor(b / 10 ** i) % 10;
    const s = x + y + carry;
    steps.push(`${x}+${y}+${carry}=${String(s).padStart(2, "0")}`);
    carry = Math.floor(s / 10);
  }
  return { steps, sum: a + b };
}

/** The column sums without carries, from the lowest digit: 347+586 → 7+6=13,4+8=12,3+5=08. */
export function columns(a: number, b: number, digits: number): string {
  return Array.from({ length: digits }, (_, i) => {
    const x = Math.floor(a / 10 ** i) % 10, y = Math.floor(b / 10 ** i) % 10;
    return `${x}+${y}=${String(x + y).padStart(2, "0")}`;
  }).join(",");
}

/** The carries over the column sums: 347+586 → 13,12+1=13,08+1=09 (a column without a carry in is its sum). */
export function carries(a: number, b: number, digits: number): string {
  let carry = 0;
  return Array.from({ length: digits }, (_, i) => {
    const c = (Math.floor(a / 10 ** i) % 10) + (Math.floor(b / 10 ** i) % 10);
    const cs = String(c).padStart(2, "0"), t = c + carry;
    const item = carry ? `${cs}+${carry}=${String(t).padStart(2, "0")}` : cs;
    carry = Math.floor(t / 10);
    return item;
  }).join(",");
}

export const BOS = "<eos>";
export const plainPrompt = (q: string) => `${BOS}Q: ${q}\n`;
export const r1Prompt = (q: string) => `${BOS}Think: ${q}\n`;
export const R1_TEMPLATE = `${BOS}Think: {question}\n`;

type Kind = keyof DocMix;

/** One document of the corpus, as text (the char tokenizer makes the tags single tokens). */
export function document(kind: Kind, a: number, b: number, digits: number, r1Prompted: boolean, rng: Rng): string {
  const q = `${a}+${b}`;
  const { steps, sum } = scratchpad(a, b, digits);
  const pad = steps.join(",");
  const eos = "<eos>";
  const P = r1Prompted ? r1Prompt(q) : plainPrompt(q);
  switch (kind) {
    case "direct": return `${P}A: ${sum}${eos}`;
    case "steps": return `${P}Steps: ${pad} A: ${sum}${eos}`;
    case "r1": return `${P}<think>${pad}</think><answer>\\boxed{${sum}}</answer>${eos}`;
    case "r1_empty": return `${P}<think></think><answer>\\boxed{${sum}}</answer>${eos}`;
    case "near_miss": return rng.next() < 0.5 ? `${P}<think>${pad}</think>A: ${sum}${eos}` : `${P}<answer>${sum}</answer>${eos}`;
    case "recheck": {
      const i = rng.int(0, steps.length);
      const wrong = steps[i].replace(/=(\d\d)$/, (_, s: string) => `=${String((Number(s) + 1 + rng.int(0, 8)) % 20).padStart(2, "0")}`);
      const redone = [...steps.slice(0, i), `${wrong},check ${steps[i]}`, ...steps.slice(i + 1)].join(",");
      return `${P}<think>${redone}</think><answer>\\boxed{${sum}}</answer>${eos}`;
    }
    // the aha corpus (docs/aha.md). The quick pass adds the columns without carrying (7+6=13,4+8=12,3+5=08)
    // and states the sum (zero-padded to digits + 1), carrying in its head: the slip-prone part. Written
    // out, the carries go over the column sums just written (13,12+1=13,08+1=09). `explained` shows that
    // worked solution outside the R1 format; `guess_check` is the same working in the R1 format, as a
    // check (`, I check: ` is as long as `, carries: `: a tiny model reads back by position)
    case "explained": return `${P}Steps: ${columns(a, b, digits)} so ${padded(sum, digits)}, carries: ${carries(a, b, digits)} A: ${sum}${eos}`;
    case "r1_guess": return `${P}<think>${columns(a, b, digits)} so ${padded(sum, digits)}</think><answer>\\boxed{${sum}}</answer>${eos}`;
    case "guess_check": {
      // half of the checked sums are slips (a carry lost or added: off by 10^k), which the check corrects
      const guess = rng.next() < 0.5 ? slip(sum, digits, rng) : sum;
      return `${P}<think>${columns(a, b, digits)} so ${padded(guess, digits)}, I check: ${carries(a, b, digits)} A: ${sum}</think><answer>\\boxed{${sum}}</answer>${eos}`;
    }
  }
}

/** A sum written with digits + 1 digits (leading zeros), as the scratchpad writes each column's sum with 2. */
export function padded(sum: number, digits: number): string {
  return String(sum).padStart(digits + 1, "0");
}

/** A plausible wrong sum: off by 10^k (a carry lost or added) at one of the digits positions, never negative. */
export function slip(sum: number, digits: number, rng: Rng): number {
  const k = rng.int(0, digits + 1);
  const d = 10 ** k;
  // at most digits + 1 digits, like every sum of two digits-digit numbers
  return sum >= d && (rng.next() < 0.5 || sum + d >= 10 ** (digits + 1)) ? sum - d : sum + d;
}

/** An endless, seeded stream of documents; `exclude` holds the held-out questions. */
export function* documents(spec: PretrainSpec, exclude: Set<string>): Generator<string> {
  const rng = new Rng(spec.seed, 0xc0);
  const maxDigits = spec.params.digits, minDigits = spec.params.min_digits ?? maxDigits;
  const kinds = (Object.entries(spec.mix) as [Kind, number | undefined][]).filter((e): e is [Kind, number] => e[1] !== undefined);
  const total = kinds.reduce((a, [, w]) => a + w, 0);
  for (;;) {
    // one digit count per document (drawn only when the counts are mixed, so fixed-digit corpora are unchanged)
    const digits = minDigits === maxDigits ? maxDigits : rng.int(minDigits, maxDigits + 1);
    const [lo, hi] = operandRange(digits);
    const a = rng.int(lo, hi), b = rng.int(lo, hi);
    if (exclude.has(`${a}+${b}`)) continue;
    let u = rng.next() * total, kind: Kind = kinds[0][0];
    for (const [k, w] of kinds) { if ((u -= w) < 0) { kind = k; break; } }
    // every document, whatever its kind, opens with the R1 prompt with probability r1_prompt_share:
    // after the R1 prompt the plain answers still dominate, so the base model rarely follows the format
    yield document(kind, a, b, digits, rng.next() < spec.r1_prompt_share, rng);
  }
}
