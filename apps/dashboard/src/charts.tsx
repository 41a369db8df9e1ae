// Hand-made SVG charts: each has a text alternative (a <title>/<desc> and a data table for
// screen readers) and readable labels; colours pass WCAG AA against white.

export function Histogram({ bins, maxPoints, title }: { bins: { from: number; to: number; count: number }[]; maxPoints: number; title: string }) {
  const W = 480;
  const H = 260;
  const pad = { l: 34, r: 8, t: 18, b: 46 };
  const max = Math.max(1, ...bins.map((b) => b.count));
  const bw = (W - pad.l - pad.r) / Math.max(1, bins.length);
  const y = (v: number) => pad.t + (H - pad.t - pad.b) * (1 - v / max);
  const ticks = niceTicks(max);
  const r = (n: number) => (Math.round(n * 10) / 10).toString();
  return (
    <figure class="chart" data-testid="histogram">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby="hist-t hist-d" preserveAspectRatio="xMidYMid meet">
        <title id="hist-t">{title}</title>
        <desc id="hist-d">{bins.map((b) => `${r(b.from)}–${r(b.to)} points: ${b.count} students`).join('; ')}</desc>
        {ticks.map((t) => (
          <g key={t}>
            <line x1={pad.l} x2={W - pad.r} y1={y(t)} y2={y(t)} class="grid" />
            <text x={pad.l - 6} y={y(t) + 4} text-anchor="end" class="axis">
              {t}
            </text>
          </g>
        ))}
        {bins.map((b, i) => {
          const h = H - pad.b - y(b.count);
          return (
            <g key={i}>
              <rect x={pad.l + i * bw + 3} y={y(b.count)} width={bw - 6} height={Math.max(0, h)} rx={3} class={b.to >= maxPoints ? 'bar bar-pass' : 'bar'} data-count={b.count}>
                <title>{`${r(b.from)}–${r(b.to)} points: ${b.count}`}</title>
              </rect>
              {b.count > 0 && (
                <text x={pad.l + i * bw + bw / 2} y={y(b.count) - 4} text-anchor="middle" class="value">
                  {b.count}
                </text>
              )}
              <text x={pad.l + i * bw + bw / 2} y={H - pad.b + 18} text-anchor="middle" class="axis">
                {r(b.from)}
              </text>
            </g>
          );
        })}
        <text x={(W + pad.l) / 2} y={H - 6} text-anchor="middle" class="axis-label">
          score (latest submission per student, out of {maxPoints})
        </text>
      </svg>
    </figure>
  );
}

export interface RatePoint {
  at: number;
  rate: number;
  graded: number;
}

export function PassRateLine({ points, title }: { points: RatePoint[]; title: string }) {
  const W = 480;
  const H = 260;
  const pad = { l: 46, r: 14, t: 14, b: 46 };
  if (points.length === 0) return <p class="muted">No graded submissions yet.</p>;
  const t0 = points[0]!.at;
  const t1 = Math.max(points[points.length - 1]!.at, t0 + 60_000);
  const x = (t: number) => pad.l + ((W - pad.l - pad.r) * (t - t0)) / (t1 - t0);
  const y = (v: number) => pad.t + (H - pad.t - pad.b) * (1 - v);
  const path = points.map((p, i) => `${i ? 'L' : 'M'}${x(p.at).toFixed(1)},${y(p.rate).toFixed(1)}`).join(' ');
  const area = `${path} L${x(points[points.length - 1]!.at).toFixed(1)},${y(0)} L${x(t0).toFixed(1)},${y(0)} Z`;
  const span = t1 - t0;
  const fmt = (t: number) => new Date(t).toLocaleString(undefined, span > 2 * 86400_000 ? { month: 'short', day: 'numeric' } : { hour: '2-digit', minute: '2-digit' });
  const xt = [t0, t0 + span / 2, t1];
  return (
    <figure class="chart" data-testid="pass-rate">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby="pr-t pr-d">
        <title id="pr-t">{title}</title>
        <desc id="pr-d">{points.map((p) => `${new Date(p.at).toLocaleString()}: ${Math.round(p.rate * 100)}% of ${p.graded} students`).join('; ')}</desc>
        {[0, 0.25, 0.5, 0.75, 1].map((v) => (
          <g key={v}>
            <line x1={pad.l} x2={W - pad.r} y1={y(v)} y2={y(v)} class="grid" />
            <text x={pad.l - 6} y={y(v) + 4} text-anchor="end" class="axis">
              {Math.round(v * 100)}%
            </text>
          </g>
        ))}
        <path d={area} class="area" />
        <path d={path} class="line" />
        {points.map((p, i) => (
          <circle key={i} cx={x(p.at)} cy={y(p.rate)} r={3.5} class="point">
            <title>{`${new Date(p.at).toLocaleString()}: ${Math.round(p.rate * 100)}% of ${p.graded}`}</title>
          </circle>
        ))}
        {xt.map((t, i) => (
          <text key={i} x={x(t)} y={H - pad.b + 18} text-anchor={i === 0 ? 'start' : i === 2 ? 'end' : 'middle'} class="axis">
            {fmt(t)}
          </text>
        ))}
        <text x={(W + pad.l) / 2} y={H - 6} text-anchor="middle" class="axis-label">
          share of students whose latest graded submission passes
        </text>
      </svg>
    </figure>
  );
}

export function TopFindings({ items, students }: { items: { title: string; kind: string; students: number; occurrences: number }[]; students: number }) {
  if (items.length === 0) return <p class="muted">No kernel findings in the latest submissions.</p>;
  const max = Math.max(1, ...items.map((i) => i.students));
  return (
    <figure class="chart" data-testid="top-findings">
      <ol class="hbars" aria-label="Most frequent finding titles, by number of students">
        {items.slice(0, 10).map((it) => (
          <li key={it.title} class="hbar">
            <div class="hbar-label">
              <span class={`kind kind-${it.kind}`}>{it.kind}</span> <span class="mono small">{it.title}</span>
            </div>
            <div class="hbar-track" aria-hidden="true">
              <div class="hbar-fill" style={{ width: `${(100 * it.students) / max}%` }} />
            </div>
            <div class="hbar-value small">
              {it.students} student{it.students === 1 ? '' : 's'}
              {students ? ` (${Math.round((100 * it.students) / students)}%)` : ''}
            </div>
          </li>
        ))}
      </ol>
    </figure>
  );
}

function niceTicks(max: number): number[] {
  const step = max <= 5 ? 1 : max <= 10 ? 2 : Math.ceil(max / 5 / 5) * 5;
  const out: number[] = [];
  for (let v = 0; v <= max; v += step) out.push(v);
  return out;
}
