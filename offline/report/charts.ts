// The report's charts: Apache ECharts rendered to SVG strings on the server (no DOM, no JS in the
// page). Each chart is a table entry: a title, the series it draws from the per-step stats, a y range;
// the off-policy charts also say when a run has what they draw (fields absent from older logs).
import * as echarts from "echarts";
import type { PolicyUpdated, UpdateStats } from "../../streams/events/index.ts";

/** A series' value at a step; undefined where the step does not have it (no point is drawn). */
export type SeriesSpec = { name: string; value: (s: UpdateStats, u: PolicyUpdated) => number | undefined; band?: boolean };
export type ChartSpec = {
  id: string;
  title: string;
  note?: string;
  series: SeriesSpec[];
  unitRange?: boolean;   // a rate in [0, 1]
  fromZero?: boolean;    // a count or small fraction: the y axis starts at 0
  stack?: boolean;       // stacked areas (shares that add up to 1)
  shown?: (steps: readonly PolicyUpdated[]) => boolean;   // default: always (when there are steps)
};
export type RenderedChart = { id: string; title: string; note?: string; svg: string; points: number; series: string[] };

export const CHART_SIZE = { width: 520, height: 280 };

const OUTCOMES = ["correct", "wrong", "no_answer", "unparseable", "timeout", "error"] as const;

function outcomeShare(name: string) {
  return (s: UpdateStats) => {
    const total = Object.values(s.outcomes).reduce((a, b) => a + b, 0);
    return total ? (s.outcomes[name] ?? 0) / total : 0;
  };
}

/** The training curves, in the order the report shows them. */
export const TRAINING_CHARTS: ChartSpec[] = [
  { id: "reward", title: "Reward", note: "mean over the step's samples, ± one standard deviation",
    series: [
      { name: "mean", value: (s) => s.rewardMean },
      { name: "mean + std", value: (s) => s.rewardMean + s.rewardStd, band: true },
      { name: "mean − std", value: (s) => s.rewardMean - s.rewardStd, band: true },
    ] },
  { id: "format", title: "Format rate", unitRange: true, series: [{ name: "format", value: (s) => s.formatRate }] },
  { id: "accuracy", title: "Accuracy", unitRange: true, series: [{ name: "accuracy", value: (s) => s.accuracyRate }] },
  { id: "length", title: "Response length (tokens)", note: "truncated rate in the table below",
    series: [{ name: "mean", value: (s) => s.responseLengthMean }, { name: "max", value: (s) => s.responseLengthMax }] },
  { id: "kl", title: "KL to the reference", series: [{ name: "kl", value: (s) => s.kl }] },
  { id: "entropy", title: "Entropy", series: [{ name: "entropy", value: (s) => s.entropy }] },
  { id: "clipfrac", title: "Clip fraction", series: [{ name: "clip fraction", value: (s) => s.clipFrac }] },
  { id: "loss", title: "Loss", series: [{ name: "loss", value: (s) => s.loss }, { name: "policy-gradient loss", value: (s) => s.pgLoss }] },
  { id: "gradnorm", title: "Gradient norm", note: "before clipping", series: [{ name: "grad norm", value: (s) => s.gradNorm }] },
  { id: "outcomes", title: "Outcomes", note: "share of the step's samples", unitRange: true, stack: true,
    series: OUTCOMES.map((o) => ({ name: o, value: outcomeShare(o) })) },
];

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const stalenessOf = (u: PolicyUpdated) => (u.staleness?.length ? u.staleness : undefined);
const droppedBy = (reason: "uniform" | "surplus") => (_: UpdateStats, u: PolicyUpdated) =>
  u.dropped ? u.dropped.filter((d) => d.reason === reason).length : u.fillRounds !== undefined ? 0 : undefined;
const anyStep = (f: (u: PolicyUpdated) => unknown) => (steps: readonly PolicyUpdated[]) => steps.some((u) => f(u) !== undefined);

/** The off-policy telemetry (issue 13), each chart shown only when the run has what it draws: the mismatch
 * on every step of a run since (the alarm for a sampler and trainer that drifted apart), the correction's
 * weights under off_policy ≠ none, the staleness when some group was sampled by an older policy (a
 * synchronous run's is 0 throughout: no chart), the dropped groups and fill rounds under dynamic sampling. */
export const OFF_POLICY_CHARTS: ChartSpec[] = [
  { id: "mismatch", title: "Sampler–trainer mismatch", note: "token-mean k3 of KL(μ ‖ π_prox)", fromZero: true,
    shown: anyStep((u) => u.stats.mismatchKl), series: [{ name: "mismatch KL", value: (s) => s.mismatchKl }] },
  { id: "mismatch-gap", title: "Sampler–trainer probability gap", note: "largest |μ − π_prox| of the step", fromZero: true,
    shown: anyStep((u) => u.stats.mismatchMaxGap), series: [{ name: "max gap", value: (s) => s.mismatchMaxGap }] },
  { id: "is-weight", title: "Importance weights", note: "w = π_prox/μ of the off-policy correction over the loss tokens",
    shown: anyStep((u) => u.stats.isWeightMean ?? u.stats.isWeightMax),
    series: [{ name: "mean", value: (s) => s.isWeightMean }, { name: "max", value: (s) => s.isWeightMax }] },
  { id: "is-tokens", title: "Tokens truncated / masked by the correction", note: "fraction of the step's loss tokens", fromZero: true,
    shown: anyStep((u) => u.stats.isTruncatedFrac ?? u.stats.isMaskedFrac),
    series: [{ name: "truncated", value: (s) => s.isTruncatedFrac }, { name: "masked", value: (s) => s.isMaskedFrac }] },
  { id: "staleness", title: "Staleness (versions behind)", note: "over the step's groups", fromZero: true,
    shown: (steps) => steps.some((u) => stalenessOf(u)?.some((x) => x > 0)),
    series: [
      { name: "mean", value: (_, u) => { const st = stalenessOf(u); return st && mean(st); } },
      { name: "max", value: (_, u) => { const st = stalenessOf(u); return st && Math.max(...st); } },
    ] },
  { id: "dynamic-sampling", title: "Dynamic sampling", note: "groups dropped per step by reason, and the fill rounds it took", fromZero: true,
    shown: anyStep((u) => u.dropped ?? u.fillRounds),
    series: [
      { name: "dropped: uniform", value: droppedBy("uniform") }, { name: "dropped: surplus", value: droppedBy("surplus") },
      { name: "fill rounds", value: (_, u) => u.fillRounds },
    ] },
];

type Option = Record<string, unknown>;

function round(x: number): number {
  return Number.isFinite(x) ? Number(x.toPrecision(6)) : x;
}

/** Axis labels: ECharts' nice values, in exponent form where they would be long (KL of 1e-9, lr 1e-6). */
export function axisLabel(v: number): string {
  if (v === 0 || !Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e-3 && a < 1e6) return String(Number(v.toPrecision(8)));
  const [m, e] = v.toExponential(3).split("e");
  return `${String(Number(m))}e${e}`;
}

function seriesStyle(spec: ChartSpec, s: SeriesSpec, few: boolean): Option {
  if (spec.stack) return { stack: "total", areaStyle: { opacity: 0.85 }, lineStyle: { width: 0.5 }, showSymbol: false };
  if (s.band) return { lineStyle: { type: "dashed", width: 1, color: "#98a2b3" }, itemStyle: { color: "#98a2b3" }, symbolSize: 3, showSymbol: few };
  return { lineStyle: { width: 2 }, symbolSize: 5, showSymbol: few };
}

function option(spec: ChartSpec, steps: PolicyUpdated[]): Option {
  const few = steps.length <= 60;
  return {
    animation: false,
    textStyle: { fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" },
    grid: { left: 64, right: 20, top: spec.series.length > 1 ? 36 : 16, bottom: 40, containLabel: false },
    legend: spec.series.length > 1 ? { top: 4, itemWidth: 18, itemHeight: 10, textStyle: { fontSize: 11 } } : undefined,
    xAxis: { type: "value", name: "step", nameLocation: "middle", nameGap: 26, minInterval: 1, min: "dataMin", max: "dataMax" },
    yAxis: spec.unitRange
      ? { type: "value", min: 0, max: 1 }
      : { type: "value", scale: !spec.fromZero, min: spec.fromZero ? 0 : undefined, axisLabel: { formatter: axisLabel } },
    series: spec.series.map((s) => ({
      name: s.name,
      type: "line",
      data: steps.flatMap((u) => { const y = s.value(u.stats, u); return y === undefined ? [] : [[u.step, round(y)]]; }),
      ...seriesStyle(spec, s, few),
    })),
  };
}

/** Renders one chart to a standalone SVG string. */
export function renderChart(spec: ChartSpec, steps: PolicyUpdated[], size = CHART_SIZE): RenderedChart {
  const chart = echarts.init(null, null, { renderer: "svg", ssr: true, width: size.width, height: size.height });
  try {
    chart.setOption(option(spec, steps));
    const svg = chart.renderToSVGString();
    return { id: spec.id, title: spec.title, note: spec.note, svg, points: steps.length, series: spec.series.map((s) => s.name) };
  } finally {
    chart.dispose();
  }
}

/** The charts of a run's steps: the training curves, then the off-policy charts the run has. */
export function renderTrainingCharts(steps: PolicyUpdated[]): RenderedChart[] {
  if (!steps.length) return [];
  return [...TRAINING_CHARTS, ...OFF_POLICY_CHARTS].filter((c) => c.shown?.(steps) ?? true).map((c) => renderChart(c, steps));
}

export type EvalPoint = { label: string; points: [number, number][] };

/** Evaluation rates over policy versions, one line per benchmark × metric (shown when there are ≥ 2 versions). */
export function renderEvalChart(lines: EvalPoint[], size = CHART_SIZE): RenderedChart {
  const chart = echarts.init(null, null, { renderer: "svg", ssr: true, width: size.width, height: size.height });
  try {
    chart.setOption({
      animation: false,
      textStyle: { fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" },
      grid: { left: 56, right: 20, top: 16, bottom: 40 + 20 * Math.ceil(lines.length / 2) },
      legend: { bottom: 4, orient: "horizontal", width: size.width - 40, itemWidth: 18, itemHeight: 10, textStyle: { fontSize: 11 } },
      xAxis: { type: "value", name: "policy version", nameLocation: "middle", nameGap: 26, minInterval: 1, min: "dataMin", max: "dataMax" },
      yAxis: { type: "value", min: 0, max: 1 },
      series: lines.map((l) => ({ name: l.label, type: "line", data: l.points.map(([x, y]) => [x, round(y)]), symbolSize: 6 })),
    });
    const points = lines.reduce((a, l) => a + l.points.length, 0);
    return { id: "eval", title: "Evaluation over policy versions", svg: chart.renderToSVGString(), points, series: lines.map((l) => l.label) };
  } finally {
    chart.dispose();
  }
}

/** A line of a comparison chart: one run (or a label's mean), drawn in its label's colour and its own dash. */
export type Line = {
  name: string; points: [number, number][]; color: string;
  dash?: "solid" | "dashed" | "dotted" | number[]; width?: number; opacity?: number;
};
export type LinesSpec = { id: string; title: string; note?: string; xName: string; unitRange?: boolean; fromZero?: boolean };

/** Several lines over a shared x axis (step or policy version); the page carries one legend for every chart. */
export function renderLines(spec: LinesSpec, lines: Line[], size = CHART_SIZE): RenderedChart {
  const chart = echarts.init(null, null, { renderer: "svg", ssr: true, width: size.width, height: size.height });
  const few = Math.max(0, ...lines.map((l) => l.points.length)) <= 30;
  try {
    chart.setOption({
      animation: false,
      textStyle: { fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" },
      grid: { left: 64, right: 20, top: 16, bottom: 40, containLabel: false },
      xAxis: { type: "value", name: spec.xName, nameLocation: "middle", nameGap: 26, minInterval: 1, min: "dataMin", max: "dataMax" },
      yAxis: spec.unitRange
        ? { type: "value", min: 0, max: 1 }
        : { type: "value", scale: !spec.fromZero, min: spec.fromZero ? 0 : undefined, axisLabel: { formatter: axisLabel } },
      series: lines.map((l) => ({
        name: l.name, type: "line", data: l.points.map(([x, y]) => [x, round(y)]),
        lineStyle: { color: l.color, type: l.dash ?? "solid", width: l.width ?? 2, opacity: l.opacity ?? 1 },
        itemStyle: { color: l.color, opacity: l.opacity ?? 1 },
        // a lone point (one evaluation) has no line to show: its symbol is drawn
        showSymbol: few || l.points.length === 1, symbolSize: 4,
      })),
    });
    const points = lines.reduce((a, l) => a + l.points.length, 0);
    return { id: spec.id, title: spec.title, note: spec.note, svg: chart.renderToSVGString(), points, series: lines.map((l) => l.name) };
  } finally {
    chart.dispose();
  }
}

/** The aha figure (issue 19): accuracy and the share of responses that check or revise their work (left
 * axis, 0–1) and the mean response length (right axis, tokens) over the steps, with the first step where
 * the check rate climbs marked. `checks` is the per-step count of self-checking responses (report fold). */
export function renderSelfCheckChart(
  steps: readonly PolicyUpdated[], checks: readonly { step: number; samples: number; selfChecks: number }[], climb?: number, size = CHART_SIZE,
): RenderedChart {
  const chart = echarts.init(null, null, { renderer: "svg", ssr: true, width: size.width, height: size.height });
  const few = Math.max(steps.length, checks.length) <= 60;
  const line = (name: string, color: string, data: [number, number][], yAxisIndex = 0, dash: "solid" | "dashed" = "solid") => ({
    name, type: "line", yAxisIndex, data: data.map(([x, y]) => [x, round(y)]), showSymbol: few, symbolSize: 4,
    lineStyle: { color, width: 2, type: dash }, itemStyle: { color },
  });
  const series: Record<string, unknown>[] = [
    line("accuracy", "#2e7d32", steps.map((u) => [u.step, u.stats.accuracyRate])),
    line("check rate", "#c62828", checks.map((p) => [p.step, p.samples ? p.selfChecks / p.samples : 0])),
    line("length (tokens)", "#1565c0", steps.map((u) => [u.step, u.stats.responseLengthMean]), 1, "dashed"),
  ];
  if (climb !== undefined) {
    series[1].markLine = { symbol: "none", silent: true, lineStyle: { color: "#c62828", type: "dotted", width: 1.5 },
      label: { formatter: `checks climb: step ${climb}`, position: "insideEndTop", fontSize: 11 }, data: [{ xAxis: climb }] };
  }
  try {
    chart.setOption({
      animation: false,
      textStyle: { fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" },
      grid: { left: 48, right: 56, top: 36, bottom: 40 },
      legend: { top: 4, itemWidth: 18, itemHeight: 10, textStyle: { fontSize: 11 } },
      xAxis: { type: "value", name: "step", nameLocation: "middle", nameGap: 26, minInterval: 1, min: "dataMin", max: "dataMax" },
      yAxis: [{ type: "value", min: 0, max: 1 }, { type: "value", min: 0, name: "tokens", axisLabel: { formatter: axisLabel } }],
      series,
    });
    return {
      id: "selfcheck", title: "Accuracy, self-checks and response length", svg: chart.renderToSVGString(),
      note: climb === undefined ? "the check rate does not climb (rule: docs/aha.md)" : `the check rate climbs at step ${climb} (rule: docs/aha.md)`,
      points: steps.length + checks.length, series: ["accuracy", "check rate", "length (tokens)"],
    };
  } finally {
    chart.dispose();
  }
}
