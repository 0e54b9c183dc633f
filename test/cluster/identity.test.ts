// TLS and key-based identities at the edge of a node configured as `cluster up` configures one (the
// CA, the node's certificate and the roles' identities made by initCluster; a real nats-server): a
// plaintext client, a client certificate of another CA, an expired client certificate, a client that
// does not trust the cluster's CA, a name the node's certificate does not carry: each refused, and the
// node says why in its log. Then one role's key is rotated with the node running: that role's
// connection is dropped by the configuration reload and comes back with the new key (read again from
// its creds file), the old key is refused, the other roles' connections are not touched, and the node
// keeps its PID.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fromSeed } from "@nats-io/nkeys";
import { connect, nkeyAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { connectAuth, credsPath, readCreds, ROLES, type Creds, type Role } from "../../cli/cluster/auth.ts";
import { bundle, initCluster, rotate } from "../../cli/cluster/init.ts";
import { clusterAccess } from "../../cli/cluster/connect.ts";
import { writeJsonAtomic, paths } from "../../cli/cluster/layout.ts";
import { caFile, ensureCa, issue, nodeCertFiles, pemsOf, tlsBlock, type CertFiles } from "../../cli/cluster/pki.ts";
import { startLocalServer, type LocalServer } from "../../streams/nats-server.ts";
import { sleep, waitFor } from "./harness.ts";

describe("cluster identity: TLS with client certificates, nkeys, key rotation", () => {
  let dir: string;
  let server: LocalServer;
  let creds: Record<Role, Creds>;
  let url: string;
  const quick = { maxReconnectAttempts: 0, timeout: 4000 } as const;
  const logText = () => readFileSync(join(paths(dir).node("n0"), "nats-server.log"), "utf8");

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "zs-identity-"));
    // one node, reached as 127.0.0.1, bound to every address (so that 127.0.0.2 reaches it under a name its certificate lacks)
    const spec = await initCluster(dir, { nodes: 1, hosts: ["127.0.0.1"], listen: ["0.0.0.0"], basePort: 20000 + Math.floor(Math.random() * 20000) });
    assert.equal(spec.tls, true);
    creds = Object.fromEntries(ROLES.map((r) => [r, readCreds(credsPath(dir, r))])) as Record<Role, Creds>;
    const n = spec.nodes[0];
    mkdirSync(paths(dir).node("n0"), { recursive: true });
    server = await startLocalServer({
      port: n.port, httpPort: n.httpPort, host: "0.0.0.0", advertise: "127.0.0.1", storeDir: paths(dir).node("n0"), logFile: join(paths(dir).node("n0"), "nats-server.log"),
      tls: { block: tlsBlock(nodeCertFiles(dir, "n0")), ca: readFileSync(caFile(dir), "utf8") }, extraConfig: `include "../../auth.conf"\n`,
    });
    url = `nats://127.0.0.1:${n.port}`;
    writeJsonAtomic(paths(dir).state, { v: 1, procs: [{ name: "n0", kind: "node", role: "nats", pid: server.pid }] }); // as the supervisor records it: rotate reloads it
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a role's creds carry its identity and certificate and connect over TLS", async () => {
    const nc = await connect({ servers: url, ...connectAuth(credsPath(dir, "reward")), ...quick });
    try {
      const info = (nc as unknown as { protocol: { info: { tls_required?: boolean; tls_verify?: boolean } } }).protocol.info;
      assert.equal(info.tls_required, true);
      assert.equal(info.tls_verify, true);
      await nc.flush();
    } finally { await nc.close(); }
    assert.equal(statSync(credsPath(dir, "reward")).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, "tls", "ca-key.pem")).mode & 0o777, 0o600);
  });

  it("worker --cluster DIR: the cluster's servers and the role's creds; a directory without them is refused by name", async () => {
    const a = clusterAccess(dir, "rollout");
    assert.equal(a.server, url);
    assert.equal(a.creds, credsPath(dir, "rollout"));
    const bundleDir = mkdtempSync(join(tmpdir(), "zs-bundle-"));
    try {
      rmSync(bundleDir, { recursive: true });
      bundle(dir, "workers", bundleDir, ["reward"]);
      assert.throws(() => clusterAccess(bundleDir, "rollout"), /holds no creds for rollout: on the first host, cluster bundle --for workers --roles rollout/);
      const nc = await connect({ servers: clusterAccess(bundleDir, "reward").server, ...connectAuth(clusterAccess(bundleDir, "reward").creds), ...quick });
      await nc.close();
      assert.throws(() => rotate(bundleDir, "reward"), /is a bundle/);
    } finally { rmSync(bundleDir, { recursive: true, force: true }); }
  });

  it("refuses a plaintext client: the node requires TLS before any protocol", async () => {
    const port = Number(new URL(url).port);
    const text = await new Promise<string>((resolve) => {
      const s = tcpConnect(port, "127.0.0.1");
      let got = "";
      s.on("data", (d) => {
        got += d.toString("latin1");
        if (got.includes("\r\n") && !got.includes("CONNECT-SENT")) {
          got += "CONNECT-SENT";
          s.write(`CONNECT {"verbose":false,"pedantic":false,"nkey":"${creds.reward.nkey}"}\r\nPUB zs.r1.reward 1\r\nx\r\nPING\r\n`);
        }
      });
      s.on("close", () => resolve(got));
      s.on("error", () => resolve(got));
      setTimeout(() => { s.destroy(); resolve(got); }, 8000).unref();
    });
    assert.match(text, /"tls_required":true/);
    assert.doesNotMatch(text, /PONG|\+OK/, "a plaintext client got an answer");
    await waitFor("the node's log to name the refused handshake", () => (/TLS handshake error/.test(logText()) ? true : undefined), 5000);
    // and nats.js told not to use TLS refuses to go on
    await assert.rejects(connect({ servers: url, tls: null, authenticator: nkeyAuthenticator(new TextEncoder().encode(creds.reward.seed)), ...quick }));
  });

  it("refuses a client certificate of another CA and an expired certificate of this CA", async () => {
    const other = mkdtempSync(join(tmpdir(), "zs-otherca-"));
    try {
      ensureCa(other, { cn: "not the cluster's CA" });
      const foreign: CertFiles = { cert: join(other, "tls", "c.pem"), key: join(other, "tls", "c-key.pem"), ca: caFile(other) };
      issue(other, foreign, { cn: "zs-reward", usage: "client" });
      const expired: CertFiles = { cert: join(other, "tls", "e.pem"), key: join(other, "tls", "e-key.pem"), ca: caFile(dir) };
      issue(dir, expired, { cn: "zs-reward", usage: "client", days: -1 });
      const auth = { authenticator: nkeyAuthenticator(new TextEncoder().encode(creds.reward.seed)) };
      const ca = readFileSync(caFile(dir), "utf8");
      const f = pemsOf(foreign), e = pemsOf(expired);
      await assert.rejects(connect({ servers: url, ...auth, tls: { ca, cert: f.cert, key: f.key }, ...quick }));
      await waitFor("the node to log the unknown authority", () => (/certificate signed by unknown authority/.test(logText()) ? true : undefined), 5000);
      await assert.rejects(connect({ servers: url, ...auth, tls: { ca, cert: e.cert, key: e.key }, ...quick }));
      await waitFor("the node to log the expired certificate", () => (/certificate has expired/.test(logText()) ? true : undefined), 5000);
      // with no client certificate at all
      await assert.rejects(connect({ servers: url, ...auth, tls: { ca }, ...quick }));
      await waitFor("the node to log the missing certificate", () => (/didn't provide a certificate/.test(logText()) ? true : undefined), 5000);
    } finally { rmSync(other, { recursive: true, force: true }); }
  });

  it("a client refuses a node whose certificate it cannot verify: another CA, or a name the certificate lacks", async () => {
    const good = connectAuth(credsPath(dir, "reward"));
    const other = mkdtempSync(join(tmpdir(), "zs-otherca-"));
    try {
      const foreignCa = readFileSync(ensureCa(other), "utf8");
      const tls = { ...(good.tls as object), ca: foreignCa };
      await assert.rejects(connect({ servers: url, ...good, tls, ...quick }), /self.signed|unable to verify|certificate/i);
    } finally { rmSync(other, { recursive: true, force: true }); }
    const port = new URL(url).port;
    await assert.rejects(connect({ servers: `nats://127.0.0.2:${port}`, ...good, ...quick }), /IP: 127\.0\.0\.2 is not in the cert's list|altnames/i);
  });

  it("rotates one role's key with the node running: only that role reconnects, with the new key; the old key is refused", async () => {
    const conns = new Map<Role, NatsConnection>();
    const events = new Map<Role, string[]>();
    for (const role of ROLES) {
      const nc = await connect({ servers: url, ...connectAuth(credsPath(dir, role)), name: `zerostream-${role}/rot`, reconnectTimeWait: 100 });
      conns.set(role, nc);
      events.set(role, []);
      void (async () => { for await (const s of nc.status()) events.get(role)!.push(s.type); })();
    }
    try {
      const oldSeed = creds.reward.seed;
      const r = rotate(dir, "reward");
      assert.deepEqual(r.reloaded, [{ name: "n0", pid: server.pid }]);
      assert.notEqual(r.identity.seed, oldSeed);
      assert.equal(fromSeed(new TextEncoder().encode(r.identity.seed)).getPublicKey(), r.identity.nkey);
      const conf = readFileSync(join(dir, "auth.conf"), "utf8");
      assert.ok(conf.includes(r.identity.nkey) && !conf.includes(creds.reward.nkey), "auth.conf names the new key only");
      await waitFor("the reward connection to come back", () => (events.get("reward")!.includes("reconnect") ? true : undefined), 15_000);
      await conns.get("reward")!.flush();
      await sleep(500);
      for (const role of ["admin", "updater", "rollout"] as const) {
        assert.deepEqual(events.get(role)!.filter((t) => t === "disconnect" || t === "reconnect"), [], `${role} was disconnected`);
        await conns.get(role)!.flush();
      }
      await assert.rejects(connect({ servers: url, tls: creds.reward.tls, authenticator: nkeyAuthenticator(new TextEncoder().encode(oldSeed)), ...quick }), /Authorization Violation/i);
      const fresh = await connect({ servers: url, ...connectAuth(credsPath(dir, "reward")), ...quick });
      await fresh.close();
      assert.ok(process.kill(server.pid, 0), "the node kept running");
      assert.match(logText(), /Reloaded: authorization/);
    } finally {
      for (const c of conns.values()) await c.close();
    }
  });
});
