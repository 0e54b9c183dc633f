// The supervisor's start retries its idempotent JetStream calls on transient bus errors (a cluster that has
// just formed times out its first requests: the fresh-clone CI's chaos test once failed to start its second
// cluster so). Real errors of a real nats-server: no responders, a request timeout.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { retryTransient } from "../../cli/cluster/supervisor.ts";
import { startBus, uniqueRunId, type Bus } from "../helpers/nats.ts";

describe("supervisor start: retryTransient", () => {
  let bus: Bus;
  before(async () => { bus = await startBus(); });
  after(async () => { await bus?.stop(); });
  const warnings: object[] = [];
  const lg = { warn: (o: object) => { warnings.push(o); } };

  it("runs again through transient bus errors and returns the result", async () => {
    warnings.length = 0;
    let calls = 0;
    const sub = bus.log.nc.subscribe(`silent.${uniqueRunId()}`);   // subscribed, never answers: a request timeout
    const out = await retryTransient("a start", async () => {
      calls++;
      if (calls === 1) await bus.log.nc.request(`nobody.answers.${uniqueRunId()}`, undefined, { timeout: 300 });   // no responders
      if (calls === 2) await bus.log.nc.request(sub.getSubject(), undefined, { timeout: 200, noMux: true });         // timeout
      return "started";
    }, 60_000, lg);
    sub.unsubscribe();
    assert.equal(out, "started");
    assert.equal(calls, 3);
    assert.equal(warnings.length, 2);
  });

  it("does not retry an error of its own, and gives up past its deadline", async () => {
    let calls = 0;
    await assert.rejects(retryTransient("a start", async () => { calls++; throw new Error("config refused: timeout in the name only"); }, 60_000, lg), /config refused/);
    assert.equal(calls, 1);
    calls = 0;
    const t0 = Date.now();
    await assert.rejects(retryTransient("a start", async () => { calls++; await bus.log.nc.request(`nobody.answers.${uniqueRunId()}`, undefined, { timeout: 300 }); }, 1_000, lg), /no responders/i);
    assert.ok(calls >= 2 && Date.now() - t0 < 10_000, `${calls} calls in ${Date.now() - t0} ms`);
  });
});
