// Least-privilege access for a cluster: one user per role, each allowed only its subjects, plus an
// admin. Passwords are generated once, kept in creds files (mode 0600, directory 0700) and written into
// an `auth.conf` (0600) that each node's config includes; nothing secret is ever passed on a command
// line or logged. A creds file is JSON {"user","pass"}; a NATS JWT creds file (nsc) is accepted too.
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { credsAuthenticator, type ConnectionOptions } from "@nats-io/transport-node";
import { LOG_STREAM, RUNS_BUCKET, TASK_STREAM } from "../../streams/subjects.ts";
import { CredsFileError } from "./errors.ts";

export const ROLES = ["admin", "updater", "rollout", "reward"] as const;
export type Role = (typeof ROLES)[number];
export type Creds = { user: string; pass: string };
type Perms = { publish: { allow: string[]; deny?: string[] }; subscribe: { allow: string[] } };

// What every JetStream client needs: stream/consumer info, pull requests, ordered consumers (replay,
// follow, object reads), direct/message gets (KV, object metadata). No stream create/update/delete/purge.
const JS_READ = [
  "$JS.API.INFO", "$JS.API.STREAM.INFO.*", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST",
  "$JS.API.STREAM.MSG.GET.*", "$JS.API.DIRECT.GET.>",
  "$JS.API.CONSUMER.CREATE.>", "$JS.API.CONSUMER.DURABLE.CREATE.>", "$JS.API.CONSUMER.INFO.>",
  "$JS.API.CONSUMER.MSG.NEXT.>", "$JS.API.CONSUMER.DELETE.>", "$JS.API.CONSUMER.NAMES.*", "$JS.API.CONSUMER.LIST.*",
];
// only an admin removes the shared durables
const JS_DENY = ["$JS.API.CONSUMER.DELETE.*.rollout", "$JS.API.CONSUMER.DELETE.*.reward"];
// Reading an object (weights) is an ordered push consumer with flow control: past its window (1-2 MiB)
// the server stops until the client answers on $JS.FC.<stream>.<consumer>.<id>. Those replies name a
// run's bucket stream (OBJ_zs-weights-<run>) and a random consumer, which no subject can match more
// narrowly than `*`: allow the three-token reply shape and deny it on the streams no worker reads by
// push (the log, the tasks and the run index are read by pull: no flow control there).
const FC_REPLY = ["$JS.FC.*.*.*"];
const FC_DENY = [`$JS.FC.${LOG_STREAM}.>`, `$JS.FC.${TASK_STREAM}.>`, `$JS.FC.KV_${RUNS_BUCKET}.>`];
const INBOX = ["_INBOX.>"];

/** The permissions of each role (nats-server 2.9 `permissions` blocks). */
export function permissionsOf(role: Role): Perms | null {
  switch (role) {
    case "admin": return null; // everything
    case "reward": return {
      publish: { allow: ["zs.*.reward", "zs.*.dlq", `$JS.ACK.${LOG_STREAM}.reward.>`, ...JS_READ], deny: JS_DENY },
      subscribe: { allow: INBOX },
    };
    case "rollout": return {
      // reads the policy's weights (objects): answers their flow control
      publish: { allow: ["zs.*.rollout", "zs.*.dlq", `$JS.ACK.${TASK_STREAM}.rollout.>`, ...FC_REPLY, ...JS_READ], deny: [...JS_DENY, ...FC_DENY] },
      subscribe: { allow: INBOX },
    };
    case "updater": return {
      publish: {
        // purge: nats.js cleans a failed object put by purging its chunks (weights buckets only: deny wins)
        // reads weights, optimizer and reference snapshots (objects): answers their flow control
        allow: ["zst.*", "zs.*.policy", "zs.*.run", "zs.*.dlq", "$O.*.C.>", "$O.*.M.>", "$KV.zs-runs.>", "$JS.API.STREAM.PURGE.*", ...FC_REPLY, ...JS_READ],
        deny: [...JS_DENY, ...FC_DENY, `$JS.API.STREAM.PURGE.${LOG_STREAM}`, `$JS.API.STREAM.PURGE.${TASK_STREAM}`, "$JS.API.STREAM.PURGE.KV_zs-runs"],
      },
      subscribe: { allow: INBOX },
    };
  }
}

const q = (s: string) => JSON.stringify(s);
const list = (xs: string[]) => `[${xs.map(q).join(", ")}]`;

/** The `authorization { users = [...] }` block for nats-server 2.9 (plain passwords: the file is 0600). */
export function authConfig(creds: Record<Role, Creds>): string {
  const users = ROLES.map((role) => {
    const p = permissionsOf(role);
    const c = creds[role];
    if (!p) return `    { user: ${q(c.user)}, password: ${q(c.pass)} }`;
    const pub = `publish: { allow: ${list(p.publish.allow)}${p.publish.deny ? `, deny: ${list(p.publish.deny)}` : ""} }`;
    return `    { user: ${q(c.user)}, password: ${q(c.pass)}, permissions: { ${pub}, subscribe: { allow: ${list(p.subscribe.allow)} } } }`;
  });
  return ["authorization {", "  users = [", users.join(",\n"), "  ]", "}", ""].join("\n");
}

export function credsPath(dir: string, role: Role): string {
  return join(dir, "creds", `${role}.creds`);
}

/** Reads the creds of every role under <dir>/creds, creating the missing ones (random passwords). */
export function ensureCreds(dir: string): Record<Role, Creds> {
  const cdir = join(dir, "creds");
  mkdirSync(cdir, { recursive: true, mode: 0o700 });
  chmodSync(cdir, 0o700);
  const out = {} as Record<Role, Creds>;
  for (const role of ROLES) {
    const file = credsPath(dir, role);
    if (!existsSync(file)) writeSecret(file, JSON.stringify({ user: `zs-${role}`, pass: randomBytes(24).toString("base64url") }) + "\n");
    out[role] = readCreds(file);
  }
  return out;
}

export function writeSecret(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600); // an existing file keeps its mode on write
}

/** Parses a creds file (JSON {user, pass}); refuses files that others can read. */
export function readCreds(file: string): Creds {
  let text: string;
  try { text = readFileSync(file, "utf8"); } catch (err) {
    throw new CredsFileError(`cannot read creds file ${file}: ${(err as Error).message}`, { cause: err });
  }
  if ((statSync(file).mode & 0o077) !== 0) throw new CredsFileError(`creds file ${file} is readable by others: chmod 600 ${file}`);
  let v: { user?: unknown; pass?: unknown };
  try { v = JSON.parse(text) as typeof v; } catch {
    throw new CredsFileError(`creds file ${file} is not JSON {"user": ..., "pass": ...} nor a NATS creds file`);
  }
  if (typeof v.user !== "string" || typeof v.pass !== "string") throw new CredsFileError(`creds file ${file} needs string fields "user" and "pass"`);
  return { user: v.user, pass: v.pass };
}

/** Connection options for a creds file: user/pass from our JSON, or an authenticator for a NATS JWT creds file. */
export function connectAuth(file: string | undefined): Partial<ConnectionOptions> {
  if (!file) return {};
  let text: string;
  try { text = readFileSync(file, "utf8"); } catch (err) {
    throw new CredsFileError(`cannot read creds file ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (text.includes("BEGIN NATS USER JWT")) return { authenticator: credsAuthenticator(new TextEncoder().encode(text)) };
  const c = readCreds(file);
  return { user: c.user, pass: c.pass };
}
