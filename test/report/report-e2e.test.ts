// End to end: a real tiny GRPO run on a real nats-server, Evaluated events added to its log, the
// report written by `zerostream report`, then opened from file:// in headless Chromium (Debian's
// chromium package) to check that every chart rendered and that the page fetched nothing. A second
// real run, off-policy (lag 1, tis, dynamic sampling), gets its own report and one comparing the two.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, it } from "node:test";
import { chromium, type Browser, type Page } from "playwright-core";
import { runConfig } from "../../cli/commands/run.ts";
import { run as reportCommand } from "../../cli/commands/report.ts";
import { EmptyRunError, OFF_POLICY_CHARTS, TRAINING_CHARTS } from "../../offline/report/index.ts";
import type { Evaluated, GroupSampled, PolicyUpdated, RunStarted } from "../../streams/events/index.ts";
import { startBus, type Bus } from "../helpers/nats.ts";
import { tinyConfig, writeConfig } from "../helpers/tiny.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

function evaluatedAt(runId: string, version: number, digest: string, texts: string[]): Evaluated {
  return {
    type: "Evaluated", v: 2, runId, policyVersion: version, weightsDigest: digest, benchmark: "addition-heldout", temperature: 0, seed: null,
    metric: "pass@1", value: 0.1 + 0.2 * version, n: 32, k: 1, scorer: "base_acc@1",
    metrics: { format_rate: 0.05 * version, selfcheck_rate: 0.01 * version, mean_length: 10 + version },
    samples: texts.slice(0, 3).map((text, i) => ({ promptId: `h${i}`, text, reward: 0, outcome: "wrong" })),
  };
}

type ChartCheck = { id: string; svgs: number; width: number; height: number; paths: number; visiblePaths: number; seriesLength: number };

/** Every chart figure of the page, measured as Chromium renders it. */
async function chartChecks(page: Page): Promise<ChartCheck[]> {
  return page.$$eval("figure.chart", (figs) => figs.map((f) => {
    const svg = f.querySelector("svg");
    const box = svg?.getBoundingClientRect();
    const paths = [...f.querySelectorAll("svg path")] as SVGPathElement[];
    const visible = paths.filter((p) => { const b = p.getBoundingClientRect(); return (b.width > 0 || b.height > 0) && (p.getAttribute("d") ?? "").length > 0; });
    // the series lines: paths inside the plot's clip groups, with their rendered length
    const series = [...f.querySelectorAll("svg g[clip-path] > path")] as SVGPathElement[];
    return {
      id: f.id, svgs: f.querySelectorAll("svg").length, width: box?.width ?? 0, height: box?.height ?? 0,
      paths: paths.length, visiblePaths: visible.length, seriesLength: series.reduce((a, p) => a + p.getTotalLength(), 0),
    };
  }));
}

function assertRendered(charts: ChartCheck[]): void {
  for (const c of charts) {
    assert.equal(c.svgs, 1, `${c.id}: ${c.svgs} svg elements`);
    assert.ok(c.width > 200 && c.height > 100, `${c.id}: svg rendered at ${c.width}x${c.height}`);
    assert.ok(c.visiblePaths >= 5, `${c.id}: ${c.visiblePaths} of ${c.paths} paths have a non-empty box`);
    assert.ok(c.seriesLength > 50, `${c.id}: the series lines have a rendered length of ${c.seriesLength}`);
  }
}

const BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

describe("report of a real tiny run, rendered in headless Chromium", () => {
  let bus: Bus;
  let browser: Browser | undefined;
  let syncRun = "";
  before(async () => { bus = await startBus(); });

  /** Opens a report from file:// and checks that it fetched nothing but itself and logged no error. */
  async function open(file: string): Promise<{ page: Page; done: () => void }> {
    browser ??= await chromium.launch({ executablePath: CHROMIUM, args: BROWSER_ARGS });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const requests: string[] = [];
    const errors: string[] = [];
    page.on("request", (r) => requests.push(r.url()));
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    const url = pathToFileURL(file).href;
    await page.goto(url, { waitUntil: "load" });
    return { page, done: () => { assert.deepEqual(requests, [url], `the report fetched more than itself: ${requests.join(", ")}`); assert.deepEqual(errors, []); } };
  }
  after(async () => { await browser?.close(); await bus.stop(); });

  it("renders every chart of the report of a real run", async () => {
    assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium) or set CHROMIUM_PATH; this test needs it to check that the report's charts render`);
    const out = await runConfig({ file: writeConfig(tinyConfig()), server: bus.server.url, rollout: 1, reward: 1, quiet: true });
    assert.equal(out.finished, true);
    syncRun = out.runId;
    const logged = await bus.log.replayAll(out.runId);
    const started = logged.find((r) => r.event.type === "RunStarted")!.event as RunStarted;
    const updates = logged.flatMap((r) => (r.event.type === "PolicyUpdated" ? [r.event as PolicyUpdated] : []));
    const texts = logged.flatMap((r) => (r.event.type === "GroupSampled" ? (r.event as GroupSampled).samples.map((s) => s.text) : []));
    await bus.log.publish(evaluatedAt(out.runId, 0, started.initialWeightsDigest, texts));
    await bus.log.publish(evaluatedAt(out.runId, out.version, updates.at(-1)!.weightsDigest, texts.slice(-3)));

    const dir = mkdtempSync(join(tmpdir(), "zs-report-e2e-"));
    const file = join(dir, `${out.runId}.html`);
    assert.equal(await reportCommand([out.runId, "--server", bus.server.url, "--out", file]), 0);
    const html = readFileSync(file, "utf8");
    assert.ok(!/<script/i.test(html));

    const { page, done } = await open(file);
    const charts = await chartChecks(page);
    // a synchronous run records its sampler–trainer mismatch (0 here: sampler and trainer give the same bits), not drawn staleness
    const expected = [...TRAINING_CHARTS.map((c) => `chart-${c.id}`), "chart-mismatch", "chart-mismatch-gap", "chart-selfcheck", "chart-eval"];
    assert.deepEqual(charts.map((c) => c.id), expected);
    assertRendered(charts);
    const evalRows = await page.$$eval("#eval-table tbody tr", (rows) => rows.map((r) => (r as HTMLElement).innerText));
    assert.equal(evalRows.length, 4);
    assert.ok(await page.locator("#samples-training .sample pre").count() >= 2);
    done();

    const shot = join(dir, `${out.runId}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    process.stdout.write(`report ${file}, screenshot ${shot}\n`);
  });

  it("reports a real off-policy run (lag 1, tis, dynamic sampling) and compares it with the synchronous one", async () => {
    assert.ok(syncRun, "the synchronous run of the first test");
    const cfg = tinyConfig({
      rollout: { n_samples_per_prompt: 4, prompts_per_task: 2, max_staleness: 1 },
      algorithm: { kl_coef: 0.001, off_policy: "tis", dynamic_sampling: { enable: true, max_fill_rounds: 1 } },
    });
    const out = await runConfig({ file: writeConfig(cfg), server: bus.server.url, rollout: 1, reward: 1, quiet: true });
    assert.equal(out.finished, true);
    const logged = await bus.log.replayAll(out.runId);
    const started = logged.find((r) => r.event.type === "RunStarted")!.event as RunStarted;
    const updates = logged.flatMap((r) => (r.event.type === "PolicyUpdated" ? [r.event as PolicyUpdated] : []));
    assert.ok(updates.some((u) => u.staleness!.some((x) => x > 0)), "some group sampled by an older policy");
    assert.ok(updates.every((u) => u.stats.isWeightMean !== undefined && u.fillRounds !== undefined && u.timings.proxMs !== undefined));
    await bus.log.publish(evaluatedAt(out.runId, 0, started.initialWeightsDigest, ["a"]));
    await bus.log.publish(evaluatedAt(out.runId, out.version, updates.at(-1)!.weightsDigest, ["b"]));

    const dir = mkdtempSync(join(tmpdir(), "zs-report-e2e-off-"));
    const single = join(dir, `${out.runId}.html`);
    assert.equal(await reportCommand([out.runId, "--server", bus.server.url, "--out", single]), 0);
    const one = await open(single);
    const charts = await chartChecks(one.page);
    assert.deepEqual(charts.map((c) => c.id), [...TRAINING_CHARTS, ...OFF_POLICY_CHARTS].map((c) => `chart-${c.id}`).concat("chart-selfcheck", "chart-eval"));
    assertRendered(charts);
    assert.match(await one.page.locator("#off-policy-settings").innerText(), /max staleness\s+1 \(step k sampled by policy v\(k − 1\)\)[\s\S]*tis, cap 2[\s\S]*on, at most 1 fill rounds/);
    one.done();

    const cmp = join(dir, "compare.html");
    assert.equal(await reportCommand([syncRun, out.runId, "--server", bus.server.url, "--out", cmp, "--label", `${syncRun}=sync`, "--label", `${out.runId}=tis lag 1`]), 0);
    const two = await open(cmp);
    const compared = await chartChecks(two.page);
    for (const id of ["reward", "accuracy", "length", "mismatch", "is-weight", "staleness", "eval-0"]) assert.ok(compared.some((c) => c.id === `chart-${id}`), id);
    assertRendered(compared);
    const rows = await two.page.$$eval("#runs-table tbody tr", (trs) => trs.map((r) => [...r.querySelectorAll("td")].slice(1, 7).map((td) => (td as HTMLElement).innerText)));
    assert.deepEqual(rows, [["sync", "sync", syncRun, "7", "0", "none"], ["tis lag 1", "tis lag 1", out.runId, "7", "1", "tis, cap 2"]]);
    two.done();
    await two.page.screenshot({ path: join(dir, "compare.png"), fullPage: true });
    process.stdout.write(`comparison ${cmp}\n`);
  });

  it("refuses a run with no events, a call without a run id, and a label of a run not compared", async () => {
    assert.equal(await reportCommand(["r1", "r2", "--label", "r3=x"]), 2);
    assert.equal(await reportCommand(["r1", "r2", "--label", "r1"]), 2);
    assert.equal(await reportCommand(["r1", "--label", "r1=x"]), 2);
    const out = join(mkdtempSync(join(tmpdir(), "zs-report-none-")), "none.html");
    await assert.rejects(reportCommand(["no-such-run", "--server", bus.server.url, "--out", out]), EmptyRunError);
    assert.ok(!existsSync(out));
    assert.equal(await reportCommand([]), 2);
  });
});
