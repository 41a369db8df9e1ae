// LTI Asset Processor 1.0 on the tool side: the deep linking response that attaches kgrader to an
// LMS assignment, the parsing of an LtiAssetProcessorSubmissionNotice, and the Asset Report
// bodies kgrader posts back. Pure, except the JWT signature.
import { randomBytes } from 'node:crypto';
import { decodeProtectedHeader, errors, importJWK, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { AP_CLAIM, AP_SCOPE, ASSET_PROCESSOR_ITEM, CLAIM, claimOf } from './claims.js';
import { LtiError } from './errors.js';
import type { ToolKey } from './keys.js';

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
const obj = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((t): t is string => typeof t === 'string') : []);

/** An `ltiAssetProcessor` content item (LTI Asset Processor 1.0, returned by deep linking). */
export interface AssetProcessorItem {
  type: typeof ASSET_PROCESSOR_ITEM;
  title: string;
  text?: string;
  /** custom parameters the platform sends back in every notice of this processor */
  custom?: Record<string, string>;
  /** where the platform launches users to see a report (LtiReportReviewRequest) */
  report?: { url?: string; custom?: Record<string, string> };
}

/**
 * The LtiDeepLinkingResponse JWT (signed with the tool key) that the browser posts to the
 * platform's `deep_link_return_url` as the `JWT` form field.
 */
export async function signDeepLinkingResponse(
  key: ToolKey,
  opts: { clientId: string; platformIssuer: string; deploymentId: string; data?: string | undefined; items: readonly object[]; message?: string; now?: number },
): Promise<string> {
  const nowSec = Math.floor((opts.now ?? Date.now()) / 1000);
  return new SignJWT({
    nonce: randomBytes(16).toString('hex'),
    [CLAIM.deploymentId]: opts.deploymentId,
    [CLAIM.messageType]: 'LtiDeepLinkingResponse',
    [CLAIM.version]: '1.3.0',
    [CLAIM.contentItems]: opts.items,
    ...(opts.data !== undefined ? { [CLAIM.deepLinkingData]: opts.data } : {}),
    ...(opts.message !== undefined ? { [CLAIM.deepLinkingMessage]: opts.message } : {}),
  })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setIssuer(opts.clientId)
    .setAudience(opts.platformIssuer)
    .setIssuedAt(nowSec)
    .setExpirationTime(nowSec + 600)
    .sign(key.privateKey);
}

/** One asset of a submission notice. */
export interface NoticeAsset {
  assetId: string;
  url: string;
  /** the file name (`filename`, else `title`); undefined for a text entry */
  name: string | undefined;
  size: number | undefined;
  contentType: string | undefined;
  sha256: string | undefined;
}

/** What an LtiAssetProcessorSubmissionNotice asks for, from its verified claims. */
export interface SubmissionNotice {
  /** the LMS user who submitted (`for_user.user_id`) */
  userId: string;
  userName?: string | undefined;
  userEmail?: string | undefined;
  /** the LMS submission (`submission.id`); a resubmission is another id */
  submissionId: string | undefined;
  /** the LMS assignment (`activity.id`) */
  activityId: string | undefined;
  assets: NoticeAsset[];
  assetScope: string;
  reportUrl: string;
  reportScope: string;
  custom: Record<string, string>;
  /** AGS endpoint claim, when the platform sends one with the notice */
  ags?: { lineitem?: string | undefined; scopes: string[] } | undefined;
}

/** Reads a submission notice; throws LtiError `invalid_notice` naming what is missing. */
export function parseSubmissionNotice(claims: JWTPayload): SubmissionNotice {
  const bad = (msg: string): never => {
    throw new LtiError('invalid_notice', msg, 400);
  };
  const forUser = obj(claimOf(claims, AP_CLAIM.forUser));
  const userId = str(forUser?.['user_id']) ?? bad('the submission notice has no for_user.user_id');
  const service = obj(claimOf(claims, AP_CLAIM.assetService)) ?? bad('the submission notice has no assetservice claim');
  const report = obj(claimOf(claims, AP_CLAIM.assetReport)) ?? bad('the submission notice has no assetreport claim');
  const reportUrl = str(report['report_url']) ?? bad('the assetreport claim has no report_url');
  const rawAssets = Array.isArray(service['assets']) ? service['assets'] : bad('the assetservice claim has no assets');
  if (rawAssets.length === 0) bad('the submission notice has no assets');
  if (rawAssets.length > 100) bad('the submission notice has more than 100 assets');
  const assets = rawAssets.map((a, i) => {
    const o = obj(a) ?? bad(`asset ${i} is not an object`);
    const size = typeof o['size'] === 'number' && Number.isFinite(o['size']) ? o['size'] : undefined;
    return {
      assetId: str(o['asset_id']) ?? (typeof o['asset_id'] === 'number' ? String(o['asset_id']) : bad(`asset ${i} has no asset_id`)),
      url: str(o['url']) ?? bad(`asset ${i} has no url`),
      name: str(o['filename']) ?? str(o['title']),
      size,
      contentType: str(o['content_type']),
      sha256: str(o['sha256_checksum']),
    };
  });
  const customRaw = obj(claims[CLAIM.custom]) ?? {};
  const custom: Record<string, string> = {};
  for (const [k, v] of Object.entries(customRaw)) if (typeof v === 'string') custom[k] = v;
  const ags = obj(claims[CLAIM.agsEndpoint]);
  return {
    userId,
    userName: str(forUser?.['name']) ?? ([str(forUser?.['given_name']), str(forUser?.['family_name'])].filter(Boolean).join(' ') || undefined),
    userEmail: str(forUser?.['email']),
    submissionId: str(obj(claimOf(claims, AP_CLAIM.submission))?.['id']) ?? str(obj(claimOf(claims, AP_CLAIM.submission))?.['submission_id']),
    activityId: str(obj(claimOf(claims, AP_CLAIM.activity))?.['id']) ?? str(obj(claimOf(claims, AP_CLAIM.activity))?.['activity_id']),
    assets,
    assetScope: strs(service['scope'])[0] ?? AP_SCOPE.assetReadonly,
    reportUrl,
    reportScope: strs(report['scope'])[0] ?? AP_SCOPE.report,
    custom,
    ags: ags ? { lineitem: str(ags['lineitem']), scopes: strs(ags['scope']) } : undefined,
  };
}

/** `processingProgress` of an Asset Report. */
export type ReportProgress = 'Processed' | 'Processing' | 'PendingManual' | 'Failed' | 'NotProcessed' | 'NotReady';

/** The report type kgrader posts (one report per asset and type: the newest timestamp wins). */
export const REPORT_TYPE = 'kgrader';

/** Indicator colors by verdict (#RRGGBB), with their alternative text. */
export const VERDICT_INDICATION = {
  pass: { color: '#2E7D32', alt: 'Passed: every test passed and the kernel reported nothing', priority: 0 },
  fail: { color: '#C62828', alt: 'Failed: a test failed or the kernel reported a bug', priority: 4 },
  error: { color: '#757575', alt: 'kgrader could not grade this submission', priority: 2 },
} as const;

export interface AssetReportBody {
  assetId: string;
  type: string;
  /** ISO 8601 with milliseconds; a report older than the latest of its asset and type is dropped by the platform */
  timestamp: string;
  processingProgress: ReportProgress;
  priority: number;
  title?: string;
  result?: string;
  comment?: string;
  scoreGiven?: number;
  scoreMaximum?: number;
  indicationColor?: string;
  indicationAlt?: string;
  errorCode?: string;
  visibleToOwner?: boolean;
}

/** The `Processing` report posted as soon as a submission notice is received. */
export function processingReport(assetId: string, at: Date, title: string): AssetReportBody {
  return {
    assetId,
    type: REPORT_TYPE,
    timestamp: at.toISOString(),
    processingProgress: 'Processing',
    priority: 0,
    title,
    comment: 'kgrader received the submission: it compiles the driver and stress-tests it in a sanitizer kernel (usually under a minute).',
    visibleToOwner: true,
  };
}

/**
 * The final report of a graded submission: score, an indicator color by verdict, and the link to
 * the submission page in the comment. `error` (kgrader's own failure) is a `Failed` report.
 */
export function gradedReport(
  assetId: string,
  at: Date,
  g: { title: string; verdict: 'pass' | 'fail' | 'error'; score: number | null; maxScore: number | null; summary: string | null; url: string },
): AssetReportBody {
  const ind = VERDICT_INDICATION[g.verdict];
  const comment = `${g.summary ?? ''}${g.summary ? '\n' : ''}Full report: ${g.url}`.slice(0, 4000);
  if (g.verdict === 'error') {
    return {
      assetId,
      type: REPORT_TYPE,
      timestamp: at.toISOString(),
      processingProgress: 'Failed',
      priority: ind.priority,
      title: g.title,
      errorCode: 'KGRADER_INTERNAL_ERROR',
      comment,
      indicationColor: ind.color,
      indicationAlt: ind.alt,
      visibleToOwner: true,
    };
  }
  const scored = typeof g.score === 'number' && typeof g.maxScore === 'number' && g.maxScore > 0;
  return {
    assetId,
    type: REPORT_TYPE,
    timestamp: at.toISOString(),
    processingProgress: 'Processed',
    priority: ind.priority,
    title: g.title,
    result: (scored ? `${g.verdict} ${round(g.score!)}/${round(g.maxScore!)}` : g.verdict).slice(0, 16),
    ...(scored ? { scoreGiven: Math.max(0, g.score!), scoreMaximum: g.maxScore! } : {}),
    indicationColor: ind.color,
    indicationAlt: ind.alt,
    comment,
    visibleToOwner: true,
  };
}

/** A `Failed` report for a submission kgrader could not take: `errorCode` from the Asset Processor list where one fits. */
export function failedReport(
  assetId: string,
  at: Date,
  f: { title: string; errorCode: 'UNSUPPORTED_ASSET_TYPE' | 'ASSET_TOO_LARGE' | 'DOWNLOAD_FAILED' | 'KGRADER_NOT_ATTACHED' | 'KGRADER_INTERNAL_ERROR'; comment: string },
): AssetReportBody {
  return {
    assetId,
    type: REPORT_TYPE,
    timestamp: at.toISOString(),
    processingProgress: 'Failed',
    priority: 3,
    title: f.title,
    errorCode: f.errorCode,
    comment: f.comment.slice(0, 4000),
    indicationColor: VERDICT_INDICATION.error.color,
    indicationAlt: 'kgrader did not grade this file',
    visibleToOwner: true,
  };
}

const round = (n: number) => Math.round(n * 100) / 100;

/**
 * A short-lived state the tool hands to the browser between two of its own pages (the deep
 * linking picker and its answer), signed with the tool key so that nothing in it can be changed;
 * one-time by its `jti` (the caller consumes it in a nonce store).
 */
export async function signToolState(key: ToolKey, payload: Record<string, unknown>, ttlSec = 900, now = Date.now()): Promise<string> {
  const nowSec = Math.floor(now / 1000);
  return new SignJWT({ ...payload })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'kgrader-state+jwt' })
    .setIssuedAt(nowSec)
    .setExpirationTime(nowSec + ttlSec)
    .setJti(randomBytes(16).toString('hex'))
    .sign(key.privateKey);
}

/** Verifies a state of `signToolState` against the tool's keys (current and retiring). */
export async function verifyToolState(keys: readonly ToolKey[], token: string, now = Date.now()): Promise<JWTPayload & { jti: string; exp: number }> {
  let header;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new LtiError('invalid_state', 'the form state is not a JWT', 400);
  }
  const key = keys.find((k) => k.kid === header.kid);
  if (!key || header.typ !== 'kgrader-state+jwt') throw new LtiError('invalid_state', 'the form state was not issued by this kgrader', 401);
  try {
    const { payload } = await jwtVerify(token, await importJWK(key.publicJwk, key.alg), { algorithms: [key.alg], currentDate: new Date(now), requiredClaims: ['jti', 'exp'] });
    return payload as JWTPayload & { jti: string; exp: number };
  } catch (e) {
    if (e instanceof errors.JWTExpired) throw new LtiError('token_expired', 'the form has expired: attach kgrader again from the LMS', 401, { cause: e });
    throw new LtiError('bad_signature', 'the form state does not verify', 401, { cause: e });
  }
}
