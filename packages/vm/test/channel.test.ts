import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newGradingSecrets, ResultChannelVerifier, signEventLine } from '../src/index.js';

const KEY = 'a'.repeat(64);
const PLAN = ['load', 'write_read', 'unload'];
const hello = '{"event":"hello","cpus":2,"kernel":"6.1.192","uptimeMs":7000}';
const start = (name: string) => `{"event":"test_start","name":"${name}","uptimeMs":8000}`;
const end = (name: string, status = 'pass') => `{"event":"test_end","name":"${name}","status":"${status}","output":"ok","durationMs":5}`;
const done = '{"event":"done","uptimeMs":9000}';
const wholeRun = [hello, start('load'), '{"event":"module","name":"msgbuf","sections":{".text":"0xffffffffc0000000"}}', end('load'), start('write_read'), end('write_read'), start('unload'), end('unload'), done];

/** Feeds signed lines with consecutive sequence numbers (from `from`). */
function feed(v: ResultChannelVerifier, jsons: string[], from = 1, key = KEY): void {
  jsons.forEach((json, i) => v.push(signEventLine(key, from + i, json)));
}

describe('ResultChannelVerifier', () => {
  it('accepts a whole run signed with the key, in plan order', () => {
    const v = new ResultChannelVerifier(KEY, PLAN);
    feed(v, wholeRun);
    assert.deepEqual(v.violations, []);
    assert.equal(v.events.length, wholeRun.length);
    assert.ok(v.done);
    assert.ok(v.moduleMayBeLoaded);
  });

  it('rejects a forged pass: unsigned lines, or lines signed with another key', () => {
    const v = new ResultChannelVerifier(KEY, PLAN);
    feed(v, [hello]);
    v.push(start('load'));
    v.push(end('load'));
    v.push(done);
    feed(v, [start('load'), end('load'), done], 2, 'b'.repeat(64));
    assert.deepEqual(v.events.map((e) => e.event), ['hello']);
    assert.ok(!v.done);
    assert.deepEqual([...new Set(v.violations.map((x) => x.kind))], ['unauthenticated', 'bad-mac']);
  });

  it('rejects a replayed or reordered event and reports a gap', () => {
    const v = new ResultChannelVerifier(KEY, PLAN);
    feed(v, [hello, start('load')]);
    v.push(signEventLine(KEY, 2, start('load'))); // replay
    v.push(signEventLine(KEY, 4, end('load'))); // 3 never arrived
    assert.deepEqual(v.violations.map((x) => x.kind), ['replayed', 'gap']);
    assert.deepEqual(v.events.map((e) => e.event), ['hello', 'test_start', 'test_end']);
  });

  it('requires each planned test to start and end exactly once, in order, before done', () => {
    const v = new ResultChannelVerifier(KEY, PLAN);
    feed(v, [hello, start('write_read'), start('load'), end('unload'), end('load'), start('load'), done]);
    assert.deepEqual(v.violations.map((x) => x.kind), ['out-of-plan', 'out-of-plan', 'out-of-plan', 'out-of-plan']);
    assert.deepEqual(v.events.map((e) => ('name' in e ? `${e.event}:${e.name}` : e.event)), ['hello', 'test_start:load', 'test_end:load']);
    assert.ok(!v.done);
  });

  it('accepts nothing after done', () => {
    const v = new ResultChannelVerifier(KEY, PLAN);
    feed(v, [...wholeRun, '{"event":"log","message":"late"}']);
    assert.deepEqual(v.violations.map((x) => x.kind), ['after-done']);
  });

  it('marks whether a violation came after the load test was announced', () => {
    const v = new ResultChannelVerifier(KEY, PLAN);
    v.push('junk before load');
    feed(v, [hello, start('load')]);
    v.push('junk after load');
    assert.deepEqual(v.violations.map((x) => x.afterLoad), [false, true]);
  });

  it('refuses module and devices events outside a test', () => {
    const v = new ResultChannelVerifier(KEY, PLAN);
    feed(v, [hello, '{"event":"devices","paths":["/dev/x"]}']);
    assert.equal(v.violations[0]?.kind, 'out-of-plan');
  });

  it('remembers only the first few violations of a flood', () => {
    const v = new ResultChannelVerifier(KEY, PLAN);
    for (let i = 0; i < 1000; i++) v.push(`junk ${i}`);
    assert.equal(v.violations.length, 5);
  });

  it('tolerates a carriage return and rejects malformed JSON that is correctly signed', () => {
    const v = new ResultChannelVerifier(KEY, PLAN);
    v.push(`${signEventLine(KEY, 1, hello)}\r`);
    v.push(signEventLine(KEY, 2, '{"event":"test_start"}'));
    assert.equal(v.events.length, 1);
    assert.equal(v.violations[0]?.kind, 'malformed');
  });
});

describe('newGradingSecrets', () => {
  it('gives a 32-byte key and an 8-byte nonce, fresh each time', () => {
    const a = newGradingSecrets();
    const b = newGradingSecrets();
    assert.match(a.key, /^[0-9a-f]{64}$/);
    assert.match(a.nonce, /^[0-9a-f]{16}$/);
    assert.notEqual(a.key, b.key);
    assert.notEqual(a.nonce, b.nonce);
  });
});
