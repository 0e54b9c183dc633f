// The `zerostream` command: each subcommand lives in cli/commands/<name>.ts and exports
// `run(argv: string[]): Promise<number>` (the exit code) and `summary` (one line for --help).
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const commandsDir = join(here, "commands");

type Command = { run(argv: string[]): Promise<number>; summary: string };

async function load(name: string): Promise<Command | undefined> {
  const file = join(commandsDir, `${name}.ts`);
  if (!/^[a-z][a-z-]*$/.test(name) || !existsSync(file)) return undefined;
  return (await import(file)) as Command;
}

async function help(): Promise<void> {
  const names = readdirSync(commandsDir).filter((f) => f.endsWith(".ts")).map((f) => f.slice(0, -3)).sort();
  const lines = ["usage: zerostream <command> [options]", "", "commands:"];
  for (const n of names) lines.push(`  ${n.padEnd(10)} ${(await load(n))?.summary ?? ""}`);
  process.stdout.write(lines.join("\n") + "\n");
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") { await help(); return; }
  const cmd = await load(name);
  if (!cmd) {
    process.stderr.write(`zerostream: unknown command '${name}' (zerostream --help lists them)\n`);
    process.exitCode = 2;
    return;
  }
  try {
    process.exitCode = await cmd.run(rest);
  } catch (err) {
    const e = err as Error;
    process.stderr.write(`zerostream ${name}: ${e.message}\n`);
    if (process.env.ZS_DEBUG) process.stderr.write(`${e.stack}\n`);
    process.exitCode = 1;
  }
}
