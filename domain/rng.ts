// Deterministic, seedable randomness for data selection and synthetic tasks (never Math.random).
// mulberry32 over a 32-bit state derived from any number of integer keys by a splitmix-style hash.

export function hashKeys(...keys: number[]): number {
  let h = 0x9e3779b9;
  for (const k of keys) {
    let x = (Math.floor(k) ^ Math.floor(k / 0x100000000)) >>> 0;
    x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
    x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
    h = Math.imul(h ^ x ^ (x >>> 16), 0x27d4eb2d) >>> 0;
    h = (h ^ (h >>> 15)) >>> 0;
  }
  return h >>> 0;
}

export class Rng {
  private s: number;
  constructor(...keys: number[]) { this.s = hashKeys(...keys); }
  /** uniform in [0, 1) */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hiExclusive: number): number { return lo + Math.floor(this.next() * (hiExclusive - lo)); }
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) { const j = this.int(0, i + 1); [a[i], a[j]] = [a[j], a[i]]; }
    return a;
  }
}
