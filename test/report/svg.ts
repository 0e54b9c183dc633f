// Reading the report's server-rendered SVG in tests: a figure's <svg>, and its series lines (the clipped
// "M x y L x y ..." paths ECharts draws for line series) with their stroke.
import assert from "node:assert/strict";

/** The <svg> of the figure with this id. */
export function chartSvg(html: string, id: string): string {
  const m = new RegExp(`<figure class="chart" id="chart-${id}"[^>]*>([\\s\\S]*?)</figure>`).exec(html);
  assert.ok(m, `no figure chart-${id}`);
  const svgs = m[1].match(/<svg[\s\S]*?<\/svg>/g) ?? [];
  assert.equal(svgs.length, 1, `chart ${id} has ${svgs.length} svg elements`);
  return svgs[0];
}

export type SeriesPath = { points: [number, number][]; stroke?: string; width?: number; dash?: string; opacity?: number };

/** The series paths of a chart, in drawing order. */
export function seriesPaths(svg: string): SeriesPath[] {
  return [...svg.matchAll(/<g clip-path="url\(#[^)]+\)">\s*<path d="(M[^"]+)"([^>]*)>/g)].map((m) => {
    const attr = (name: string) => new RegExp(`\\s${name}="([^"]*)"`).exec(m[2])?.[1];
    const num = (name: string) => { const a = attr(name); return a === undefined ? undefined : Number(a); };
    return {
      points: [...m[1].matchAll(/[ML]\s*(-?[\d.]+)[ ,](-?[\d.]+)/g)].map((v) => [Number(v[1]), Number(v[2])] as [number, number]),
      stroke: attr("stroke"), width: num("stroke-width"), dash: attr("stroke-dasharray"), opacity: num("stroke-opacity"),
    };
  });
}

/** The vertices of the series polylines. */
export function seriesLines(svg: string): [number, number][][] {
  return seriesPaths(svg).map((p) => p.points);
}

/** The ids of the page's chart figures, in page order. */
export function figureIds(html: string): string[] {
  return [...html.matchAll(/<figure class="chart" id="chart-([^"]+)"/g)].map((m) => m[1]);
}
