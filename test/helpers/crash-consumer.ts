// A consumer process that takes one message, reports it on stdout and then hangs until it is killed
// (kill -9 in the test): the crash of a worker holding an unacked message.
import { EventLog } from "../../streams/eventlog.ts";
import { LOG_STREAM, subjects } from "../../streams/subjects.ts";

const [url, run, durable] = process.argv.slice(2);
const log = await EventLog.connect(url);
await log.consume({ stream: LOG_STREAM, durable, filterSubject: subjects.rollout(run), types: ["GroupSampled"], ackWaitMs: 1000 },
  async (e) => {
    process.stdout.write(`got ${e.groupId}\n`);
    await new Promise(() => undefined);
  });
