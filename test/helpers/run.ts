// One tiny run on its own nats-server for a describe block (node:test before/after hooks), and typed views of
// its events: the shape of the e2e tests that run a config once and then check the log it left.
import { after, before } from "node:test";
import { runConfig } from "../../cli/commands/run.ts";
import type { GroupSampled, PolicyUpdated, RunStarted, ZsEvent } from "../../streams/events/index.ts";
import { startBus, type Bus } from "./nats.ts";

export type Replayed = Awaited<ReturnType<Bus["log"]["replayAll"]>>;
type Ev = { event: ZsEvent }[];
export const updatesOf = (events: Ev) => events.map((e) => e.event).filter((e): e is PolicyUpdated => e.type === "PolicyUpdated");
export const groupsOf = (events: Ev) => events.map((e) => e.event).filter((e): e is GroupSampled => e.type === "GroupSampled");
export const startedOf = (events: Ev) => events.map((e) => e.event).find((e): e is RunStarted => e.type === "RunStarted")!;

/** Runs the config file once on a fresh nats-server before the block's tests (1 generator, 1 reward consumer by
 * default); the returned object holds the bus, the run id and its events once they exist. */
export function runOnFreshBus(file: string, o: { rollout?: number; reward?: number } = {}): { bus: Bus; runId: string; events: Replayed } {
  const ctx = {} as { bus: Bus; runId: string; events: Replayed };
  before(async () => {
    ctx.bus = await startBus();
    ctx.runId = (await runConfig({ file, server: ctx.bus.server.url, rollout: o.rollout ?? 1, reward: o.reward ?? 1, quiet: true })).runId;
    ctx.events = await ctx.bus.log.replayAll(ctx.runId);
  }, { timeout: 300_000 });
  after(async () => { await ctx.bus?.stop(); });
  return ctx;
}
