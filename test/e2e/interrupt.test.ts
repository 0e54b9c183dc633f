// Ctrl-C and SIGTERM during a run, as a user sends them: `run` gets SIGTERM, `start` gets SIGINT on its
// whole process group (what a terminal's Ctrl-C does). Each stops after the step in hand with exit
// status 128 + signal, leaves no process behind (its nats-server, generators and reward consumers,
// checked by PID), prints where the run stands, and the command it prints resumes the run to its end.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { stringify } from "yaml";
import { alive, argvOf, cli, descendants } from "../helpers/cli.ts";
import { tinyConfig } from "../helpers/tiny.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function allGone(procs: [number, string][], ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (procs.some(([p]) => alive(p)) && Date.now() < end) await sleep(50);
  const left = procs.filter(([p]) => alive(p));
  for (const [p] of left) process.kill(p, "SIGKILL");
  assert.deepEqual(left, [], "processes left behind");
}

describe("interrupting a run", () => {
  let dir: string;
  const config = (steps: number) => {
    const c = tinyConfig();
    (c.actor as Record<string, unknown>).train_iters = steps;
    const file = join(dir, `tiny-${steps}.yaml`);
    writeFileSync(file, stringify(c));
    return file;
  };
  before(() => { dir = mkdtempSync(join(tmpdir(), "zs-interrupt-")); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("run: SIGTERM stops it and every child; the printed command resumes it", async () => {
    const cwd = join(dir, "run");
    mkdirSync(cwd);
    const p = cli(["run", config(30)], { cwd });
    await p.waitFor(/"step":2,[^\n]*"policy updated"/);
    const kids = descendants(p.child.pid!);
    assert.equal(kids.filter(([, c]) => c.includes("nats-server")).length, 1, JSON.stringify(kids));
    assert.equal(kids.filter(([, c]) => / worker (rollout|reward) /.test(c)).length, 4, JSON.stringify(kids));
    p.child.kill("SIGTERM");
    const r = await p.done;
    assert.equal(r.code, 143, r.stderr.slice(-2000));
    await allGone(kids);
    const m = /run (\S+): interrupted by SIGTERM after (\d+) step\(s\), policy v(\d+), weights sha256:[0-9a-f]{64}\nresume it with: (npx zerostream run --resume \S+)\n/.exec(r.stdout);
    assert.ok(m, r.stdout);
    const [, runId, steps, version, resume] = m;
    assert.ok(Number(steps) >= 3 && Number(steps) < 30 && steps === version, `${steps} steps, v${version}`);
    assert.equal(resume, `npx zerostream run --resume ${runId}`);

    const again = cli(argvOf(resume), { cwd });
    const res = await again.done;
    assert.equal(res.code, 0, res.stderr.slice(-2000));
    assert.match(res.stderr, new RegExp(`"updater ready"`));
    assert.ok(res.stderr.includes(`"step":${steps},"version":${version}`), "the resumed updater starts where the run stood");
    assert.match(res.stdout, new RegExp(`run ${runId}: finished after 30 step\\(s\\), policy v30`));
  });

  it("start: Ctrl-C (SIGINT to its process group) stops it and every child; `start --resume` finishes the job", async () => {
    const cwd = join(dir, "start");
    mkdirSync(cwd);
    const p = cli(["start", "--config", config(20)], { cwd, detached: true });
    await p.waitFor(/"step":2,[^\n]*"policy updated"/);
    const kids = descendants(p.child.pid!);
    assert.equal(kids.filter(([, c]) => / worker (rollout|reward) /.test(c) || c.includes("nats-server")).length, 5, JSON.stringify(kids));
    process.kill(-p.child.pid!, "SIGINT");
    const r = await p.done;
    assert.equal(r.code, 130, r.stderr.slice(-2000));
    await allGone(kids);
    assert.match(r.stdout, /interrupted by SIGINT while training; the workers and the embedded nats-server are stopped\./);
    const m = /run (\S+) stands after (\d+) GRPO step\(s\), policy v(\d+), weights sha256:[0-9a-f]{64}\nresume it with: {2}npm start -- --resume (\S+)\nor only its training: {2}npx zerostream run --resume (\S+)\n/.exec(r.stdout);
    assert.ok(m, r.stdout);
    const [, runId, steps, , resumeId, trainId] = m;
    assert.ok(Number(steps) >= 3 && Number(steps) < 20, `${steps} steps`);
    assert.equal(resumeId, runId);
    assert.equal(trainId, runId);

    // `npm start -- --resume <run>` is setup (npm install, native build: a no-op here) then this
    const res = await cli(["start", "--resume", runId], { cwd }).done;
    assert.equal(res.code, 0, res.stderr.slice(-2000));
    assert.ok(res.stderr.includes(`"step":${steps},"version":${steps}`), "the resumed updater starts where the run stood");
    assert.match(res.stdout, /policy v20 on the held-out split/);
    assert.match(res.stdout, new RegExp(`report: .*${runId}\\.html`));
  });
});
