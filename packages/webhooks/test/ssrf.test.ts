import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { assertDeliverableUrl, classifyAddress, guardedFetch, parseV6, SsrfError, type Resolver } from '../src/index.js';

const resolver =
  (table: Record<string, string[]>): Resolver =>
  async (host) => {
    const list = table[host];
    if (!list) throw new Error('ENOTFOUND');
    return list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

const blocked = async (url: string, opts: Parameters<typeof assertDeliverableUrl>[1] = {}, code = 'blocked_address') =>
  assert.rejects(assertDeliverableUrl(url, opts), (e: unknown) => e instanceof SsrfError && e.code === code);

describe('SSRF guard', () => {
  it('classifies IPv4 and IPv6 addresses', () => {
    const cases: Array<[string, string]> = [
      ['127.0.0.1', 'loopback'],
      ['10.1.2.3', 'private'],
      ['172.16.0.1', 'private'],
      ['172.32.0.1', 'public'],
      ['192.168.1.1', 'private'],
      ['169.254.169.254', 'link_local'],
      ['100.64.0.1', 'cgnat'],
      ['0.0.0.0', 'unspecified'],
      ['224.0.0.1', 'multicast'],
      ['255.255.255.255', 'broadcast'],
      ['8.8.8.8', 'public'],
      ['::1', 'loopback'],
      ['::', 'unspecified'],
      ['fe80::1%eth0', 'link_local'],
      ['fd12:3456::1', 'ula'],
      ['ff02::1', 'multicast'],
      ['::ffff:127.0.0.1', 'loopback'],
      ['::ffff:7f00:1', 'loopback'],
      ['::ffff:10.0.0.1', 'private'],
      ['::ffff:8.8.8.8', 'public'],
      ['64:ff9b::a9fe:a9fe', 'link_local'],
      ['2002:c0a8:0101::1', 'private'],
      ['2606:4700:4700::1111', 'public'],
    ];
    for (const [ip, cat] of cases) assert.equal(classifyAddress(ip), cat, ip);
    assert.deepEqual(parseV6('1::2'), [1, 0, 0, 0, 0, 0, 0, 2]);
    assert.equal(parseV6('1:2:3'), null);
    assert.equal(parseV6('1::2::3'), null);
  });

  it('rejects loopback, private, link-local, IPv6 loopback and mapped literals when not allowed', async () => {
    await blocked('http://127.0.0.1:8080/hook');
    await blocked('http://10.0.0.5/hook');
    await blocked('http://169.254.169.254/latest/meta-data');
    await blocked('http://[::1]/hook');
    await blocked('http://[::ffff:127.0.0.1]/hook');
    await blocked('http://2130706433/hook'); // 127.0.0.1 in decimal, normalised by the URL parser
    await blocked('http://0x7f.1/hook');
    await blocked('http://100.64.1.1/hook');
    await blocked('http://[fd00::1]/hook');
  });

  it('rejects a hostname resolving to loopback, or to any private address among public ones', async () => {
    const resolve = resolver({ 'evil.example': ['127.0.0.1'], 'mixed.example': ['93.184.216.34', '10.0.0.1'], 'ok.example': ['93.184.216.34'] });
    await blocked('https://evil.example/hook', { resolve });
    await blocked('https://mixed.example/hook', { resolve });
    const ok = await assertDeliverableUrl('https://ok.example/hook', { resolve });
    assert.deepEqual(ok.addresses, [{ address: '93.184.216.34', family: 4 }]);
    await blocked('https://missing.example/', { resolve }, 'dns');
    // the real resolver: localhost is loopback
    await blocked('http://localhost:9/hook');
  });

  it('rejects other schemes and garbage', async () => {
    await blocked('ftp://example.com/x', {}, 'scheme');
    await blocked('file:///etc/passwd', {}, 'scheme');
    await blocked('not a url', {}, 'invalid_url');
  });

  it('allows private targets when an admin allows them, never multicast or unspecified', async () => {
    assert.equal((await assertDeliverableUrl('http://127.0.0.1:1/x', { allowPrivate: true })).hostname, '127.0.0.1');
    assert.equal((await assertDeliverableUrl('http://[::1]:1/x', { allowPrivate: true })).hostname, '::1');
    await blocked('http://0.0.0.0/x', { allowPrivate: true });
    await blocked('http://224.0.0.1/x', { allowPrivate: true });
  });
});

describe('guardedFetch (LTI platform URLs)', () => {
  it('refuses loopback and the cloud metadata address unless private addresses are allowed, and follows no redirect', async () => {
    let hits = 0;
    const server = createServer((req, res) => {
      hits++;
      if (req.url === '/redirect') {
        res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"keys":[]}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const strict = guardedFetch();
      await assert.rejects(strict(`${base}/jwks`), (e: unknown) => e instanceof SsrfError && e.category === 'loopback');
      await assert.rejects(strict('http://169.254.169.254/latest/meta-data/'), (e: unknown) => e instanceof SsrfError && e.category === 'link_local');
      await assert.rejects(guardedFetch({ resolve: resolver({ 'lms.evil.test': ['10.0.0.7'] }) })('https://lms.evil.test/token'), SsrfError);
      assert.equal(hits, 0, 'nothing was sent');
      const open = guardedFetch({ allowPrivate: true });
      const ok = await open(`${base}/jwks`);
      assert.equal(ok.status, 200);
      assert.deepEqual(await ok.json(), { keys: [] });
      await assert.rejects(open(`${base}/redirect`), 'a redirect is an error, not followed');
      assert.equal(hits, 2);
    } finally {
      server.close();
    }
  });
});
