// The main job end to end, as a user runs it (`node cli/bin.mjs start`, what `npm start` runs after its
// setup), shortened (a 40-step pretraining, 2 GRPO steps): pretrain → RunStarted → base evaluation →
// GRPO over the bus with worker processes → final evaluation → HTML report, all on an embedded
// nats-server. The test checks what the job promises (README "What the tiny R1-Zero does",
// cli/commands/start.ts): the run finished its steps, every invariant holds in its log, the figures it
// prints are the ones its Evaluated events record and lie in range, the final weights digest it prints is
// the last PolicyUpdated's, the targets verdict follows from the figures, the report names the run, and
// nothing is left running. The learning targets themselves are measured by `npm start` (README), not here.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { openBus } from "../../cli/bus.ts";
import { auditEvents } from "../../domain/audit.ts";
import type { Replayed } from "../../streams/eventlog.ts";
import type { Evaluated, PolicyUpdated, RunStarted } from "../../streams/events/index.ts";
import { runningServer } from "../../streams/nats-server.ts";
import { cliRun, type CliResult } from "../helpers/cli.ts";

const root = join(import.meta.dirname, "..", "..");
const STEPS = 2, PRETRAIN_STEPS = 40, HELDOUT = 256, K = 4, BATCH = 16;

type Printed = { format: number; accuracy: number; length: number };
/** "greedy format 0.000 accuracy 0.000 length 8.0; T=1 avg@4 format 0.113 accuracy 0.057 length 24.8" → [greedy, T=1] */
function figures(line: string): [Printed, Printed] {
  const m = /greedy format (\S+) accuracy (\S+) length (\S+); T=1 avg@(\d+) format (\S+) accuracy (\S+) length (\S+)$/.exec(line);
  assert.ok(m, `not an evaluation line: ${line}`);
  assert.equal(Number(m[4]), K);
  const [f1, a1, l1, , f2, a2, l2] = m.slice(1).map(Number);
  return [{ format: f1, accuracy: a1, length: l1 }, { format: f2, accuracy: a2, length: l2 }];
}
const lineOf = (stdout: string, re: RegExp) => {
  const m = re.exec(stdout);
  assert.ok(m, `${re} not in the output:\n${stdout}`);
  return m;
};

describe("npm start (shortened)", () => {
  let dir: string;
  let out: CliResult;
  let runId: string;
  let events: Replayed[];
  let finalWeights: Uint8Array;
  const store = () => join(dir, "nats");
  // the job runs once (about a minute); every test below reads its output, its store and its report
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "zs-start-"));
    out = await cliRun(["start", "--config", join(root, "configs", "tiny-r1-zero.yaml"), "--store", store(),
      "--set", `model.pretrain.steps=${PRETRAIN_STEPS}`, "--set", "model.pretrain.warmup=5", "--set", `actor.train_iters=${STEPS}`, "--set", "runtime.threads=2"],
    { cwd: dir, env: { ZS_CACHE_DIR: join(dir, "models"), NATS_URL: "" } });
    assert.equal(out.code, 0, `start failed:\n${out.stdout}\n${out.stderr.slice(-3000)}`);
    runId = lineOf(out.stdout, /^run (\S+): GRPO (\d+) steps x (\d+) prompts x (\d+) samples, reward base_acc$/m)[1];
    // the store outlives the job: read its log back through a fresh embedded server
    const bus = await openBus({ store: store() }, { name: "start-test" });
    try {
      events = await bus.log.replayAll(runId);
      // the printed final weights, read back from the store (getBlob verifies the bytes against the digest)
      finalWeights = await bus.log.getBlob(runId, lineOf(out.stdout, /^final weights (sha256:[0-9a-f]{64}) /m)[1]);
    } finally {
      await bus.close();
    }
  }, { timeout: 600_000 });
  after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  it("pretrains the base model into the cache and starts the run from it with the shortened settings", () => {
    const dirOfModel = lineOf(out.stdout, /^base model pretrained: (\S+), final loss (\S+),/m);
    assert.ok(dirOfModel[1].startsWith(join(dir, "models")), `the base model is cached under ZS_CACHE_DIR: ${dirOfModel[1]}`);
    assert.ok(existsSync(dirOfModel[1]));
    assert.ok(Number(dirOfModel[2]) > 0 && Number.isFinite(Number(dirOfModel[2])), `final loss ${dirOfModel[2]}`);
    const started = events[0].event as RunStarted;
    assert.equal(started.type, "RunStarted");
    const cfg = started.config as { actor: { train_iters: number; global_batch_size: number }; model: { pretrain: { steps: number } }; rollout: { n_samples_per_prompt: number } };
    assert.deepEqual([cfg.actor.train_iters, cfg.model.pretrain.steps], [STEPS, PRETRAIN_STEPS], "the --set overrides are the recorded config");
    const pretrained = JSON.parse(readFileSync(join(dirOfModel[1], "pretrain.json"), "utf8")) as { digest: string; losses: number[] };
    assert.equal(started.initialWeightsDigest, pretrained.digest, "the run's v0 is the pretrained base model");
    assert.equal(pretrained.losses.length, PRETRAIN_STEPS);
    assert.equal(pretrained.losses.at(-1)!.toFixed(4), dirOfModel[2], "the printed final loss is the recorded one");
    assert.equal(lineOf(out.stdout, /^run \S+: GRPO (\d+) steps x (\d+) prompts x (\d+) samples/m).slice(1).join(" "),
      `${STEPS} ${cfg.actor.global_batch_size} ${cfg.rollout.n_samples_per_prompt}`);
  });

  it("finishes its GRPO steps over the bus; every invariant holds in the log; the printed final digest is the last PolicyUpdated's", () => {
    const audit = auditEvents(events);
    assert.deepEqual(audit.violations, []);
    assert.equal(audit.steps, STEPS);
    assert.equal(audit.groups, STEPS * BATCH);
    assert.equal(audit.scored, STEPS * BATCH);
    const updates = events.flatMap((r) => (r.event.type === "PolicyUpdated" ? [r.event] : [])) as PolicyUpdated[];
    assert.deepEqual(updates.map((u) => [u.step, u.toVersion]), Array.from({ length: STEPS }, (_, i) => [i, i + 1]));
    const fin = events.find((r) => r.event.type === "RunFinished")?.event;
    assert.ok(fin?.type === "RunFinished", "RunFinished is in the log");
    assert.deepEqual([fin.reason, fin.finalVersion, fin.finalWeightsDigest], ["completed", STEPS, updates.at(-1)!.weightsDigest]);
    const printed = lineOf(out.stdout, /^final weights (sha256:[0-9a-f]{64}) /m)[1];
    assert.equal(printed, updates.at(-1)!.weightsDigest);
    assert.ok(finalWeights.length > 0, "the final weights are in the run's object store");
    assert.match(out.stdout, new RegExp(`^policy v${STEPS} on the held-out split: `, "m"));
  });

  it("prints the base and final figures its Evaluated events record, each in range, and the targets verdict they imply", () => {
    const evals = events.flatMap((r) => (r.event.type === "Evaluated" ? [r.event] : [])) as Evaluated[];
    /** The recorded metrics of one evaluation: version, greedy (k = 1, T = 0) or sampled (k = 4, T = 1). */
    const recorded = (version: number, greedy: boolean) => {
      const es = evals.filter((e) => e.policyVersion === version && e.benchmark === "heldout" && (greedy ? e.k === 1 && e.temperature === 0 : e.k === K && e.temperature === 1));
      assert.ok(es.length > 0, `no Evaluated event of v${version} ${greedy ? "greedy" : `T=1 k=${K}`}`);
      const m = es[0].metrics!;
      for (const e of es) assert.deepEqual(e.metrics, m, "every event of an evaluation carries the same metrics");
      assert.equal(es[0].n, HELDOUT);
      for (const e of es) assert.equal(e.value, m[e.metric], `v${version} ${e.metric}: the event's value is its metric`);
      const headline = greedy ? "pass@1" : `avg@${K}`;
      for (const k of [headline, "format", "accuracy", "selfcheck_rate", "truncated"]) assert.ok(m[k] >= 0 && m[k] <= 1, `v${version} ${k} ${m[k]}`);
      // base_acc (strict) passes a response only when it is both well formatted and correct
      assert.ok(m[headline] <= Math.min(m.format, m.accuracy), `v${version} ${headline} ${m[headline]}, format ${m.format}, accuracy ${m.accuracy}`);
      assert.ok(m.mean_length >= 0 && m.mean_length <= 64, `v${version} mean_length ${m.mean_length} (max_response_length 64)`);
      return m;
    };
    const check = (p: Printed, m: Record<string, number>, what: string) => {
      assert.equal(p.format.toFixed(3), m.format.toFixed(3), `${what} format`);
      assert.equal(p.accuracy.toFixed(3), m.accuracy.toFixed(3), `${what} accuracy`);
      assert.equal(p.length.toFixed(1), m.mean_length.toFixed(1), `${what} length`);
    };
    const [baseGreedy, baseT1] = figures(lineOf(out.stdout, /^base model on the held-out split: (.*)$/m)[1]);
    const [finalGreedy, finalT1] = figures(lineOf(out.stdout, new RegExp(`^policy v${STEPS} on the held-out split: (.*)$`, "m"))[1]);
    const [b0, b1, f0, f1] = [recorded(0, true), recorded(0, false), recorded(STEPS, true), recorded(STEPS, false)];
    check(baseGreedy, b0, "base greedy");
    check(baseT1, b1, "base T=1");
    check(finalGreedy, f0, "final greedy");
    check(finalT1, f1, "final T=1");
    // the evaluations are of the versions' own weights
    const digestOf = (v: number) => evals.find((e) => e.policyVersion === v)!.weightsDigest;
    assert.equal(digestOf(0), (events[0].event as RunStarted).initialWeightsDigest);
    assert.equal(digestOf(STEPS), lineOf(out.stdout, /^final weights (sha256:[0-9a-f]{64}) /m)[1]);
    // the table repeats the same figures; its verdict is the README's targets applied to them
    const row = (name: string) => lineOf(out.stdout, new RegExp(`^\\s+${name.replace(/[()=]/g, "\\$&")}\\s+(\\S+)\\s+(\\S+)`, "m")).slice(1).map(Number);
    assert.deepEqual(row("format (greedy)"), [Number(b0.format.toFixed(3)), Number(f0.format.toFixed(3))]);
    assert.deepEqual(row("accuracy (greedy)"), [Number(b0.accuracy.toFixed(3)), Number(f0.accuracy.toFixed(3))]);
    assert.deepEqual(row("mean length (greedy)"), [Number(b0.mean_length.toFixed(3)), Number(f0.mean_length.toFixed(3))]);
    assert.deepEqual(row("self-checks (greedy)"), [Math.round(b0.selfcheck_rate * HELDOUT), Math.round(f0.selfcheck_rate * HELDOUT)]);
    assert.deepEqual(row(`self-checks (T=1, ${K} per prompt)`), [Math.round(b1.selfcheck_rate * HELDOUT * K), Math.round(f1.selfcheck_rate * HELDOUT * K)]);
    const met = b0.format <= 0.3 && f0.format >= 0.95 && f0.accuracy - b0.accuracy >= 0.25;
    assert.match(out.stdout, new RegExp(`^  targets ${met ? "met" : "NOT met"}$`, "m"));
  });

  it("writes the HTML report of the run where it says, and leaves nothing running", async () => {
    const report = lineOf(out.stdout, /^report: (\S+)$/m)[1];
    assert.equal(report, join(dir, "reports", `${runId}.html`));
    const html = readFileSync(report, "utf8");
    assert.ok(html.includes(`<title>zerostream report — ${runId}</title>`), "the report is titled with the run");
    assert.match(html, /<svg/);
    assert.match(out.stdout, new RegExp(`^total time .*; the run's events: npx zerostream events tail ${runId} --no-follow --store ${store()}$`, "m"));
    assert.equal(await runningServer(store()), null, "the embedded nats-server stopped with the job");
  });
});
