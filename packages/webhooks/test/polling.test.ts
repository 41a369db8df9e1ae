import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PollingLoop } from '../src/polling.js';

describe('PollingLoop', () => {
  it('runs a round at once, then again after each round ends: never two at once', async () => {
    let inFlight = 0;
    let most = 0;
    let rounds = 0;
    const loop = new PollingLoop(async () => {
      inFlight++;
      most = Math.max(most, inFlight);
      await sleep(15);
      rounds++;
      inFlight--;
    }, () => assert.fail('no round fails'));
    loop.start(1);
    await sleep(120);
    await loop.stop();
    assert.ok(rounds >= 3, `${rounds} rounds`);
    assert.equal(most, 1);
  });

  it('a failing round is reported and the loop goes on; stop() waits for the round in flight and ends it', async () => {
    const errors: unknown[] = [];
    let rounds = 0;
    let finished = 0;
    const loop = new PollingLoop(async () => {
      rounds++;
      if (rounds === 1) throw new Error('database away');
      await sleep(30);
      finished++;
    }, (err) => errors.push(err));
    loop.start(1);
    await sleep(15);
    await loop.stop();
    assert.equal((errors[0] as Error).message, 'database away');
    assert.equal(finished, rounds - 1, 'the round in flight finished before stop() returned');
    const after = rounds;
    await sleep(40);
    assert.equal(rounds, after, 'no round after stop()');
  });
});
