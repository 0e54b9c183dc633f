// The comparison report: several runs in one static, self-contained HTML page (inline CSS and SVG, no
// script). Per metric one chart with one line per run, over steps (training) or policy versions
// (held-out evaluations); runs sharing a label (the seeds of one setting) share a colour and differ by
// dash, with the label's mean drawn over them. A table gives each run's settings and final values.
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { evalSampling, type PolicyUpdated } from "../../streams/events/index.ts";
import { renderLines, type Line, type RenderedChart } from "./charts.ts";
import { foldReport, type ReportEvent, type ReportModel } from "./fold.ts";
import { chartsSection, correctionOf, esc, fmt } from "./html.ts";
import { CSS } from "./style.ts";

/** A run to compare: its events (replayed records or bare events) and the label it is grouped under. */
export type ComparedRun = { label?: string; events: readonly ReportEvent[] };
export type ComparisonOptions = { mean?: boolean; generatedAt?: Date; title?: string };

/** A run as the comparison shows it: its series name (unique on the page), label, colour and dash. */
export type ComparedSeries = {
  runId: string; label: string; name: string; color: string; dash: NonNullable<Line["dash"]>;
  model: ReportModel; setting: (path: string) => string | undefined;
};
export type BuiltComparison = { html: string; runs: ComparedSeries[]; charts: RenderedChart[] };

export class ComparisonError extends Error {}

// one colour per label (Tableau 10), one dash per run within a label
export const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
export const DASHES: NonNullable<Line["dash"]>[] = ["solid", "dashed", "dotted", [10, 4, 2, 4], [2, 6], [14, 4]];

type StepMetric = {
  id: string; title: string; note?: string; value: (u: PolicyUpdated) => number | undefined;
  unitRange?: boolean; fromZero?: boolean; shown?: (values: number[]) => boolean;
};
const meanOf = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The per-step metrics compared, in page order; each drawn when some run has a value of it (fields of issue 13 are absent in older logs). */
export const COMPARE_METRICS: StepMetric[] = [
  { id: "reward", title: "Reward", note: "mean over the step's samples", value: (u) => u.stats.rewardMean },
  { id: "accuracy", title: "Accuracy", unitRange: true, value: (u) => u.stats.accuracyRate },
  { id: "format", title: "Format rate", unitRange: true, value: (u) => u.stats.formatRate },
  { id: "length", title: "Response length (tokens)", note: "mean", value: (u) => u.stats.responseLengthMean },
  { id: "entropy", title: "Entropy", value: (u) => u.stats.entropy },
  { id: "kl", title: "KL to the reference", value: (u) => u.stats.kl },
  { id: "mismatch", title: "Sampler–trainer mismatch", note: "token-mean k3 of KL(μ ‖ π_prox)", fromZero: true, value: (u) => u.stats.mismatchKl },
  { id: "mismatch-gap", title: "Sampler–trainer probability gap", note: "largest |μ − π_prox|", fromZero: true, value: (u) => u.stats.mismatchMaxGap },
  { id: "is-weight", title: "Importance weight (mean)", note: "w = π_prox/μ of the correction", value: (u) => u.stats.isWeightMean },
  { id: "is-truncated", title: "Tokens truncated by the correction", note: "fraction of loss tokens", fromZero: true, value: (u) => u.stats.isTruncatedFrac },
  { id: "is-masked", title: "Tokens masked by the correction", note: "fraction of loss tokens", fromZero: true, value: (u) => u.stats.isMaskedFrac },
  { id: "staleness", title: "Staleness (versions behind)", note: "mean over the step's groups", fromZero: true,
    value: (u) => (u.staleness?.length ? meanOf(u.staleness) : undefined), shown: (v) => v.some((x) => x > 0) },
  { id: "dropped", title: "Groups dropped by dynamic sampling", fromZero: true,
    value: (u) => u.dropped?.length ?? (u.fillRounds !== undefined ? 0 : undefined) },
];

type Obj = Record<string, unknown>;
const get = (o: unknown, path: string): unknown =>
  path.split(".").reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Obj)[k] : undefined), o);
const settingOf = (cfg: Obj) => (p: string) => {
  const v = get(cfg, p);
  return v === undefined ? undefined : typeof v === "object" ? JSON.stringify(v) : String(v);
};

/** A run's config without what replicas of one setting may differ in: the seed, the name, the machine. */
function settingKey(cfg: Obj): string {
  const c = structuredClone(cfg);
  delete c.seed; delete c.run_name; delete c.runtime;
  return JSON.stringify(c);
}

/** The label of a run given none: its run_name when every run of that name has the same config up to
 * the seed (the seeds of one setting), otherwise its run id. */
function defaultLabels(models: ReportModel[]): string[] {
  const cfgs = models.map((m) => (m.started?.config ?? {}) as Obj);
  const keysByName = new Map<string, Set<string>>();
  cfgs.forEach((c) => { if (typeof c.run_name === "string") keysByName.set(c.run_name, (keysByName.get(c.run_name) ?? new Set()).add(settingKey(c))); });
  return models.map((m, i) => {
    const name = cfgs[i].run_name;
    return typeof name === "string" && keysByName.get(name)!.size === 1 ? name : m.runId;
  });
}

function series(runs: readonly ComparedRun[]): ComparedSeries[] {
  const models = runs.map((r) => foldReport(r.events));
  const ids = models.map((m) => m.runId);
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup) throw new ComparisonError(`run ${dup} is given twice`);
  const defaults = defaultLabels(models);
  const labels = runs.map((r, i) => r.label ?? defaults[i]);
  const order = [...new Set(labels)];
  return models.map((model, i) => {
    const label = labels[i];
    const members = models.filter((_, j) => labels[j] === label);
    const within = members.indexOf(model);
    const seeds = members.map((m) => m.started?.seed);
    const bySeed = seeds.every((s) => s !== undefined) && new Set(seeds).size === seeds.length;
    const name = members.length === 1 ? label : bySeed ? `${label} · seed ${model.started!.seed}` : `${label} · ${model.runId}`;
    return {
      runId: model.runId, label, name, model, setting: settingOf((model.started?.config ?? {}) as Obj),
      color: PALETTE[order.indexOf(label) % PALETTE.length], dash: DASHES[within % DASHES.length],
    };
  });
}

/** The label's mean at the x values every one of its runs has (so a shorter seed does not make it jump). */
function meanLine(points: [number, number][][]): [number, number][] {
  const maps = points.map((p) => new Map(p));
  const xs = [...maps[0].keys()].filter((x) => maps.every((m) => m.has(x))).sort((a, b) => a - b);
  return xs.map((x) => [x, meanOf(maps.map((m) => m.get(x)!))]);
}

/** One line per run and, for a label of two or more runs, their mean drawn thick under the faded runs
 * (drawn first, so a run it covers still shows). */
function linesOf(runs: ComparedSeries[], points: (r: ComparedSeries) => [number, number][], mean: boolean): Line[] {
  const labels = [...new Set(runs.map((r) => r.label))];
  const grouped = (l: string) => runs.filter((r) => r.label === l);
  const withMean = new Set(labels.filter((l) => mean && grouped(l).length > 1));
  const means: Line[] = [...withMean].flatMap((l) => {
    const rs = grouped(l).map(points).filter((p) => p.length);
    return rs.length > 1 ? [{ name: meanName(l, grouped(l).length), points: meanLine(rs), color: grouped(l)[0].color, dash: "solid" as const, width: 3.5 }] : [];
  });
  return [...means, ...runs.map((r) => ({ name: r.name, points: points(r), color: r.color, dash: r.dash, ...(withMean.has(r.label) ? { width: 1.5, opacity: 0.55 } : {}) }))];
}
const meanName = (label: string, n: number) => `${label} · mean of ${n}`;

type EvalKey = { key: string; title: string; unitRange: boolean };
const evalKeyOf = (e: ReportModel["evals"][number]) => `${e.benchmark}\u0000${e.metric}\u0000${e.k}\u0000${e.scorer}\u0000${evalSampling(e)}`;

/** The held-out evaluations: per (benchmark, metric, k, scorer, sampling), each run's value per policy version. */
function evalSeries(runs: ComparedSeries[]): { keys: EvalKey[]; values: Map<string, Map<string, Map<number, number>>> } {
  const values = new Map<string, Map<string, Map<number, number>>>();   // key → run → version → value
  const titles = new Map<string, { benchmark: string; metric: string; k: number; scorer: string; sampling: string }>();
  for (const r of runs) {
    for (const e of r.model.evals) {
      const key = evalKeyOf(e);
      titles.set(key, { benchmark: e.benchmark, metric: e.metric, k: e.k, scorer: e.scorer, sampling: evalSampling(e) });
      const byRun = values.get(key) ?? new Map<string, Map<number, number>>();
      byRun.set(r.runId, (byRun.get(r.runId) ?? new Map()).set(e.policyVersion, e.value));
      values.set(key, byRun);
    }
  }
  const all = [...titles.values()];
  const keys = [...titles.entries()].map(([key, t]) => {
    const scorers = new Set(all.filter((x) => x.benchmark === t.benchmark && x.metric === t.metric).map((x) => x.scorer)).size > 1;
    const title = `${t.benchmark} · ${t.metric}${t.k > 1 ? ` k=${t.k}` : ""}${t.sampling.startsWith("T=") ? ` (${t.sampling.split(",")[0]})` : ""}${scorers ? ` [${t.scorer}]` : ""}`;
    const unitRange = [...values.get(key)!.values()].every((m) => [...m.values()].every((v) => v >= 0 && v <= 1));
    return { key, title, unitRange };
  });
  return { keys, values };
}

function swatch(color: string, dash: NonNullable<Line["dash"]>, width = 2): string {
  const array = dash === "solid" ? "" : dash === "dashed" ? "6 4" : dash === "dotted" ? "2 3" : dash.join(" ");
  return `<svg class="swatch" width="36" height="10" viewBox="0 0 36 10"><line x1="1" y1="5" x2="35" y2="5" stroke="${esc(color)}" stroke-width="${width}"${array ? ` stroke-dasharray="${array}"` : ""}/></svg>`;
}

function legend(runs: ComparedSeries[], mean: boolean): string {
  const labels = [...new Set(runs.map((r) => r.label))];
  const items = labels.flatMap((l) => {
    const rs = runs.filter((r) => r.label === l);
    return [
      ...rs.map((r) => `<li>${swatch(r.color, r.dash)}${esc(r.name)}</li>`),
      ...(mean && rs.length > 1 ? [`<li>${swatch(rs[0].color, "solid", 4)}<b>${esc(meanName(l, rs.length))}</b></li>`] : []),
    ];
  });
  return `<ul class="legend">${items.join("")}</ul>`;
}

const lastEval = (byRun: Map<number, number> | undefined): string => {
  if (!byRun?.size) return "–";
  const v = Math.max(...byRun.keys());
  return `${esc(fmt(byRun.get(v)))} <small>v${v}</small>`;
};
const durationOf = (m: ReportModel): number | undefined => {
  const a = m.startedAt ? Date.parse(m.startedAt) : NaN, b = m.finishedAt ? Date.parse(m.finishedAt) : NaN;
  return Number.isFinite(a) && Number.isFinite(b) && b >= a ? (b - a) / 1000 : undefined;
};

function runTable(runs: ComparedSeries[], ev: ReturnType<typeof evalSeries>): string {
  const head = ["", "run", "label", "run id", "seed", "max staleness", "off-policy", "dynamic sampling", "steps", "status",
    "final reward", "final accuracy", "wall s", ...ev.keys.map((k) => `last ${k.title}`)];
  const rows = runs.map((r) => {
    const c = r.setting, m = r.model, last = m.steps.at(-1);
    const dyn = c("algorithm.dynamic_sampling.enable");
    const cells = [
      r.name, r.label, r.runId, m.started?.seed, c("rollout.max_staleness"), correctionOf(c), dyn && (dyn === "true" ? "on" : "off"),
      `${m.steps.length}${c("actor.train_iters") ? ` of ${c("actor.train_iters")}` : ""}`,
      m.finished ? `${m.finished.reason} at v${m.finished.finalVersion}` : "not finished",
      fmt(last?.stats.rewardMean), fmt(last?.stats.accuracyRate), fmt(durationOf(m), 3),
    ].map((x, i) => `<td${i < 3 ? ` class="l"` : ""}>${esc(x ?? "–")}</td>`);
    const evals = ev.keys.map((k) => `<td>${lastEval(ev.values.get(k.key)?.get(r.runId))}</td>`);
    return `<tr data-run="${esc(r.runId)}"><td>${swatch(r.color, r.dash)}</td>${cells.join("")}${evals.join("")}</tr>`;
  });
  return `<div class="scroll"><table class="data" id="runs-table"><thead><tr>${head.map((h, i) => `<th${i > 0 && i < 4 ? ` class="l"` : ""}>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows.join("\n")}</tbody></table></div>`;
}

/** Per label with two or more runs: the mean ± sample standard deviation over its runs of the final values. */
function labelTable(runs: ComparedSeries[], ev: ReturnType<typeof evalSeries>): string {
  const labels = [...new Set(runs.map((r) => r.label))].filter((l) => runs.filter((r) => r.label === l).length > 1);
  if (!labels.length) return "";
  const stat = (xs: (number | undefined)[]) => {
    const v = xs.filter((x): x is number => x !== undefined);
    if (!v.length) return "–";
    // the sample standard deviation (n − 1): a handful of seeds estimate the setting's spread
    const mu = meanOf(v), sd = v.length > 1 ? Math.sqrt(v.reduce((a, x) => a + (x - mu) ** 2, 0) / (v.length - 1)) : 0;
    return `${fmt(mu)} ± ${fmt(sd, 2)}${v.length < xs.length ? ` (${v.length} of ${xs.length})` : ""}`;
  };
  const head = ["label", "runs", "final reward", "final accuracy", ...ev.keys.map((k) => `last ${k.title}`)];
  const rows = labels.map((l) => {
    const rs = runs.filter((r) => r.label === l);
    const lastOf = (k: EvalKey) => rs.map((r) => { const m = ev.values.get(k.key)?.get(r.runId); return m?.size ? m.get(Math.max(...m.keys())) : undefined; });
    const cells = [l, String(rs.length), stat(rs.map((r) => r.model.steps.at(-1)?.stats.rewardMean)), stat(rs.map((r) => r.model.steps.at(-1)?.stats.accuracyRate)),
      ...ev.keys.map((k) => stat(lastOf(k)))];
    return `<tr><td class="l">${swatch(rs[0].color, "solid", 4)} ${esc(l)}</td>${cells.slice(1).map((x) => `<td>${esc(x)}</td>`).join("")}</tr>`;
  });
  return `<h3>Per label: mean ± sample standard deviation over its runs</h3><div class="scroll"><table class="data" id="labels-table"><thead><tr>${head.map((h, i) => `<th${i ? "" : ` class="l"`}>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows.join("\n")}</tbody></table></div>`;
}

/** Builds the comparison page of several runs (each's events in log order). */
export function buildComparison(runs: readonly ComparedRun[], o: ComparisonOptions = {}): BuiltComparison {
  if (!runs.length) throw new ComparisonError("no runs to compare");
  const rs = series(runs);
  const mean = o.mean ?? true;
  const training = COMPARE_METRICS.flatMap((spec) => {
    const pts = new Map(rs.map((r) => [r.runId, r.model.steps.flatMap((u): [number, number][] => { const y = spec.value(u); return y === undefined ? [] : [[u.step, y]]; })]));
    const all = [...pts.values()].flat().map(([, y]) => y);
    if (!all.length || (spec.shown && !spec.shown(all))) return [];
    return [renderLines({ ...spec, xName: "step" }, linesOf(rs, (r) => pts.get(r.runId)!, mean))];
  });
  const ev = evalSeries(rs);
  const evalCharts = ev.keys.map((k, i) => renderLines({ id: `eval-${i}`, title: k.title, xName: "policy version", unitRange: k.unitRange },
    linesOf(rs, (r) => [...(ev.values.get(k.key)?.get(r.runId) ?? new Map<number, number>()).entries()].sort((a, b) => a[0] - b[0]), mean)));
  const title = o.title ?? `zerostream comparison of ${rs.length} runs`;
  const generated = (o.generatedAt ?? new Date()).toISOString();
  const lead = legend(rs, mean);
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style></head>
<body>
<header><h1>${esc(title)}</h1><p class="meta">labels: ${[...new Set(rs.map((r) => r.label))].map((l) => `<b>${esc(l)}</b> (${rs.filter((r) => r.label === l).length})`).join(", ")}${mean && rs.some((r, i) => rs.findIndex((x) => x.label === r.label) !== i) ? " · a label of several runs is drawn as their mean (thick) over its runs (faded, one dash each)" : ""}</p></header>
<section id="runs"><h2>Runs</h2>${runTable(rs, ev)}${labelTable(rs, ev)}</section>
${chartsSection(training, "Training curves", lead)}
${chartsSection(evalCharts, "Held-out evaluation", lead, "No Evaluated events in these runs.")}
<footer>Generated by <code>zerostream report</code> at ${esc(generated)} from ${runs.reduce((a, r) => a + r.events.length, 0)} events of ${rs.length} runs. Charts: Apache ECharts, rendered to SVG at build time.</footer>
</body></html>
`;
  return { html, runs: rs, charts: [...training, ...evalCharts] };
}

/** Writes the comparison page of several runs to `outFile` (creating its folder); returns the absolute path. */
export async function writeComparison(runs: readonly ComparedRun[], outFile: string, o: ComparisonOptions = {}): Promise<string> {
  const { html } = buildComparison(runs, o);
  const file = resolve(outFile);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, html);
  return file;
}
