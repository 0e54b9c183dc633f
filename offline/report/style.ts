// The reports' stylesheet, inlined in every page (the single-run report and the comparison).
export const CSS = `
:root { --fg:#1d2330; --muted:#667085; --line:#e4e7ec; --bg:#f7f8fa; --card:#fff; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 64px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
h1 { font-size: 22px; margin: 0 0 12px; } h2 { font-size: 18px; margin: 28px 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 14px; margin: 0 0 8px; } h3.bench { margin-top: 16px; }
code { font: 12px/1.3 ui-monospace, SFMono-Regular, Menlo, monospace; background: #eef0f4; padding: 1px 4px; border-radius: 3px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 12px; }
.cards > div, .group, figure.chart { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
table.kv { border-collapse: collapse; width: 100%; } table.kv th { text-align: left; color: var(--muted); font-weight: 500; padding: 2px 12px 2px 0; white-space: nowrap; vertical-align: top; }
table.kv td { padding: 2px 0; word-break: break-all; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr)); gap: 12px; }
figure.chart { margin: 0; } figure.chart svg { display: block; width: 100%; height: auto; }
figcaption { font-weight: 600; margin-bottom: 4px; } figcaption small { font-weight: 400; color: var(--muted); }
table.data { border-collapse: collapse; background: var(--card); font-variant-numeric: tabular-nums; }
table.data th, table.data td { border: 1px solid var(--line); padding: 4px 8px; text-align: right; white-space: nowrap; }
table.data th { background: #eef0f4; } table.data .l { text-align: left; }
tr.selfcheck td { background: #fff7e0; } mark.check { background: #ffe08a; color: inherit; font-weight: 600; } td.delta { font-weight: 600; }
.callout { background: #fff7e0; border: 1px solid #f0d890; border-radius: 6px; padding: 8px 12px; }
.scroll { overflow-x: auto; } details { margin: 10px 0; } summary { cursor: pointer; color: #344054; }
.sides { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; } .side { min-width: 0; }
.group { margin-bottom: 12px; } .meta { color: var(--muted); font-size: 12px; margin: 4px 0; }
.sample { border-top: 1px dashed var(--line); padding-top: 4px; margin-top: 6px; }
pre { white-space: pre-wrap; word-break: break-word; font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; background: #f4f5f7; padding: 6px 8px; border-radius: 4px; margin: 4px 0; max-height: 320px; overflow: auto; }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; background: #e4e7ec; color: #344054; font-size: 11px; }
.badge.correct { background: #d1fadf; color: #05603a; } .badge.wrong { background: #fee4e2; color: #912018; }
.badge.no_answer, .badge.unparseable { background: #fef0c7; color: #93370d; } .badge.selfcheck { background: #e0eaff; color: #2d3282; }
.empty { color: var(--muted); font-style: italic; } .more { color: var(--muted); }
ul.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 4px 18px; padding: 8px 12px; margin: 0 0 8px; background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
ul.legend li { display: flex; align-items: center; gap: 6px; font-size: 12px; } svg.swatch { flex: none; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
`;
