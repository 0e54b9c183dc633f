// The report's HTML sections: run header, step table, evaluation table, sample responses. Every
// string from the log goes through `esc`; the only unescaped markup is the charts' SVG.
import { isSelfCheck, MARKERS_ALL } from "../../domain/reward/selfcheck.ts";
import { evalSampling, type Evaluated, type PolicyUpdated } from "../../streams/events/index.ts";
import type { RenderedChart } from "./charts.ts";
import type { GroupView, ReportModel, SampleSide, SampleView } from "./fold.ts";

export function esc(s: unknown): string {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

export function fmt(x: number | undefined | null, digits = 4): string {
  if (x === undefined || x === null) return "–";
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? x.toExponential(2) : String(Number(x.toPrecision(digits)));
}

const MAX_TEXT = 4000;
function clip(text: string): string {
  if (!text) return `<span class="empty">(empty)</span>`;
  return text.length <= MAX_TEXT ? esc(text) : `${esc(text.slice(0, MAX_TEXT))}<span class="more">… (${text.length - MAX_TEXT} more characters)</span>`;
}

/** A self-checking response's text with its re-check marker words highlighted (after escaping: the markers
 * are plain words, so they survive `esc` unchanged). */
function clipChecked(text: string, selfCheck: boolean): string {
  const t = clip(text);
  return selfCheck && text ? t.replace(MARKERS_ALL(), (w) => `<mark class="check">${w}</mark>`) : t;
}

/** The aha section: accuracy, check rate and length per step on shared axes, the climb marked. */
export function selfCheckSection(chart: RenderedChart | undefined, m: ReportModel): string {
  if (!chart) return "";
  const total = m.checks.reduce((a, p) => a + p.samples, 0), checked = m.checks.reduce((a, p) => a + p.selfChecks, 0);
  const first = m.checks[0], last = m.checks.at(-1)!;
  const r = (p: typeof first) => (p.samples ? (p.selfChecks / p.samples).toFixed(3) : "-");
  const lead = `<p class="meta" id="selfcheck-summary">responses that check or revise their work (never rewarded as such): <b>${checked} of ${total}</b> sampled; rate ${r(first)} at step ${first.step} → ${r(last)} at step ${last.step}; ${m.climbStep === undefined ? "the rate does not climb" : `climbs at step <b>${m.climbStep}</b>`}</p>`;
  return `<section id="selfcheck"><h2>Self-verification</h2>${lead}<div class="grid">${chartsFigure(chart)}</div></section>`;
}

type Obj = Record<string, unknown>;
const get = (o: unknown, path: string): unknown =>
  path.split(".").reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Obj)[k] : undefined), o);

function dataSource(src: unknown): string {
  if (!src || typeof src !== "object") return "–";
  const s = src as Obj;
  if (typeof s.synthetic === "string") {
    const params = s.params && typeof s.params === "object" && Object.keys(s.params).length ? ` ${JSON.stringify(s.params)}` : "";
    return `synthetic ${s.synthetic}${s.split ? ` (${s.split})` : ""}${s.size ? `, ${s.size} rows` : ""}${params}`;
  }
  return typeof s.path === "string" ? `${s.path}${s.limit ? ` (first ${s.limit})` : ""}` : JSON.stringify(s);
}

function modelSummary(cfg: Obj, modelConfig: Obj): string {
  const name = get(cfg, "model.name") ?? "–";
  const where = get(cfg, "model.path") ? ` from ${get(cfg, "model.path")}` : get(cfg, "model.pretrain") ? ` (pretrained from scratch: ${get(cfg, "model.pretrain.steps")} steps on synthetic ${get(cfg, "model.pretrain.task")})` : get(cfg, "model.arch") ? " (random init)" : "";
  const a = Object.keys(modelConfig).length ? modelConfig : ((get(cfg, "model.arch") as Obj | undefined) ?? {});
  const shape = ["num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads", "vocab_size"]
    .filter((k) => a[k] !== undefined).map((k) => `${k.replace(/^num_/, "").replace(/_/g, " ")} ${a[k]}`).join(", ");
  return `${name}${where}${shape ? ` — ${shape}` : ""}`;
}

function kv(rows: [string, unknown][]): string {
  return `<table class="kv">${rows.filter(([, v]) => v !== undefined && v !== "").map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("")}</table>`;
}

/** The correction of algorithm.off_policy with the setting that bounds it. */
export function correctionOf(c: (p: string) => string | undefined): string | undefined {
  const kind = c("algorithm.off_policy");
  if (kind === "decoupled") return `decoupled, behaviour-weight cap ${c("algorithm.behav_weight_cap") ?? "–"}`;
  if (kind === "tis") return `tis, cap ${c("algorithm.tis_cap") ?? "–"}`;
  if (kind === "mis") return `mis, band ${c("algorithm.mis_band")?.replace(",", ", ") ?? "–"}`;
  return kind;
}

/** The off-policy settings (issue 13; keys a config from before them lacks, and the row is left out). */
function offPolicyRows(c: (p: string) => string | undefined): [string, unknown][] {
  const lag = c("rollout.max_staleness");
  const dyn = c("algorithm.dynamic_sampling.enable");
  const buffer = c("algorithm.overlong_buffer"), filter = c("algorithm.overlong_filter");
  const overlong = buffer === undefined && filter === undefined ? undefined : [
    buffer !== undefined && buffer !== "0" ? `shaping over the last ${buffer} tokens, penalty ${c("algorithm.overlong_penalty_factor")}` : "",
    filter === "true" ? "truncated responses masked out of the loss" : "",
  ].filter(Boolean).join("; ") || "off";
  return [
    ["max staleness", lag && (lag === "0" ? "0 (synchronous)" : `${lag} (step k sampled by policy v(k − ${lag}))`)],
    ["off-policy correction", correctionOf(c)],
    ["dynamic sampling", dyn && (dyn === "true" ? `on, at most ${c("algorithm.dynamic_sampling.max_fill_rounds")} fill rounds` : "off")],
    ["overlong", overlong], ["entropy coeff", c("algorithm.entropy_coeff")],
  ];
}

export function headerSection(m: ReportModel): string {
  const s = m.started;
  const cfg = (s?.config ?? {}) as Obj;
  const c = (p: string) => { const v = get(cfg, p); return v === undefined ? undefined : typeof v === "object" ? JSON.stringify(v) : String(v); };
  const clipRange = c("algorithm.clip_ratio_low") || c("algorithm.clip_ratio_high")
    ? `${c("algorithm.clip_ratio_low") ?? c("algorithm.clip_ratio")} / ${c("algorithm.clip_ratio_high") ?? c("algorithm.clip_ratio")}` : c("algorithm.clip_ratio");
  const status = m.finished ? `${m.finished.reason} at policy v${m.finished.finalVersion}${m.finished.message ? ` — ${m.finished.message}` : ""}` : "not finished (no RunFinished event)";
  const run = kv([
    ["run", m.runId], ["status", status], ["started", m.startedAt], ["finished", m.finishedAt],
    ["steps logged", `${m.steps.length}${c("actor.train_iters") ? ` of ${c("actor.train_iters")}` : ""}`],
    ["seed", s?.seed], ["code version", s?.codeVersion], ["config hash", s?.configHash],
    ["initial weights", s?.initialWeightsDigest], ["final weights", m.finished?.finalWeightsDigest],
    ...(s?.parent ? [["forked from", `${s.parent.runId} step ${s.parent.step} (v${s.parent.version})`] as [string, unknown]] : []),
    ...(m.deadLettered ? [["dead-lettered messages", m.deadLettered] as [string, unknown]] : []),
  ]);
  const task = kv([
    ["model", modelSummary(cfg, (s?.modelConfig ?? {}) as Obj)], ["tokenizer", c("tokenizer.type")],
    ["task", dataSource(get(cfg, "data.train"))], ["template", c("data.template")],
    ["prompt / response tokens", c("data.max_prompt_length") && `${c("data.max_prompt_length")} / ${c("data.max_response_length")}`],
    ["reward", c("reward.fn")], ["evaluation", (get(cfg, "eval.benchmarks") as Obj[] | undefined)?.map((b) => b.name).join(", ")],
  ]);
  const grpo = kv([
    ["advantage estimator", c("algorithm.adv_estimator")], ["prompts per step", c("actor.global_batch_size")],
    ["samples per prompt", c("rollout.n_samples_per_prompt")], ["temperature / top-p", c("rollout.temperature") && `${c("rollout.temperature")} / ${c("rollout.top_p")}`],
    ["lr", c("actor.lr") && `${c("actor.lr")} (${c("actor.lr_schedule") ?? "constant"}, warm-up ${c("actor.lr_warmup_iters") ?? 0})`],
    ["KL", c("algorithm.kl_coef") && `${c("algorithm.kl_coef")} × ${c("algorithm.kl_estimator") ?? "k3"}${c("algorithm.use_kl_in_reward") === "true" ? " in the reward" : " in the loss"}`],
    ["clip ratio", clipRange], ["loss aggregation", c("algorithm.loss_agg_mode")],
    ["weight decay / grad clip", c("actor.weight_decay") && `${c("actor.weight_decay")} / ${c("actor.clip_grad")}`],
  ]);
  const offPolicy = offPolicyRows(c);
  const offCard = offPolicy.some(([, v]) => v !== undefined) ? `<div id="off-policy-settings"><h3>Off-policy steps</h3>${kv(offPolicy)}</div>` : "";
  return `<header><h1>zerostream run <code>${esc(m.runId)}</code></h1></header>
<section class="cards"><div><h3>Run</h3>${run}</div><div><h3>Model and task</h3>${task}</div><div><h3>GRPO</h3>${grpo}</div>${offCard}</section>
<details><summary>Resolved config (RunStarted)</summary><pre>${esc(JSON.stringify(cfg, null, 2))}</pre></details>`;
}

/** A section of charts; `lead` (markup) goes between the title and the charts, a comparison's legend. */
export function chartsSection(charts: RenderedChart[], title: string, lead = "", empty = "No policy updates in the log yet."): string {
  if (!charts.length) return `<section><h2>${esc(title)}</h2><p class="empty">${esc(empty)}</p></section>`;
  const figs = charts.map((c) => `<figure class="chart" id="chart-${esc(c.id)}" data-points="${c.points}" data-series="${esc(c.series.join("|"))}">
<figcaption>${esc(c.title)}${c.note ? ` <small>${esc(c.note)}</small>` : ""}</figcaption>
${c.svg}
</figure>`).join("\n");
  return `<section><h2>${esc(title)}</h2>${lead}<div class="grid">${figs}</div></section>`;
}

type Column = [string, (u: PolicyUpdated) => number | undefined];
const meanOf = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const countDropped = (reason: string) => (u: PolicyUpdated) => u.dropped?.filter((d) => d.reason === reason).length;

/** The step table's off-policy columns (issue 13): each shown when some step of the run has it. */
const OFF_POLICY_COLUMNS: Column[] = [
  ["mismatch kl", (u) => u.stats.mismatchKl], ["mismatch max gap", (u) => u.stats.mismatchMaxGap],
  ["w mean", (u) => u.stats.isWeightMean], ["w max", (u) => u.stats.isWeightMax],
  ["w truncated", (u) => u.stats.isTruncatedFrac], ["w masked", (u) => u.stats.isMaskedFrac],
  ["staleness mean", (u) => (u.staleness?.length ? meanOf(u.staleness) : undefined)],
  ["staleness max", (u) => (u.staleness?.length ? Math.max(...u.staleness) : undefined)],
  ["dropped uniform", countDropped("uniform")], ["dropped surplus", countDropped("surplus")], ["fill rounds", (u) => u.fillRounds],
];

export function stepTable(steps: PolicyUpdated[]): string {
  if (!steps.length) return "";
  const present = (cols: Column[]) => cols.filter(([, f]) => steps.some((u) => f(u) !== undefined));
  const cols: Column[] = [
    ["step", (u) => u.step], ["reward", (u) => u.stats.rewardMean], ["format", (u) => u.stats.formatRate],
    ["accuracy", (u) => u.stats.accuracyRate], ["length", (u) => u.stats.responseLengthMean], ["max len", (u) => u.stats.responseLengthMax],
    ["truncated", (u) => u.stats.truncatedRate], ["kl", (u) => u.stats.kl], ["entropy", (u) => u.stats.entropy],
    ["clip frac", (u) => u.stats.clipFrac], ["loss", (u) => u.stats.loss], ["grad norm", (u) => u.stats.gradNorm],
    ["lr", (u) => u.stats.lr], ["zero-adv groups", (u) => u.stats.zeroAdvantageGroups],
    ...present(OFF_POLICY_COLUMNS),
    ["step ms", (u) => Object.values(u.timings).reduce((a, b) => a + b, 0)],
    ...present([["prox ms", (u) => u.timings.proxMs]]),
  ];
  const head = cols.map(([h]) => `<th>${esc(h)}</th>`).join("");
  const body = steps.map((u) => `<tr>${cols.map(([, f]) => `<td>${esc(fmt(f(u)))}</td>`).join("")}</tr>`).join("\n");
  return `<details><summary>Per-step statistics (${steps.length} steps)</summary><div class="scroll"><table class="data"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div></details>`;
}

export type EvalRow = { benchmark: string; metric: string; k: number; n: number; values: Map<number, number>; scorer: string; sampling: string };

/** Evaluation rows: benchmark × metric (the headline metric and every entry of `metrics`), one column per version. */
export function evalRows(evals: Evaluated[]): { versions: number[]; rows: EvalRow[] } {
  const versions = [...new Set(evals.map((e) => e.policyVersion))].sort((a, b) => a - b);
  const rows = new Map<string, EvalRow>();
  const put = (e: Evaluated, metric: string, value: number) => {
    // one row per evaluation identity: a sampled pass@1 or another scorer is never merged with the greedy one
    const key = `${e.benchmark}\u0000${metric}\u0000${e.k}\u0000${e.scorer}\u0000${evalSampling(e)}`;
    const row = rows.get(key) ?? { benchmark: e.benchmark, metric, k: e.k, n: e.n, values: new Map(), scorer: e.scorer, sampling: evalSampling(e) };
    row.values.set(e.policyVersion, value);
    row.n = Math.max(row.n, e.n);
    rows.set(key, row);
  };
  for (const e of evals) {
    put(e, e.metric, e.value);
    for (const [k, v] of Object.entries(e.metrics ?? {})) if (k !== e.metric) put(e, k, v);
  }
  return { versions, rows: [...rows.values()] };
}

/** The metric of a row with what tells it apart: the temperature of a sampled evaluation, the scorer when several are shown. */
export function rowMetric(r: EvalRow, rows: readonly EvalRow[]): string {
  const sampled = r.sampling.startsWith("T=") ? ` (${r.sampling.split(",")[0]})` : "";
  const scorers = new Set(rows.map((x) => x.scorer)).size > 1 ? ` [${r.scorer}]` : "";
  return `${r.metric}${sampled}${scorers}`;
}

export const SELF_CHECK = /self[-_ ]?check|selfcheck|revis|reflect|verif|aha/i;

export function evalSection(evals: Evaluated[], chart?: RenderedChart): string {
  if (!evals.length) return `<section><h2>Evaluation</h2><p class="empty">No Evaluated events in the log.</p></section>`;
  const { versions, rows } = evalRows(evals);
  const head = `<tr><th class="l">benchmark</th><th class="l">metric</th><th>k</th><th>n</th>${versions.map((v) => `<th>v${v}</th>`).join("")}${versions.length > 1 ? "<th>Δ first→last</th>" : ""}</tr>`;
  const body = rows.map((r) => {
    const first = r.values.get(versions[0]), last = r.values.get(versions.at(-1)!);
    const delta = versions.length > 1 && first !== undefined && last !== undefined ? `<td class="delta">${last - first >= 0 ? "+" : ""}${esc(fmt(last - first))}</td>` : versions.length > 1 ? "<td>–</td>" : "";
    const cls = SELF_CHECK.test(r.metric) ? ` class="selfcheck"` : "";
    return `<tr${cls}><td class="l">${esc(r.benchmark)}</td><td class="l">${esc(rowMetric(r, rows))}</td><td>${r.k}</td><td>${r.n}</td>${versions.map((v) => `<td>${esc(fmt(r.values.get(v)))}</td>`).join("")}${delta}</tr>`;
  }).join("\n");
  const checks = rows.filter((r) => SELF_CHECK.test(r.metric));
  const at = (r: EvalRow, v: number) => {
    const x = r.values.get(v);
    const count = x !== undefined && x >= 0 && x <= 1 ? ` (${Math.round(x * r.n * r.k)} of ${r.n * r.k})` : "";
    return `${esc(fmt(x))}${count} at v${v}`;
  };
  const callout = checks.length ? `<p class="callout"><b>Self-checking responses</b> (responses that check or revise their own work): ${checks.map((r) =>
    `${esc(r.benchmark)} ${esc(r.metric)} ${at(r, versions[0])}${versions.length > 1 ? ` → ${at(r, versions.at(-1)!)}` : ""}`).join("; ")}</p>` : "";
  const fig = chart ? `<div class="grid">${chartsFigure(chart)}</div>` : "";
  return `<section><h2>Evaluation</h2>${callout}<div class="scroll"><table class="data" id="eval-table"><thead>${head}</thead><tbody>${body}</tbody></table></div>${fig}</section>`;
}

function chartsFigure(c: RenderedChart): string {
  return `<figure class="chart" id="chart-${esc(c.id)}" data-points="${c.points}" data-series="${esc(c.series.join("|"))}"><figcaption>${esc(c.title)}</figcaption>\n${c.svg}\n</figure>`;
}

function sampleCard(s: SampleView): string {
  const badge = s.outcome ? `<span class="badge ${esc(s.outcome)}">${esc(s.outcome)}</span>` : `<span class="badge">unscored</span>`;
  const score = s.reward !== undefined ? ` reward ${esc(fmt(s.reward))} · format ${esc(fmt(s.format))} · accuracy ${esc(fmt(s.accuracy))}` : "";
  const ext = s.extracted !== undefined && s.extracted !== null ? ` · answer <code>${esc(s.extracted)}</code>` : "";
  const check = s.selfCheck ? ` <span class="badge selfcheck">self-check</span>` : "";
  return `<div class="sample"><div class="meta">#${s.index} ${badge}${check}${score}${ext} · ${s.tokens} tokens · ${esc(s.finish)}</div><pre>${clipChecked(s.text, s.selfCheck)}</pre></div>`;
}

function groupCard(g: GroupView): string {
  return `<div class="group"><div class="meta"><b>${esc(g.groupId)}</b> · prompt ${esc(g.promptId)} · gold <code>${esc(g.gold)}</code>${g.scorer ? ` · ${esc(g.scorer)}` : ""}</div>
<details><summary>prompt</summary><pre>${clip(g.prompt)}</pre></details>
${g.samples.map(sampleCard).join("\n")}</div>`;
}

function sideColumn(label: string, side: SampleSide | undefined): string {
  if (!side) return `<div class="side"><h3>${esc(label)}</h3><p class="empty">—</p></div>`;
  return `<div class="side"><h3>${esc(label)}: step ${side.step}, policy v${side.policyVersion}</h3>
<p class="meta">self-checking responses: <b class="selfchecks">${side.selfChecks} of ${side.samples}</b> sampled at this step</p>${side.groups.map(groupCard).join("\n")}</div>`;
}

export function trainingSamplesSection(m: ReportModel): string {
  if (!m.before) return `<section><h2>Sample responses (training)</h2><p class="empty">No GroupSampled events in the log.</p></section>`;
  return `<section id="samples-training"><h2>Sample responses (training rollouts)</h2><div class="sides">${sideColumn("Before", m.before)}${sideColumn("After", m.after)}</div></section>`;
}

type EvalSample = NonNullable<Evaluated["samples"]>[number];
function evalSampleCard(s: EvalSample): string {
  const checks = isSelfCheck(s.text);
  const check = checks ? ` <span class="badge selfcheck">self-check</span>` : "";
  return `<div class="sample"><div class="meta">prompt ${esc(s.promptId)} <span class="badge ${esc(s.outcome)}">${esc(s.outcome)}</span>${check} reward ${esc(fmt(s.reward))}</div><pre>${clipChecked(s.text, checks)}</pre></div>`;
}

/** Evaluation samples: for each benchmark, the earliest and the latest version that recorded samples. */
export function evalSamplesSection(evals: Evaluated[], perSide = 4): string {
  const withSamples = evals.filter((e) => e.samples?.length);
  if (!withSamples.length) return "";
  const benches = [...new Set(withSamples.map((e) => e.benchmark))];
  const blocks = benches.map((b) => {
    const es = withSamples.filter((e) => e.benchmark === b).sort((x, y) => x.policyVersion - y.policyVersion);
    const first = es[0], last = es.at(-1)!;
    const col = (label: string, e: Evaluated | undefined) => e
      ? `<div class="side"><h3>${esc(label)}: policy v${e.policyVersion}</h3>${e.samples!.slice(0, perSide).map(evalSampleCard).join("\n")}</div>`
      : `<div class="side"><h3>${esc(label)}</h3><p class="empty">—</p></div>`;
    return `<h3 class="bench">${esc(b)}</h3><div class="sides">${col("Before", first)}${col("After", last !== first && last.policyVersion !== first.policyVersion ? last : undefined)}</div>`;
  });
  return `<section id="samples-eval"><h2>Sample responses (evaluation)</h2>${blocks.join("\n")}</section>`;
}
