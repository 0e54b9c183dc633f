// The report's charts: Apache ECharts rendered to SVG strings on the server (no DOM, no JS in the
// page). Each chart is a table entry: a title, the series it draws from the per-step stats, a y range.
import * as echarts from "echarts";
import type { PolicyUpdated, UpdateStats } from "../../streams/events/index.ts";

export type SeriesSpec = { name: string; value: (s: UpdateStats) => number; band?: boolean };
export type ChartSpec = {
  id: string;
  title: string;
  note?: string;
  series: SeriesSpec[];
  unitRange?: boolean;   // a rate in [0, 1]
  stack?: boolean;       // stacked areas (shares that add up to 1)
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
      : { type: "value", scale: true, axisLabel: { formatter: axisLabel } },
    series: spec.series.map((s) => ({
      name: s.name,
      type: "line",
      data: steps.map((u) => [u.step, round(s.value(u.stats))]),
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

export function renderTrainingCharts(steps: PolicyUpdated[]): RenderedChart[] {
  return steps.length ? TRAINING_CHARTS.map((c) => renderChart(c, steps)) : [];
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
