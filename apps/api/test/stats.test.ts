import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { passRateOverTime } from '../src/lib/stats.js';

const at = (minute: number, second = 0) => new Date(Date.UTC(2026, 11, 1, 9, minute, second));

describe('passRateOverTime', () => {
  it("follows each student's latest graded submission: a fix raises the rate, a regression lowers it", () => {
    const points = passRateOverTime([
      { userId: 'a', pass: false, at: at(0) },
      { userId: 'b', pass: true, at: at(2) },
      { userId: 'a', pass: true, at: at(4) },
      { userId: 'b', pass: false, at: at(6) },
    ]);
    assert.deepEqual(
      points.map((p) => [p.rate, p.graded]),
      [
        [0, 1],
        [0.5, 2],
        [1, 2],
        [0.5, 2],
      ],
    );
    assert.equal(points[0]!.at, at(0).getTime());
  });

  it('keeps one point a minute: later gradings in the same minute update it', () => {
    const points = passRateOverTime([
      { userId: 'a', pass: true, at: at(0, 0) },
      { userId: 'b', pass: false, at: at(0, 30) },
      { userId: 'c', pass: false, at: at(1, 10) },
    ]);
    assert.deepEqual(points, [
      { at: at(0).getTime(), rate: 0.5, graded: 2 },
      { at: at(1, 10).getTime(), rate: 1 / 3, graded: 3 },
    ]);
  });

  it('is empty before any grading', () => {
    assert.deepEqual(passRateOverTime([]), []);
  });
});
