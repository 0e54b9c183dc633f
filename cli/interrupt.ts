// Ctrl-C and SIGTERM for the commands that run (start, run): the first signal aborts the work, which
// stops after the step in hand, stops every child (generators, reward consumers, the embedded server)
// and says where the run stands and how to resume it. A second signal at least 2 s later (npm and the
// terminal both deliver a Ctrl-C, a moment apart) exits at once: the children are tethered
// (streams/tether.ts), so they die with this process.
import { ZeroStreamError } from "../streams/errors.ts";

export class InterruptedError extends ZeroStreamError {
  constructor(readonly signal: NodeJS.Signals, message = `interrupted by ${signal}`) {
    super(message);
  }
}

/** The exit status of a process stopped by a signal, as a shell reports it: 128 + its number. */
export function exitCodeOf(signal: NodeJS.Signals): number {
  return 128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as Record<string, number>)[signal]!;
}

/** The signal that interrupted the work of an aborted AbortSignal, if a signal did. */
export function interruptOf(signal: AbortSignal | undefined): NodeJS.Signals | undefined {
  return signal?.aborted && signal.reason instanceof InterruptedError ? signal.reason.signal : undefined;
}

export type Interrupt = { signal: AbortSignal; dispose(): void };

/** Installs the SIGINT/SIGTERM/SIGHUP handlers of a running command until dispose(). */
export function onInterrupt(say: (s: string) => void = (s) => process.stderr.write(s + "\n"), forceAfterMs = 2000): Interrupt {
  const ctl = new AbortController();
  let first = 0;
  const handler = (sig: NodeJS.Signals) => {
    if (!ctl.signal.aborted) {
      first = Date.now();
      say(`\n${sig}: stopping after the step in hand (again in 2 s or later: stop at once)`);
      ctl.abort(new InterruptedError(sig));
    } else if (Date.now() - first >= forceAfterMs) {
      say(`${sig} again: stopping at once`);
      process.exit(exitCodeOf(sig));
    }
  };
  const sigs: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const s of sigs) process.on(s, handler);
  return { signal: ctl.signal, dispose: () => { for (const s of sigs) process.off(s, handler); } };
}

/** Resolves f, or rejects with the InterruptedError as soon as the signal aborts (f goes on in the background). */
export async function unlessInterrupted<T>(signal: AbortSignal | undefined, f: Promise<T>): Promise<T> {
  if (!signal) return f;
  signal.throwIfAborted();
  let off = () => undefined as void;
  const aborted = new Promise<never>((_, reject) => {
    const h = () => reject(signal.reason);
    signal.addEventListener("abort", h, { once: true });
    off = () => signal.removeEventListener("abort", h);
  });
  f.catch(() => undefined); // a failure after the interrupt is not reported as unhandled
  try {
    return await Promise.race([f, aborted]);
  } finally {
    off();
  }
}
