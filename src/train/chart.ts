// A loss curve as a standalone SVG (no dependencies), so a training run leaves something a person can look at.

export interface Curve {
  label: string;
  color: string;
  points: { step: number; loss: number }[];
}

/** An SVG line chart of one or more loss curves against the step. */
export function lossChartSvg(curves: Curve[], options: { title?: string; width?: number; height?: number } = {}): string {
  const width = options.width ?? 720, height = options.height ?? 420;
  const pad = { left: 60, right: 20, top: 40, bottom: 45 };
  const all = curves.flatMap((c) => c.points).filter((p) => Number.isFinite(p.loss));
  const maxStep = Math.max(1, ...all.map((p) => p.step));
  const lo = Math.min(...all.map((p) => p.loss)), hi = Math.max(...all.map((p) => p.loss));
  const [yMin, yMax] = all.length === 0 ? [0, 1] : [Math.floor(lo * 2) / 2, Math.ceil(hi * 2) / 2 + (hi === lo ? 0.5 : 0)];
  const x = (step: number) => pad.left + (step / maxStep) * (width - pad.left - pad.right);
  const y = (loss: number) => height - pad.bottom - ((loss - yMin) / (yMax - yMin)) * (height - pad.top - pad.bottom);
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${esc(options.title ?? "loss")}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const v = yMin + ((yMax - yMin) * i) / 5;
    out.push(`<line x1="${pad.left}" x2="${width - pad.right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${pad.left - 8}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(2)}</text>`);
    const s = Math.round((maxStep * i) / 5);
    out.push(`<text x="${x(s)}" y="${height - pad.bottom + 18}" text-anchor="middle">${s}</text>`);
  }
  out.push(`<text x="${width / 2}" y="${height - 8}" text-anchor="middle">step</text>`,
    `<text transform="translate(16 ${height / 2}) rotate(-90)" text-anchor="middle">cross-entropy (nats/token)</text>`);
  curves.forEach((c, i) => {
    const pts = c.points.filter((p) => Number.isFinite(p.loss)).map((p) => `${x(p.step).toFixed(1)},${y(p.loss).toFixed(1)}`);
    if (pts.length > 0) out.push(`<polyline fill="none" stroke="${c.color}" stroke-width="1.5" points="${pts.join(" ")}"/>`);
    out.push(`<rect x="${width - pad.right - 150}" y="${pad.top + i * 18}" width="12" height="3" fill="${c.color}"/>`,
      `<text x="${width - pad.right - 132}" y="${pad.top + i * 18 + 5}">${esc(c.label)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n");
}
