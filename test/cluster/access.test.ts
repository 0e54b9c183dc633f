// Least-privilege access: a real nats-server with the cluster's generated `authorization` block (nkeys:
// public keys only) and TLS with client certificates, as `cluster up` configures a node. Each
// role publishes what it must and is refused (a permissions violation) what it must not; a client
// without credentials is refused; creds files are 0600 and refused when others can read them. Every
// role that reads weights reads an object larger than JetStream's flow-control window (an object read is
// an ordered push consumer with flow control: its replies go to $JS.FC.<stream>.<consumer>.<id>).
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { connectAuth, credsPath, ensureCreds, readCreds, writeAuthConf, ROLES, type Creds, type Role } from "../../cli/cluster/auth.ts";
import { ensureCa, ensureClientCert, ensureNodeCert, pemsOf, tlsBlock } from "../../cli/cluster/pki.ts";
import { createUser } from "@nats-io/nkeys";
import { nkeyAuthenticator } from "@nats-io/transport-node";
import { readFileSync } from "node:fs";
import { CredsFileError } from "../../cli/cluster/errors.ts";
import { watchAsyncErrors } from "../../cli/cluster/watch.ts";
import { startRun } from "../../cli/launch.ts";
import { loadConfig } from "../../streams/config.ts";
import { EventLog } from "../../streams/eventlog.ts";
import { tinyConfig, writeConfig } from "../helpers/tiny.ts";
import { startLocalServer, type LocalServer } from "../../streams/nats-server.ts";

describe("cluster access: users and permissions", () => {
  let dir: string;
  let server: LocalServer;
  let creds: Record<Role, Creds>;
  const conns = new Map<Role, NatsConnection>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "zs-access-"));
    const ca = readFileSync(ensureCa(dir), "utf8");
    const certs = ensureNodeCert(dir, { name: "n0", host: "127.0.0.1", listen: "127.0.0.1" });
    creds = ensureCreds(dir, (role) => pemsOf(ensureClientCert(dir, role)));
    writeAuthConf(dir, creds);
    const store = join(dir, "nodes", "n0");
    mkdirSync(store, { recursive: true });
    server = await startLocalServer({ storeDir: store, tls: { block: tlsBlock(certs), ca }, extraConfig: `include "../../auth.conf"\n` });
    (await EventLog.connect(server.url, connectAuth(credsPath(dir, "admin")))).close(); // topology, as cluster up does
    for (const role of ROLES) conns.set(role, await connect({ servers: server.url, ...connectAuth(credsPath(dir, role)) }));
  });
  after(async () => {
    for (const c of conns.values()) await c.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function pub(role: Role, subject: string): Promise<void> {
    await jetstream(conns.get(role)!).publish(subject, "x", { timeout: 5000 });
  }
  const refused = /Permissions Violation for Publish/;

  it("a reward consumer publishes rewards and is refused a policy update", async () => {
    await pub("reward", "zs.r1.reward");
    await assert.rejects(pub("reward", "zs.r1.policy"), refused);
    await assert.rejects(pub("reward", "zst.r1"), refused);
    await assert.rejects(pub("reward", "zs.r1.rollout"), refused);
  });

  it("a generator publishes rollouts and is refused rewards and policy updates", async () => {
    await pub("rollout", "zs.r1.rollout");
    await assert.rejects(pub("rollout", "zs.r1.reward"), refused);
    await assert.rejects(pub("rollout", "zs.r1.policy"), refused);
  });

  it("the updater publishes tasks, policy and run events, and is refused rollouts and rewards", async () => {
    await pub("updater", "zst.r1");
    await pub("updater", "zs.r1.policy");
    await pub("updater", "zs.r1.run");
    await assert.rejects(pub("updater", "zs.r1.reward"), refused);
    await assert.rejects(pub("updater", "zs.r1.rollout"), refused);
  });

  it("no worker role may delete or purge the run log; the admin may read everything", async () => {
    for (const role of ["reward", "rollout", "updater"] as const) {
      const jsm = await jetstreamManager(conns.get(role)!, { timeout: 5000 });
      await assert.rejects(jsm.streams.delete("ZS_LOG"), /Permissions Violation/);
      await assert.rejects(jsm.streams.purge("ZS_LOG"), /Permissions Violation/);
      assert.equal((await jsm.streams.info("ZS_LOG")).config.name, "ZS_LOG"); // reading is allowed
    }
    const admin = await jetstreamManager(conns.get("admin")!);
    assert.equal((await admin.streams.info("ZS_LOG")).state.messages, 4); // the four allowed publishes above
  });

  it("the updater, a generator and the admin read a 6 MiB object, whole or chunked (past the flow-control window); a reward consumer may not answer flow control", async () => {
    const logs = new Map<Role, EventLog>();
    for (const role of ROLES) logs.set(role, await EventLog.connect(server.url, { ...connectAuth(credsPath(dir, role)), name: `zerostream-${role}/objects` }));
    try {
      await logs.get("admin")!.weights("r1"); // the admin creates the run's bucket (cluster up → startRun)
      const bytes = new Uint8Array(randomBytes(6 * 2 ** 20));
      const digest = await logs.get("updater")!.putBlob("r1", bytes);
      // the chunked layout (runtime.weights_transport chunked): its names (chunk/…, manifest/…) are base64 in
      // the subjects, so the same permissions; two 4 MiB chunks read at once, each past the window
      const chunked = await logs.get("updater")!.putBlob("r1", bytes.subarray(1), { layout: "chunked" });
      const read = async (role: Role, d = digest) => {
        const log = logs.get(role)!;
        const w = watchAsyncErrors(log.nc);
        const deadline = new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`${role}: the read stalled for 20 s`)), 20_000).unref());
        const got = log.getBlob("r1", d);
        got.catch(() => undefined);
        try { return await Promise.race([got, w.failed, deadline]); } finally { w.stop(); }
      };
      for (const role of ["updater", "rollout", "admin"] as const) assert.equal((await read(role)).length, bytes.length, role);
      for (const role of ["updater", "rollout", "admin"] as const) assert.equal((await read(role, chunked)).length, bytes.length - 1, `${role}, chunked`);
      await assert.rejects(read("reward"), /Permissions Violation for Publish to "\$JS\.FC\.OBJ_zs-weights-r1\./);
    } finally {
      for (const l of logs.values()) await l.nc.close();
    }
  });

  it("flow-control replies: only to object streams, only for the roles that read objects", async () => {
    const noResponders = /no responders|503|jetstream is not enabled/i; // allowed, and nobody listens
    for (const role of ["updater", "rollout"] as const) {
      await assert.rejects(pub(role, "$JS.FC.OBJ_zs-weights-r1.oc_x_1.abcd"), noResponders); 
      for (const s of ["ZS_LOG", "ZS_TASKS", "KV_zs-runs"]) await assert.rejects(pub(role, `$JS.FC.${s}.rollout.abcd`), refused, `${role} ${s}`);
      await assert.rejects(pub(role, "$JS.FC.OBJ_zs-weights-r1.oc_x_1"), refused); // not the shape of a reply
    }
    await assert.rejects(pub("reward", "$JS.FC.OBJ_zs-weights-r1.oc_x_1.abcd"), refused);
  });

  it("a worker whose connection reports a permission violation fails (exit 1, the violation in its output) instead of waiting", async () => {
    // a run whose initial weights (the tiny-r1-zero architecture, 2.4 MB) pass the flow-control window,
    // driven by an updater started with the reward consumer's creds: no flow-control replies allowed
    const arch = { vocab_size: 104, hidden_size: 128, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 384, max_position_embeddings: 160 };
    const cfg = loadConfig(writeConfig(tinyConfig({ model: { name: "tiny-601k", init_seed: 0, arch } })));
    const admin = await EventLog.connect(server.url, connectAuth(credsPath(dir, "admin")));
    const { runId } = await startRun(admin, cfg).finally(() => admin.close());
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [join(import.meta.dirname, "..", "..", "cli", "bin.mjs"), "worker", "updater", "--server", server.url,
      "--creds", credsPath(dir, "reward"), "--run", runId, "--replicas", "1"], { encoding: "utf8", timeout: 30_000, killSignal: "SIGKILL", env: { ...process.env, ZS_LOG_LEVEL: "error" } });
    assert.equal(r.signal, null, `the worker hung until killed after ${Date.now() - t0} ms:\n${r.stderr}`);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /Permissions Violation for Publish to \\?"\$JS\.FC\.OBJ_zs-weights-/);
  });

  it("refuses a client (with a valid certificate) without an identity, with an unknown nkey, or with a password", async () => {
    const tls = creds.reward.tls!;
    await assert.rejects(connect({ servers: server.url, tls, maxReconnectAttempts: 0 }), /Authorization Violation/i);
    await assert.rejects(connect({ servers: server.url, tls, authenticator: nkeyAuthenticator(createUser().getSeed()), maxReconnectAttempts: 0 }), /Authorization Violation/i);
    await assert.rejects(connect({ servers: server.url, tls, user: creds.reward.user, pass: "wrong", maxReconnectAttempts: 0 }), /Authorization Violation/i);
  });

  it("no server file holds a secret: auth.conf and the node's config name public keys only", () => {
    const conf = readFileSync(join(dir, "auth.conf"), "utf8") + readFileSync(server.configFile, "utf8");
    for (const role of ROLES) {
      assert.ok(conf.includes(creds[role].nkey), `${role}'s public key is in auth.conf`);
      assert.ok(!conf.includes(creds[role].seed), `${role}'s seed is in a server file`);
      assert.ok(!conf.includes(creds[role].tls!.key), `${role}'s TLS key is in a server file`);
    }
    assert.doesNotMatch(conf, /password|\bSU[A-Z2-7]{40,}/);
  });

  it("creds files are 0600 in a 0700 directory; a file others can read is refused", () => {
    for (const role of ROLES) assert.equal(statSync(credsPath(dir, role)).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, "creds")).mode & 0o777, 0o700);
    const loose = join(dir, "loose.creds");
    writeFileSync(loose, JSON.stringify(creds.reward));
    chmodSync(loose, 0o644);
    assert.throws(() => readCreds(loose), CredsFileError);
  });
});
