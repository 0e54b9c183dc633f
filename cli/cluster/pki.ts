// The cluster's private PKI, made with Debian's `openssl` command (no crypto of our own): a CA
// (tls/ca.pem, its key tls/ca-key.pem 0600, which never leaves the first host), one certificate per
// node (serverAuth + clientAuth: a node is a server to clients and to routes, and a client of the
// routes it solicits) whose subjectAltNames are the node's advertised host, its listen address,
// localhost and 127.0.0.1, and one client certificate per role. Every key is EC P-256, 0600.
// Clients verify a node's certificate and hostname; nodes require a client certificate of the CA
// (`verify: true`) on the client port and on routes; the role itself is proven by the nkey (auth.ts).
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { isIP, type Socket } from "node:net";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { join } from "node:path";
import { PkiError } from "./errors.ts";

export type CertFiles = { cert: string; key: string; ca: string };

export const tlsDir = (dir: string) => join(dir, "tls");
export const caFile = (dir: string) => join(tlsDir(dir), "ca.pem");
export const caKeyFile = (dir: string) => join(tlsDir(dir), "ca-key.pem");
export const nodeCertFiles = (dir: string, node: string): CertFiles =>
  ({ cert: join(tlsDir(dir), `node-${node}.pem`), key: join(tlsDir(dir), `node-${node}-key.pem`), ca: caFile(dir) });
export const clientCertFiles = (dir: string, role: string): CertFiles =>
  ({ cert: join(tlsDir(dir), `client-${role}.pem`), key: join(tlsDir(dir), `client-${role}-key.pem`), ca: caFile(dir) });

function openssl(args: string[], what: string): void {
  const r = spawnSync("openssl", args, { encoding: "utf8" });
  if (r.error) throw new PkiError(`openssl not found (${r.error.message}): apt-get install openssl`, { cause: r.error });
  if (r.status !== 0) throw new PkiError(`openssl failed to ${what}: ${r.stderr.trim().split("\n").slice(-3).join("; ")}`);
}

const lockDown = (file: string) => chmodSync(file, 0o600);

/** A new CA in `dir` (tls/ca.pem, tls/ca-key.pem), unless one is there. */
export function ensureCa(dir: string, o: { cn?: string; days?: number } = {}): string {
  const t = tlsDir(dir);
  mkdirSync(t, { recursive: true, mode: 0o700 });
  chmodSync(t, 0o700);
  if (existsSync(caFile(dir))) return caFile(dir);
  openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", caKeyFile(dir), "-out", caFile(dir),
    "-days", String(o.days ?? 3650), "-subj", `/CN=${o.cn ?? "zerostream cluster CA"}`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], "create the cluster CA");
  lockDown(caKeyFile(dir));
  return caFile(dir);
}

/** subjectAltName entries for names and addresses (IP:... for literals, DNS:... otherwise). */
export function sanOf(names: string[]): string {
  const uniq = [...new Set(names.filter((n) => n && n !== "0.0.0.0" && n !== "::"))];
  return uniq.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(",");
}

/**
 * Issues a certificate signed by the CA in `caDir` into `out` (a key and a certificate, both new).
 * `days` may be negative (an already expired certificate: the tests use one).
 */
export function issue(caDir: string, out: CertFiles, o: { cn: string; names?: string[]; usage: "server" | "client"; days?: number }): void {
  if (!existsSync(caKeyFile(caDir))) throw new PkiError(`no CA key in ${tlsDir(caDir)}: certificates are issued on the host where the cluster was created (cluster init/up)`);
  const csr = `${out.cert}.csr`, ext = `${out.cert}.ext`;
  const san = sanOf(o.names ?? []);
  writeFileSync(ext, [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    `extendedKeyUsage=${o.usage === "server" ? "serverAuth,clientAuth" : "clientAuth"}`,
    ...(san ? [`subjectAltName=${san}`] : []),
  ].join("\n") + "\n");
  try {
    openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", out.key, "-out", csr, "-subj", `/CN=${o.cn}`], `create a key for ${o.cn}`);
    lockDown(out.key);
    openssl(["x509", "-req", "-in", csr, "-CA", caFile(caDir), "-CAkey", caKeyFile(caDir), "-set_serial", `0x${randomBytes(12).toString("hex")}`,
      "-days", String(o.days ?? 825), "-extfile", ext, "-out", out.cert], `sign the certificate of ${o.cn}`);
  } finally {
    rmSync(csr, { force: true });
    rmSync(ext, { force: true });
  }
}

/** The certificate of a node, issued once (its names are fixed with the cluster's spec). */
export function ensureNodeCert(dir: string, node: { name: string; host: string; listen: string }): CertFiles {
  const f = nodeCertFiles(dir, node.name);
  if (!existsSync(f.cert) || !existsSync(f.key)) issue(dir, f, { cn: `zs-${node.name}`, names: [node.host, node.listen, "localhost", "127.0.0.1"], usage: "server" });
  return f;
}

/** The client certificate of a role, issued once. */
export function ensureClientCert(dir: string, role: string): CertFiles {
  const f = clientCertFiles(dir, role);
  if (!existsSync(f.cert) || !existsSync(f.key)) issue(dir, f, { cn: `zs-${role}`, usage: "client" });
  return f;
}

/** PEM texts of a certificate, its key and the CA (what a creds file carries). */
export function pemsOf(f: CertFiles): { ca: string; cert: string; key: string } {
  return { ca: readFileSync(f.ca, "utf8"), cert: readFileSync(f.cert, "utf8"), key: readFileSync(f.key, "utf8") };
}

/** The `tls {}` block of a nats-server listener: this certificate, clients must present one of the CA. */
export function tlsBlock(f: CertFiles, indent = ""): string {
  const q = JSON.stringify;
  return [`${indent}tls {`, `${indent}  cert_file: ${q(f.cert)}`, `${indent}  key_file: ${q(f.key)}`, `${indent}  ca_file: ${q(f.ca)}`,
    `${indent}  verify: true`, `${indent}  timeout: 5`, `${indent}}`].join("\n");
}

/**
 * Hostname verification for a client of the cluster. nats.js gives Node's TLS the server's name only
 * when the URL names a host (nats://n1.example:4222); for an address (nats://10.0.0.2:4222) it gives
 * none, and Node then checks the certificate against "localhost", which every node's certificate
 * carries: any node could stand in for any address. This check uses the name when there is one and
 * otherwise the address actually connected (Node calls it as a method of the connection's options,
 * which hold the socket nats.js upgrades).
 */
export function verifyPeerName(this: { servername?: string; host?: string; socket?: Socket } | undefined, hostname: string, cert: PeerCertificate): Error | undefined {
  const name = this?.servername || this?.host || this?.socket?.remoteAddress || hostname;
  return checkServerIdentity(name.startsWith("::ffff:") ? name.slice(7) : name, cert);
}
