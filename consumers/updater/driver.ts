// The updater process: a shell around the pure decider of domain/run/decide.ts. It folds the run's log
// into its state (RunView), follows the log, and carries out the decider's commands one at a time:
// publish a step's tasks, run the GRPO update through the native engine and store its weights, publish
// the PolicyUpdated, finish the run. Under a fixed lag (s >= 1) one effect runs beside another: a
// step's snapshot is stored, the tasks sampled by it requested and its PolicyUpdated published while the
// next update computes (`finish`); PolicyUpdated events stay in step order. Its state is folded from
// the log, so a restart at any moment continues from the last PolicyUpdated with no group lost or
// applied twice: groups already in the log are reused, missing ones are requested again under the same
// msgIDs, and the update is a pure function of its inputs. Every failure ends the run loudly (a rejected promise), never a silent wait.
import type { Logger } from "pino";
import { AdamW, Policy, type Qwen2Config } from "../../native/index.ts";
import { frozenDtype, weightsLayout, type RunConfig } from "../../streams/config.ts";
import { runPolicy } from "../../compute/policy.ts";
import { ZeroStreamError } from "../../streams/errors.ts";
import type { EventLog } from "../../streams/eventlog.ts";
import type { PolicyUpdated } from "../../streams/events/index.ts";
import { failpoint } from "../../streams/failpoint.ts";
import { encodeDelta } from "../../streams/weights-delta.ts";
import { sha256 } from "../../streams/weights-store.ts";
import { childLogger } from "../../streams/logger.ts";
import { RunContexts } from "../../loaders/runctx.ts";
import { decide, evolve, initialUpdaterState, stepLimit, type Command, type Input, type UpdaterState } from "../../domain/run/decide.ts";
import { emptyView, type RunView } from "../../domain/run/view.ts";
import { grpoUpdate, isLargeModel } from "../../compute/update.ts";

export class UpdaterError extends ZeroStreamError {}
/** The updater's log follower stopped: it would wait for groups it can no longer see. */
export class FollowerFailedError extends UpdaterError {}
/** A message a step needs was dead-lettered: the step can never complete. */
export class StepDeadLetteredError extends UpdaterError {}

export type StepReport = { event: PolicyUpdated; wallMs: number };
export type UpdaterOptions = {
  signal: AbortSignal;
  steps?: number;                       // stop once this many steps exist (default: actor.train_iters)
  log?: Logger;
  onStep?: (r: StepReport, view: RunView) => void;
  onReady?: (view: RunView) => Promise<void>;                   // awaited once the state is folded, before any step
  afterStep?: (r: StepReport, view: RunView) => Promise<void>;  // awaited before the next publish (periodic evaluation)
  stallWarnMs?: number;
  // the follower is failed when, while the updater waits, the log holds run events past the last one it
  // delivered and it delivers nothing for this long (an ordered consumer left on a stale server after a
  // partition sends heartbeats and no messages): the process exits and a restart replays the log
  followerStallMs?: number;             // default 60 s
  followerProbeMs?: number;             // how often a waiting updater compares (default 10 s)
  // rollout.max_staleness >= 1: store a step's snapshot and publish it while the next update computes
  // (default true); false stores and publishes each step before the next update starts (the same events)
  overlapSnapshot?: boolean;
};

// serving: the current version's BF16 copy, kept while runtime.weights_transport is delta (the next patch's base)
type Engine = { policy: Policy; optimizer: AdamW; reference: Policy | null; serving: { digest: string; bytes: Uint8Array } | null; dispose(): void };

/** The policy and optimizer at the view's last PolicyUpdated (or the start), read by digest; the reference when kl_coef > 0. */
async function loadEngine(log: EventLog, runId: string, view: RunView, cfg: RunConfig, modelConfig: Qwen2Config, lg: Logger): Promise<Engine> {
  const policy = runPolicy(await log.getBlob(runId, view.weightsDigest!), modelConfig, cfg, "trainer");
  const adam = { beta1: cfg.actor.adam_beta1, beta2: cfg.actor.adam_beta2, eps: cfg.actor.adam_eps, weightDecay: cfg.actor.weight_decay };
  // the moments come from the snapshot, the hyperparameters from the run's config (a fork's --set
  // actor.adam_beta2=... takes effect; the next snapshot records the config's values)
  const optimizerBytes = view.optimizerDigest ? await log.getBlob(runId, view.optimizerDigest) : null;
  const optimizer = optimizerBytes ? AdamW.fromBytes(policy, optimizerBytes, adam) : new AdamW(policy, adam);
  if (optimizerBytes) {
    const snap = AdamW.settingsOf(optimizerBytes);
    const changed = (["beta1", "beta2", "eps", "weightDecay"] as const).filter((k) => snap[k] !== Math.fround(adam[k]));   // the engine keeps f32
    if (changed.length) lg.info({ snapshot: Object.fromEntries(changed.map((k) => [k, snap[k]])), config: Object.fromEntries(changed.map((k) => [k, adam[k]])) }, "optimizer settings of the run's config replace the snapshot's");
  }
  const started = view.started!.event;
  // a frozen copy: model.dtype bf16 keeps it in bf16 (rounded on load: half the memory, the same bits as fp32 on the rounded values)
  const reference = cfg.algorithm.kl_coef > 0 ? runPolicy(await log.getBlob(runId, started.referenceWeightsDigest ?? started.initialWeightsDigest), modelConfig, cfg, "frozen") : null;
  const servingDigest = view.serving.get(view.version);
  const serving = cfg.runtime.weights_transport === "delta" && servingDigest ? { digest: servingDigest, bytes: await log.getBlob(runId, servingDigest) } : null;
  return { policy, optimizer, reference, serving, dispose: () => { policy.dispose(); reference?.dispose(); } };
}

/**
 * Runs the update of a step and stores its weights and optimizer; the PolicyUpdated to publish. With
 * `background` the snapshot's bytes are copied and hashed here (the event names them) and `store` puts
 * them while the next update computes (resolving to the milliseconds the put took); nothing may name
 * them before it resolves.
 */
async function computeUpdate(log: EventLog, runId: string, cfg: RunConfig, engine: Engine, c: Extract<Command, { kind: "update" }>, scorer: string, waitMs: number, background: boolean): Promise<{ event: PolicyUpdated; store?: Promise<number> }> {
  const up = await grpoUpdate({ cfg, step: c.step, policy: engine.policy, optimizer: engine.optimizer, reference: engine.reference, groups: c.groups });
  const t1 = performance.now();
  failpoint("updater.before-snapshot", c.step);
  const put = { layout: weightsLayout(cfg) };   // runtime.weights_transport chunked: chunks, those unchanged not stored again
  const mean = (f: (g: Extract<Command, { kind: "update" }>["groups"][number]) => number) => c.groups.reduce((a, g) => a + f(g), 0) / c.groups.length;
  const eventOf = (d: { weightsDigest: string; servingDigest?: string; optimizerDigest: string; servingPatch?: PolicyUpdated["servingPatch"] }): PolicyUpdated => ({
    type: "PolicyUpdated", v: 1, runId, step: c.step, fromVersion: c.version, toVersion: c.version + 1,
    groupIds: c.groupIds, scorer, advantageEstimator: cfg.algorithm.adv_estimator, advantages: up.advantages,
    weightsDigest: d.weightsDigest, ...(d.servingDigest ? { servingDigest: d.servingDigest } : {}), ...(d.servingPatch ? { servingPatch: d.servingPatch } : {}), optimizerDigest: d.optimizerDigest, stats: up.stats,
    timings: { waitMs, sampleMsPerGroup: mean((g) => g.sampled.ms), scoreMsPerGroup: mean((g) => g.scored.ms), ...up.timings, snapshotMs: performance.now() - t1, stepMs: 0 },
    staleness: c.groups.map((g) => c.version - g.sampled.policyVersion),
    ...(cfg.algorithm.dynamic_sampling.enable ? { dropped: c.dropped, fillRounds: c.fillRounds } : {}),
  });
  if (background) {
    // copies: the next update changes the engine's weights and moments while these are stored
    const blobs = [engine.optimizer.toBytes(), engine.policy.toSafetensors("f32"), frozenDtype(cfg) === "bf16" ? engine.policy.toSafetensors("bf16") : null];
    const digests = blobs.map((b) => (b ? sha256(b) : undefined));
    const [optimizerDigest, weightsDigest, servingDigest] = digests;
    const event = eventOf({ weightsDigest: weightsDigest!, servingDigest, optimizerDigest: optimizerDigest! });
    const t2 = performance.now();
    const store = Promise.all(blobs.map((b, i) => (b ? log.putBlob(runId, b, { ...put, digest: digests[i] }) : undefined))).then(() => performance.now() - t2);
    store.catch(() => undefined);   // awaited by the shell; never an unhandled rejection meanwhile
    return { event, store };
  }
  // small models store both at once; a large one (the moments are 8 bytes a parameter: 4 GB at 0.5B)
  // first frees its activations, streams its moments in slices, then stores its weights
  const large = isLargeModel(engine.policy);
  if (large) { engine.policy.releaseBuffers(); engine.reference?.releaseBuffers(); } // gigabytes of activations the snapshot needs
  // model.dtype bf16: the generators' copy too (BF16, rounded to nearest even; half the bytes they read), and
  // under runtime.weights_transport delta that copy as a patch on the previous one
  const servingBytes = frozenDtype(cfg) === "bf16" ? engine.policy.toSafetensors("bf16") : null;
  const [optimizerDigest, weightsDigest, servingDigest] = large
    ? [await log.putSource(runId, engine.optimizer.toSource(), put), await log.putBlob(runId, engine.policy.toSafetensors("f32"), put),
      servingBytes ? await log.putBlob(runId, servingBytes, put) : undefined]
    : await Promise.all([log.putBlob(runId, engine.optimizer.toBytes(), put), log.putBlob(runId, engine.policy.toSafetensors("f32"), put),
      servingBytes ? log.putBlob(runId, servingBytes, put) : undefined]);
  let servingPatch: PolicyUpdated["servingPatch"];
  if (cfg.runtime.weights_transport === "delta" && servingBytes && servingDigest) {
    if (engine.serving) {
      const d = encodeDelta(engine.serving.bytes, servingBytes, { base: engine.serving.digest, target: servingDigest });
      // a patch no smaller than the weights (a large lr moves most bf16 values) is not sent: generators read them whole
      if (d.bytes.length < servingBytes.length) servingPatch = { base: engine.serving.digest, patch: await log.putBlob(runId, d.bytes), bytes: d.bytes.length };
    }
    engine.serving = { digest: servingDigest, bytes: servingBytes };
  }
  return { event: eventOf({ weightsDigest, servingDigest, optimizerDigest, servingPatch }) };
}

export async function runUpdater(log: EventLog, runId: string, o: UpdaterOptions): Promise<RunView> {
  const lg = o.log ?? childLogger({ role: "updater", run: runId });
  const rc = await new RunContexts(log).get(runId);
  const cfg = rc.config;
  let state: UpdaterState = initialUpdaterState(emptyView("pending"));
  const apply = (i: Input) => { state = evolve(state, i); };
  let seen = 0; // the last log sequence of this run that reached the updater (replayed or followed, invalid ones too)
  for await (const r of log.replay(runId)) { apply(r); seen = r.seq; }
  if (state.view.finished) { lg.info({ reason: state.view.finished.event.reason }, "run already finished"); return state.view; }
  const ds = await rc.dataset();
  const ctx = { runId, config: cfg, limit: stepLimit(cfg, o.steps), rowIds: ds.rows.map((r) => r.id), stopTokenIds: rc.tokenizer().stopIds };
  const engine = await loadEngine(log, runId, state.view, cfg, rc.modelConfig, lg);
  lg.info({ step: state.view.step, version: state.view.version, limit: ctx.limit, prompts: ds.rows.length, filteredTooLong: ds.filteredTooLong }, "updater ready");

  // the follower is how this loop sees groups arrive; when it fails, the decider fails the run
  const follow = new AbortController();
  let wake: () => void = () => undefined;
  const changed = () => new Promise<void>((r) => { wake = r; });
  const onAbort = () => { follow.abort(); wake(); };
  o.signal.addEventListener("abort", onAbort, { once: true });
  let followerErr: Error | undefined;     // the cause of a FollowerFailedError (the state keeps its message)
  const follower = (async () => {
    for await (const r of log.follow(runId, state.view.seq + 1, follow.signal, (seq) => { seen = seq; })) { apply(r); wake(); }
  })().catch((err: Error) => {
    if (follow.signal.aborted) return;
    lg.error({ err: err.message }, "log follower failed");
    followerErr = err;
    apply({ type: "FollowerFailed", error: err.message });
    wake();
  });

  let t0 = performance.now(), lastWarn = t0;
  const stallMs = o.followerStallMs ?? 60_000, probeMs = Math.min(o.followerProbeMs ?? 10_000, stallMs);
  let lastProbe = t0;
  let behind: { since: number; seen: number; last: number } | undefined; // the log was ahead of the follower since
  /** While waiting: is the follower stuck behind the log? Applies FollowerFailed once it has been for stallMs. */
  const probeFollower = async () => {
    if (performance.now() - lastProbe < probeMs) return;
    lastProbe = performance.now();
    const last = await log.lastRunSeq(runId).catch(() => undefined); // a cluster in transition: ask again later
    if (last === undefined) return;
    if (last <= seen) { behind = undefined; return; }
    if (!behind || behind.seen !== seen) { behind = { since: lastProbe, seen, last }; return; }
    if (lastProbe - behind.since < stallMs) return;
    const msg = `the log follower delivered nothing past seq ${seen} for ${Math.round((lastProbe - behind.since) / 1000)} s while the log holds this run's events up to seq ${last}`;
    lg.error({ seen, last }, msg);
    apply({ type: "FollowerFailed", error: msg });
  };
  // rollout.max_staleness >= 1: a step's snapshot is stored, the next step's tasks requested and its
  // PolicyUpdated published in the background (`finishing`) while the next update computes; PolicyUpdated
  // events stay in step order. Not for a large model (its snapshot first frees the activations) nor under
  // the delta transport (each patch is taken against the previous stored copy).
  const background = (o.overlapSnapshot ?? true) && cfg.rollout.max_staleness >= 1 && cfg.runtime.weights_transport !== "delta" && !isLargeModel(engine.policy);
  let finishing: { done: boolean; at?: number; p: Promise<void> } | undefined;
  let readyAt = t0;   // when the updater was free to start the next update: the last publish, or with `background` the last update's end
  const failWith = (c: Extract<Command, { kind: "fail" }>): never => {
    throw c.reason === "follower" ? new FollowerFailedError(c.message, { cause: followerErr }) : new StepDeadLetteredError(c.message);
  };
  const request = async (c: Extract<Command, { kind: "request" }>) => {
    for (const t of c.tasks) await log.publish(t);
    apply({ type: "TasksPublished", taskIds: c.tasks.map((t) => t.taskId) });
  };
  const publish = async (c: Extract<Command, { kind: "publish" }>) => {
    const event = { ...c.event, timings: { ...c.event.timings, stepMs: performance.now() - t0 } };
    failpoint("updater.before-policy-publish", event.step);
    const ack = await log.publish(event, { expectLastSubjectSequence: c.expectLastSubjectSequence });
    apply({ seq: ack.seq, event });
    const report = { event, wallMs: event.timings.stepMs };
    const record = log.putRunRecord(runId, { status: "running", step: event.step, version: event.toVersion, weightsDigest: event.weightsDigest });
    o.onStep?.(report, state.view);
    await record;
    lg.info({ step: event.step, reward: event.stats.rewardMean, acc: event.stats.accuracyRate, len: event.stats.responseLengthMean, kl: event.stats.kl, ms: Math.round(event.timings.stepMs) }, "policy updated");
    await o.afterStep?.(report, state.view);
    t0 = lastWarn = performance.now();
    if (!background) readyAt = t0;
  };
  /** The rest of a computed update's step, in the background: its snapshot stored, the tasks sampled by it requested, it published. */
  const finish = (step: number, store: Promise<number>) => {
    const f: { done: boolean; at?: number; p: Promise<void> } = {
      done: false,
      p: (async () => {
        const storeMs = await store;
        failpoint("updater.after-background-store", step);   // stored, nothing requested or published, the next update computing
        apply({ type: "UpdateStored", step, storeMs });
        for (;;) {
          const c = decide(state, ctx);
          if (c.kind === "request" && state.computed?.event.step === step) await request(c);
          else if (c.kind === "publish" && c.event.step === step) { await publish(c); return; }
          else return;   // a failure or the end: the main loop carries it out
        }
      })().finally(() => { f.done = true; f.at = performance.now(); wake(); }),
    };
    f.p.catch(() => undefined);   // awaited by the main loop; never an unhandled rejection meanwhile
    return f;
  };
  const settle = async () => {
    const f = finishing;
    finishing = undefined;
    await f?.p;
  };
  try {
    await o.onReady?.(state.view);
    while (!o.signal.aborted) {
      const c = decide(state, ctx);
      // while a step finishes in the background only the next update may run beside it
      if (finishing && (finishing.done || (c.kind !== "update" && c.kind !== "wait"))) { await settle(); continue; }
      switch (c.kind) {
        case "request":
          await request(c);
          break;
        case "wait":
          if (!c.storing && performance.now() - lastWarn > (o.stallWarnMs ?? 30_000)) {
            lastWarn = performance.now();
            lg.warn({ step: c.step, ready: c.ready, missingSample: c.missingSample.length, missingScore: c.missingScore.length, refused: c.refused }, "waiting for groups");
          }
          await Promise.race([changed(), new Promise((r) => setTimeout(r, Math.min(o.stallWarnMs ?? 30_000, probeMs)).unref())]);
          if (!c.storing) await probeFollower();
          break;
        case "update": {
          const behind = finishing, started = performance.now();
          const r = await computeUpdate(log, runId, cfg, engine, c, state.view.scorer!, started - readyAt, background);
          if (background) readyAt = performance.now();
          if (behind) {
            // computed ahead of the previous step's publish: once that is in the log, the decider must ask
            // for this very update (the engine's weights have moved on; it cannot be taken back)
            await settle();
            for (let again = decide(state, ctx); ; again = decide(state, ctx)) {
              if (again.kind === "request") { await request(again); continue; }
              if (again.kind === "fail") failWith(again);
              if (again.kind === "update" && again.step === c.step && again.version === c.version && again.groupIds.join() === c.groupIds.join()) break;
              throw new UpdaterError(`the update of step ${c.step}, computed while step ${c.step - 1} was stored, is not the one the log asks for once it is published (${again.kind}${again.kind === "update" ? ` of step ${again.step}` : ""})`);
            }
          }
          // overlapMs: how long this update computed while the previous step was stored and published
          if (behind) r.event.timings.overlapMs = Math.max(0, Math.min(behind.at ?? readyAt, readyAt) - started);
          apply({ type: "UpdateComputed", event: r.event, stored: !r.store });
          if (r.store) finishing = finish(c.step, r.store);
          break;
        }
        case "publish":
          await publish(c);
          break;
        case "finish": {
          const ack = await log.publish(c.event);
          apply({ seq: ack.seq, event: c.event });
          await log.putRunRecord(runId, { status: "completed", step: state.view.step - 1, version: state.view.version });
          return state.view;
        }
        case "stop":
          return state.view;
        case "fail":
          failWith(c);
      }
    }
    return state.view;
  } finally {
    await finishing?.p.catch(() => undefined);   // a step being published lands (or fails) before the process lets go
    follow.abort();
    o.signal.removeEventListener("abort", onAbort);
    await follower;
    engine.dispose();
  }
}
