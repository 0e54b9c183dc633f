// Stop strings (rollout.stop): a response ends with the token that completes the first occurrence of
// any stop string, as if sampling had stopped there — the engine samples each row token by token, so
// the tokens before the cut do not depend on what came after it; the rest is dropped. The kept tokens
// include the stop string (it is what the policy wrote, and what the updater trains on). Pure.
/** What cutting at a stop string needs of a tokenizer. */
export type Decoder = { decode(ids: number[]): string };

export type Sampled = { tokens: Int32Array; logprobs: Float32Array; finish: "stop" | "length" };

const hasStop = (text: string, stops: readonly string[]) => stops.some((s) => s.length > 0 && text.includes(s));

/** How many tokens a response keeps under the stop strings: the shortest prefix whose text holds one; null when none does. */
export function stopCut(tokens: ArrayLike<number>, tok: Decoder, stops: readonly string[]): number | null {
  const ids = Array.from(tokens);
  if (!stops.length || !hasStop(tok.decode(ids), stops)) return null;
  // a prefix's text is a prefix of the whole text, so "holds a stop string" is monotone in its length
  let lo = 1, hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (hasStop(tok.decode(ids.slice(0, mid)), stops)) hi = mid; else lo = mid + 1;
  }
  return lo;
}

/** A sampled row cut at its first stop string (finish "stop"); unchanged when it holds none. */
export function applyStops<T extends Sampled>(r: T, tok: Decoder, stops: readonly string[]): T {
  const n = stopCut(r.tokens, tok, stops);
  if (n === null) return r;
  return { ...r, tokens: r.tokens.slice(0, n), logprobs: r.logprobs.slice(0, n), finish: "stop" };
}

/** A response's text: its tokens decoded without the final stop token (the policy's end-of-response mark). */
export function responseText(r: { tokens: ArrayLike<number>; finish: "stop" | "length" }, tok: Decoder, stopTokenIds: ReadonlySet<number>): string {
  const toks = Array.from(r.tokens);
  const body = r.finish === "stop" && toks.length && stopTokenIds.has(toks[toks.length - 1]) ? toks.slice(0, -1) : toks;
  return tok.decode(body);
}
