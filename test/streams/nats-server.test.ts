// The local nats-server launcher: starts healthy with JetStream and max_payload 8 MB on 127.0.0.1,
// keeps a named store across restarts, stops by PID, and fails clearly when the binary is missing
// or the port is taken.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { connect } from "@nats-io/transport-node";
import { NatsServerNotFoundError, PortInUseError } from "../../streams/errors.ts";
import { EventLog } from "../../streams/eventlog.ts";
import { freePort, startLocalServer } from "../../streams/nats-server.ts";
import { groupSampled } from "../helpers/events.ts";

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

describe("local nats-server", () => {
  it("starts on loopback with JetStream and an 8 MB max_payload, and stops by PID", async () => {
    const s = await startLocalServer();
    try {
      assert.match(s.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
      const nc = await connect({ servers: s.url });
      assert.equal(nc.info?.max_payload, 8 * 1024 * 1024);
      assert.equal(nc.info?.jetstream, true);
      await nc.close();
      const varz = await (await fetch(`http://127.0.0.1:${s.httpPort}/varz`)).json() as { host: string };
      assert.equal(varz.host, "127.0.0.1");
    } finally {
      await s.stop();
    }
    assert.equal(alive(s.pid), false);
  });

  it("keeps a named store directory across a restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zs-store-"));
    try {
      const port = await freePort();
      let s = await startLocalServer({ storeDir: dir, port });
      let log = await EventLog.connect(s.url);
      await log.publish(groupSampled("keep", 0, 0));
      await log.close();
      await s.stop();
      s = await startLocalServer({ storeDir: dir, port });
      log = await EventLog.connect(s.url);
      assert.equal((await log.replayAll("keep")).length, 1);
      await log.close();
      await s.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("says what to do when the binary is missing", async () => {
    const prev = process.env.NATS_SERVER_BIN;
    process.env.NATS_SERVER_BIN = "/nonexistent/nats-server";
    try {
      await assert.rejects(startLocalServer(), (e: Error) =>
        e instanceof NatsServerNotFoundError && /apt-get install nats-server/.test(e.message));
    } finally {
      if (prev === undefined) delete process.env.NATS_SERVER_BIN; else process.env.NATS_SERVER_BIN = prev;
    }
  });

  it("refuses a port that is already taken", async () => {
    const holder = createServer();
    const port = await new Promise<number>((r) => holder.listen(0, "127.0.0.1", () => r((holder.address() as { port: number }).port)));
    try {
      await assert.rejects(startLocalServer({ port }), (e: Error) => e instanceof PortInUseError && e.message.includes(String(port)));
    } finally {
      holder.close();
    }
  });
});
