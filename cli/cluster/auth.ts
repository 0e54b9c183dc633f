// Least-privilege access for a cluster: one identity per role, each allowed only its subjects, plus an
// admin. An identity is a NATS nkey (Ed25519): the seed stays in the role's creds file (mode 0600,
// directory 0700) and the servers know only the public key (`auth.conf` holds no secret). A creds file
// also carries the role's TLS client certificate, its key and the cluster's CA (pki.ts), so that one
// file is all a worker on another host needs. Rotating a role's key writes a new seed into its creds
// file and a new auth.conf; a configuration reload of each node (SIGHUP) drops the old key's
// connections, which reconnect with the new seed (the authenticator reads the file again). Nothing
// secret is ever passed on a command line or logged.
// Accepted creds files: ours (JSON {"v":2,"role","user","nkey","seed",["tls"]}), the v1 JSON
// {"user","pass"} (for --server with a password), and a NATS JWT creds file (nsc).
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createUser, fromSeed } from "@nats-io/nkeys";
import { credsAuthenticator, nkeyAuthenticator, type ConnectionOptions, type TlsOptions } from "@nats-io/transport-node";
import { verifyPeerName } from "./pki.ts";
import { LOG_STREAM, RUNS_BUCKET, TASK_STREAM } from "../../streams/subjects.ts";
import { CredsFileError } from "./errors.ts";

export const ROLES = ["admin", "updater", "rollout", "reward"] as const;
export type Role = (typeof ROLES)[number];
/** A role's identity: its nkey seed (secret) and public key; optionally the TLS material of the role. */
export type Creds = { v: 2; role: Role; user: string; nkey: string; seed: string; tls?: { ca: string; cert: string; key: string } };
/** What a server needs of an identity: the public key only. */
export type PublicIdentity = { user: string; nkey: string };
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

/** The `authorization { users = [...] }` block for nats-server 2.9: nkeys (public keys) only, no secret. */
export function authConfig(ids: Record<Role, PublicIdentity>): string {
  const users = ROLES.map((role) => {
    const p = permissionsOf(role);
    const id = ids[role];
    if (!/^U[A-Z2-7]{55}$/.test(id.nkey)) throw new CredsFileError(`the ${role} identity has no valid public nkey (got ${id.nkey})`);
    if (!p) return `    # ${id.user}\n    { nkey: ${q(id.nkey)} }`;
    const pub = `publish: { allow: ${list(p.publish.allow)}${p.publish.deny ? `, deny: ${list(p.publish.deny)}` : ""} }`;
    return `    # ${id.user}\n    { nkey: ${q(id.nkey)}, permissions: { ${pub}, subscribe: { allow: ${list(p.subscribe.allow)} } } }`;
  });
  return ["# generated by zerostream cluster: public keys only", "authorization {", "  users = [", users.join(",\n"), "  ]", "}", ""].join("\n");
}

export function credsPath(dir: string, role: Role): string {
  return join(dir, "creds", `${role}.creds`);
}

/** The file every node includes (relative to nodes/<name>/): the users and their permissions. */
export function authConfPath(dir: string): string {
  return join(dir, "auth.conf");
}

function newIdentity(role: Role, tls?: Creds["tls"]): Creds {
  const kp = createUser();
  return { v: 2, role, user: `zs-${role}`, nkey: kp.getPublicKey(), seed: new TextDecoder().decode(kp.getSeed()), ...(tls ? { tls } : {}) };
}

function writeCreds(file: string, c: Creds): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeSecret(tmp, JSON.stringify(c, null, 2) + "\n");
  renameSync(tmp, file); // atomic: a worker re-reading its seed never sees half a file
}

/**
 * Reads the identity of every role under <dir>/creds, creating the missing ones (and replacing v1
 * password creds, which servers no longer accept). `tls(role)` gives the PEMs a new file carries.
 */
export function ensureCreds(dir: string, tls?: (role: Role) => Creds["tls"]): Record<Role, Creds> {
  const cdir = join(dir, "creds");
  mkdirSync(cdir, { recursive: true, mode: 0o700 });
  chmodSync(cdir, 0o700);
  const out = {} as Record<Role, Creds>;
  for (const role of ROLES) {
    const file = credsPath(dir, role);
    const kept = existsSync(file) ? parseCreds(file) : undefined;
    if (!kept || !("seed" in kept)) writeCreds(file, newIdentity(role, tls?.(role)));
    else if (tls && !kept.tls) writeCreds(file, { ...kept, tls: tls(role) });
    out[role] = readCreds(file);
  }
  return out;
}

/** A new key for one role: its creds file gets a new seed (the TLS material is kept). Returns the new identity. */
export function rotateKey(dir: string, role: Role): Creds {
  const file = credsPath(dir, role);
  const old = readCreds(file);
  const next = { ...newIdentity(role, old.tls), user: old.user };
  writeCreds(file, next);
  return next;
}

/** auth.conf of the identities in <dir>/creds (their public keys), written atomically. */
export function writeAuthConf(dir: string, ids: Record<Role, PublicIdentity>): string {
  const file = authConfPath(dir);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, authConfig(ids), { mode: 0o644 });
  renameSync(tmp, file);
  return file;
}

export function writeSecret(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600); // an existing file keeps its mode on write
}

function readText(file: string): string {
  try { return readFileSync(file, "utf8"); } catch (err) {
    throw new CredsFileError(`cannot read creds file ${file}: ${(err as Error).message}`, { cause: err });
  }
}

type V1 = { user: string; pass: string };

function parseCreds(file: string): Creds | V1 {
  const text = readText(file);
  if ((statSync(file).mode & 0o077) !== 0) throw new CredsFileError(`creds file ${file} is readable by others: chmod 600 ${file}`);
  let v: Record<string, unknown>;
  try { v = JSON.parse(text) as typeof v; } catch {
    throw new CredsFileError(`creds file ${file} is neither zerostream JSON ({"role","nkey","seed"} or {"user","pass"}) nor a NATS creds file`);
  }
  if (typeof v.seed === "string") {
    if (!v.seed.startsWith("SU")) throw new CredsFileError(`creds file ${file}: "seed" is not an nkey user seed (SU...)`);
    let pub: string;
    try { pub = fromSeed(new TextEncoder().encode(v.seed)).getPublicKey(); } catch (err) {
      throw new CredsFileError(`creds file ${file}: "seed" is not a valid nkey seed`, { cause: err });
    }
    if (v.nkey !== undefined && v.nkey !== pub) throw new CredsFileError(`creds file ${file}: "nkey" does not match the seed`);
    return { ...(v as unknown as Creds), nkey: pub };
  }
  if (typeof v.user !== "string" || typeof v.pass !== "string") throw new CredsFileError(`creds file ${file} needs "seed" (an nkey) or string fields "user" and "pass"`);
  return { user: v.user, pass: v.pass };
}

/** Parses one of our nkey creds files; refuses files that others can read. */
export function readCreds(file: string): Creds {
  const c = parseCreds(file);
  if (!("seed" in c)) throw new CredsFileError(`creds file ${file} holds a password (v1): cluster nodes accept nkeys only; run cluster up on the first host to replace it, then copy it again`);
  return c;
}

/**
 * Connection options for a creds file: an nkey authenticator (the seed is read from the file at every
 * connect, so a rotated key is picked up on reconnect) and the TLS material it carries; user/pass of a
 * v1 file; an authenticator for a NATS JWT creds file.
 */
export function connectAuth(file: string | undefined): Partial<ConnectionOptions> {
  if (!file) return {};
  const text = readText(file);
  if (text.includes("BEGIN NATS USER JWT")) return { authenticator: credsAuthenticator(new TextEncoder().encode(text)) };
  const c = parseCreds(file);
  if (!("seed" in c)) return { user: c.user, pass: c.pass };
  let seed = c.seed;
  const current = () => {
    try { seed = readCreds(file).seed; } catch { /* mid-copy or removed: the last good seed */ }
    return new TextEncoder().encode(seed);
  };
  // the TLS options go to Node's tls.connect as they are: the name check is ours (pki.ts)
  const tls = c.tls ? { ca: c.tls.ca, cert: c.tls.cert, key: c.tls.key, checkServerIdentity: verifyPeerName } : undefined;
  return { authenticator: nkeyAuthenticator(current), ...(tls ? { tls: tls as TlsOptions } : {}) };
}
