// Child processes that die with the process that started them, however it dies: a clean exit, an
// uncaught error, SIGKILL, a segfault in the native engine, the OOM killer. The kernel does it: the
// child runs under `setpriv --pdeathsig SIG` (util-linux, essential on Debian/Ubuntu), which sets
// PR_SET_PDEATHSIG and execs the command, so the child keeps its PID (the cluster supervisor and the
// tests track and kill nats-server by PID) and no watchdog process stands between the two (a watchdog
// can itself be killed and orphan the child). A `sh` in between checks that its parent is still the
// spawning process after the signal was armed: a parent that died between fork and prctl would
// otherwise leave the child running. The signal is sent when the spawning *thread* exits: spawn from
// the main thread (a worker thread's children die with that thread).
// Without setpriv (not Linux), the command runs as it is and `tethered` is false.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from "node:child_process";

let available: boolean | undefined;

/** Whether setpriv with --pdeathsig is on this machine (checked once). */
export function canTether(): boolean {
  if (available === undefined) {
    const r = spawnSync("setpriv", ["--help"], { encoding: "utf8" });
    available = !r.error && r.status === 0 && r.stdout.includes("--pdeathsig");
  }
  return available;
}

// $1 is the expected parent PID; the rest is the command, exec'd so that the PID stays the same
const CHECK_PARENT = 'test "$PPID" = "$1" || exit 70; shift; exec "$@"';

/** The argv that runs `cmd args` with `signal` armed for when this process (its calling thread) dies. */
export function tetheredArgv(cmd: string, args: string[], signal: NodeJS.Signals): [string, string[]] {
  return ["setpriv", ["--pdeathsig", signal, "--", "/bin/sh", "-c", CHECK_PARENT, "sh", String(process.pid), cmd, ...args]];
}

export type Tethered = { child: ChildProcess; tethered: boolean };

/**
 * Spawns a child that receives `deathSignal` when this process dies. With `ownGroup`, the child gets its own
 * process group (setsid), so a Ctrl-C at the terminal reaches only this process, which stops its
 * children in order (the server last); without a tether the child stays in our group, so that a Ctrl-C
 * still reaches it.
 */
export function spawnTethered(cmd: string, args: string[], o: SpawnOptions & { deathSignal?: NodeJS.Signals; ownGroup?: boolean } = {}): Tethered {
  const { deathSignal = "SIGTERM", ownGroup = false, ...opts } = o;
  if (!canTether()) return { child: spawn(cmd, args, { ...opts, detached: false }), tethered: false };
  const [c, a] = tetheredArgv(cmd, args, deathSignal);
  return { child: spawn(c, a, { ...opts, detached: ownGroup }), tethered: true };
}
