// LTI Names and Role Provisioning Services 2.0 (issue 12, item 3): the members of an LMS context,
// read with a client-credentials token (the AGS client's, scope contextmembership.readonly),
// following the `Link: <…>; rel="next"` pages.
import type { AgsClient, AgsPlatform } from './ags.js';
import { NRPS_CONTENT_TYPE, NRPS_SCOPE } from './claims.js';
import { LtiError } from './errors.js';
import { mapRoles, type KgraderRole } from './roles.js';

export interface NrpsMember {
  userId: string;
  name?: string | undefined;
  email?: string | undefined;
  roles: string[];
  /** the kgrader role the LTI roles map to (null: none maps) */
  role: KgraderRole | null;
  /** Active, Inactive or Deleted (absent: Active) */
  status: string;
}

function nextLink(header: string | null): string | null {
  if (!header) return null;
  for (const part of header.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(part);
    if (m) return m[1]!;
  }
  return null;
}

export async function fetchMemberships(
  ags: AgsClient,
  platform: AgsPlatform,
  url: string,
  opts: { fetch: typeof fetch; allowInsecureUrls?: boolean; maxPages?: number; timeoutMs?: number },
): Promise<NrpsMember[]> {
  const out: NrpsMember[] = [];
  let next: string | null = url;
  for (let page = 0; next; page++) {
    if (page >= (opts.maxPages ?? 50)) throw new LtiError('nrps_failed', `the memberships have more than ${opts.maxPages ?? 50} pages`, 502);
    const u = new URL(next);
    if (u.protocol !== 'https:' && !(opts.allowInsecureUrls && u.protocol === 'http:')) throw new LtiError('nrps_failed', `NRPS URL must be https: ${next}`, 422);
    const token = await ags.accessToken(platform, [NRPS_SCOPE]);
    const res = await opts.fetch(u, { headers: { authorization: `Bearer ${token}`, accept: NRPS_CONTENT_TYPE }, redirect: 'manual', signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000) });
    if (!res.ok) throw new LtiError('nrps_failed', `the platform answered HTTP ${res.status} for the memberships`, 502);
    const body = (await res.json()) as { members?: unknown };
    if (!Array.isArray(body.members)) throw new LtiError('nrps_failed', 'the platform sent no members list', 502);
    for (const m of body.members as Record<string, unknown>[]) {
      if (!m || typeof m['user_id'] !== 'string') continue;
      const roles = Array.isArray(m['roles']) ? (m['roles'] as unknown[]).filter((r): r is string => typeof r === 'string') : [];
      const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
      out.push({
        userId: m['user_id'],
        name: str(m['name']) ?? ([str(m['given_name']), str(m['family_name'])].filter(Boolean).join(' ') || undefined),
        email: str(m['email']),
        roles,
        role: mapRoles(roles),
        status: str(m['status']) ?? 'Active',
      });
    }
    next = nextLink(res.headers.get('link'));
  }
  return out;
}
