// One pino logger per process: structured JSON, level from ZS_LOG_LEVEL (or LOG_LEVEL), default info.
// Secrets never reach it: fields named like credentials are redacted.
import { pino, type Logger } from "pino";

let root: Logger | undefined;

export function logger(): Logger {
  root ??= pino({
    name: "zerostream",
    level: process.env.ZS_LOG_LEVEL ?? process.env.LOG_LEVEL ?? "info",
    base: { pid: process.pid, role: process.env.ZS_ROLE },
    redact: { paths: ["*.pass", "*.password", "*.token", "*.creds", "*.nkey", "*.seed", "pass", "password", "token", "creds"], censor: "[redacted]" },
  }, pino.destination({ dest: process.env.ZS_LOG_FILE ?? 2, sync: true }));
  return root;
}

export function childLogger(bindings: Record<string, unknown>): Logger {
  return logger().child(bindings);
}
