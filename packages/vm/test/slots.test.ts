import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { acquireVmSlot, hostVmSlots } from '../src/index.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kgrader-slots-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const holders = () => {
  try {
    return execFileSync('pgrep', ['-f', `flock -n -o -E 99 ${dir}`], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
};

describe('hostVmSlots', () => {
  it('gives one VM per vCPUs-worth of cores, capped by memory, at least one', () => {
    assert.equal(hostVmSlots(2, 512, { cores: 2, memoryMiB: 24_000 }), 1);
    assert.equal(hostVmSlots(2, 512, { cores: 16, memoryMiB: 24_000 }), 8);
    assert.equal(hostVmSlots(2, 512, { cores: 64, memoryMiB: 4096 }), 4);
    assert.equal(hostVmSlots(4, 512, { cores: 2, memoryMiB: 1024 }), 1);
  });
});

describe('acquireVmSlot', () => {
  it('hands out each slot once and waits for a free one', async () => {
    const a = await acquireVmSlot(dir, 2);
    const b = await acquireVmSlot(dir, 2);
    assert.deepEqual([a.index, b.index].sort(), [0, 1]);
    let third: number | undefined;
    const waiting = acquireVmSlot(dir, 2, undefined, 50).then((s) => {
      third = s.index;
      return s;
    });
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(third, undefined, 'no third slot while two are held');
    a.release();
    const c = await waiting;
    assert.equal(c.index, a.index);
    b.release();
    c.release();
  });

  it('shares the budget with other processes, and a killed process frees its slot', async () => {
    // another process (as another worker would) takes the only slot, then is SIGKILLed
    const script = `import('${new URL('../src/index.js', import.meta.url).href}').then(async (m) => { await m.acquireVmSlot(${JSON.stringify(dir)}, 1); console.log('got'); setInterval(() => {}, 1000); })`;
    const other = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve) => other.stdout!.once('data', resolve));
    let mine: number | undefined;
    const waiting = acquireVmSlot(dir, 1, undefined, 50).then((s) => {
      mine = s.index;
      return s;
    });
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(mine, undefined, 'the slot is taken by the other process');
    other.kill('SIGKILL');
    const slot = await waiting;
    assert.equal(slot.index, 0);
    slot.release();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(holders(), 0, 'no holder process outlives its slot');
  });
});
