// The main job end to end, shortened (a 40-step pretraining, 2 GRPO steps): pretrain → RunStarted →
// base evaluation → GRPO over the bus with worker processes → final evaluation → HTML report, all on
// an embedded nats-server. The learning targets are measured by `npm start` itself (README), not here.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { start } from "../../cli/commands/start.ts";

describe("npm start (shortened)", () => {
  it("pretrains, evaluates, trains over the bus, evaluates again and writes the report", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zs-start-"));
    process.env.ZS_CACHE_DIR = join(dir, "models");
    try {
      const r = await start({
        config: "configs/tiny-r1-zero.yaml",
        sets: ["model.pretrain.steps=40", "model.pretrain.warmup=5", "actor.train_iters=2", "runtime.threads=2"],
        store: join(dir, "nats"),
      });
      assert.equal(r.base[0].version, 0);
      assert.equal(r.final[0].version, 2);
      assert.equal(r.base[0].n, 256);
      for (const e of [...r.base, ...r.final]) {
        for (const m of ["format", "accuracy", "mean_length", "selfcheck_rate"]) assert.ok(Number.isFinite(e.metrics[m]), `${m} of v${e.version}`);
      }
      assert.ok(existsSync(r.report));
      const html = readFileSync(r.report, "utf8");
      assert.match(html, /<svg/);
      assert.ok(html.includes(r.runId));
    } finally {
      delete process.env.ZS_CACHE_DIR;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
