// The report from constructed events: one SVG per chart drawn from the real per-step values, the
// evaluation table per policy version, samples before and after, everything from the log escaped.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { buildReport, EmptyRunError, foldReport, TRAINING_CHARTS, writeReport } from "../../offline/report/index.ts";
import { parseEvent, type ZsEvent } from "../../streams/events/index.ts";
import { groupSampled, groupScored, runStarted } from "../helpers/events.ts";
import { tinyConfig } from "../helpers/tiny.ts";
import { resolveConfig } from "../../streams/config.ts";
import { evaluated, policyUpdated, stats } from "./events.ts";
import { chartSvg, seriesLines } from "./svg.ts";

const RUN = "rep-unit";
const XSS = `<script>alert("pwned")</script>`;

function runEvents(): ZsEvent[] {
  const started = runStarted(RUN);
  const tiny = tinyConfig();
  started.config = resolveConfig({
    ...tiny, seed: 1, model: { ...(tiny.model as object), name: "tiny-base" }, actor: { global_batch_size: 2, micro_batch_size: 4, train_iters: 3, lr: 0.001 },
    algorithm: { adv_estimator: "grpo", kl_coef: 0.001, clip_ratio: 0.2 }, rollout: { n_samples_per_prompt: 2, prompts_per_task: 2 },
  }) as unknown as Record<string, unknown>;
  const out: ZsEvent[] = [started];
  for (let step = 0; step < 3; step++) {
    for (let slot = 0; slot < 2; slot++) {
      const g = groupSampled(RUN, step, slot);
      g.samples[0].text = step === 0 ? `just 2 ${XSS}` : `<think>1+1 is 2, check: 2-1 = 1</think><answer>2</answer> step ${step}`;
      g.prompt.text = `What is 1+1? <img src=x onerror=alert(1)>`;
      out.push(g, groupScored(RUN, step, slot));
    }
    out.push(policyUpdated(RUN, step));
  }
  out.push(evaluated(RUN, 0, { samples: [{ promptId: "h1", text: `eval ${XSS}`, reward: 0, outcome: "wrong" }] }), evaluated(RUN, 3));
  out.push({ type: "RunFinished", v: 1, runId: RUN, reason: "completed", finalVersion: 3, finalWeightsDigest: `sha256:${"1".repeat(64)}` });
  return out;
}

describe("report from constructed events", () => {
  const events = runEvents();

  it("uses events that satisfy the schemas", () => {
    for (const e of events) assert.doesNotThrow(() => parseEvent(structuredClone(e)), e.type);
  });

  it("draws one SVG per training chart, each with a line through every step's value", () => {
    const { html, charts } = buildReport(events);
    assert.deepEqual(charts.map((c) => c.id), [...TRAINING_CHARTS.map((c) => c.id), "selfcheck", "eval"]);
    for (const spec of TRAINING_CHARTS) {
      const svg = chartSvg(html, spec.id);
      const lines = seriesLines(svg);
      // a stacked area series draws its area and its line
      assert.equal(lines.length, spec.series.length * (spec.stack ? 2 : 1), `${spec.id}: ${lines.length} series paths for ${spec.series.length} series`);
      if (!spec.stack) for (const l of lines) assert.equal(l.length, 3, `${spec.id}: a series path with ${l.length} vertices for 3 steps`);
    }
    // values rise on the format chart (0.2, 0.45, 0.7): screen y falls, evenly; entropy falls (2, 1.8, 1.6): y rises
    const [format] = seriesLines(chartSvg(html, "format"));
    assert.ok(format[0][1] > format[1][1] && format[1][1] > format[2][1], `format y ${format.map((p) => p[1])}`);
    assert.ok(Math.abs((format[0][1] - format[1][1]) - (format[1][1] - format[2][1])) < 0.5);
    assert.ok(format[0][0] < format[1][0] && format[1][0] < format[2][0]);
    const [entropy] = seriesLines(chartSvg(html, "entropy"));
    assert.ok(entropy[0][1] < entropy[1][1] && entropy[1][1] < entropy[2][1], `entropy y ${entropy.map((p) => p[1])}`);
    // one data symbol per step and series where symbols are drawn
    const symbols = chartSvg(html, "length").match(/ecmeta_ssr_type="chart"/g) ?? [];
    assert.equal(symbols.length, 2 * 3);
  });

  it("shows the evaluation table per policy version, with the self-check metric called out", () => {
    const { html } = buildReport(events);
    const table = /<table class="data" id="eval-table">([\s\S]*?)<\/table>/.exec(html)?.[1] ?? "";
    assert.match(table, /<th>v0<\/th><th>v3<\/th>/);
    assert.match(table, /<td class="l">addition-heldout<\/td><td class="l">pass@1<\/td><td>1<\/td><td>64<\/td><td>0\.2<\/td><td>0\.8<\/td><td class="delta">\+0\.6<\/td>/);
    assert.match(table, /<tr class="selfcheck"><td class="l">addition-heldout<\/td><td class="l">selfcheck_rate<\/td>.*<td>0\.02<\/td><td>0\.32<\/td>/);
    assert.match(table, /mean_length<\/td>.*<td>12<\/td><td>15<\/td><td class="delta">\+3<\/td>/);
    assert.match(html, /Self-checking responses.*selfcheck_rate 0\.02 \(1 of 64\) at v0 → 0\.32 \(20 of 64\) at v3/);
    const evalChart = chartSvg(html, "eval");
    assert.equal(seriesLines(evalChart).length, 3, "the rates pass@1, format_rate and selfcheck_rate are drawn; mean_length is not a rate");
  });

  it("shows sample responses before and after, HTML-escaped", () => {
    const { html, model } = buildReport(events);
    assert.equal(model.before?.step, 0);
    assert.equal(model.after?.step, 2);
    assert.ok(!/<script/i.test(html), "the report must not contain a <script> element");
    assert.ok(!/<img/i.test(html));
    assert.ok(html.includes("just 2 &lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;"));
    assert.ok(html.includes("eval &lt;script&gt;"));
    assert.ok(html.includes("What is 1+1? &lt;img src=x onerror=alert(1)&gt;"));
    assert.match(html, /id="samples-training"[\s\S]*Before: step 0, policy v0[\s\S]*After: step 2, policy v2[\s\S]*<mark class="check">check<\/mark>: 2-1 = 1&lt;\/think&gt;/);
    assert.match(html, /id="samples-eval"[\s\S]*Before: policy v0[\s\S]*After: policy v3/);
    // self-checking responses (the evaluator's rule) are counted over all of the step's samples and marked
    assert.deepEqual([model.before?.selfChecks, model.before?.samples, model.after?.selfChecks, model.after?.samples], [0, 4, 2, 4]);
    assert.deepEqual([...html.matchAll(/<b class="selfchecks">([^<]*)<\/b>/g)].map((m) => m[1]), ["0 of 4", "2 of 4"]);
    assert.equal(html.match(/<span class="badge selfcheck">/g)?.length, 2 + 1, "2 training samples shown after, 1 evaluation sample at v3");
  });

  it("is self-contained: no script, no external resource", () => {
    const { html } = buildReport(events);
    assert.ok(!/<[^>]*\s(src|href)\s*=/i.test(html), "no src= or href= attributes");
    assert.ok(!/url\((?!#)/i.test(html), "no url() other than in-document references");
    assert.ok(!/@import/i.test(html));
  });

  it("shows the run header from RunStarted and RunFinished", () => {
    const { html } = buildReport(events);
    assert.match(html, /<h1>zerostream run <code>rep-unit<\/code><\/h1>/);
    assert.match(html, /completed at policy v3/);
    assert.match(html, /tiny-base \(random init\) — hidden layers 2, hidden size 32/);
    assert.match(html, /<th>KL<\/th><td>0\.001 × k3 in the loss<\/td>/);
  });

  it("writes the file and copes with a run that has not updated yet", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "zs-report-")), "sub", "r.html");
    const written = await writeReport(events.slice(0, 3), file);
    const html = readFileSync(written, "utf8");
    assert.match(html, /No policy updates in the log yet/);
    assert.ok(!html.includes("<svg"));
    assert.match(html, /not finished/);
    assert.throws(() => foldReport([]), EmptyRunError);
  });

  it("keeps one row per step when a step's update appears twice: the first (the run fold's rule)", () => {
    const m = foldReport([...events, policyUpdated(RUN, 2, stats(2, { rewardMean: 0.9 }))]);
    assert.equal(m.steps.length, 3);
    assert.equal(m.steps[2].stats.rewardMean, stats(2).rewardMean);
  });
});
