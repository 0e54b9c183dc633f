// `zerostream pretrain <config> [--set k=v]`: pretrains the config's base model (model.pretrain) through
// the native engine, or finds it in the cache (.zerostream/models/<hash>, or ZS_CACHE_DIR).
import { ensurePretrained } from "../../offline/pretrain.ts";
import { loadConfig } from "../../streams/config.ts";
import { parseArgs } from "../args.ts";
import { modelCacheDir } from "../launch.ts";

export const summary = "pretrain <config>: pretrain (or find cached) the tiny base model of a config";

export async function run(argv: string[]): Promise<number> {
  const { positional, lists } = parseArgs(argv, { list: ["set"] });
  if (!positional[0]) { process.stderr.write("usage: zerostream pretrain <config.yaml> [--set key=value]\n"); return 2; }
  const cfg = loadConfig(positional[0], lists.set);
  if (!cfg.model.pretrain) { process.stderr.write(`${positional[0]}: model.pretrain is not set; nothing to pretrain\n`); return 1; }
  const tty = process.stderr.isTTY;
  const r = await ensurePretrained(cfg, {
    cacheDir: modelCacheDir(),
    onStep: tty ? (s, loss) => { if (s % 10 === 0) process.stderr.write(`\r\x1b[2Kpretrain step ${s + 1}/${cfg.model.pretrain!.steps} loss ${loss.toFixed(4)}`); } : undefined,
  });
  if (tty) process.stderr.write("\n");
  process.stdout.write(`${r.cached ? "cached" : "pretrained"} base model: ${r.dir}\n  weights ${r.digest}\n  final loss ${r.losses.at(-1)?.toFixed(4)}, ${Math.round(r.tokensPerSec)} tok/s, ${r.seconds.toFixed(1)} s\n`);
  return 0;
}
