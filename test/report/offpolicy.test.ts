// The single-run report's off-policy telemetry (issue 13): the mismatch, the correction's weights, the
// staleness and dynamic sampling drawn and tabled when the run has them, the settings in the header;
// a log from before them (no such fields, a config without the keys) shows none of it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildReport, OFF_POLICY_CHARTS, TRAINING_CHARTS } from "../../offline/report/index.ts";
import { resolveConfig } from "../../streams/config.ts";
import { parseEvent, type RunStarted, type ZsEvent } from "../../streams/events/index.ts";
import { runStarted } from "../helpers/events.ts";
import { tinyConfig } from "../helpers/tiny.ts";
import { offPolicyUpdated, policyUpdated } from "./events.ts";
import { chartSvg, figureIds, seriesLines } from "./svg.ts";

const STEPS = 4;

function started(runId: string, over: { rollout?: object; algorithm?: object } = {}): RunStarted {
  const s = runStarted(runId);
  const tiny = tinyConfig();
  s.config = resolveConfig({
    ...tiny, rollout: { ...(tiny.rollout as object), ...over.rollout }, algorithm: { ...(tiny.algorithm as object), ...over.algorithm },
    actor: { ...(tiny.actor as object), train_iters: STEPS },
  }) as unknown as RunStarted["config"];
  return s;
}

/** The step table as column → the cells of each step. */
function stepTable(html: string): Map<string, string[]> {
  const t = /<summary>Per-step statistics[^<]*<\/summary><div class="scroll"><table class="data">([\s\S]*?)<\/table>/.exec(html)?.[1];
  assert.ok(t, "no step table");
  const head = [...t.matchAll(/<th>([^<]*)<\/th>/g)].map((m) => m[1]);
  const rows = [...t.matchAll(/<tr>((?:<td>[^<]*<\/td>)+)<\/tr>/g)].map((m) => [...m[1].matchAll(/<td>([^<]*)<\/td>/g)].map((c) => c[1]));
  return new Map(head.map((h, i) => [h, rows.map((r) => r[i])]));
}

/** The rows of the header's off-policy card, or undefined when it has none. */
function offPolicyCard(html: string): Record<string, string> | undefined {
  const card = /<div id="off-policy-settings">([\s\S]*?)<\/table><\/div>/.exec(html)?.[1];
  return card === undefined ? undefined : Object.fromEntries([...card.matchAll(/<tr><th>([^<]*)<\/th><td>([^<]*)<\/td><\/tr>/g)].map((m) => [m[1], m[2]]));
}

const OLD_COLUMNS = ["step", "reward", "format", "accuracy", "length", "max len", "truncated", "kl", "entropy", "clip frac", "loss", "grad norm", "lr", "zero-adv groups", "step ms"];

describe("report: off-policy telemetry of a run", () => {
  it("draws and tables the mismatch, the correction's weights, the staleness and dynamic sampling of a tis run at lag 2", () => {
    const events: ZsEvent[] = [
      started("rep-tis", {
        rollout: { max_staleness: 2 },
        algorithm: { off_policy: "tis", tis_cap: 1.5, dynamic_sampling: { enable: true, max_fill_rounds: 2 }, overlong_buffer: 4, overlong_penalty_factor: 0.5, overlong_filter: true, entropy_coeff: 0.01 },
      }),
      ...Array.from({ length: STEPS }, (_, k) => offPolicyUpdated("rep-tis", k, { corrected: true, lag: 2, dynamic: true })),
    ];
    for (const e of events) assert.doesNotThrow(() => parseEvent(structuredClone(e)), e.type);
    const { html, charts } = buildReport(events);
    assert.deepEqual(charts.map((c) => c.id), [...TRAINING_CHARTS, ...OFF_POLICY_CHARTS].map((c) => c.id));
    assert.deepEqual(figureIds(html), charts.map((c) => c.id));

    // staleness: mean 0, 0.5, 1.5, 1.5 and max 0, 1, 2, 2 (groups at lag and lag − 1), on an axis from 0
    const [mean, max] = seriesLines(chartSvg(html, "staleness"));
    assert.equal(mean.length, STEPS);
    assert.equal(max[2][1], max[3][1]);
    assert.ok(Math.abs((max[0][1] - max[1][1]) - (max[1][1] - max[2][1])) < 0.5, `max staleness y ${max.map((p) => p[1])}`);
    assert.ok(Math.abs((mean[0][1] - mean[3][1]) - 0.75 * (max[0][1] - max[3][1])) < 0.5, "mean 1.5 where max is 2, from the same 0");
    // dynamic sampling: 2 uniform and 1 surplus dropped, 1 fill round from step 1 on
    const [uniform, surplus, rounds] = seriesLines(chartSvg(html, "dynamic-sampling"));
    assert.deepEqual(surplus, rounds);
    assert.ok(uniform[1][1] < surplus[1][1] && uniform[0][1] === surplus[0][1], `uniform y ${uniform.map((p) => p[1])}, surplus ${surplus.map((p) => p[1])}`);
    for (const id of ["mismatch", "mismatch-gap", "is-weight", "is-tokens"]) {
      for (const l of seriesLines(chartSvg(html, id))) assert.equal(l.length, STEPS, `${id}: a line of ${l.length} points`);
    }
    // the mismatch rises, 1e-4 … 4e-4: screen y falls
    const [kl] = seriesLines(chartSvg(html, "mismatch"));
    assert.ok(kl.every((p, i) => i === 0 || p[1] < kl[i - 1][1]), `mismatch y ${kl.map((p) => p[1])}`);

    const table = stepTable(html);
    const at3 = (col: string) => table.get(col)?.[3];
    assert.deepEqual(
      ["mismatch kl", "mismatch max gap", "w mean", "w max", "w truncated", "w masked", "staleness mean", "staleness max", "dropped uniform", "dropped surplus", "fill rounds", "prox ms"].map(at3),
      ["4.00e-4", "0.04", "1.15", "4.5", "0.06", "0.03", "1.5", "2", "2", "1", "1", "10"]);
    assert.deepEqual([...table.keys()].slice(-2), ["step ms", "prox ms"]);

    assert.deepEqual(offPolicyCard(html), {
      "max staleness": "2 (step k sampled by policy v(k − 2))", "off-policy correction": "tis, cap 1.5",
      "dynamic sampling": "on, at most 2 fill rounds", "overlong": "shaping over the last 4 tokens, penalty 0.5; truncated responses masked out of the loss",
      "entropy coeff": "0.01",
    });
  });

  it("a synchronous run shows its mismatch; a staleness of 0 throughout is tabled, not drawn", () => {
    const events: ZsEvent[] = [started("rep-sync"), ...Array.from({ length: STEPS }, (_, k) => offPolicyUpdated("rep-sync", k))];
    const { html, charts } = buildReport(events);
    assert.deepEqual(charts.map((c) => c.id), [...TRAINING_CHARTS.map((c) => c.id), "mismatch", "mismatch-gap"]);
    const table = stepTable(html);
    assert.deepEqual(table.get("staleness max"), ["0", "0", "0", "0"]);
    for (const col of ["w mean", "w masked", "dropped uniform", "fill rounds"]) assert.ok(!table.has(col), col);
    assert.deepEqual(offPolicyCard(html), {
      "max staleness": "0 (synchronous)", "off-policy correction": "none", "dynamic sampling": "off", "overlong": "off", "entropy coeff": "0",
    });
  });

  it("names each correction with the setting that bounds it", () => {
    const card = (algorithm: object) => offPolicyCard(buildReport([started("rep-c", { algorithm })]).html)?.["off-policy correction"];
    assert.equal(card({ off_policy: "decoupled" }), "decoupled, behaviour-weight cap 5");
    assert.equal(card({ off_policy: "mis", mis_band: [0.8, 1.25] }), "mis, band [0.8, 1.25]");
  });

  it("draws a field only at the steps that have it (a run forked from a log written before them)", () => {
    const events: ZsEvent[] = [started("rep-fork"), policyUpdated("rep-fork", 0), policyUpdated("rep-fork", 1), offPolicyUpdated("rep-fork", 2), offPolicyUpdated("rep-fork", 3)];
    const { html } = buildReport(events);
    const [kl] = seriesLines(chartSvg(html, "mismatch"));
    assert.equal(kl.length, 2);
    assert.deepEqual(stepTable(html).get("mismatch kl"), ["–", "–", "3.00e-4", "4.00e-4"]);
  });

  it("a log from before them (no telemetry, no off-policy keys in its config) shows none of it", () => {
    const s = started("rep-old");
    const cfg = s.config as unknown as { rollout: Record<string, unknown>; algorithm: Record<string, unknown> };
    delete cfg.rollout.max_staleness;
    for (const k of ["off_policy", "behav_weight_cap", "tis_cap", "mis_band", "entropy_coeff", "dynamic_sampling", "overlong_buffer", "overlong_penalty_factor", "overlong_filter"]) delete cfg.algorithm[k];
    const events: ZsEvent[] = [s, ...Array.from({ length: STEPS }, (_, k) => policyUpdated("rep-old", k))];
    const { html, charts } = buildReport(events);
    assert.deepEqual(charts.map((c) => c.id), TRAINING_CHARTS.map((c) => c.id));
    assert.deepEqual([...stepTable(html).keys()], OLD_COLUMNS);
    assert.equal(offPolicyCard(html), undefined);
    assert.ok(!/mismatch|staleness|importance|off-policy|dynamic sampling|prox ms/i.test(html.replace(/<details><summary>Resolved config[\s\S]*?<\/details>/, "")));
  });
});
