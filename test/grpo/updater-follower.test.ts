// A failing log follower fails the updater: with no workers, the updater requests step 0 and waits for
// groups; when its follower can no longer see the log (the stream deleted under it, its connection
// closed), runUpdater rejects with a FollowerFailedError within a bound instead of waiting for ever.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { startRun } from "../../cli/launch.ts";
import { FollowerFailedError, runUpdater } from "../../consumers/updater/driver.ts";
import { loadConfig } from "../../streams/config.ts";
import { LogFollowError } from "../../streams/errors.ts";
import { LOG_STREAM, TASK_STREAM } from "../../streams/subjects.ts";
import type { EventLog } from "../../streams/eventlog.ts";
import { groupSampled } from "../helpers/events.ts";
import { startBus, type Bus } from "../helpers/nats.ts";
import { tinyConfig, writeConfig } from "../helpers/tiny.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const BOUND_MS = 20_000; // the follower notices a missing stream after two missed heartbeats (≈ 5-8 s)

describe("updater with a failing log follower", () => {
  let bus: Bus;
  const cfg = loadConfig(writeConfig(tinyConfig()));
  beforeEach(async () => { bus = await startBus(); });
  afterEach(async () => { await bus.stop(); });

  /** Starts a run and its updater (no workers: it waits for step 0's groups); resolves once every task of step 0
   * is published, so that what fails next is the follower, not a task publish still in flight. */
  async function waitingUpdater(o: { log?: EventLog; followerStallMs?: number; followerProbeMs?: number } = {}) {
    const { runId } = await startRun(bus.log, cfg);
    const ctl = new AbortController();
    const t0 = Date.now();
    const stepTasks = Math.ceil(cfg.actor.global_batch_size / cfg.rollout.prompts_per_task);
    const updater = runUpdater(o.log ?? bus.log, runId, { signal: ctl.signal, followerStallMs: o.followerStallMs, followerProbeMs: o.followerProbeMs });
    const settled = updater.then(() => "resolved", (e: Error) => e);
    for (;;) {
      const tasks = (await bus.log.jsm.streams.info(TASK_STREAM).catch(() => null))?.state.messages ?? 0;
      if (tasks >= stepTasks) break;
      assert.equal(await Promise.race([settled, sleep(50).then(() => "pending")]), "pending", "the updater ended before requesting step 0");
      if (Date.now() - t0 > 60_000) assert.fail("step 0 was never requested");
    }
    return { ctl, settled, runId };
  }

  async function failsWithin(settled: Promise<unknown>, ctl: AbortController, cause = true): Promise<{ err: Error; ms: number }> {
    const t0 = Date.now();
    const r = await Promise.race([settled, sleep(BOUND_MS).then(() => "timeout")]);
    if (r === "timeout") { ctl.abort(); assert.fail(`the updater still waits ${BOUND_MS} ms after its follower lost the log`); }
    assert.ok(r instanceof FollowerFailedError, `expected a FollowerFailedError, got ${String(r)}`);
    if (cause) assert.ok(r.cause instanceof LogFollowError, `its cause: ${String(r.cause)}`);
    return { err: r, ms: Date.now() - t0 };
  }

  it("rejects when the run-log stream is deleted under it", async () => {
    const { ctl, settled } = await waitingUpdater();
    await bus.log.jsm.streams.delete(LOG_STREAM);
    const { err, ms } = await failsWithin(settled, ctl);
    assert.match(err.message, /step 0 cannot complete: the log follower of run .* failed: the log stream ZS_LOG was deleted/);
    process.stdout.write(`# FollowerFailedError ${ms} ms after the stream was deleted\n`);
  });

  it("rejects when its connection is closed", async () => {
    const { ctl, settled } = await waitingUpdater();
    await bus.log.nc.close();
    const { err, ms } = await failsWithin(settled, ctl);
    assert.match(err.message, /connection is closed/);
    process.stdout.write(`# FollowerFailedError ${ms} ms after the connection closed\n`);
  });

  // A follower that is connected and delivers nothing (an ordered consumer left on a stale server
  // after a partition: heartbeats, no messages) is no error the client sees. The updater compares the
  // log's last event of the run with what reached it; behind for followerStallMs, it fails.
  it("rejects when its follower delivers nothing while the log moves on (a stalled follower)", async () => {
    // the real EventLog, whose follower swallows what it gets: the fault injected, nothing mocked
    const stuck: EventLog = Object.assign(Object.create(bus.log) as EventLog, {
      async *follow(runId: string, fromSeq: number, signal: AbortSignal) {
        for await (const _ of bus.log.follow(runId, fromSeq, signal)) { /* delivered to nobody */ }
      },
    });
    const { ctl, settled, runId } = await waitingUpdater({ log: stuck, followerStallMs: 2000, followerProbeMs: 250 });
    await bus.log.publish(groupSampled(runId, 0, 0)); // a run event past the follower
    const { err, ms } = await failsWithin(settled, ctl, false);
    assert.match(err.message, /the log follower delivered nothing past seq \d+ for \d+ s while the log holds this run's events up to seq \d+/);
    assert.ok(ms >= 2000, `failed after ${ms} ms, before the stall bound`);
    process.stdout.write(`# FollowerFailedError ${ms} ms after an event the follower never delivered\n`);
  });

  it("keeps waiting when its follower delivers what the log holds (no false alarm with the same bounds)", async () => {
    const { ctl, settled, runId } = await waitingUpdater({ followerStallMs: 2000, followerProbeMs: 250 });
    await bus.log.publish(groupSampled(runId, 0, 0));
    assert.equal(await Promise.race([settled, sleep(5000).then(() => "waiting")]), "waiting", "the updater ended while its follower worked");
    ctl.abort();
    assert.equal(await settled, "resolved");
  });
});
