// The cluster across hosts, on one machine: five network namespaces (three node hosts, one host of
// workers, a switch between them), addresses inside the namespaces only. The first host's directory
// (here, outside every namespace) is made by `cluster init --hosts`; each other host gets only what
// `cluster bundle` gives it: a node host its node's certificate and key, auth.conf and the CA
// certificate; the workers' host the creds of its roles. The nodes form an R3 JetStream cluster over
// TLS routes; the workers' host runs the updater, generators and reward consumers with `cluster join`.
// A tiny run finishes there undisturbed (the reference); then a second run of the same config, during
// which the JetStream meta leader's host loses its link (link down) for a while and gets it back: it
// finishes with no group lost or applied twice (the audit), and the same weights digest after every
// step as the undisturbed run. If namespaces cannot be made (not root, no iproute2) the test fails
// and says why: CI runs as root.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { alive, readState } from "../../cli/cluster/layout.ts";
import { tinyConfig, writeConfig } from "../helpers/tiny.ts";
import { cli, sleep } from "./harness.ts";
import { createLab, cut, destroyLab, inNs, netnsUnavailable, restore, type NetHost, type NetLab } from "./netns.ts";

const root = join(import.meta.dirname, "..", "..");
const bin = join(root, "cli", "bin.mjs");
const STEPS = 16;
const PER_STEP = 4;

type Status = { running: boolean; errors?: string[]; workers?: unknown[]; servers: { name: string; healthy: boolean; metaLeader?: string }[]; run?: { runId: string; status?: string; steps: number } };

describe("cluster across network namespaces (3 node hosts, 1 workers' host, TLS, nkeys)", () => {
  let lab: NetLab | undefined;
  const why = netnsUnavailable();
  const first = mkdtempSync(join(tmpdir(), "zs-netns-"));
  const dirs = new Map<string, string>(); // host -> its directory (a bundle)
  const config = writeConfig(tinyConfig({ actor: { global_batch_size: PER_STEP, micro_batch_size: 8, train_iters: STEPS, lr: 1e-3, weight_decay: 0.1 } }));
  const host = (n: string): NetHost => lab!.hosts.get(n)!;
  const zs = (h: string, args: string[], ms?: number) => inNs(host(h), [process.execPath, bin, ...args], ms);
  let reference: { runId: string; digests: string[] } | undefined;

  before(() => {
    assert.equal(why, undefined, `network namespaces cannot be created here: ${why}`);
    lab = createLab(["n0", "n1", "n2", "w"]);
  });

  after(async () => {
    if (lab) {
      for (const [h, d] of dirs) await zs(h, ["cluster", "down", "--dir", d], 120_000);
      // anything left (a supervisor that could not stop): by PID, from each host's state
      for (const d of dirs.values()) for (const p of [readState(d)?.supervisorPid, ...(readState(d)?.procs ?? []).map((x) => x.pid)]) if (alive(p)) process.kill(p!, "SIGKILL");
      destroyLab(lab);
    }
    if (process.env.ZS_KEEP_NETNS) process.stdout.write(`# kept the hosts' directories (ZS_KEEP_NETNS): ${[first, ...dirs.values()].join(" ")}\n`);
    else {
      rmSync(first, { recursive: true, force: true });
      for (const d of dirs.values()) rmSync(d, { recursive: true, force: true });
    }
  });

  async function status(): Promise<Status> {
    const r = await zs("w", ["cluster", "status", "--json", "--dir", dirs.get("w")!], 60_000);
    // stdout alone: with a node unreachable the command may also say on stderr that it exits with a connect still pending
    try { return JSON.parse(r.stdout) as Status; } catch { throw new Error(`cluster status on the workers' host: ${r.out}`); }
  }

  async function untilCompleted(what: string, ms: number, during?: (s: Status) => Promise<void>): Promise<Status> {
    const end = Date.now() + ms;
    let s: Status | undefined;
    for (;;) {
      s = await status();
      if (s.run?.status === "completed") return s;
      if (during) await during(s);
      // the workers' warnings first: CI shows the start and the end of a long failure, not its middle
      if (Date.now() > end) throw new Error(`${what}: not completed within ${ms} ms; run ${JSON.stringify(s.run)}, workers ${JSON.stringify(s.workers ?? [])}\n${logTails()}\n${await streamViews()}\nlast status ${JSON.stringify(s)}`);
      await sleep(2000);
    }
  }

  // each node's own view of every stream (leaders, replicas), as a cut link can leave them
  async function streamViews(): Promise<string> {
    const r = await inNs(host("w"), [process.execPath, "--import", "tsx", join(root, "test", "cluster", "netns-jsz.ts"), dirs.get("w")!], 60_000);
    return `--- the nodes' views of the streams (${r.code}):\n${r.out}`;
  }

  // what the workers' host logged at warn and above (a failure names its cause, not only the status)
  function logTails(): string {
    const logs = join(dirs.get("w")!, "logs");
    let files: string[] = [];
    try { files = readdirSync(logs).filter((f) => f.endsWith(".log")).sort(); } catch { return `no logs under ${logs}`; }
    return files.map((f) => {
      const lines = readFileSync(join(logs, f), "utf8").split("\n").filter((l) => l.trim() && (!l.startsWith("{") || /"level":(4|5|6)0/.test(l)));
      return `--- ${f}: ${lines.length} warn+ lines, the last 12:\n${lines.slice(-12).map((l) => l.slice(0, 400)).join("\n")}`;
    }).join("\n");
  }

  async function probe(runId: string): Promise<{ audit: string; digests: string[] }> {
    const r = await inNs(host("w"), [process.execPath, "--import", "tsx", join(root, "test", "cluster", "netns-probe.ts"), dirs.get("w")!, runId, String(STEPS), String(PER_STEP)], 120_000);
    const line = r.stdout.trim().split("\n").pop()!;
    try { return JSON.parse(line) as { audit: string; digests: string[] }; } catch { throw new Error(`the probe failed (${r.code}): ${r.out}`); }
  }

  it("the first host makes the cluster; each other host gets a bundle with only what it needs", async () => {
    const hosts = ["n0", "n1", "n2"].map((n) => host(n).addr);
    const init = await cli(["init", "--dir", first, "--hosts", hosts.join(","), "--ack-wait-ms", "4000"]);
    assert.equal(init.code, 0, init.out);
    for (const n of ["n0", "n1", "n2"]) {
      const out = mkdtempSync(join(tmpdir(), `zs-netns-${n}-`));
      rmSync(out, { recursive: true });
      const b = await cli(["bundle", "--dir", first, "--for", n, "--out", out]);
      assert.equal(b.code, 0, b.out);
      assert.match(b.out, new RegExp(`cluster up --dir zs-cluster --here ${n} --rollout 0 --reward 0`));
      dirs.set(n, out);
      const files = readdirSync(out, { recursive: true }).map(String).filter((f) => statSync(join(out, f)).isFile()).sort();
      assert.deepEqual(files, ["auth.conf", "bundle.json", "cluster.json", "tls/ca.pem", `tls/node-${n}-key.pem`, `tls/node-${n}.pem`].sort());
      assert.equal(statSync(join(out, "tls", `node-${n}-key.pem`)).mode & 0o777, 0o600);
    }
    const out = mkdtempSync(join(tmpdir(), "zs-netns-w-"));
    rmSync(out, { recursive: true });
    const b = await cli(["bundle", "--dir", first, "--for", "workers", "--roles", "admin,updater,rollout,reward", "--out", out]);
    assert.equal(b.code, 0, b.out);
    dirs.set("w", out);
    assert.ok(!readdirSync(join(out, "tls")).some((f) => f.includes("key")), "no key file travels to the workers' host but in creds");
    for (const f of readdirSync(join(out, "creds"))) assert.equal(statSync(join(out, "creds", f)).mode & 0o777, 0o600);
    assert.doesNotMatch(readFileSync(join(out, "cluster.json"), "utf8"), /127\.0\.0\.1/);
  });

  it("three nodes in three namespaces form a TLS cluster; the workers' host joins and a tiny run finishes (the reference)", { timeout: 420_000 }, async () => {
    assert.equal(dirs.size, 4, "the bundles were not made");
    const ups = await Promise.all(["n0", "n1", "n2"].map((n) => zs(n, ["cluster", "up", "--dir", dirs.get(n)!, "--here", n, "--rollout", "0", "--reward", "0", "--timeout-s", "180"], 200_000)));
    ups.forEach((u, i) => assert.equal(u.code, 0, `n${i}: ${u.out}`));
    const j = await zs("w", ["cluster", "join", "--dir", dirs.get("w")!, "--config", config, "--rollout", "2", "--reward", "2", "--timeout-s", "180"], 200_000);
    assert.equal(j.code, 0, j.out);
    const s = await untilCompleted("the reference run", 240_000);
    assert.equal(s.servers.filter((x) => x.healthy).length, 3);
    const p = await probe(s.run!.runId);
    assert.equal(p.audit, "clean");
    assert.equal(p.digests.filter(Boolean).length, STEPS);
    reference = { runId: s.run!.runId, digests: p.digests };
    const d = await zs("w", ["cluster", "down", "--dir", dirs.get("w")!], 120_000);
    assert.equal(d.code, 0, d.out);
  });

  it("the meta leader's host loses its link mid-run and gets it back: the run finishes with the reference's digests, the audit clean", { timeout: 480_000 }, async () => {
    assert.ok(reference, "the reference run did not finish");
    const leader = (await status()).servers.find((x) => x.metaLeader)?.metaLeader;
    assert.ok(leader, "no meta leader");
    const victim = leader.replace(/^zs-/, "");
    const j = await zs("w", ["cluster", "join", "--dir", dirs.get("w")!, "--config", config, "--rollout", "2", "--reward", "2", "--timeout-s", "180"], 200_000);
    assert.equal(j.code, 0, j.out);
    // the run is under way (its updater and workers connected): the meta leader's host loses its link
    cut(lab!, victim);
    const cutAt = Date.now();
    let restoredAt = 0;
    // the first status that reads the run after the cut (while a new meta leader is elected, JetStream's API does not answer)
    let during: Status | undefined;
    for (let i = 0; i < 30 && !during?.run; i++) { during = await status(); if (!during.run) await sleep(1000); }
    assert.ok(during?.run && during.run.status !== "completed" && during.run.steps < STEPS, `the run ended before the cut was seen: ${JSON.stringify(during)}`);
    process.stdout.write(`# cut the link of ${victim} (the meta leader) at step ${during.run.steps} or before\n`);
    const s = await untilCompleted("the run with a cut link", 360_000, async (st) => {
      if (!restoredAt && Date.now() - cutAt > 20_000) {
        restore(lab!, victim);
        restoredAt = Date.now();
        process.stdout.write(`# step ${st.run?.steps}: restored the link of ${victim}\n`);
      }
    });
    if (!restoredAt) { restore(lab!, victim); restoredAt = Date.now(); }
    assert.ok(s.run!.steps === STEPS);
    const p = await probe(s.run!.runId);
    assert.equal(p.audit, "clean");
    assert.deepEqual(p.digests, reference!.digests, "the run with a cut link ended on other weights than the undisturbed run");
    process.stdout.write(`# final weights ${p.digests[STEPS - 1]} in both runs; link down ${((restoredAt - cutAt) / 1000).toFixed(0)} s\n`);
    // the cut node is back: every node healthy again
    const end = Date.now() + 60_000;
    while (!(await status()).servers.every((x) => x.healthy)) {
      if (Date.now() > end) throw new Error(`${victim} did not come back healthy`);
      await sleep(2000);
    }
  });
});
