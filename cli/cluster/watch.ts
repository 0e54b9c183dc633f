// A worker fails on the first asynchronous error its connection reports (nats.js `status()` events of
// type "error": a permission violation, an authorization or protocol error). Such an error is not
// thrown to any caller: an unanswered flow-control reply, for one, only stalls an object read. Left
// alone the worker waits forever and looks healthy; failing lets the supervisor restart it and
// `cluster status` show why (the log names the error, the exit is non-zero).
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { ConnectionAsyncError } from "./errors.ts";

export type AsyncErrorWatch = {
  /** Rejects with a ConnectionAsyncError on the first error event; never resolves. */
  failed: Promise<never>;
  /** Stops watching (the promise then stays pending). */
  stop(): void;
};

export function watchAsyncErrors(nc: NatsConnection, log?: Logger): AsyncErrorWatch {
  const it = nc.status() as AsyncIterable<{ type: string; error?: Error }> & { stop?: () => void };
  let stopped = false;
  const failed = new Promise<never>((_, reject) => {
    void (async () => {
      for await (const s of it) {
        if (stopped) return;
        if (s.type !== "error") continue;
        const err = s.error ?? new Error("unknown connection error");
        log?.error({ err: err.message, kind: err.name }, "the connection reported an asynchronous error: failing");
        reject(new ConnectionAsyncError(`the NATS connection reported: ${err.message}`, { cause: err }));
        return;
      }
    })().catch(() => undefined);
  });
  failed.catch(() => undefined); // whoever races it sees the rejection; an unwatched one is not "unhandled"
  return { failed, stop: () => { stopped = true; it.stop?.(); } };
}
