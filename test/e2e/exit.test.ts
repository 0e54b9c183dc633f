// A finished command exits even when a library leaves a handle open (cli/bin.mjs): a nats.js ordered
// consumer's heartbeat monitor was seen to outlive its connection and keep a test process alive for 19
// minutes. Here a preloaded module leaves an interval running beside a real command (`config check`).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

const root = join(import.meta.dirname, "..", "..");
const bin = join(root, "cli", "bin.mjs");
const leak = join(mkdtempSync(join(tmpdir(), "zs-exit-")), "leak.mjs");
writeFileSync(leak, "setInterval(() => {}, 1000);\n");
const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ["--import", leak, bin, ...args], { cwd: root, encoding: "utf8", timeout: 60_000, env: { ...process.env, ZS_EXIT_GRACE_MS: "1000", ...env } });

describe("the zerostream command exits once its work is done", () => {
  it("with a handle left open: after the grace period, with the command's code, naming what was open", () => {
    const ok = cli(["config", "check", "configs/tiny-r1-zero.yaml"]);
    assert.equal(ok.signal, null, "not killed by the spawn timeout");
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stderr, /exiting 1000 ms after the command finished with handles still open \(.*Timeout/);
    const bad = cli(["config", "check", "configs/no-such-file.yaml"]);
    assert.equal(bad.signal, null, "not killed by the spawn timeout");
    assert.equal(bad.status, 1, "the command's own exit code");
  });

  it("with nothing left open: at once, without the notice", () => {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [bin, "config", "check", "configs/tiny-r1-zero.yaml"], { cwd: root, encoding: "utf8", timeout: 60_000, env: { ...process.env, ZS_EXIT_GRACE_MS: "30000" } });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(performance.now() - t0 < 25_000, "did not wait for the 30 s grace period");
    assert.doesNotMatch(r.stderr, /handles still open/);
  });
});
