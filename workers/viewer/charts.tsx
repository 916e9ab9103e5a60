// Inline SVG charts, drawn on the server: no script, no library, readable without JavaScript.
// Every label goes through JSX, so data in a label is escaped like any other text.
import { fmtInt } from "./layout";

export interface Bar {
  label: string;
  value: number;
  /** Shown beside a horizontal bar (defaults to the value). */
  text?: string;
  /** Tooltip. */
  title?: string;
}

const PALETTE = ["#4c6ef5", "#15aabf", "#82c91e", "#fab005", "#fd7e14", "#e64980", "#7950f2", "#868e96"];

/** Columns over ordered buckets (a histogram). */
export function ColumnChart(props: { name: string; bars: Bar[]; xLabel: string }) {
  const W = 560;
  const H = 220;
  const pad = { l: 44, r: 8, t: 10, b: 42 };
  const max = Math.max(1, ...props.bars.map((b) => b.value));
  const n = Math.max(1, props.bars.length);
  const slot = (W - pad.l - pad.r) / n;
  const y = (v: number) => pad.t + (H - pad.t - pad.b) * (1 - v / max);
  const every = Math.ceil(n / 8);
  return (
    <svg viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-label={props.name} data-chart={props.name}>
      {[0, 0.5, 1].map((f) => (
        <g>
          <line x1={pad.l} x2={W - pad.r} y1={y(max * f)} y2={y(max * f)} stroke="#e9ecef" />
          <text x={pad.l - 6} y={y(max * f) + 4} text-anchor="end">
            {fmtInt(max * f)}
          </text>
        </g>
      ))}
      {props.bars.map((b, i) => (
        <g>
          <rect x={pad.l + i * slot + 2} y={y(b.value)} width={Math.max(1, slot - 4)} height={H - pad.b - y(b.value)} rx="2" fill={PALETTE[0]}>
            <title>{b.title ?? `${b.label}: ${fmtInt(b.value)}`}</title>
          </rect>
          {i % every === 0 ? (
            <text x={pad.l + i * slot + slot / 2} y={H - pad.b + 14} text-anchor="middle">
              {b.label}
            </text>
          ) : null}
        </g>
      ))}
      <text x={(W + pad.l) / 2} y={H - 6} text-anchor="middle">
        {props.xLabel}
      </text>
    </svg>
  );
}

/** One labelled horizontal bar per row, scaled to `max` (1 for rates and shares). */
export function BarChart(props: { name: string; bars: Bar[]; max?: number }) {
  const W = 560;
  const row = 26;
  const labelW = 170;
  const textW = 70;
  const H = Math.max(1, props.bars.length) * row + 6;
  const max = props.max ?? Math.max(1, ...props.bars.map((b) => b.value));
  const span = W - labelW - textW;
  return (
    <svg viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-label={props.name} data-chart={props.name}>
      {props.bars.map((b, i) => (
        <g>
          <text x={labelW - 8} y={i * row + 18} text-anchor="end">
            {b.label.length > 26 ? `${b.label.slice(0, 25)}…` : b.label}
          </text>
          <rect x={labelW} y={i * row + 5} width={span} height={row - 10} rx="3" fill="#f1f3f5" />
          <rect x={labelW} y={i * row + 5} width={Math.max(0, Math.min(1, b.value / max)) * span} height={row - 10} rx="3" fill={PALETTE[i % PALETTE.length]}>
            <title>{b.title ?? `${b.label}: ${b.text ?? b.value}`}</title>
          </rect>
          <text x={labelW + span + 6} y={i * row + 18}>
            {b.text ?? String(b.value)}
          </text>
        </g>
      ))}
    </svg>
  );
}

/** A small line over ordered points (one per release). */
export function LineChart(props: { name: string; points: Bar[]; yLabel: string }) {
  const W = 560;
  const H = 200;
  const pad = { l: 64, r: 16, t: 12, b: 40 };
  const values = props.points.map((p) => p.value);
  const lo = Math.min(0, ...values);
  const hi = Math.max(...values, lo + 1e-9);
  const n = props.points.length;
  const x = (i: number) => pad.l + (n === 1 ? (W - pad.l - pad.r) / 2 : (i * (W - pad.l - pad.r)) / (n - 1));
  const y = (v: number) => pad.t + (H - pad.t - pad.b) * (1 - (v - lo) / (hi - lo));
  const every = Math.ceil(n / 6);
  return (
    <svg viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-label={props.name} data-chart={props.name}>
      {[lo, (lo + hi) / 2, hi].map((v) => (
        <g>
          <line x1={pad.l} x2={W - pad.r} y1={y(v)} y2={y(v)} stroke="#e9ecef" />
          <text x={pad.l - 6} y={y(v) + 4} text-anchor="end">
            {Number(v.toPrecision(3)).toString()}
          </text>
        </g>
      ))}
      <polyline fill="none" stroke={PALETTE[0]} stroke-width="2" points={props.points.map((p, i) => `${x(i)},${y(p.value)}`).join(" ")} />
      {props.points.map((p, i) => (
        <g>
          <circle cx={x(i)} cy={y(p.value)} r="3.5" fill={PALETTE[0]}>
            <title>{p.title ?? `${p.label}: ${p.value}`}</title>
          </circle>
          {i % every === 0 || i === n - 1 ? (
            <text x={x(i)} y={H - pad.b + 16} text-anchor={n > 1 && i === 0 ? "start" : n > 1 && i === n - 1 ? "end" : "middle"}>
              {p.label}
            </text>
          ) : null}
        </g>
      ))}
      <text x={14} y={pad.t + (H - pad.t - pad.b) / 2} transform={`rotate(-90 14 ${pad.t + (H - pad.t - pad.b) / 2})`} text-anchor="middle">
        {props.yLabel}
      </text>
    </svg>
  );
}
