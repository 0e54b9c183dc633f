// The local nats-server launcher: starts healthy with JetStream and max_payload 8 MB on 127.0.0.1,
// keeps a named store across restarts, stops by PID, fails clearly when the binary is missing or the
// port is taken, dies with the process that started it (SIGKILL, a segfault), and refuses a second
// server on a store that one runs on.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { connect } from "@nats-io/transport-node";
import { NatsServerNotFoundError, PortInUseError, StoreInUseError } from "../../streams/errors.ts";
import { EventLog } from "../../streams/eventlog.ts";
import { freePort, runningServer, startLocalServer } from "../../streams/nats-server.ts";
import { groupSampled } from "../helpers/events.ts";

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts test/helpers/hold-server.ts, returns its child and the server's PID once it is healthy. */
async function holder(...args: string[]) {
  const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "..", "helpers", "hold-server.ts"), ...args], { stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = "";
    child.stdout!.on("data", (d) => { buf += d; if (buf.includes("\n")) resolve(buf.split("\n")[0]); });
    child.once("exit", (code) => reject(new Error(`holder exited with ${code} before starting its server`)));
  });
  const { pid, tethered } = JSON.parse(line) as { pid: number; tethered: boolean };
  return { child, pid, tethered };
}

async function goneWithin(pid: number, ms: number): Promise<number> {
  const t0 = Date.now();
  while (alive(pid)) {
    if (Date.now() - t0 > ms) {
      process.kill(pid, "SIGKILL"); // leave nothing behind, then fail
      assert.fail(`nats-server ${pid} still alive ${ms} ms after its parent died`);
    }
    await sleep(20);
  }
  return Date.now() - t0;
}

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

  for (const [how, args] of [["SIGKILL", []], ["a segfault", ["segv"]]] as const) {
    it(`dies with the process that started it, even by ${how}`, async () => {
      const h = await holder(...args);
      assert.equal(h.tethered, true, "setpriv --pdeathsig is available on this machine");
      assert.equal(readFileSync(`/proc/${h.pid}/comm`, "utf8").trim(), "nats-server", "the PID is the server's own");
      if (how === "SIGKILL") h.child.kill("SIGKILL");
      const sig = await new Promise((r) => h.child.once("exit", (_c, s) => r(s)));
      assert.equal(sig, how === "SIGKILL" ? "SIGKILL" : "SIGSEGV");
      const ms = await goneWithin(h.pid, 5000);
      process.stdout.write(`# nats-server gone ${ms} ms after its parent died by ${how}\n`);
    });
  }

  it("records itself on a named store; a second server on the same store is refused", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zs-store-"));
    try {
      const s = await startLocalServer({ storeDir: dir });
      try {
        assert.deepEqual(await runningServer(dir), { pid: s.pid, url: s.url, httpPort: s.httpPort });
        await assert.rejects(startLocalServer({ storeDir: dir }), (e: Error) => e instanceof StoreInUseError && e.message.includes(String(s.pid)));
      } finally {
        await s.stop();
      }
      assert.equal(await runningServer(dir), null);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
