// `zerostream forward --model <dir>`: reads JSON lines {"tokens":[...]} on stdin and prints one
// {"logits": [[...], ...]} line per input (one fp32 row per position), so any independent
// implementation can be compared with the native engine.
import { createInterface } from "node:readline";
import { Policy } from "../../native/index.ts";

export const summary = "cross-check: JSON lines {\"tokens\":[...]} on stdin -> {\"logits\":[[...]]} (--model <dir>)";

export async function run(argv: string[]): Promise<number> {
  const i = argv.indexOf("--model");
  const dir = i >= 0 ? argv[i + 1] : undefined;
  if (!dir) {
    process.stderr.write("usage: zerostream forward --model <model folder: config.json + model.safetensors, or model.safetensors.index.json and its shards> < lines.jsonl\n");
    return 2;
  }
  const policy = await Policy.load(dir);
  const V = policy.config.vocab_size;
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (!line.trim()) continue;
    let tokens: unknown;
    try {
      tokens = (JSON.parse(line) as { tokens?: unknown }).tokens;
    } catch (err) {
      throw new Error(`line ${n}: not JSON (${(err as Error).message})`);
    }
    if (!Array.isArray(tokens) || tokens.length === 0 || !tokens.every((t) => Number.isInteger(t) && t >= 0 && t < V))
      throw new Error(`line ${n}: expected {"tokens": [integers in [0, ${V})]} with at least one token`);
    const logits = await policy.forward({ tokens: Int32Array.from(tokens as number[]), seqLens: Int32Array.from([tokens.length]) });
    const rows = Array.from({ length: tokens.length }, (_, t) => Array.from(logits.subarray(t * V, (t + 1) * V)));
    if (!process.stdout.write(JSON.stringify({ logits: rows }) + "\n"))
      await new Promise((r) => process.stdout.once("drain", r));
  }
  policy.dispose();
  return 0;
}
