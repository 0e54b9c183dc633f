// Network namespaces for the multi-host cluster test: one namespace per "host", each with one veth
// pair to a bridge in a namespace of its own (the "switch"), addresses 10.<net>.0.<k>/24 inside the
// namespaces only (nothing is added to this machine's own network). `cut`/`restore` take a host's
// link down and up, as a pulled cable would. Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and `ip`.
import { spawn, spawnSync } from "node:child_process";

export type NetHost = { name: string; ns: string; addr: string; veth: string };
export type NetLab = { tag: string; sw: string; hosts: Map<string, NetHost> };

function ip(args: string[]): string {
  const r = spawnSync("ip", args, { encoding: "utf8" });
  if (r.error) throw new Error(`ip (iproute2) is not available: ${r.error.message}; install iproute2 (npm run setup does, as root)`);
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Why network namespaces cannot be made here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return `this test creates network namespaces and must run as root (uid ${process.getuid?.()}); CI runs as root`;
  const probe = `zsprobe${process.pid}`;
  const r = spawnSync("ip", ["netns", "add", probe], { encoding: "utf8" });
  if (r.error) return `ip (iproute2) is not available (${r.error.message}): apt-get install iproute2, or npm run setup as root`;
  if (r.status !== 0) return `ip netns add failed: ${r.stderr.trim()} (a container without CAP_SYS_ADMIN?)`;
  spawnSync("ip", ["netns", "del", probe]);
  return undefined;
}

/** Creates the switch and one namespace per host name, host k at 10.<net>.0.<k+1>. */
export function createLab(names: string[], net = 77): NetLab {
  const tag = `zs${process.pid % 100000}`;
  const sw = `${tag}sw`;
  const lab: NetLab = { tag, sw, hosts: new Map() };
  ip(["netns", "add", sw]);
  ip(["-n", sw, "link", "add", "br0", "type", "bridge"]);
  ip(["-n", sw, "link", "set", "br0", "up"]);
  names.forEach((name, k) => {
    const h: NetHost = { name, ns: `${tag}${name}`, addr: `10.${net}.0.${k + 1}`, veth: `${tag}e${k}` };
    ip(["netns", "add", h.ns]);
    ip(["link", "add", h.veth, "netns", h.ns, "type", "veth", "peer", "name", `${tag}p${k}`, "netns", sw]);
    ip(["-n", sw, "link", "set", `${tag}p${k}`, "master", "br0"]);
    ip(["-n", sw, "link", "set", `${tag}p${k}`, "up"]);
    ip(["-n", h.ns, "addr", "add", `${h.addr}/24`, "dev", h.veth]);
    ip(["-n", h.ns, "link", "set", h.veth, "up"]);
    ip(["-n", h.ns, "link", "set", "lo", "up"]);
    lab.hosts.set(name, h);
  });
  return lab;
}

export function cut(lab: NetLab, name: string): void {
  ip(["-n", lab.hosts.get(name)!.ns, "link", "set", lab.hosts.get(name)!.veth, "down"]);
}

export function restore(lab: NetLab, name: string): void {
  ip(["-n", lab.hosts.get(name)!.ns, "link", "set", lab.hosts.get(name)!.veth, "up"]);
}

/** Removes every namespace of the lab (processes still inside keep theirs until they exit). */
export function destroyLab(lab: NetLab): void {
  for (const h of lab.hosts.values()) spawnSync("ip", ["netns", "del", h.ns]);
  spawnSync("ip", ["netns", "del", lab.sw]);
}

/** Runs a command inside a host's namespace; resolves with its exit code and output. */
/** `out`: stdout and stderr as they came; `stdout`: stdout alone (what a --json command prints). */
export function inNs(h: NetHost, cmd: string[], timeoutMs = 240_000, env: Record<string, string> = {}): Promise<{ code: number | null; out: string; stdout: string }> {
  return new Promise((resolve) => {
    const c = spawn("ip", ["netns", "exec", h.ns, ...cmd], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ZS_SETUP_QUIET: "1", ...env } });
    let out = "", stdout = "";
    c.stdout!.on("data", (d: Buffer) => { out += d.toString(); stdout += d.toString(); });
    c.stderr!.on("data", (d: Buffer) => { out += d.toString(); });
    const t = setTimeout(() => c.kill("SIGKILL"), timeoutMs);
    c.once("exit", (code) => { clearTimeout(t); resolve({ code, out, stdout }); });
  });
}
