// `zerostream report <run> [--server URL] [--out file.html]`: replays a run's log and writes one
// static, self-contained HTML report (curves, evaluation table, sample responses before and after).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { EventLog } from "../../streams/eventlog.ts";
import { startLocalServer, type LocalServer } from "../../streams/nats-server.ts";
import { parseArgs } from "../args.ts";
import { defaultReportPath, EmptyRunError, writeReport } from "../report/index.ts";

export const summary = "report <run> [--server URL] [--out file.html]: write a run's HTML report (curves, evals, samples)";

const USAGE = "usage: zerostream report <run> [--server nats://host:port] [--out reports/<run>.html]\n";

/** --server, else NATS_URL, else an embedded server on the local store that `npm start` and `run` use. */
async function resolveServer(flag: string | undefined): Promise<{ url: string; server?: LocalServer }> {
  const url = flag ?? process.env.NATS_URL;
  if (url) return { url };
  const storeDir = join(process.cwd(), ".zerostream", "nats");
  if (!existsSync(join(storeDir, "jetstream"))) {
    throw new Error(`no NATS server given and no local store at ${storeDir}: pass --server nats://host:port or set NATS_URL`);
  }
  const server = await startLocalServer({ storeDir });
  return { url: server.url, server };
}

export async function run(argv: string[]): Promise<number> {
  const { positional, flags } = parseArgs(argv, { string: ["server", "out"] });
  const [runId] = positional;
  if (!runId || positional.length > 1) {
    process.stderr.write(USAGE);
    return 2;
  }
  const { url, server } = await resolveServer(flags.server as string | undefined);
  try {
    const log = await EventLog.connect(url);
    try {
      const events = await log.replayAll(runId);
      if (!events.length) throw new EmptyRunError(`run ${runId} has no events in the log at ${url}`);
      const file = await writeReport(events, (flags.out as string | undefined) ?? defaultReportPath(runId));
      process.stdout.write(`report of ${runId} (${events.length} events): ${file}\n`);
      return 0;
    } finally {
      await log.close();
    }
  } finally {
    await server?.stop();
  }
}
