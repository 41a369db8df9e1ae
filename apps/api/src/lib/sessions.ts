// Dashboard sessions (issue 12, item 2): a random secret in an httpOnly, SameSite=Lax cookie
// (`__Host-` prefixed and Secure when the API is served over https), only its sha256 stored.
//
// CSRF: a session cookie is ambient authority, so every state-changing request (not GET/HEAD/
// OPTIONS) that authenticates with it must come from the dashboard's own origin: its `Origin`
// header must equal the public URL's origin, or, when a browser sends none, `Sec-Fetch-Site` must
// be `same-origin`; anything else is refused (403) before the route runs. SameSite=Lax already
// keeps the cookie off cross-site POSTs; the Origin check also covers same-site attackers (a
// sibling subdomain) and browsers without SameSite. GET routes change nothing. Requests with a
// bearer token carry no ambient credential and need no check.
import { createHash, randomBytes } from 'node:crypto';
import type { Db, Session, User } from '@kgrader/db';
import type { FastifyReply, FastifyRequest } from 'fastify';

export const cookieName = (secure: boolean) => (secure ? '__Host-kgr_session' : 'kgr_session');
const hash = (s: string) => createHash('sha256').update(s).digest('hex');

export function readCookie(req: FastifyRequest, name: string): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return null;
}

export async function createSession(db: Db, userId: string, issuer: string, hours: number): Promise<{ secret: string; session: Session }> {
  const secret = randomBytes(32).toString('base64url');
  const session = await db.session.create({ data: { secretHash: hash(secret), userId, issuer, expiresAt: new Date(Date.now() + hours * 3_600_000) } });
  return { secret, session };
}

/** The live session of a cookie secret, with its user; null when unknown, expired or revoked. */
export async function sessionOf(db: Db, secret: string): Promise<(Session & { user: User }) | null> {
  if (!/^[A-Za-z0-9_-]{20,100}$/.test(secret)) return null;
  const s = await db.session.findUnique({ where: { secretHash: hash(secret) }, include: { user: true } });
  const now = new Date();
  if (!s || s.revokedAt || s.expiresAt <= now) return null;
  if (now.getTime() - s.lastSeenAt.getTime() > 60_000) db.session.update({ where: { id: s.id }, data: { lastSeenAt: now } }).catch(() => {});
  return s;
}

export function setSessionCookie(reply: FastifyReply, secret: string, secure: boolean, hours: number): void {
  reply.header('set-cookie', `${cookieName(secure)}=${secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${Math.round(hours * 3600)}${secure ? '; Secure' : ''}`);
}

export function clearSessionCookie(reply: FastifyReply, secure: boolean): void {
  reply.header('set-cookie', `${cookieName(secure)}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${secure ? '; Secure' : ''}`);
}

/** Why a cookie-authenticated request may not change anything, or null when it may (see the file's comment). */
export function csrfProblem(req: FastifyRequest, publicUrl: string): string | null {
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return null;
  const origin = req.headers.origin;
  if (origin !== undefined) return origin === new URL(publicUrl).origin ? null : `a request from ${origin} cannot use this session`;
  if (req.headers['sec-fetch-site'] === 'same-origin') return null;
  return 'a state-changing request with a session cookie needs an Origin header of this site';
}
