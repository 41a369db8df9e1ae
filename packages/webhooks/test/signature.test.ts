import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateSecret, secretKey, sign, signHeaders, verify, WebhookVerificationError, type WebhookVerificationCode } from '../src/index.js';

// The published test vector of the Standard Webhooks reference libraries
// (standard-webhooks/standard-webhooks, libraries/javascript/src/webhook.test.ts, "sign function works").
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

const fails = (fn: () => unknown, code: WebhookVerificationCode) =>
  assert.throws(fn, (e: unknown) => e instanceof WebhookVerificationError && e.code === code);

describe('Standard Webhooks signatures', () => {
  it('matches the spec test vector, with and without the whsec_ prefix', () => {
    assert.equal(sign(VECTOR.id, VECTOR.timestamp, VECTOR.body, VECTOR.secret), VECTOR.signature);
    assert.equal(sign(VECTOR.id, new Date(VECTOR.timestamp * 1000), VECTOR.body, VECTOR.secret.slice(6)), VECTOR.signature);
    const headers = { 'webhook-id': VECTOR.id, 'webhook-timestamp': String(VECTOR.timestamp), 'webhook-signature': VECTOR.signature };
    assert.deepEqual(verify(VECTOR.body, headers, [VECTOR.secret], { now: VECTOR.timestamp * 1000 }), { id: VECTOR.id, timestamp: VECTOR.timestamp });
  });

  it('round-trips with a generated secret, and accepts Headers objects', () => {
    const secret = generateSecret();
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.equal(secretKey(secret).length, 32);
    const now = Date.now();
    const h = signHeaders('msg_1', new Date(now), '{"a":1}', [secret]);
    assert.equal(verify('{"a":1}', new Headers({ ...h }), [secret], { now }).id, 'msg_1');
    fails(() => verify('{"a":2}', { ...h }, [secret], { now }), 'no_matching_signature');
    fails(() => verify('{"a":1}', { ...h, 'webhook-id': 'msg_2' }, [secret], { now }), 'no_matching_signature');
    fails(() => verify('{"a":1}', { ...h }, [generateSecret()], { now }), 'no_matching_signature');
  });

  it('rotation: signed with two secrets, verifies with either; a receiver holding both accepts either signature', () => {
    const [oldS, newS] = [generateSecret(), generateSecret()];
    const now = Date.now();
    const both = signHeaders('msg_r', new Date(now), 'x', [newS, oldS]);
    assert.equal(both['webhook-signature'].split(' ').length, 2);
    verify('x', { ...both }, [oldS], { now });
    verify('x', { ...both }, [newS], { now });
    fails(() => verify('x', { ...both }, [generateSecret()], { now }), 'no_matching_signature');
    const onlyNew = signHeaders('msg_r', new Date(now), 'x', [newS]);
    verify('x', { ...onlyNew }, [oldS, newS], { now });
  });

  it('accepts the valid one among several signatures, ignores other versions', () => {
    const now = VECTOR.timestamp * 1000;
    const sigs = ['v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=', 'v2,' + VECTOR.signature.slice(3), VECTOR.signature].join(' ');
    verify(VECTOR.body, { 'webhook-id': VECTOR.id, 'webhook-timestamp': String(VECTOR.timestamp), 'webhook-signature': sigs }, [VECTOR.secret], { now });
    const v2only = 'v2,' + VECTOR.signature.slice(3);
    fails(() => verify(VECTOR.body, { 'webhook-id': VECTOR.id, 'webhook-timestamp': String(VECTOR.timestamp), 'webhook-signature': v2only }, [VECTOR.secret], { now }), 'no_matching_signature');
  });

  it('rejects stale, future, malformed and missing headers', () => {
    const base = { 'webhook-id': VECTOR.id, 'webhook-timestamp': String(VECTOR.timestamp), 'webhook-signature': VECTOR.signature };
    const t = VECTOR.timestamp * 1000;
    fails(() => verify(VECTOR.body, base, [VECTOR.secret], { now: t + 301_000 }), 'timestamp_too_old');
    fails(() => verify(VECTOR.body, base, [VECTOR.secret], { now: t - 301_000 }), 'timestamp_too_new');
    verify(VECTOR.body, base, [VECTOR.secret], { now: t + 299_000 });
    fails(() => verify(VECTOR.body, { ...base, 'webhook-timestamp': 'hello' }, [VECTOR.secret], { now: t }), 'invalid_timestamp');
    fails(() => verify(VECTOR.body, { ...base, 'webhook-signature': undefined }, [VECTOR.secret], { now: t }), 'missing_headers');
    fails(() => verify(VECTOR.body, { ...base, 'webhook-signature': 'v1,' }, [VECTOR.secret], { now: t }), 'no_matching_signature');
    fails(() => verify(VECTOR.body, { ...base, 'webhook-signature': VECTOR.signature.slice(0, 8) }, [VECTOR.secret], { now: t }), 'no_matching_signature');
    fails(() => secretKey('whsec_not base64!'), 'invalid_secret');
  });
});
