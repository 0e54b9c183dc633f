// Named errors of the streams layer: one class per condition, `cause` passed on (after nats.js jserrors.ts).

export class ZeroStreamError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class NatsServerNotFoundError extends ZeroStreamError {}
export class PortInUseError extends ZeroStreamError {}
export class NatsServerStartError extends ZeroStreamError {}
export class StoreInUseError extends ZeroStreamError {}
export class ConfigError extends ZeroStreamError {
  constructor(readonly file: string, readonly problems: string[]) {
    super(`invalid config ${file}:\n  - ${problems.join("\n  - ")}`);
  }
}
/** A run's recorded config (RunStarted.config or .modelConfig) does not parse under this code's schema. */
export class RecordedConfigError extends ConfigError {}
export class StreamDriftError extends ZeroStreamError {
  constructor(readonly resource: string, readonly drift: string[]) {
    super(`${resource} exists with a different configuration (${drift.join("; ")}); ` +
      `refusing to keep it silently: delete or migrate it, or start with a new store directory`);
  }
}
export class PoisonMessageError extends ZeroStreamError {}
export class UnknownEventError extends ZeroStreamError {}
export class WeightsDigestError extends ZeroStreamError {}
export class WeightsNotFoundError extends ZeroStreamError {}
/** A weights read made no progress for its idle limit on every attempt (a bucket stream with no leader, a lost consumer). */
export class WeightsReadStalledError extends ZeroStreamError {}
export class PublishFailedError extends ZeroStreamError {}

/** Following a run's log stopped for good (the stream deleted, the connection closed). */
export class LogFollowError extends ZeroStreamError {}

/**
 * A failure of the bus in transition, worth another try with the same input: a JetStream leader
 * election or a cut link ("temporarily unavailable", 503, no responders, a request timeout, a
 * reconnect). Only errors of the NATS client (or wrapping one, through `cause`) qualify: a handler's
 * own failure that happens to say "timeout" is not the bus's.
 */
export function isTransientBusError(err: unknown): boolean {
  for (let e = err as { name?: string; message?: string; code?: string | number; cause?: unknown } | undefined, depth = 0; e && depth < 6; e = e.cause as typeof e, depth++) {
    const natsClient = /^(JetStreamApiError|JetStreamError|JetStreamStatusError|TimeoutError|NoRespondersError|RequestError|ConnectionError)$/.test(e.name ?? "");
    if (natsClient && /temporarily unavailable|no responders|timeout|timed out|\b503\b|jetstream not enabled|disconnect|ECONNREFUSED|CONNECTION_REFUSED/i.test(`${e.message ?? ""} ${e.code ?? ""} ${e.name}`)) return true;
  }
  return false;
}
