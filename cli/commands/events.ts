// `zerostream events tail <run> [--server URL [--creds FILE] | --cluster DIR | --store DIR] [--json] [--from-seq N] [--no-follow]`:
// prints a run's events as they arrive, as readable lines or JSON. With no server given, the local store's.
import { DeliverPolicy } from "@nats-io/jetstream";
import { parseEvent } from "../../streams/events/index.ts";
import { describeEvent } from "../../streams/format.ts";
import { LOG_STREAM, subjects } from "../../streams/subjects.ts";
import { parseArgs } from "../args.ts";
import { BUS_FLAGS, BUS_USAGE, openBus } from "../bus.ts";

export const summary = "events tail <run> [--json] [--no-follow]: print a run's events as they arrive";

export async function run(argv: string[]): Promise<number> {
  const { positional, flags } = parseArgs(argv, { boolean: ["json", "no-follow"], string: [...BUS_FLAGS, "from-seq"] });
  const [sub, runId] = positional;
  if (sub !== "tail" || !runId) {
    process.stderr.write(`usage: zerostream events tail <run> ${BUS_USAGE} [--json] [--from-seq N] [--no-follow]\n`);
    return 2;
  }
  const bus = await openBus(flags);
  const log = bus.log;
  const follow = !flags["no-follow"];
  // Ctrl-C or SIGTERM ends a follow: the connection is closed, then the embedded server (if any) stopped
  let stopped = false;
  const stop = () => { stopped = true; void log.close(); };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    const fromSeq = flags["from-seq"] ? Number(flags["from-seq"]) : undefined;
    const consumer = await log.js.consumers.get(LOG_STREAM, {
      filter_subjects: subjects.all(runId),
      ...(fromSeq ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: fromSeq } : { deliver_policy: DeliverPolicy.All }),
    });
    const dec = new TextDecoder();
    for (;;) {
      const batch = await consumer.fetch({ max_messages: 256, expires: follow ? 5000 : 1000 });
      let got = 0;
      let done = false;
      for await (const m of batch) {
        got++;
        let line: string;
        try {
          const e = parseEvent(JSON.parse(dec.decode(m.data)));
          const time = new Date(Math.floor(m.info.timestampNanos / 1e6)).toISOString();
          line = flags.json ? JSON.stringify({ seq: m.seq, subject: m.subject, time, event: e }) : `${time} #${m.seq} ${describeEvent(e)}`;
        } catch (err) {
          line = flags.json ? JSON.stringify({ seq: m.seq, subject: m.subject, invalid: (err as Error).message }) : `#${m.seq} ${m.subject} INVALID: ${(err as Error).message}`;
        }
        process.stdout.write(line + "\n");
        if (!follow && m.info.pending === 0) done = true;
      }
      if (done || (!follow && got === 0)) break;
    }
    await consumer.delete().catch(() => undefined);
    return 0;
  } catch (err) {
    if (stopped) return 0;
    throw err;
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    await bus.close();
  }
}
