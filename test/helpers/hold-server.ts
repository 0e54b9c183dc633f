// A process that starts a local nats-server and then waits for ever, printing {"pid": <server pid>, ...}:
// the tests kill it (SIGKILL, or a segfault with `segv`) and check that the server died with it.
import { startLocalServer } from "../../streams/nats-server.ts";

const s = await startLocalServer();
process.stdout.write(JSON.stringify({ pid: s.pid, tethered: s.tethered }) + "\n");
if (process.argv.includes("segv")) setTimeout(() => process.kill(process.pid, "SIGSEGV"), 100);
setInterval(() => undefined, 60_000);
