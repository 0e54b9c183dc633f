// The comparison page from constructed logs: "none" at two seeds and "tis" at one, each at lag 2. Every
// run has its line on every chart it has data for (a label's runs one colour, one dash each, their
// mean drawn), the held-out evaluations per policy version, the table of settings and final values.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { buildComparison, ComparisonError, EmptyRunError, writeComparison, type ComparedRun } from "../../offline/report/index.ts";
import { resolveConfig } from "../../streams/config.ts";
import { parseEvent, type RunStarted, type ZsEvent } from "../../streams/events/index.ts";
import { runStarted } from "../helpers/events.ts";
import { tinyConfig } from "../helpers/tiny.ts";
import { evaluated, offPolicyUpdated, policyUpdated, stats } from "./events.ts";
import { chartSvg, figureIds, seriesPaths, type SeriesPath } from "./svg.ts";

const STEPS = 4;

function started(runId: string, seed: number, offPolicy: string, runName = "cmp"): RunStarted {
  const s = runStarted(runId);
  const tiny = tinyConfig();
  s.config = resolveConfig({
    ...tiny, run_name: runName, seed, rollout: { ...(tiny.rollout as object), max_staleness: 2 },
    algorithm: { ...(tiny.algorithm as object), off_policy: offPolicy }, actor: { ...(tiny.actor as object), train_iters: STEPS },
  }) as unknown as RunStarted["config"];
  s.seed = seed;
  return s;
}

/** A run whose reward is 0.1·k + `shift` at step k, pass@1 0.2 at v0 and 0.5 + shift at v4. */
function run(runId: string, seed: number, offPolicy: string, shift: number, runName?: string): ZsEvent[] {
  const corrected = offPolicy !== "none";
  return [
    started(runId, seed, offPolicy, runName),
    ...Array.from({ length: STEPS }, (_, k) => offPolicyUpdated(runId, k, { corrected, lag: 2, over: { rewardMean: 0.1 * k + shift, accuracyRate: 0.05 * k + shift } })),
    evaluated(runId, 0, { value: 0.2 }), evaluated(runId, STEPS, { value: 0.5 + shift }),
    { type: "RunFinished", v: 1, runId, reason: "completed", finalVersion: STEPS, finalWeightsDigest: `sha256:${"1".repeat(64)}` },
  ];
}

const RUNS = [
  { label: "none", events: run("cmp-none-7", 7, "none", 0) },
  { label: "none", events: run("cmp-none-8", 8, "none", 0.2) },
  { label: "tis <2>", events: run("cmp-tis-7", 7, "tis", 0.4) },
] satisfies ComparedRun[];

/** A chart's series in drawing order, each checked to have `points` vertices. */
function paths(html: string, id: string, points: number): SeriesPath[] {
  const ps = seriesPaths(chartSvg(html, id));
  for (const p of ps) assert.equal(p.points.length, points, `${id}: a line of ${p.points.length} points`);
  return ps;
}

function runRows(html: string): string[][] {
  const t = /<table class="data" id="runs-table">([\s\S]*?)<\/table>/.exec(html)?.[1] ?? "";
  return [...t.matchAll(/<tr data-run="[^"]*">([\s\S]*?)<\/tr>/g)].map((m) => [...m[1].matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) => c[1]));
}

describe("comparison of several runs", () => {
  it("uses events that satisfy the schemas", () => {
    for (const r of RUNS) for (const e of r.events) assert.doesNotThrow(() => parseEvent(structuredClone(e)), e.type);
  });

  it("draws every run on each metric's chart: a label's runs in one colour and two dashes, their mean under them", () => {
    const { html, runs, charts } = buildComparison(RUNS);
    assert.deepEqual(runs.map((r) => r.name), ["none · seed 7", "none · seed 8", "tis <2>"]);
    assert.deepEqual(figureIds(html), charts.map((c) => c.id));
    for (const id of ["reward", "accuracy", "length", "mismatch", "mismatch-gap", "staleness", "is-weight", "eval-0"]) assert.ok(figureIds(html).includes(id), id);
    assert.ok(!figureIds(html).includes("dropped"), "no run has dynamic sampling");

    const [mean, seed7, seed8, tis] = paths(html, "reward", STEPS);
    assert.equal(seed7.stroke, seed8.stroke);
    assert.equal(seed7.stroke, mean.stroke);
    assert.notEqual(tis.stroke, seed7.stroke);
    assert.equal(seed7.dash, undefined);
    assert.ok(seed8.dash, "the second seed is dashed");
    assert.ok(mean.width! > seed7.width! && seed7.opacity! < 1, "the mean is thick, its runs faded");
    assert.equal(tis.opacity, undefined, "a label of one run is drawn plainly");
    // the mean lies halfway between the two seeds at every step (a linear axis), the rewards rise
    mean.points.forEach(([x, y], i) => {
      assert.equal(x, seed7.points[i][0]);
      assert.ok(Math.abs(y - (seed7.points[i][1] + seed8.points[i][1]) / 2) < 0.5, `step ${i}: mean y ${y}, seeds ${seed7.points[i][1]} ${seed8.points[i][1]}`);
    });
    assert.ok(tis.points[0][1] < seed8.points[0][1] && seed8.points[0][1] < seed7.points[0][1]);

    // only the tis run has importance weights: one line, no mean
    assert.deepEqual(paths(html, "is-weight", STEPS).map((p) => p.stroke), [tis.stroke]);
    // held-out pass@1 over versions 0 and 4: 0.2 → 0.5, 0.7 (mean 0.6), 0.9
    const [emean, e7, e8, etis] = paths(html, "eval-0", 2);
    assert.equal(e7.points[0][1], etis.points[0][1]);
    assert.ok(e7.points[1][1] > emean.points[1][1] && emean.points[1][1] > e8.points[1][1] && e8.points[1][1] > etis.points[1][1]);
    assert.match(html, /<figcaption>addition-heldout · pass@1/);
  });

  it("tables each run's settings and final values, and each label's mean over its runs", () => {
    const { html } = buildComparison(RUNS);
    const rows = runRows(html).map((r) => r.slice(1));
    assert.deepEqual(rows.map((r) => r.slice(0, 12)), [
      ["none · seed 7", "none", "cmp-none-7", "7", "2", "none", "off", "4 of 4", "completed at v4", "0.3", "0.15", "–"],
      ["none · seed 8", "none", "cmp-none-8", "8", "2", "none", "off", "4 of 4", "completed at v4", "0.5", "0.35", "–"],
      ["tis &lt;2&gt;", "tis &lt;2&gt;", "cmp-tis-7", "7", "2", "tis, cap 2", "off", "4 of 4", "completed at v4", "0.7", "0.55", "–"],
    ]);
    assert.deepEqual(rows.map((r) => r[12]), ["0.5 <small>v4</small>", "0.7 <small>v4</small>", "0.9 <small>v4</small>"]);
    assert.match(html, /<th>last addition-heldout · pass@1<\/th>/);
    const labels = /<table class="data" id="labels-table">([\s\S]*?)<\/table>/.exec(html)?.[1] ?? "";
    // two seeds 0.2 apart: mean halfway, sample standard deviation 0.2/√2
    assert.match(labels, /none<\/td><td>2<\/td><td>0\.4 ± 0\.14<\/td><td>0\.25 ± 0\.14<\/td><td>0\.6 ± 0\.14<\/td><\/tr>/);
    assert.ok(!labels.includes("tis"), "a label of one run has no mean row");
    assert.ok(!/<script|<[^>]*\s(src|href)\s*=/i.test(html), "self-contained, and the labels escaped");
    assert.match(html, /<li><svg class="swatch"[^>]*>.*?<\/svg><b>none · mean of 2<\/b><\/li>/);
  });

  it("labels runs given none by run_name when they differ only in the seed, else by run id; --no-mean drops the means", () => {
    const seeds = buildComparison([{ events: run("a-7", 7, "none", 0, "sweep") }, { events: run("a-8", 8, "none", 0.1, "sweep") }]);
    assert.deepEqual(seeds.runs.map((r) => [r.label, r.name]), [["sweep", "sweep · seed 7"], ["sweep", "sweep · seed 8"]]);
    const settings = buildComparison([{ events: run("b-none", 7, "none", 0, "sweep") }, { events: run("b-tis", 8, "tis", 0.1, "sweep") }]);
    assert.deepEqual(settings.runs.map((r) => r.label), ["b-none", "b-tis"]);
    assert.notEqual(settings.runs[0].color, settings.runs[1].color);
    const noMean = buildComparison(RUNS, { mean: false });
    assert.equal(seriesPaths(chartSvg(noMean.html, "reward")).length, 3);
    assert.ok(!noMean.html.includes("mean of 2"));
  });

  it("compares logs from before the off-policy fields: their charts only", () => {
    const old = (runId: string, seed: number): ZsEvent[] => {
      const s = started(runId, seed, "none");
      return [s, ...Array.from({ length: STEPS }, (_, k) => policyUpdated(runId, k, stats(k)))];
    };
    const { html, charts } = buildComparison([{ events: old("o-1", 1) }, { events: old("o-2", 2) }]);
    assert.deepEqual(charts.map((c) => c.id), ["reward", "accuracy", "format", "length", "entropy", "kl"]);
    assert.match(html, /No Evaluated events in these runs/);
  });

  it("writes the file; refuses a run given twice and a run with no events", async () => {
    const file = await writeComparison(RUNS, join(mkdtempSync(join(tmpdir(), "zs-compare-")), "sub", "c.html"));
    assert.match(readFileSync(file, "utf8"), /zerostream comparison of 3 runs/);
    assert.throws(() => buildComparison([RUNS[0], RUNS[0]]), ComparisonError);
    assert.throws(() => buildComparison([RUNS[0], { events: [] }]), EmptyRunError);
  });
});
