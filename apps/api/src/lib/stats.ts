// Assignment statistics computed on the server (the dashboard draws them, it does not fetch every submission).
/** Pass rate of students' latest graded submission after each grading (oldest first), one point a minute at most. */
export function passRateOverTime(graded: readonly { userId: string; pass: boolean; at: Date }[]): { at: number; rate: number; graded: number }[] {
  const latest = new Map<string, boolean>();
  let passing = 0;
  const points: { at: number; rate: number; graded: number }[] = [];
  for (const s of graded) {
    const before = latest.get(s.userId);
    if (before === true) passing--;
    if (s.pass) passing++;
    latest.set(s.userId, s.pass);
    const at = s.at.getTime();
    const p = { at, rate: passing / latest.size, graded: latest.size };
    const prev = points[points.length - 1];
    if (prev && at - prev.at < 60_000) points[points.length - 1] = { ...p, at: prev.at };
    else points.push(p);
  }
  return points;
}
