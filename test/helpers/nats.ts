// Integration-test helper: a real nats-server per test file, with a temporary store and unique names.
import { randomBytes } from "node:crypto";
import { EventLog } from "../../streams/eventlog.ts";
import { startLocalServer, type LocalServer } from "../../streams/nats-server.ts";

export type Bus = { server: LocalServer; log: EventLog; stop(): Promise<void> };

export async function startBus(): Promise<Bus> {
  const server = await startLocalServer();
  const log = await EventLog.connect(server.url);
  return {
    server, log,
    async stop() {
      await log.close();
      await server.stop();
    },
  };
}

export function uniqueRunId(prefix = "t"): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}
