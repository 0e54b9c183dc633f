// `zerostream export-model <run> --version N --out DIR [--dtype bf16|f32] [--shard-size 5GB] [--server URL [--creds FILE] | --cluster DIR | --store DIR]`:
// a policy version as a model folder in Hugging Face's published layout (offline/replay/export-model.ts),
// loaded back before it reports: f32 gives the version's own digest.
import { exportModel, parseSize } from "../../offline/replay/export-model.ts";
import { parseArgs } from "../args.ts";
import { BUS_FLAGS, BUS_USAGE, withBus } from "../bus.ts";

export const summary = "export-model <run> --version N --out DIR [--dtype bf16|f32] [--shard-size 5GB]: a policy version as a published-layout model folder";

export async function run(argv: string[]): Promise<number> {
  const { positional, flags } = parseArgs(argv, { string: [...BUS_FLAGS, "version", "out", "dtype", "shard-size"] });
  const [runId] = positional;
  const version = Number(flags.version);
  const dtype = (flags.dtype ?? "bf16") as string;
  if (!runId || typeof flags.out !== "string" || flags.version === undefined || !Number.isInteger(version) || version < 0 || (dtype !== "bf16" && dtype !== "f32")) {
    process.stderr.write(`usage: zerostream export-model <run> --version N --out DIR [--dtype bf16|f32] [--shard-size 5GB] ${BUS_USAGE}\n`);
    return 2;
  }
  const maxShardBytes = parseSize(typeof flags["shard-size"] === "string" ? flags["shard-size"] : "5GB");
  const out = flags.out;
  return withBus(flags, async ({ log }) => {
    const r = await exportModel(log, runId, { version, out, dtype, maxShardBytes });
    process.stdout.write(`run ${runId}: policy v${r.version}${r.step !== null ? ` (after step ${r.step})` : " (initial weights)"}, ${r.weightsDigest}\n` +
      `  ${out}: ${r.files.length} weight file(s), ${r.weightBytes.toLocaleString("en-US")} bytes of ${r.dtype}${r.files.length > 1 ? " + model.safetensors.index.json" : ""}, config.json, generation_config.json\n` +
      `  tokenizer: ${r.tokenizer}\n` +
      `  loaded back: ${r.loadedDigest}${r.loadedDigest === r.weightsDigest ? " (the version's digest, bit for bit)" : " (bf16: the version's weights rounded)"}\n`);
    return 0;
  });
}
