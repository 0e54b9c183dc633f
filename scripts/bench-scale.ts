// `npm run bench -- scale [--n 1,10,100,200] [--steps 4] [--reward 2] [--procs 4] [--nodes 1|3] [--time-scale 100] [--json]`
// (issue 17 item 1). Is the bus the bottleneck before the accelerators are? One real nats-server (or the
// supervised 3-node cluster with --nodes 3, R3 streams and authentication), real reward consumer processes
// (`zerostream worker reward`), an updater shell, and N simulated generators, for each N in turn.
//
// - The updater shell is the real one's loop: the pure decider of domain/run/decide.ts folded over the real
//   log (replay, then follow) decides which tasks to request and when a step's batch is ready; only the
//   update itself is modelled (an accelerator's training time, slept, and a weights object of a stated size
//   put in the run's object store), so every event the bus carries is the real event.
// - A simulated generator is one connection with its own pull of the shared `rollout` work-queue durable
//   (the real consume(), one task at a time, as a generator does), standing for one accelerator host. They
//   are spread over --procs processes. For each task it sleeps the sampling time a host would take and
//   publishes the real GroupSampled: 8 R1-format responses whose lengths follow the seed recipe's (a
//   log-normal around --len-median tokens, cut at --max-len, the longest of the group setting the time).
// - Time is scaled down by --time-scale (default 100: a 40 s group is sampled in 0.4 s), so the bus sees
//   --time-scale times the seed recipe's event rate per host: a saturation found at N here is reached at
//   N × time-scale hosts of the real recipe, if the bus's cost per event is what it is here.
//
// A step's G = max(32, N) groups (each generator has a group to sample; the seed's 32 prompts below that).
// Per N: step time (median over the steps after the first), its split into the sampling critical path (the
// busiest generator's modelled time), the modelled training, the scoring tail (last GroupSampled to last
// GroupScored, real reward work) and the rest (bus, serialisation, waiting), the updater's idle share, the
// log's events/s and bytes/s, and the CPU of nats-server, the updater shell, the generators and the reward
// consumers (/proc, as a share of one core) with nats-server's disk writes.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startRun, spawnWorker, type WorkerProc } from "../cli/launch.ts";
import { connectAuth, credsPath } from "../cli/cluster/auth.ts";
import { down, up } from "../cli/cluster/control.ts";
import { readState } from "../cli/cluster/layout.ts";
import { decide, evolve, initialUpdaterState, stepLimit, type Command, type Input, type UpdaterState } from "../domain/run/decide.ts";
import { emptyView } from "../domain/run/view.ts";
import { Rng } from "../domain/rng.ts";
import { RunContexts } from "../loaders/runctx.ts";
import { Policy } from "../native/index.ts";
import { groupsOfTask, ROLLOUT_DURABLE, rowsOfTask } from "../producers/rollout/generator.ts";
import { resolveConfig, type RunConfig } from "../streams/config.ts";
import { EventLog } from "../streams/eventlog.ts";
import { events, type GroupSampled, type PolicyUpdated, type RolloutRequested } from "../streams/events/index.ts";
import { startLocalServer } from "../streams/nats-server.ts";
import { LOG_STREAM, subjects, TASK_STREAM } from "../streams/subjects.ts";
import { median } from "./stats.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const enc = new TextEncoder();

/** The seed recipe's shape, scaled down in time. */
export type Model = {
  timeScale: number;      // real seconds per bench second
  tokenMs: number;        // an accelerator host's decode step, real ms (the longest response of a group sets the group's time)
  trainS: number;         // the updater's training of one step, real seconds
  lenMedian: number; lenSigma: number; maxLen: number;
  samples: number;        // responses per group
  weightsKb: number;      // the object the modelled update stores per version
};


/** Response lengths of one group: log-normal around the median, cut at maxLen (those cut are finish "length"). */
export function groupLengths(m: Model, seed: number): number[] {
  // seeded (domain/rng.ts): the simulated lengths are the same on every run of the bench
  const r = new Rng(seed);
  return Array.from({ length: m.samples }, () => {
    const z = Math.sqrt(-2 * Math.log(1 - r.next())) * Math.cos(2 * Math.PI * r.next());
    return Math.max(16, Math.min(m.maxLen, Math.round(m.lenMedian * Math.exp(m.lenSigma * z))));
  });
}

// a scratchpad long enough for any response, made once: a response is a prefix of it and its answer
const SCRATCH = (() => {
  const r = new Rng(7);
  let body = "<think> ";
  while (body.length < 1 << 16) {
    const a = r.int(100, 1000), b = r.int(100, 1000);
    body += `${a} + ${b} = ${a + b}. Let me check: ${a + b} - ${b} = ${a}. `;
  }
  return body;
})();


// ---- the simulated generators (a child process: `bench scale --generator ...`) ----------------------

/**
 * The JSON of responses, built from fragments made once: a response is a prefix of the scratchpad and an
 * answer, its tokens and log-probs prefixes of arrays serialised once (offsets per element). A simulated
 * host's CPU is not this machine's: what building and publishing a real group costs a generator is measured
 * apart (publishCost below), and here the 2 cores are left to the server, the updater and the scorers.
 */
class Responses {
  private toks: string; private tokOff: number[];
  private lps: string; private lpOff: number[];
  private chars: number[] = [0];   // the scratchpad's characters in its first k tokens (<think> is one token)
  constructor(private tok: { encode(t: string): number[]; decode(ids: ArrayLike<number>): string }, maxLen: number) {
    const ids = tok.encode(SCRATCH.slice(0, maxLen));
    for (const id of ids) this.chars.push(this.chars.at(-1)! + tok.decode([id]).length);
    const r = new Rng(11);
    [this.toks, this.tokOff] = Responses.joined(ids.map(String));
    [this.lps, this.lpOff] = Responses.joined(ids.map(() => String(Math.fround(Math.log(0.05 + 0.95 * r.next())))));
  }
  private static joined(parts: string[]): [string, number[]] {
    const off: number[] = [0];
    let s = "";
    for (const p of parts) { s += (s ? "," : "") + p; off.push(s.length); }
    return [s, off];
  }
  /** One sample's JSON: about n tokens of scratchpad, then the answer. */
  sample(index: number, seed: number, n: number, answer: string, finish: "stop" | "length"): string {
    const tail = `</think> <answer> \\boxed{${answer}} </answer>`;
    const tailIds = this.tok.encode(tail);
    const k = Math.max(1, Math.min(this.tokOff.length - 1, n - tailIds.length));
    const text = SCRATCH.slice(0, this.chars[k]) + tail;   // the text of the same k tokens
    const tailLp = tailIds.map(() => "-0.01").join(",");
    return `{"index":${index},"seed":${seed},"tokens":[${this.toks.slice(0, this.tokOff[k])},${tailIds.join(",")}],"text":${JSON.stringify(text)},`
      + `"logprobs":[${this.lps.slice(0, this.lpOff[k])},${tailLp}],"finish":"${finish}"}`;
  }
}

async function generatorProcess(a: { server: string; conns: number; prefix: string; model: Model; creds?: string; replicas: number }): Promise<number> {
  const ac = new AbortController();
  process.on("SIGTERM", () => ac.abort());
  const opts = { ...(a.creds ? connectAuth(a.creds) : {}), replicas: a.replicas };   // the cluster's R3 streams
  const logs = await Promise.all(Array.from({ length: a.conns }, () => EventLog.connect(a.server, opts)));
  const m = a.model;
  const cost = { groups: 0, buildMs: 0 };
  // one run context per process (the dataset, the tokenizer), as a host loads it once
  const contexts = new RunContexts(logs[0]);
  let responses: Responses | undefined;
  let checked = false;
  await Promise.all(logs.map((log, c) => {
    const name = `${a.prefix}.${c}`;
    return log.consume({ stream: TASK_STREAM, durable: ROLLOUT_DURABLE, filterSubject: "zst.>", types: ["RolloutRequested"], ackWaitMs: 60_000, maxDeliver: 10, maxInFlight: 1, signal: ac.signal },
      async (task: RolloutRequested) => {
        const rc = await contexts.get(task.runId);
        const rows = rowsOfTask(task, (await rc.dataset()).rows);
        responses ??= new Responses(rc.tokenizer(), m.maxLen);
        // the group's time on a host: its longest response's decode steps, scaled down
        const ms = task.prompts.reduce((s, p) => s + Math.max(...groupLengths(m, p.seed)) * m.tokenMs / m.timeScale, 0);
        const t0 = performance.now();
        const bodies = task.prompts.map((p, i) => {
          const samples = groupLengths(m, p.seed).map((len, j) => responses!.sample(j, p.seed + j, len, j % 2 ? rows[i].answer : String(Number(rows[i].answer) + 1), len >= m.maxLen ? "length" : "stop"));
          const head: Omit<GroupSampled, "samples"> & { samples: string } = {
            type: "GroupSampled", v: 2, runId: task.runId, groupId: p.groupId, slot: p.slot, taskId: task.taskId, step: task.step, policyVersion: task.policyVersion,
            prompt: { id: rows[i].id, index: p.index, text: rows[i].text, tokens: rows[i].tokens }, gold: rows[i].answer, sampler: task.sampler,
            samples: "@samples@", generator: name, ms: ms / task.prompts.length, kernels: "simulated",
          };
          return { groupId: p.groupId, json: JSON.stringify(head).replace('"@samples@"', `[${samples.join(",")}]`) };
        });
        cost.buildMs += performance.now() - t0; cost.groups += bodies.length;
        if (!checked) {   // the first group against the real contract: what the scorers and the updater will parse
          const g = events.parse(JSON.parse(bodies[0].json)) as GroupSampled;
          const tok = rc.tokenizer();
          // and as a generator writes it: each sample's text is its tokens decoded (a mismatch ends the process: the phase fails)
          const bad = g.samples.find((x) => tok.decode(x.tokens) !== x.text);
          if (bad) { process.stderr.write(`simulated group ${g.groupId}: sample ${bad.index}'s text is not its tokens decoded\n`); process.exit(1); }
          checked = true;
        }
        await sleep(ms);
        for (const b of bodies) await log.publishRaw(subjects.rollout(task.runId), enc.encode(b.json), `${task.runId}:sampled:${task.step}:${b.groupId}`);
      });
  }));
  await Promise.all(logs.map((l) => l.close()));
  process.stdout.write(JSON.stringify({ cost }) + "\n");
  return 0;
}

/** What a real generator spends on one group besides sampling: groupsOfTask and log.publish (serialise, validate, the round trip), measured on an idle connection. */
async function publishCost(log: EventLog, runId: string, m: Model, reps = 20): Promise<{ buildMs: number; publishMs: number; bytes: number }> {
  const rc = await new RunContexts(log).get(runId);
  const rows = (await rc.dataset()).rows.slice(0, 1), tok = rc.tokenizer();
  const build: number[] = [], pub: number[] = [];
  let bytes = 0;
  for (let i = 0; i < reps; i++) {
    const seed = 1000 + i, lengths = groupLengths(m, seed);
    const results = lengths.map((len, j) => {
      const tokens = Int32Array.from(tok.encode(SCRATCH.slice(0, len)));
      return { tokens, logprobs: Float32Array.from(tokens, (_, k) => -0.01 * (k % 7)), finish: "stop" as const };
    });
    const task: RolloutRequested = {
      type: "RolloutRequested", v: 2, runId, taskId: `cost.${i}`, step: 10_000 + i, epoch: 0, policyVersion: 0, weightsDigest: `sha256:${"0".repeat(64)}`, samplesPerPrompt: lengths.length,
      sampler: { temperature: 1, topP: 1, topK: 0, maxNewTokens: m.maxLen, stopTokenIds: tok.stopIds }, prompts: [{ groupId: `s${10_000 + i}.g0`, slot: 0, promptId: rows[0].id, index: 0, seed }],
    };
    const t0 = performance.now();
    const [g] = groupsOfTask(task, rows, results, tok, "cost", 1, "simulated");
    const t1 = performance.now();
    await log.publish(g);
    const t2 = performance.now();
    build.push(t1 - t0); pub.push(t2 - t1);
    bytes += JSON.stringify(g).length;
  }
  return { buildMs: median(build), publishMs: median(pub), bytes: bytes / reps };
}

// ---- CPU and disk of processes (/proc) ------------------------------------------------------------

const HZ = 100;
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / HZ;   // utime + stime
  } catch { return 0; }
}
function writeBytes(pid: number | undefined): number {
  if (!pid) return 0;
  try { return Number(/write_bytes: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, "utf8"))?.[1] ?? 0); } catch { return 0; }
}

// ---- the updater shell with a modelled update ---------------------------------------------------

type StepFigures = { step: number; stepMs: number; samplingMs: number; trainMs: number; scoringTailMs: number; restMs: number; idleMs: number; windowMs: number; foldMs: number; groups: number; bytes: number };

function benchConfig(groups: number, steps: number, m: Model): RunConfig {
  return resolveConfig({
    seed: 0,
    model: { name: "scale-bench", arch: { vocab_size: 104, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 1, num_key_value_heads: 1, intermediate_size: 8, max_position_embeddings: m.maxLen + 64 } },
    tokenizer: { type: "char" }, data: { train: { synthetic: "addition" }, template: "tiny_r1", max_prompt_length: 64, max_response_length: m.maxLen },
    rollout: { n_samples_per_prompt: m.samples, prompts_per_task: 1 }, reward: { fn: "base_acc" },
    actor: { global_batch_size: groups, train_iters: steps, lr: 1e-6 },
  });
}

/** Runs the decider over the log and carries its commands out, the update modelled; figures per step. */
async function updaterShell(log: EventLog, runId: string, cfg: RunConfig, m: Model, afterFirstStep: () => Promise<void>): Promise<StepFigures[]> {
  const rc = await new RunContexts(log).get(runId);
  let state: UpdaterState = initialUpdaterState(emptyView("pending"));
  let foldMs = 0;
  // a group's bytes count to its own step: step k+1's tasks go out before update k is published, so its
  // groups can arrive while step k is still being published
  const arrivals = { sampled: new Map<string, number>(), scored: new Map<string, number>(), bytes: new Map<number, number>() };
  const requestedAt = new Map<number, number>();   // a step's first tasks requested: where its time starts
  const apply = (i: Input) => {
    const t = performance.now();
    state = evolve(state, i);
    foldMs += performance.now() - t;
  };
  for await (const r of log.replay(runId)) apply(r);
  const ds = await rc.dataset();
  const ctx = { runId, config: cfg, limit: stepLimit(cfg), rowIds: ds.rows.map((r) => r.id), stopTokenIds: rc.tokenizer().stopIds };
  const follow = new AbortController();
  let wake: () => void = () => undefined;
  const follower = (async () => {
    for await (const r of log.follow(runId, state.view.seq + 1, follow.signal)) {
      const now = performance.now();
      if (r.event.type === "GroupSampled") { arrivals.sampled.set(r.event.groupId, now); arrivals.bytes.set(r.event.step, (arrivals.bytes.get(r.event.step) ?? 0) + JSON.stringify(r.event).length); }
      if (r.event.type === "GroupScored") arrivals.scored.set(r.event.groupId, now);
      apply(r);
      wake();
    }
  })();
  const out: StepFigures[] = [];
  let t0 = performance.now(), idle = 0, foldAt = 0, trainMs = 0;   // t0: the window since the last publish (the updater's idle share)
  try {
    for (;;) {
      const c: Command = decide(state, ctx);
      if (c.kind === "request") {
        if (!requestedAt.has(c.step)) requestedAt.set(c.step, performance.now());
        for (const t of c.tasks) await log.publish(t);
        apply({ type: "TasksPublished", taskIds: c.tasks.map((t) => t.taskId) });
      } else if (c.kind === "wait") {
        const w = performance.now();
        await Promise.race([new Promise<void>((r) => { wake = r; }), sleep(1000)]);
        idle += performance.now() - w;
      } else if (c.kind === "update") {
        // the modelled accelerator: its training time, then a weights object of the stated size (distinct per version)
        const t = performance.now();
        await sleep(m.trainS * 1000 / m.timeScale);
        const weights = new Uint8Array(m.weightsKb * 1024);
        new DataView(weights.buffer).setUint32(0, c.step + 1);
        const weightsDigest = await log.putBlob(runId, weights);
        trainMs = performance.now() - t;
        const rewards = c.groups.flatMap((g) => g.scored.scores.map((s) => s.reward));
        const mean = rewards.reduce((a, b) => a + b, 0) / rewards.length;
        const event: PolicyUpdated = {
          type: "PolicyUpdated", v: 1, runId, step: c.step, fromVersion: c.version, toVersion: c.version + 1, groupIds: c.groupIds, scorer: state.view.scorer!,
          advantageEstimator: cfg.algorithm.adv_estimator, advantages: Object.fromEntries(c.groups.map((g) => [g.sampled.groupId, g.scored.scores.map((s) => s.reward - mean)])),
          weightsDigest, optimizerDigest: weightsDigest,
          stats: { rewardMean: mean, rewardStd: 0, formatRate: 0, accuracyRate: 0, outcomes: {}, responseLengthMean: 0, responseLengthMax: 0, truncatedRate: 0, loss: 0, pgLoss: 0, kl: 0, entropy: 0, clipFrac: 0, gradNorm: 0, lr: cfg.actor.lr, tokens: 0, groups: c.groups.length, zeroAdvantageGroups: 0 },
          timings: { modelledTrainMs: trainMs }, staleness: c.groups.map(() => 0),
        };
        apply({ type: "UpdateComputed", event });
      } else if (c.kind === "publish") {
        // the step's groups, before the PolicyUpdated is folded (the view drops an applied step's groups)
        const ids = c.event.groupIds;
        const sampledGroups = ids.map((id) => state.view.groups.get(id)?.sampled?.event).filter((g): g is GroupSampled => !!g);
        const ack = await log.publish(c.event, { expectLastSubjectSequence: c.expectLastSubjectSequence });
        apply({ seq: ack.seq, event: c.event });
        const now = performance.now();
        const busy = new Map<string, number>();
        for (const g of sampledGroups) busy.set(g.generator, (busy.get(g.generator) ?? 0) + g.ms);
        const lastSampled = Math.max(...ids.map((id) => arrivals.sampled.get(id) ?? 0)), lastScored = Math.max(...ids.map((id) => arrivals.scored.get(id) ?? 0));
        // a step: from its tasks requested to its update published (they may go out before the previous publish)
        const stepMs = now - (requestedAt.get(c.event.step) ?? t0), windowMs = now - t0, samplingMs = Math.max(...busy.values()), scoringTailMs = Math.max(0, lastScored - lastSampled);
        out.push({ step: c.event.step, stepMs, samplingMs, trainMs, scoringTailMs, restMs: stepMs - samplingMs - trainMs - scoringTailMs, idleMs: idle, windowMs, foldMs: foldMs - foldAt, groups: ids.length, bytes: arrivals.bytes.get(c.event.step) ?? 0 });
        arrivals.bytes.delete(c.event.step);
        if (out.length === 1) await afterFirstStep();   // the warm-up step is done: the phase's counters start here
        t0 = performance.now(); idle = 0; foldAt = foldMs;
      } else if (c.kind === "finish") {
        await log.publish(c.event);
        return out;
      } else if (c.kind === "stop") {
        return out;
      } else {
        throw new Error(`the updater shell failed: ${c.message}`);
      }
    }
  } finally {
    follow.abort();
    await follower.catch(() => undefined);
  }
}

// ---- one N --------------------------------------------------------------------------------------

type Phase = Record<string, number>;

async function phase(o: { log: EventLog; server: string; serverPids: number[]; rewardPids: () => number[]; n: number; procs: number; steps: number; m: Model; creds?: string; replicas: number }): Promise<{ row: Phase; steps: StepFigures[] }> {
  const groups = Math.max(32, o.n);
  const cfg = benchConfig(groups, o.steps, o.m);
  const policy = Policy.init(cfg.model.arch as never, 0);
  const runId = (await startRun(o.log, cfg, { policy })).runId;
  policy.dispose();
  const procs = Math.min(o.procs, o.n);
  const children: ChildProcess[] = Array.from({ length: procs }, (_, p) => {
    const conns = Math.floor(o.n / procs) + (p < o.n % procs ? 1 : 0);
    return spawn(process.execPath, [join(root, "cli", "bin.mjs"), "bench", "scale", "--generator", "--server", o.server, "--conns", String(conns), "--prefix", `sim${p}`,
      "--model", JSON.stringify(o.m), "--replicas", String(o.replicas), ...(o.creds ? ["--creds", o.creds] : [])], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ZS_LOG_LEVEL: "warn" } });
  });
  type Cost = { groups: number; buildMs: number };
  const costs = children.map((c) => new Promise<Cost>((resolve) => {
    let out = "";
    c.stdout!.on("data", (d: Buffer) => { out += d.toString(); });
    c.once("exit", () => {
      const line = out.split("\n").find((l) => l.startsWith('{"cost"'));
      resolve(line ? (JSON.parse(line) as { cost: Cost }).cost : { groups: 0, buildMs: 0 });
    });
  }));
  const pids = () => ({ server: o.serverPids, gen: children.map((c) => c.pid!), reward: o.rewardPids() });
  try {
    const steps = await (async () => {
      // the first step warms up (processes starting, run contexts loading): measured from the end of it
      let onFirstStep: () => Promise<void> = async () => undefined;
      const shell = updaterShell(o.log, runId, cfg, o.m, () => onFirstStep());
      let mark: { t: number; cpu: Record<string, number>; disk: number; stream: { messages: number; bytes: number } } | undefined;
      const sample = async () => {
        const p = pids();
        const [logS, taskS] = await Promise.all([o.log.jsm.streams.info(LOG_STREAM), o.log.jsm.streams.info(TASK_STREAM)]);
        return {
          t: performance.now(),
          cpu: { server: p.server.reduce((a, x) => a + cpuSeconds(x), 0), updater: process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6, gen: p.gen.reduce((a, x) => a + cpuSeconds(x), 0), reward: p.reward.reduce((a, x) => a + cpuSeconds(x), 0) },
          disk: p.server.reduce((a, x) => a + writeBytes(x), 0),
          stream: { messages: logS.state.messages + taskS.state.messages, bytes: logS.state.bytes + taskS.state.bytes },
        };
      };
      // the measurement starts once the first step is published (the shell calls back before it goes on)
      const watch = new Promise<void>((resolve) => { onFirstStep = async () => { mark = await sample(); resolve(); }; });
      // a simulated generator process that exits during the phase fails it (the shell would wait for ever)
      const died = new Promise<never>((_, reject) => {
        for (const c of children) c.once("exit", (code, sig) => reject(new Error(`a simulated generator process exited during N=${o.n} (code ${code}, signal ${sig}); its stderr is above`)));
      });
      died.catch(() => undefined);
      const steps = await Promise.race([shell, died]);
      await watch;
      const end = await sample();
      return { steps, mark: mark!, end };
    })();
    const after = steps.steps.slice(1);
    if (process.env.ZS_SCALE_DEBUG) for (const s of steps.steps) process.stderr.write(`  N=${o.n} ${JSON.stringify(s)}\n`);
    const dt = (steps.end.t - steps.mark.t) / 1000;
    const med = (f: (s: StepFigures) => number) => median(after.map(f));
    const stepMs = med((s) => s.stepMs);
    const row: Phase = {
      n: o.n, groupsPerStep: groups, stepS: stepMs / 1000,
      samplingS: med((s) => s.samplingMs) / 1000, trainS: med((s) => s.trainMs) / 1000, scoringTailS: med((s) => s.scoringTailMs) / 1000,
      restShare: med((s) => s.restMs / s.stepMs), updaterIdleShare: med((s) => s.idleMs / s.windowMs), foldMsPerStep: med((s) => s.foldMs),
      groupKb: med((s) => s.bytes / s.groups / 1024),
      eventsPerS: (steps.end.stream.messages - steps.mark.stream.messages) / dt, mbPerS: (steps.end.stream.bytes - steps.mark.stream.bytes) / dt / 1e6,
      serverCpu: (steps.end.cpu.server - steps.mark.cpu.server) / dt, updaterCpu: (steps.end.cpu.updater - steps.mark.cpu.updater) / dt,
      generatorsCpu: (steps.end.cpu.gen - steps.mark.cpu.gen) / dt, rewardCpu: (steps.end.cpu.reward - steps.mark.cpu.reward) / dt,
      diskMbPerS: (steps.end.disk - steps.mark.disk) / dt / 1e6,
    };
    // CPU per group of each part (measured over the steps after the first): what a host, the server, the
    // updater and a reward consumer spend per group, whatever the machine's contention
    const g = after.reduce((a, s) => a + s.groups, 0);
    row.serverCpuMsPerGroup = 1000 * (steps.end.cpu.server - steps.mark.cpu.server) / g;
    row.updaterCpuMsPerGroup = 1000 * (steps.end.cpu.updater - steps.mark.cpu.updater) / g;
    row.rewardCpuMsPerGroup = 1000 * (steps.end.cpu.reward - steps.mark.cpu.reward) / g;
    for (const c of children) c.kill("SIGTERM");
    const cost = (await Promise.all(costs)).reduce((a, c) => ({ groups: a.groups + c.groups, buildMs: a.buildMs + c.buildMs }));
    row.simBuildMsPerGroup = cost.buildMs / cost.groups;
    row.simCpuMsPerGroup = 1000 * (steps.end.cpu.gen - steps.mark.cpu.gen) / g;
    return { row, steps: steps.steps };
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
    await Promise.all(children.map((c) => (c.exitCode !== null ? undefined : new Promise((r) => c.once("exit", r)))));
  }
}

const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "-");

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: {
    n: { type: "string", default: "1,10,100,200" }, steps: { type: "string", default: "4" }, reward: { type: "string", default: "2" }, procs: { type: "string", default: "4" },
    nodes: { type: "string", default: "1" }, "time-scale": { type: "string", default: "100" }, "token-ms": { type: "string", default: "25" }, "train-s": { type: "string", default: "30" },
    "len-median": { type: "string", default: "900" }, "len-sigma": { type: "string", default: "0.5" }, "max-len": { type: "string", default: "2048" }, "weights-kb": { type: "string", default: "64" },
    json: { type: "boolean", default: false },
    // the child process of the simulated generators
    generator: { type: "boolean", default: false }, server: { type: "string" }, conns: { type: "string" }, prefix: { type: "string" }, model: { type: "string" }, creds: { type: "string" }, replicas: { type: "string" },
  } });
  if (values.generator) return generatorProcess({ server: values.server!, conns: Number(values.conns), prefix: values.prefix!, model: JSON.parse(values.model!) as Model, creds: values.creds, replicas: Number(values.replicas ?? 1) });
  const m: Model = {
    timeScale: Number(values["time-scale"]), tokenMs: Number(values["token-ms"]), trainS: Number(values["train-s"]),
    lenMedian: Number(values["len-median"]), lenSigma: Number(values["len-sigma"]), maxLen: Number(values["max-len"]), samples: 8, weightsKb: Number(values["weights-kb"]),
  };
  const ns = values.n!.split(",").map(Number), steps = Number(values.steps), rewardN = Number(values.reward), procs = Number(values.procs), nodes = Number(values.nodes);
  if (steps < 2) throw new Error("--steps must be at least 2: the first step is a warm-up");
  const dir = mkdtempSync(join(tmpdir(), "zs-bench-scale-"));
  let log: EventLog, server: string, serverPids: number[], stopAll: () => Promise<void>, creds: string | undefined, replicas = 1;
  let rewards: WorkerProc[] = [];
  let rewardPids: () => number[];
  if (nodes === 1) {
    const s = await startLocalServer({ storeDir: dir });
    server = s.url; serverPids = [s.pid];
    log = await EventLog.connect(s.url);
    rewards = Array.from({ length: rewardN }, (_, i) => spawnWorker("reward", s.url, ["--name", `scale-reward-${i}`], { ZS_LOG_LEVEL: "warn" }));
    rewardPids = () => rewards.map((w) => w.child.pid!);
    stopAll = async () => { await Promise.all(rewards.map((w) => w.stop())); await log.close(); await s.stop(); };
  } else {
    const state = await up({ dir, nodes, rollout: 0, reward: rewardN, timeoutMs: 180_000 });
    server = state.servers.join(","); creds = credsPath(dir, "rollout"); replicas = state.replicas;
    log = await EventLog.connect(state.servers, { ...connectAuth(credsPath(dir, "admin")), replicas: state.replicas });
    const procsOf = () => readState(dir)?.procs ?? [];
    serverPids = procsOf().filter((p) => p.kind === "node" && p.pid).map((p) => p.pid!);
    rewardPids = () => procsOf().filter((p) => p.role === "reward" && p.pid).map((p) => p.pid!);
    stopAll = async () => { await log.close(); await down(dir); };
  }
  const rows: Phase[] = [];
  let host: Awaited<ReturnType<typeof publishCost>> | undefined;
  try {
    {
      // what a real generator spends per group on events (the simulated ones skip it: a host's CPU is its own)
      const cfg = benchConfig(32, 1, m), policy = Policy.init(cfg.model.arch as never, 0);
      const runId = (await startRun(log, cfg, { policy })).runId;
      policy.dispose();
      host = await publishCost(log, runId, m);
      if (!values.json) process.stdout.write(`a real generator's cost per group (groupsOfTask + log.publish of ${fmt(host.bytes / 1024, 0)} KB, median of 20 on an idle bus): build ${fmt(host.buildMs, 1)} ms, publish ${fmt(host.publishMs, 1)} ms\n`);
    }
    for (const n of ns) {
      const { row } = await phase({ log, server, serverPids, rewardPids, n, procs, steps, m, creds, replicas });
      rows.push(row);
      if (!values.json) {
        process.stdout.write(`scale N=${n}: ${row.groupsPerStep} groups/step of ${fmt(row.groupKb, 0)} KB, step ${fmt(row.stepS)} s (sampling ${fmt(row.samplingS)}, train ${fmt(row.trainS)}, scoring tail ${fmt(row.scoringTailS)}, rest ${fmt(100 * row.restShare, 1)} %), updater idle ${fmt(100 * row.updaterIdleShare, 1)} %, fold ${fmt(row.foldMsPerStep, 0)} ms/step; `
          + `${fmt(row.eventsPerS, 0)} events/s, ${fmt(row.mbPerS)} MB/s; CPU (cores) nats-server ${fmt(row.serverCpu)}, updater ${fmt(row.updaterCpu)}, generators ${fmt(row.generatorsCpu)}, reward ${fmt(row.rewardCpu)}; disk ${fmt(row.diskMbPerS)} MB/s\n`
          + `  per group: nats-server ${fmt(row.serverCpuMsPerGroup, 1)} ms CPU, updater shell ${fmt(row.updaterCpuMsPerGroup, 1)} ms, reward ${fmt(row.rewardCpuMsPerGroup, 1)} ms; the simulated generators ${fmt(row.simCpuMsPerGroup, 1)} ms (of which building the JSON ${fmt(row.simBuildMsPerGroup, 1)} ms)\n`);
      }
    }
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
  if (values.json) process.stdout.write(JSON.stringify({ suite: "scale", nodes, model: m, rewardConsumers: rewardN, generatorProcs: procs, generatorCostPerGroup: host, rows }) + "\n");
  return 0;
}
