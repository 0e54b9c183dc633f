// A shared durable is a fleet's work queue: its max_ack_pending bounds the messages in flight over
// every worker together, not per worker. It was max(4 × maxInFlight, 16): 16 tasks in flight at once
// however many generators pulled, so a fleet of 100 sampled in waves of 16 (found by `npm run bench --
// scale`, issue 17). Here 24 workers on their own connections, one message each, must all hold one
// at the same time.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { EventLog } from "../../streams/eventlog.ts";
import { LOG_STREAM, subjects } from "../../streams/subjects.ts";
import { groupSampled } from "../helpers/events.ts";
import { startBus, uniqueRunId, type Bus } from "../helpers/nats.ts";

describe("a shared durable with many workers", () => {
  let bus: Bus;
  before(async () => { bus = await startBus(); });
  after(async () => { await bus.stop(); });

  it("hands a message to each of 24 workers at once (maxInFlight 1 each)", { timeout: 120_000 }, async () => {
    const run = uniqueRunId(), workers = 24, durable = `fleet-${run}`;
    for (let i = 0; i < workers; i++) await bus.log.publish(groupSampled(run, 0, i));
    const logs = await Promise.all(Array.from({ length: workers }, () => EventLog.connect(bus.server.url)));
    const ctl = new AbortController();
    let holding = 0, most = 0;
    let release!: () => void;
    const all = new Promise<void>((r) => { release = r; });
    // each handler holds its message until every worker holds one, or 15 s pass (then the fleet was capped)
    const timeout = setTimeout(() => release(), 15_000);
    const loops = logs.map((log) => log.consume({ stream: LOG_STREAM, durable, filterSubject: subjects.rollout(run), types: ["GroupSampled"], ackWaitMs: 30_000, maxInFlight: 1, signal: ctl.signal },
      async () => {
        most = Math.max(most, ++holding);
        if (holding === workers) release();
        await all;
        holding--;
      }));
    await all;
    clearTimeout(timeout);
    ctl.abort();
    await Promise.all(loops);
    await Promise.all(logs.map((l) => l.close()));
    assert.equal(most, workers, `at most ${most} of ${workers} messages were in flight at once`);
    const info = await bus.log.jsm.consumers.info(LOG_STREAM, durable);
    assert.equal(info.num_ack_pending, 0);
  });
});
