// Runs the `zerostream` command as a user does (node cli/bin.mjs) in a given directory, and looks at
// the processes it leaves (by PID, through /proc).
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const BIN = join(import.meta.dirname, "..", "..", "cli", "bin.mjs");

export type CliResult = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };
export type CliRun = { child: ChildProcess; output: () => { stdout: string; stderr: string }; done: Promise<CliResult>; waitFor(re: RegExp, ms?: number): Promise<string> };

/** Starts `zerostream <args>` in cwd; `detached`: its own process group, as a terminal's foreground job. */
export function cli(args: string[], o: { cwd: string; env?: Record<string, string>; detached?: boolean }): CliRun {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: o.cwd, env: { ...process.env, ...o.env }, stdio: ["ignore", "pipe", "pipe"], detached: o.detached ?? false });
  let stdout = "", stderr = "";
  const waiters: (() => void)[] = [];
  child.stdout!.on("data", (d) => { stdout += d; waiters.forEach((w) => w()); });
  child.stderr!.on("data", (d) => { stderr += d; waiters.forEach((w) => w()); });
  const done = new Promise<CliResult>((resolve) => child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
  return {
    child, done, output: () => ({ stdout, stderr }),
    waitFor(re, ms = 120_000) {
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re} in the output of zerostream ${args.join(" ")}:\n${stdout}\n${stderr.slice(-2000)}`)), ms);
        const check = () => {
          const m = re.exec(stdout + "\n" + stderr);
          if (m) { clearTimeout(timer); resolve(m[0]); }
        };
        waiters.push(check);
        check();
        void done.then(() => { check(); clearTimeout(timer); reject(new Error(`zerostream ${args.join(" ")} exited before ${re} appeared:\n${stdout}\n${stderr.slice(-2000)}`)); });
      });
    },
  };
}

/** Runs `zerostream <args>` to its end. */
export async function cliRun(args: string[], o: { cwd: string; env?: Record<string, string> }): Promise<CliResult> {
  return cli(args, o).done;
}

/** A process that exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Every living descendant of a process: [pid, command line]. */
export function descendants(root: number): [number, string][] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
    } catch { /* gone */ }
  }
  const out: [number, string][] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      if (!alive(c)) continue;
      let cmd = "";
      try { cmd = readFileSync(`/proc/${c}/cmdline`, "utf8").replace(/\0/g, " ").trim(); } catch { continue; }
      out.push([c, cmd]);
      walk(c);
    }
  };
  walk(root);
  return out;
}

/** The printed `npx zerostream ...` command as argv for cli(). */
export function argvOf(printed: string): string[] {
  const words = printed.trim().split(/\s+/);
  if (words[0] !== "npx" || words[1] !== "zerostream") throw new Error(`not a zerostream command: ${printed}`);
  return words.slice(2);
}
