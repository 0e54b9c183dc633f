// The reward consumer process: one durable pull consumer on every run's GroupSampled, shared by any
// number of processes (competing consumers). Each group is scored with its run's reward function in
// the bounded pool and published as one GroupScored (deterministic msgID); the message is acked only
// after the publish is acknowledged; slow groups call working(); poison is dead-lettered.
import { hostname } from "node:os";
import type { Logger } from "pino";
import type { RunConfig } from "../../streams/config.ts";
import type { EventLog } from "../../streams/eventlog.ts";
import { failpoint } from "../../streams/failpoint.ts";
import { childLogger } from "../../streams/logger.ts";
import { RunContexts } from "../../loaders/runctx.ts";
import { LOG_STREAM } from "../../streams/subjects.ts";
import { ScorerPool } from "../../compute/scoring/pool.ts";
import { groupScoredOf, poolSettingsOf, rewardSpecOf } from "../../domain/reward/spec.ts";

export const REWARD_DURABLE = "reward";

export type RewardConsumerOptions = {
  signal: AbortSignal; name?: string;
  poolSize?: number;                    // verdict threads per run's pool (default: the run's reward.workers)
  maxInFlight?: number; log?: Logger; ackWaitMs?: number;
};

export async function runRewardConsumer(log: EventLog, o: RewardConsumerOptions): Promise<{ groups: number }> {
  const name = o.name ?? `reward@${hostname()}:${process.pid}`;
  const lg = o.log ?? childLogger({ role: "reward", worker: name });
  const contexts = new RunContexts(log);
  // one time-limited pool per (time limit, size): the runs on a server may ask for different ones
  const pools = new Map<string, ScorerPool>();
  const poolFor = (cfg: RunConfig) => {
    const { size, timeoutMs } = poolSettingsOf(cfg, o.poolSize);
    let p = pools.get(`${timeoutMs}|${size}`);
    if (!p) { p = new ScorerPool({ size, timeoutMs }); pools.set(`${timeoutMs}|${size}`, p); }
    return p;
  };
  let groups = 0;
  try {
    await log.consume({
      stream: LOG_STREAM, durable: REWARD_DURABLE, filterSubject: "zs.*.rollout", types: ["GroupSampled"],
      ackWaitMs: o.ackWaitMs ?? 30_000, maxDeliver: 8, maxInFlight: o.maxInFlight ?? 4, signal: o.signal, log: lg,
    }, async (g) => {
      const t0 = performance.now();
      const rc = await contexts.get(g.runId);
      const spec = rewardSpecOf(rc.config);
      const pool = poolFor(rc.config);
      const results = await pool.scoreMany(g.samples.map((s) => ({ kind: "response" as const, text: s.text, gold: g.gold, spec })));
      failpoint("reward.before-publish", g.step);
      await log.publish(groupScoredOf(g, spec, results, name, performance.now() - t0));
      failpoint("reward.before-ack", g.step);
      groups++;
    });
  } finally {
    await Promise.all([...pools.values()].map((p) => p.close()));
  }
  lg.info({ groups }, "reward consumer stopped");
  return { groups };
}
