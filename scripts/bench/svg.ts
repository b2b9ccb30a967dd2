// Small charts for docs/BENCHMARKS.md, written as SVG by the benchmark that measured the figures:
// grouped bars, one group per x value (e.g. cluster size), one bar per series (e.g. system).

export interface BarChart {
  title: string;
  /** Label under each group of bars. */
  groups: string[];
  series: { label: string; values: number[] }[];
  /** Formats a value for the label over its bar. */
  format: (v: number) => string;
}

const PALETTE = ['#2f6db5', '#9fb9dc', '#d9822b', '#5a9e4b', '#8c5aa6'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** One chart panel of `width` × `height` at (x, y). */
function panel(c: BarChart, x: number, y: number, width: number, height: number): string {
  const top = 36;
  const bottom = 28;
  const plotH = height - top - bottom;
  const max = Math.max(...c.series.flatMap((s) => s.values.filter((v) => Number.isFinite(v))), 0) || 1;
  const groupW = width / c.groups.length;
  const barW = Math.min(36, (groupW * 0.8) / c.series.length);
  const out = [
    `<text x="${x + width / 2}" y="${y + 18}" text-anchor="middle" font-weight="bold">${esc(c.title)}</text>`,
  ];
  out.push(
    `<line x1="${x}" y1="${y + top + plotH}" x2="${x + width}" y2="${y + top + plotH}" stroke="#444" stroke-width="1"/>`,
  );
  c.groups.forEach((g, gi) => {
    const gx = x + gi * groupW + (groupW - barW * c.series.length) / 2;
    c.series.forEach((s, si) => {
      const v = s.values[gi];
      if (!Number.isFinite(v)) return;
      const h = (v / max) * plotH;
      const bx = gx + si * barW;
      const by = y + top + plotH - h;
      out.push(
        `<rect x="${bx.toFixed(1)}" y="${by.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}"/>`,
        `<text x="${(bx + barW / 2 - 1).toFixed(1)}" y="${(by - 3).toFixed(1)}" text-anchor="middle" font-size="10">${esc(c.format(v))}</text>`,
      );
    });
    out.push(`<text x="${x + gi * groupW + groupW / 2}" y="${y + height - 8}" text-anchor="middle">${esc(g)}</text>`);
  });
  return out.join('\n');
}

/** Charts side by side with one legend for their (shared) series. */
export function barCharts(charts: BarChart[], opts: { panelWidth?: number; panelHeight?: number } = {}): string {
  const w = opts.panelWidth ?? 340;
  const h = opts.panelHeight ?? 240;
  const legendH = 24;
  const width = w * charts.length;
  const height = h + legendH;
  const series = charts[0]?.series.map((s) => s.label) ?? [];
  const legend = series
    .map((label, i) => {
      const lx = 10 + i * (width / Math.max(series.length, 1));
      return (
        `<rect x="${lx}" y="${h + 6}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/>` +
        `<text x="${lx + 16}" y="${h + 16}">${esc(label)}</text>`
      );
    })
    .join('\n');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    ...charts.map((c, i) => panel(c, i * w + 10, 0, w - 20, h)),
    legend,
    '</svg>',
    '',
  ].join('\n');
}
