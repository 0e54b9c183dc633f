// `zerostream config check <file> [--set key=value ...] [--json]`: validates a run config and prints it resolved.
import { stringify } from "yaml";
import { rewardSpecOf } from "../../domain/reward/spec.ts";
import { RewardError } from "../../domain/reward/types.ts";
import { configHash, loadConfig } from "../../streams/config.ts";
import { describeMissing, missingInputs } from "../../loaders/inputs.ts";
import { ConfigError } from "../../streams/errors.ts";

export const summary = "config check <file> [--set k=v] [--json]: validate a run config and print it resolved";

export async function run(argv: string[]): Promise<number> {
  const [sub, file, ...rest] = argv;
  if (sub !== "check" || !file) {
    process.stderr.write("usage: zerostream config check <file> [--set key.path=value ...] [--json]\n");
    return 2;
  }
  const sets: string[] = [];
  let json = false;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === "--set") sets.push(rest[++i]);
    else if (rest[i] === "--json") json = true;
    else { process.stderr.write(`unknown option ${rest[i]}\n`); return 2; }
  }
  try {
    const cfg = loadConfig(file, sets);
    try { rewardSpecOf(cfg); } catch (err) {
      if (err instanceof RewardError) { process.stderr.write(`${file}: reward: ${err.message}\n`); return 1; }
      throw err;
    }
    if (json) process.stdout.write(JSON.stringify({ configHash: configHash(cfg), config: cfg }, null, 2) + "\n");
    else process.stdout.write(`# ${file}: valid (config hash ${configHash(cfg)})\n${stringify(cfg)}`);
    // the files the user brings are not part of validity (a config is checked before they are fetched)
    const missing = missingInputs(cfg);
    if (missing.length) process.stderr.write(`# not found here; a run refuses to start without them:\n${missing.map((m) => `#   ${describeMissing(m)}`).join("\n")}\n`);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) { process.stderr.write(`${err.message}\n`); return 1; }
    throw err;
  }
}
