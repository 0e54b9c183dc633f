// Least-privilege access: a real nats-server with the cluster's generated `authorization` block. Each
// role publishes what it must and is refused (a permissions violation) what it must not; a client
// without credentials is refused; creds files are 0600 and refused when others can read them.
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { authConfig, connectAuth, credsPath, ensureCreds, readCreds, writeSecret, ROLES, type Creds, type Role } from "../../cli/cluster/auth.ts";
import { CredsFileError } from "../../cli/cluster/errors.ts";
import { EventLog } from "../../streams/eventlog.ts";
import { startLocalServer, type LocalServer } from "../../streams/nats-server.ts";

describe("cluster access: users and permissions", () => {
  let dir: string;
  let server: LocalServer;
  let creds: Record<Role, Creds>;
  const conns = new Map<Role, NatsConnection>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "zs-access-"));
    creds = ensureCreds(dir);
    const store = join(dir, "n0");
    mkdirSync(store);
    writeSecret(join(store, "auth.conf"), authConfig(creds));
    server = await startLocalServer({ storeDir: store, extraConfig: `include "auth.conf"\n` });
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

  it("refuses a client without credentials or with a wrong password", async () => {
    await assert.rejects(connect({ servers: server.url, maxReconnectAttempts: 0 }), /Authorization Violation/i);
    await assert.rejects(connect({ servers: server.url, user: creds.reward.user, pass: "wrong", maxReconnectAttempts: 0 }), /Authorization Violation/i);
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
