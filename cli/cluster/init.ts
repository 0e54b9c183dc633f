// What a cluster's directory holds before anything runs, and how parts of it travel to other hosts:
//   init    on the first host: the spec, the CA and every certificate (TLS on), one nkey identity per
//           role (creds/<role>.creds, each carrying its client certificate) and auth.conf (public keys);
//   bundle  the files one other host needs and nothing more: a node host gets the spec, auth.conf, the
//           CA certificate and its node's certificate and key (no creds: it runs no client); a worker
//           host gets the spec, the CA certificate and the creds of the roles it runs (no CA key, no
//           other node's key). A bundle directory holds bundle.json, which marks it as not the first host;
//   rotate  a new key for one role: its creds file, auth.conf, and a configuration reload of the local
//           nodes (the other roles' connections are not touched);
//   reload  a configuration reload (SIGHUP) of the nodes running here (after a new auth.conf was copied).
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { authConfPath, credsPath, ensureCreds, rotateKey, ROLES, writeAuthConf, type Creds, type Role } from "./auth.ts";
import { BundleError, ClusterNotRunningError } from "./errors.ts";
import { caFile, caKeyFile, ensureCa, ensureClientCert, ensureNodeCert, nodeCertFiles, pemsOf } from "./pki.ts";
import { alive, ensureSpec, hostOf, listenOf, paths, readJson, readState, writeJsonAtomic, type ClusterSpec, type SpecOptions } from "./layout.ts";

export type BundleInfo = { v: 1; for: string; roles: Role[]; madeAt: string };
export const bundleFile = (dir: string) => join(dir, "bundle.json");
export const isBundle = (dir: string) => existsSync(bundleFile(dir));

/** Creates (or completes) the cluster in `dir` on its first host; idempotent. */
export async function initCluster(dir: string, o: SpecOptions): Promise<ClusterSpec> {
  if (isBundle(dir)) throw new BundleError(`${dir} is a bundle copied from the first host: it cannot issue keys or certificates; run cluster up/join here`);
  const spec = await ensureSpec(dir, o);
  let tls: ((role: Role) => Creds["tls"]) | undefined;
  if (spec.tls) {
    ensureCa(dir);
    for (const n of spec.nodes) ensureNodeCert(dir, { name: n.name, host: hostOf(n), listen: listenOf(n) });
    tls = (role) => pemsOf(ensureClientCert(dir, role));
    for (const r of ROLES) ensureClientCert(dir, r);
  }
  writeAuthConf(dir, ensureCreds(dir, tls));
  return spec;
}

/** Checks that a bundle host has what its nodes and roles need; names what is missing. */
export function checkBundle(dir: string, spec: ClusterSpec, nodes: string[], roles: Role[]): void {
  const need: string[] = [];
  if (nodes.length) need.push(authConfPath(dir));
  if (spec.tls) {
    need.push(caFile(dir));
    for (const n of nodes) need.push(nodeCertFiles(dir, n).cert, nodeCertFiles(dir, n).key);
  }
  for (const r of roles) need.push(credsPath(dir, r));
  const missing = need.filter((f) => !existsSync(f));
  if (missing.length) {
    throw new BundleError(`${dir} lacks ${missing.map((f) => relative(dir, f)).join(", ")}: on the first host, run ` +
      `zerostream cluster bundle --for ${nodes.length ? nodes.join(",") : "workers"}${roles.length ? ` --roles ${roles.join(",")}` : ""} and copy what it prints`);
  }
}

/** Copies files of `fromDir` to the same relative paths under `toDir`, each with its mode (keys and creds stay 0600). */
function copyKeepingModes(fromDir: string, toDir: string, files: string[]): void {
  for (const f of files) {
    const dest = join(toDir, relative(fromDir, f));
    const parent = dirname(dest);
    mkdirSync(parent, { recursive: true, mode: 0o700 });
    chmodSync(parent, statSync(dirname(f)).mode & 0o777);
    copyFileSync(f, dest);
    chmodSync(dest, statSync(f).mode & 0o777);
  }
}

/**
 * Writes into `out` exactly what another host needs: for a node (`forWhat` = a node name), or for
 * workers (`forWhat` = "workers") of the given roles. Returns the relative paths written.
 */
export function bundle(dir: string, forWhat: string, out: string, roles: Role[] = ["rollout", "reward"]): string[] {
  const spec = readJson<ClusterSpec>(paths(dir).spec);
  if (!spec) throw new BundleError(`no cluster in ${dir}: run zerostream cluster init (or up) first`);
  if (isBundle(dir)) throw new BundleError(`${dir} is itself a bundle: make bundles on the first host`);
  if (existsSync(out) && readdirSync(out).length) throw new BundleError(`${out} is not empty: give a new directory`);
  const files = [paths(dir).spec];
  if (forWhat === "workers") {
    for (const r of roles) if (!ROLES.includes(r)) throw new BundleError(`--roles: unknown role '${r}' (roles: ${ROLES.join(", ")})`);
    if (spec.tls) files.push(caFile(dir));
    files.push(...roles.map((r) => credsPath(dir, r)));
  } else {
    if (!spec.nodes.some((n) => n.name === forWhat)) throw new BundleError(`--for ${forWhat}: no such node (the cluster has ${spec.nodes.map((n) => n.name).join(", ")}) and not "workers"`);
    files.push(authConfPath(dir));
    if (spec.tls) files.push(caFile(dir), nodeCertFiles(dir, forWhat).cert, nodeCertFiles(dir, forWhat).key);
    roles = [];
  }
  for (const f of files) if (!existsSync(f)) throw new BundleError(`${f} is missing: run zerostream cluster init (or up) first`);
  if (files.includes(caKeyFile(dir))) throw new BundleError("the CA key never leaves the first host");
  mkdirSync(out, { recursive: true, mode: 0o700 });
  copyKeepingModes(dir, out, files);
  writeJsonAtomic(bundleFile(out), { v: 1, for: forWhat, roles, madeAt: new Date().toISOString() } satisfies BundleInfo);
  return [...files.map((f) => relative(dir, f)), "bundle.json"];
}

/** The pids of the nodes the supervisor in `dir` runs now. */
export function localNodePids(dir: string): { name: string; pid: number }[] {
  const s = readState(dir);
  return (s?.procs ?? []).filter((p) => p.kind === "node" && alive(p.pid)).map((p) => ({ name: p.name, pid: p.pid! }));
}

/** SIGHUP to every node running here: nats-server reloads its configuration (auth.conf among it). */
export function reloadNodes(dir: string): { name: string; pid: number }[] {
  const nodes = localNodePids(dir);
  if (!nodes.length) throw new ClusterNotRunningError(`no node runs from ${dir}: nothing to reload`);
  for (const n of nodes) process.kill(n.pid, "SIGHUP");
  return nodes;
}

/** A new key for `role`: its creds file, auth.conf, and a reload of the nodes running here. */
export function rotate(dir: string, role: Role): { identity: Creds; reloaded: { name: string; pid: number }[] } {
  if (isBundle(dir)) throw new BundleError(`${dir} is a bundle: rotate keys on the first host, then copy the new creds and auth.conf`);
  if (!ROLES.includes(role)) throw new BundleError(`unknown role '${role}' (roles: ${ROLES.join(", ")})`);
  const identity = rotateKey(dir, role);
  writeAuthConf(dir, ensureCreds(dir)); // every role's public key, the rotated one new
  const running = localNodePids(dir);
  for (const n of running) process.kill(n.pid, "SIGHUP");
  return { identity, reloaded: running };
}
