#!/usr/bin/env node
// Entry point of the `zerostream` command: registers tsx so the TypeScript sources run as they are.
import { register } from "tsx/esm/api";
register();
const { main } = await import("./main.ts");
await main(process.argv.slice(2));
// Every command closes what it opened, so the process normally ends here on its own. A handle a library
// leaves behind must not keep a finished command alive: a nats.js ordered push consumer (an object read)
// was seen to keep its heartbeat monitor running after its connection closed. Past a grace period the
// process exits with the command's code and names what was still open.
const graceMs = Number(process.env.ZS_EXIT_GRACE_MS ?? 5000);
setTimeout(() => {
  const open = process.getActiveResourcesInfo().filter((r) => r !== "TTYWrap");
  process.stderr.write(`zerostream: exiting ${graceMs} ms after the command finished with handles still open (${open.join(", ") || "none"})\n`);
  process.exit();
}, graceMs).unref();
