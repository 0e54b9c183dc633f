// A small argument parser for the CLI: --flag, --key value, --key=value, repeated --set.
export type Parsed = { positional: string[]; flags: Record<string, string | boolean | undefined>; lists: Record<string, string[]> };

export function parseArgs(argv: string[], spec: { boolean?: string[]; string?: string[]; list?: string[] }): Parsed {
  const positional: string[] = [];
  const flags: Record<string, string | boolean | undefined> = {};
  const lists: Record<string, string[]> = {};
  for (const l of spec.list ?? []) lists[l] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) { positional.push(a); continue; }
    const eq = a.indexOf("=");
    const key = a.slice(2, eq > 0 ? eq : undefined);
    const inline = eq > 0 ? a.slice(eq + 1) : undefined;
    if (spec.boolean?.includes(key)) { flags[key] = inline === undefined ? true : inline !== "false"; continue; }
    const takesValue = spec.string?.includes(key) || spec.list?.includes(key);
    if (!takesValue) throw new Error(`unknown option --${key}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`option --${key} needs a value`);
    if (spec.list?.includes(key)) lists[key].push(value); else flags[key] = value;
  }
  return { positional, flags, lists };
}

export function serverUrl(flags: Record<string, string | boolean | undefined>): string {
  const s = flags.server ?? process.env.NATS_URL;
  if (typeof s !== "string" || !s) throw new Error("no NATS server given: pass --server nats://host:port or set NATS_URL");
  return s;
}
