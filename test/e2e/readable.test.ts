// Every run stays readable. After `run` on the local store, every command that reads or extends a run
// (events tail, replay, rescore, report, eval, export, fork) works with no server given: it uses the
// embedded server on the local store and leaves nothing running. On a server with users (the cluster's
// generated authorization), `run`, `events tail` and `replay` work with --creds, with user:pass in the
// URL and with --cluster DIR; without credentials they are refused (Authorization Violation).
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { stringify } from "yaml";
import { authConfig, credsPath, ensureCreds, writeSecret } from "../../cli/cluster/auth.ts";
import { runConfig } from "../../cli/commands/run.ts";
import { runningServer, startLocalServer, type LocalServer } from "../../streams/nats-server.ts";
import { argvOf, cliRun } from "../helpers/cli.ts";
import { tinyConfig } from "../helpers/tiny.ts";

const ok = (r: { code: number | null; stdout: string; stderr: string }, what: string) =>
  assert.equal(r.code, 0, `${what} failed:\n${r.stdout}\n${r.stderr.slice(-3000)}`);

describe("every run stays readable", () => {
  let dir: string;
  let cfgFile: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "zs-readable-"));
    cfgFile = join(dir, "tiny.yaml");
    writeFileSync(cfgFile, stringify(tinyConfig()));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("on the local store, with no server given", async () => {
    const cwd = join(dir, "local");
    mkdirSync(cwd);
    const store = join(cwd, ".zerostream", "nats");
    const env = { NATS_URL: "" }; // no server from the environment either
    const run = await cliRun(["run", cfgFile, "--rollout", "1", "--reward", "1"], { cwd, env });
    ok(run, "run");
    const runId = /run (\S+): finished after 3 step\(s\)/.exec(run.stdout)?.[1];
    assert.ok(runId, run.stdout);
    const checks: [string[], (r: { stdout: string }) => void][] = [
      [["events", "tail", runId, "--no-follow"], (r) => assert.match(r.stdout, /RunFinished/)],
      [["replay", runId], (r) => assert.match(r.stdout, /audit: every invariant holds/)],
      [["rescore", runId, "--reward", "format_acc@1"], (r) => assert.match(r.stdout, /rescored by format_acc@1 against base_acc@1: 12 GroupScored published/)],
      [["report", runId, "--out", join(cwd, "r.html")], () => assert.ok(existsSync(join(cwd, "r.html")))],
      [["eval", runId, "--version", "3", "--bench", "heldout", "--limit", "4"], (r) => assert.match(r.stdout, /^v3 heldout n=4 k=1 /m)],
      [["export", runId, "--out", join(cwd, "export")], () => assert.ok(readFileSync(join(cwd, "export", "rollouts.jsonl"), "utf8").length > 0)],
    ];
    for (const [argv, check] of checks) {
      const r = await cliRun(argv, { cwd, env });
      ok(r, argv.join(" "));
      check(r);
      assert.equal(await runningServer(store), null, `${argv[0]} left its embedded server running`);
    }
    const fork = await cliRun(["fork", runId, "--at", "1"], { cwd, env });
    ok(fork, "fork");
    const cont = /continue it with: (npx zerostream run --resume (\S+))\n/.exec(fork.stdout);
    assert.ok(cont, fork.stdout);
    const resumed = await cliRun(argvOf(cont[1]), { cwd, env });
    ok(resumed, cont[1]);
    assert.match(resumed.stdout, new RegExp(`run ${cont[2]}: finished after 3 step\\(s\\), policy v3`));
    assert.equal(await runningServer(store), null);
  });

  it("refuses clearly where there is neither a server nor a local store", async () => {
    const cwd = join(dir, "empty");
    mkdirSync(cwd);
    const r = await cliRun(["replay", "some-run"], { cwd, env: { NATS_URL: "" } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no NATS server given and no local store at .*: run this where `npm start` or `zerostream run` ran, or pass --server/);
  });

  describe("on a server with users", () => {
    const URL_PASS = "p@ss:w/rd-" + process.pid;
    let cdir: string;
    let server: LocalServer;
    let runId: string;
    const admin = () => credsPath(cdir, "admin");
    before(async () => {
      cdir = join(dir, "cluster");
      const creds = ensureCreds(cdir);
      const store = join(cdir, "nodes", "n0");
      mkdirSync(store, { recursive: true });
      // the cluster's users (nkeys), plus a password user, as a server that is not ours may have one (user:pass URLs)
      writeSecret(join(store, "auth.conf"), authConfig(creds).replace("users = [\n", `users = [\n    { user: "reader", password: ${JSON.stringify(URL_PASS)} },\n`));
      server = await startLocalServer({ storeDir: store, extraConfig: `include "auth.conf"\n` });
      // the directory of a one-node cluster, as `cluster up` leaves it
      writeFileSync(join(cdir, "cluster.json"), JSON.stringify({ v: 1, nodes: [{ name: "n0", port: server.port, clusterPort: 0, httpPort: server.httpPort }], replicas: 1, createdAt: new Date().toISOString() }));
      // a run with the admin's creds: its workers join with the same creds file
      const out = await runConfig({ file: cfgFile, bus: { server: server.url, creds: admin() }, rollout: 1, reward: 1, quiet: true });
      assert.equal(out.finished, true);
      runId = out.runId;
    });
    after(async () => { await server.stop(); });

    it("events tail and replay with --creds", async () => {
      const tail = await cliRun(["events", "tail", runId, "--no-follow", "--server", server.url, "--creds", admin()], { cwd: dir });
      ok(tail, "events tail --creds");
      assert.match(tail.stdout, /RunStarted[\s\S]*PolicyUpdated[\s\S]*RunFinished/);
      const replay = await cliRun(["replay", runId, "--server", server.url, "--creds", admin()], { cwd: dir });
      ok(replay, "replay --creds");
      assert.match(replay.stdout, /audit: every invariant holds/);
    });

    it("events tail and replay with --cluster DIR, and with user:pass in the URL", async () => {
      const tail = await cliRun(["events", "tail", runId, "--no-follow", "--cluster", cdir], { cwd: dir });
      ok(tail, "events tail --cluster");
      assert.match(tail.stdout, /RunFinished/);
      const replay = await cliRun(["replay", runId, "--cluster", cdir, "--skip-weights"], { cwd: dir });
      ok(replay, "replay --cluster");
      const url = server.url.replace("nats://", `nats://reader:${encodeURIComponent(URL_PASS)}@`);
      const viaUrl = await cliRun(["events", "tail", runId, "--no-follow", "--server", url], { cwd: dir });
      ok(viaUrl, "events tail nats://user:pass@...");
      assert.match(viaUrl.stdout, /RunFinished/);
    });

    it("without credentials: refused by the server", async () => {
      const r = await cliRun(["events", "tail", runId, "--no-follow", "--server", server.url], { cwd: dir });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Authorization Violation/i);
    });
  });
});
