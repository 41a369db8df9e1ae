// SSRF guard: webhook URLs may only reach public unicast addresses unless an admin allows private ones.
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export type AddressCategory =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link_local'
  | 'cgnat'
  | 'ula'
  | 'unspecified'
  | 'multicast'
  | 'broadcast'
  | 'reserved';

/** Categories `allowPrivate` opens; unspecified, multicast and broadcast are never deliverable. */
const PRIVATE_CATEGORIES: ReadonlySet<AddressCategory> = new Set(['loopback', 'private', 'link_local', 'cgnat', 'ula', 'reserved']);

export class SsrfError extends Error {
  override readonly name = 'SsrfError';
  constructor(
    readonly code: 'invalid_url' | 'scheme' | 'dns' | 'blocked_address',
    message: string,
    readonly category?: AddressCategory,
  ) {
    super(message);
  }
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a hostname to all its addresses (default: the system resolver, like connect() would). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

function parseV4(s: string): number[] | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : NaN));
  return out.every((n) => n >= 0 && n <= 255) ? out : null;
}

/** Pure: an IPv6 literal as 8 16-bit groups (zone id dropped, embedded IPv4 tail accepted). */
export function parseV6(input: string): number[] | null {
  let s = input.split('%')[0]!.toLowerCase();
  const lastColon = s.lastIndexOf(':');
  if (lastColon < 0) return null;
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = parseV4(tail);
    if (!v4) return null;
    s = `${s.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const grp = (h: string): number[] | null => {
    if (h === '') return [];
    const g = h.split(':').map((x) => (/^[0-9a-f]{1,4}$/.test(x) ? parseInt(x, 16) : NaN));
    return g.some(Number.isNaN) ? null : g;
  };
  const head = grp(halves[0]!);
  const rest = halves.length === 2 ? grp(halves[1]!) : [];
  if (!head || !rest) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  const fill = 8 - head.length - rest.length;
  if (fill < 1) return null;
  return [...head, ...new Array<number>(fill).fill(0), ...rest];
}

function classifyV4(o: readonly number[]): AddressCategory {
  const [a, b, c] = [o[0]!, o[1]!, o[2]!];
  if (a === 0) return 'unspecified';
  if (a === 127) return 'loopback';
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return 'private';
  if (a === 169 && b === 254) return 'link_local';
  if (a === 100 && b >= 64 && b <= 127) return 'cgnat';
  if (a >= 224 && a <= 239) return 'multicast';
  if (o.every((x) => x === 255)) return 'broadcast';
  if (a >= 240) return 'reserved';
  if ((a === 192 && b === 0 && (c === 0 || c === 2)) || (a === 198 && (b === 18 || b === 19)) || (a === 198 && b === 51 && c === 100) || (a === 203 && b === 0 && c === 113))
    return 'reserved';
  return 'public';
}

/** Pure: what kind of address an IP literal is. IPv4-mapped, NAT64 and 6to4 IPv6 are judged by their IPv4. */
export function classifyAddress(ip: string): AddressCategory {
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  const v4 = parseV4(bare);
  if (v4) return classifyV4(v4);
  const g = parseV6(bare);
  if (!g) throw new SsrfError('invalid_url', `${ip} is not an IP address`);
  const embedded = (hi: number, lo: number) => [hi >> 8, hi & 255, lo >> 8, lo & 255];
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zeros(0, 8)) return 'unspecified';
  if (zeros(0, 7) && g[7] === 1) return 'loopback';
  if (zeros(0, 5) && g[5] === 0xffff) return classifyV4(embedded(g[6]!, g[7]!)); // ::ffff:a.b.c.d
  if (zeros(0, 6)) return classifyV4(embedded(g[6]!, g[7]!)); // ::a.b.c.d (deprecated IPv4-compatible)
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return classifyV4(embedded(g[6]!, g[7]!)); // NAT64
  if (g[0] === 0x2002) return classifyV4(embedded(g[1]!, g[2]!)); // 6to4
  const first = g[0]!;
  if ((first & 0xffc0) === 0xfe80) return 'link_local';
  if ((first & 0xffc0) === 0xfec0) return 'private'; // deprecated site-local
  if ((first & 0xfe00) === 0xfc00) return 'ula';
  if ((first & 0xff00) === 0xff00) return 'multicast';
  if (first === 0x2001 && g[1] === 0x0db8) return 'reserved'; // documentation
  if (first === 0x0100 && zeros(1, 4)) return 'reserved'; // discard-only 100::/64
  return 'public';
}

export function isAllowedCategory(category: AddressCategory, allowPrivate: boolean): boolean {
  return category === 'public' || (allowPrivate && PRIVATE_CATEGORIES.has(category));
}

export interface DeliverableUrl {
  url: URL;
  /** hostname without IPv6 brackets */
  hostname: string;
  /** every address the name resolved to, all allowed; connect to one of these, not to a new lookup */
  addresses: ResolvedAddress[];
}

/**
 * Throws SsrfError unless `url` is http(s) and every address its host resolves to is public
 * (or private-but-allowed). Returns the addresses to connect to, so that a second DNS answer
 * (rebinding) cannot redirect the request.
 */
export async function assertDeliverableUrl(
  raw: string | URL,
  opts: { allowPrivate?: boolean; resolve?: Resolver } = {},
): Promise<DeliverableUrl> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SsrfError('invalid_url', `not a URL: ${String(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SsrfError('scheme', `only http and https URLs are allowed, not ${url.protocol}`);
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  let addresses: ResolvedAddress[];
  if (isIP(hostname)) addresses = [{ address: hostname, family: isIP(hostname) === 6 ? 6 : 4 }];
  else {
    try {
      addresses = await (opts.resolve ?? systemResolver)(hostname);
    } catch (e) {
      throw new SsrfError('dns', `cannot resolve ${hostname}: ${(e as Error).message}`);
    }
    if (addresses.length === 0) throw new SsrfError('dns', `${hostname} has no address`);
  }
  for (const a of addresses) {
    const category = classifyAddress(a.address);
    if (!isAllowedCategory(category, opts.allowPrivate === true))
      throw new SsrfError('blocked_address', `${hostname} resolves to ${a.address} (${category}), which kgrader may not reach`, category);
  }
  return { url, hostname, addresses };
}

/**
 * `fetch` that runs the same check before every call and follows no redirect (a redirect could
 * lead anywhere): for URLs an outside party chose, such as an LTI platform's JWKS and token
 * endpoints. A caller asking `redirect: 'manual'` gets the 3xx answer itself and may follow it by
 * calling again (checked again); any other mode fails on a redirect. Not pinned to the checked
 * address (undici's fetch resolves again), so a DNS answer changing between the check and the
 * connection is not covered; webhook deliveries are pinned.
 */
export function guardedFetch(opts: { allowPrivate?: boolean; resolve?: Resolver; fetch?: typeof fetch } = {}): typeof fetch {
  const inner = opts.fetch ?? globalThis.fetch;
  return async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    await assertDeliverableUrl(url, { allowPrivate: opts.allowPrivate === true, ...(opts.resolve ? { resolve: opts.resolve } : {}) });
    return inner(input, { ...init, redirect: init?.redirect === 'manual' ? 'manual' : 'error' });
  };
}
