// `zerostream start` (npm start): the main job. Starts the embedded nats-server with a store under
// .zerostream/, creates the streams and buckets, and runs the default tiny R1-Zero config end to end.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { EventLog } from "../../streams/eventlog.ts";
import { startLocalServer } from "../../streams/nats-server.ts";

export const summary = "the main job (npm start): embedded nats-server + the default tiny R1-Zero run";
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export async function run(argv: string[]): Promise<number> {
  const storeDir = join(root, ".zerostream", "nats");
  const server = await startLocalServer({ storeDir });
  process.stdout.write(`embedded nats-server ${server.url} (pid ${server.pid}, store ${storeDir})\n`);
  try {
    const log = await EventLog.connect(server.url);
    process.stdout.write("streams ZS_LOG (run log, limits retention) and ZS_TASKS (rollout tasks, work queue) are ready\n");
    await log.close();
    const runCmd = join(root, "cli", "commands", "run.ts");
    if (!existsSync(runCmd)) {
      process.stdout.write([
        "not built yet: the GRPO loop over the bus (rollout generators, updater) and the tiny R1-Zero run;",
        "what works today: npx zerostream config check <file>, events tail <run>, score, forward, bench.",
        "",
      ].join("\n"));
      return 0;
    }
    const mod = (await import(runCmd)) as { run(a: string[]): Promise<number> };
    return await mod.run(["configs/tiny-r1-zero.yaml", "--server", server.url, ...argv]);
  } finally {
    await server.stop();
  }
}
