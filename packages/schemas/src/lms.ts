import { z } from 'zod';

// Wire and storage schemas of the LMS integration: LTI 1.3 platform registrations, AGS score
// passback, and outgoing Standard Webhooks (endpoints, event envelopes, deliveries).

const IsoDate = z.iso.datetime({ offset: true });

// ---- LTI 1.3 --------------------------------------------------------------------------------------

/** A platform (LMS) registration: what the tool needs to accept its launches and call its services. */
export const LtiPlatformRegistration = z
  .object({
    /** the platform's `iss`, compared exactly */
    issuer: z.url(),
    /** the client id the platform issued to kgrader (the launch `aud`) */
    clientId: z.string().min(1).max(255),
    /** OIDC authorization endpoint (login redirect target) */
    authEndpoint: z.url(),
    /** OAuth 2 token endpoint (AGS client-credentials grant) */
    tokenEndpoint: z.url(),
    /** `aud` of our client assertion when the platform wants something else than the token endpoint */
    tokenAudience: z.string().min(1).optional(),
    /** the platform's public keys */
    jwksUrl: z.url(),
    /** deployment ids accepted from this platform */
    deploymentIds: z.array(z.string().min(1).max(255)).min(1),
  })
  .meta({ id: 'LtiPlatformRegistration' });
export type LtiPlatformRegistration = z.infer<typeof LtiPlatformRegistration>;

/** Which of a student's graded runs is sent to the LMS. */
export const ScorePolicy = z.enum(['latest', 'best']);
export type ScorePolicy = z.infer<typeof ScorePolicy>;

/** AGS score `activityProgress` values. */
export const ActivityProgress = z.enum(['Initialized', 'Started', 'InProgress', 'Submitted', 'Completed']);
export type ActivityProgress = z.infer<typeof ActivityProgress>;

/** AGS score `gradingProgress` values. */
export const GradingProgress = z.enum(['FullyGraded', 'Pending', 'PendingManual', 'Failed', 'NotReady']);
export type GradingProgress = z.infer<typeof GradingProgress>;

/** The body of `POST <lineitem>/scores` (application/vnd.ims.lis.v1.score+json). */
export const AgsScore = z.object({
  userId: z.string().min(1),
  scoreGiven: z.number().min(0).optional(),
  scoreMaximum: z.number().positive().optional(),
  activityProgress: ActivityProgress,
  gradingProgress: GradingProgress,
  /** ISO 8601 with sub-second precision; platforms ignore scores older than the last one received */
  timestamp: IsoDate,
  comment: z.string().optional(),
});
export type AgsScore = z.infer<typeof AgsScore>;

/** Passback state of one submission, visible to instructors. */
export const PassbackStatus = z.enum(['pending', 'sending', 'sent', 'failed', 'skipped']);
export type PassbackStatus = z.infer<typeof PassbackStatus>;

// ---- Outgoing webhooks -------------------------------------------------------------------------

export const WebhookEventType = z.enum(['submission.created', 'submission.graded', 'regrade.completed']);
export type WebhookEventType = z.infer<typeof WebhookEventType>;
export const WEBHOOK_EVENT_TYPES: readonly WebhookEventType[] = WebhookEventType.options;

/** The JSON body of every delivery (Standard Webhooks' recommended envelope). */
export const WebhookEnvelope = z
  .object({
    type: WebhookEventType,
    /** when the event happened */
    timestamp: IsoDate,
    data: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'WebhookEnvelope' });
export type WebhookEnvelope = z.infer<typeof WebhookEnvelope>;

/** `POST /api/v1/courses/:courseId/webhooks` */
export const WebhookEndpointCreate = z
  .object({
    url: z.url({ protocol: /^https?$/ }).max(2048),
    events: z.array(WebhookEventType).min(1),
    description: z.string().max(200).optional(),
  })
  .meta({ id: 'WebhookEndpointCreate' });
export type WebhookEndpointCreate = z.infer<typeof WebhookEndpointCreate>;

/** `PATCH /api/v1/courses/:courseId/webhooks/:webhookId`; `rotateSecret` keeps the old one valid for a while. */
export const WebhookEndpointUpdate = z
  .object({
    url: z.url({ protocol: /^https?$/ }).max(2048).optional(),
    events: z.array(WebhookEventType).min(1).optional(),
    description: z.string().max(200).optional(),
    /** re-enable an endpoint disabled by a 410 or by exhausted retries */
    enabled: z.boolean().optional(),
    rotateSecret: z.boolean().optional(),
  })
  .meta({ id: 'WebhookEndpointUpdate' });
export type WebhookEndpointUpdate = z.infer<typeof WebhookEndpointUpdate>;

export const WebhookEndpointOut = z
  .object({
    id: z.string(),
    courseId: z.string(),
    url: z.string(),
    events: z.array(WebhookEventType),
    description: z.string().nullable(),
    enabled: z.boolean(),
    disabledReason: z.string().nullable(),
    createdAt: IsoDate,
  })
  .meta({ id: 'WebhookEndpoint' });
export type WebhookEndpointOut = z.infer<typeof WebhookEndpointOut>;

/** Answer to create (and to a secret rotation): the only time the secret is shown. */
export const WebhookEndpointCreated = WebhookEndpointOut.extend({ secret: z.string().startsWith('whsec_') }).meta({
  id: 'WebhookEndpointCreated',
});
export type WebhookEndpointCreated = z.infer<typeof WebhookEndpointCreated>;

export const WebhookMessageStatus = z.enum(['pending', 'succeeded', 'failed']);
export type WebhookMessageStatus = z.infer<typeof WebhookMessageStatus>;

/** One delivery attempt, as listed by `GET .../webhooks/:webhookId/deliveries`. */
export const WebhookAttemptOut = z
  .object({
    messageId: z.string(),
    eventType: WebhookEventType,
    attempt: z.number().int().positive(),
    startedAt: IsoDate,
    durationMs: z.number(),
    /** HTTP status, absent when no response came (timeout, refused, SSRF-blocked) */
    responseStatus: z.number().int().nullable(),
    error: z.string().nullable(),
    outcome: z.enum(['success', 'retry', 'failed', 'disable']),
  })
  .meta({ id: 'WebhookAttempt' });
export type WebhookAttemptOut = z.infer<typeof WebhookAttemptOut>;

// ---- API shapes of the LMS routes (apps/api) ---------------------------------------------------

/** What to paste into the LMS when registering kgrader as a tool. */
export const LtiToolInfo = z
  .object({
    loginUrl: z.string(),
    launchUrl: z.string(),
    jwksUrl: z.string(),
    /** a target link URI for one assignment: `<publicUrl>/lti/assignments/<assignmentId>` */
    assignmentLaunchUrlTemplate: z.string(),
    /** the notice handler kgrader registers with the Platform Notification Service (and Canvas's config may name) */
    noticeHandlerUrl: z.string(),
    /** the deep linking launch URL that attaches kgrader to an LMS assignment as its asset processor */
    deepLinkingUrl: z.string(),
  })
  .meta({ id: 'LtiToolInfo' });
export type LtiToolInfo = z.infer<typeof LtiToolInfo>;

export const LtiPlatformOut = z
  .object({
    id: z.string(),
    courseId: z.string().nullable(),
    issuer: z.string(),
    clientId: z.string(),
    authEndpoint: z.string(),
    tokenEndpoint: z.string(),
    tokenAudience: z.string().nullable(),
    jwksUrl: z.string(),
    deploymentIds: z.array(z.string()),
    createdAt: IsoDate,
    tool: LtiToolInfo,
  })
  .meta({ id: 'LtiPlatform' });
export type LtiPlatformOut = z.infer<typeof LtiPlatformOut>;

/** `POST /lti/session`: exchanges the one-time code of a launch for a short-lived API token. */
export const LtiSessionExchange = z.object({ code: z.string().min(16).max(200) }).meta({ id: 'LtiSessionExchange' });
export const LtiSession = z
  .object({
    token: z.string(),
    expiresAt: IsoDate,
    userId: z.string(),
    courseId: z.string().nullable(),
    assignmentId: z.string().nullable(),
  })
  .meta({ id: 'LtiSession' });
export type LtiSession = z.infer<typeof LtiSession>;

/** `submission.passback`: the state of its score passback to the LMS (null: not an LTI submission). */
export const PassbackOut = z
  .object({
    status: PassbackStatus,
    attempts: z.number().int(),
    scoreGiven: z.number().nullable(),
    scoreMaximum: z.number().nullable(),
    lastStatus: z.number().int().nullable(),
    lastError: z.string().nullable(),
    nextAttemptAt: IsoDate.nullable(),
    sentAt: IsoDate.nullable(),
  })
  .meta({ id: 'Passback' });
export type PassbackOut = z.infer<typeof PassbackOut>;

export const ScorePolicyUpdate = z.object({ scorePolicy: ScorePolicy }).meta({ id: 'ScorePolicyUpdate' });

export const WebhookIdParams = z.object({ courseId: z.uuid(), webhookId: z.uuid() });
export const WebhookMessageParams = WebhookIdParams.extend({ messageId: z.string().regex(/^msg_[A-Za-z0-9]+$/) });
export const LtiPlatformParams = z.object({ courseId: z.uuid(), platformId: z.uuid() });
export const DeliveriesQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  /** only attempts of this message */
  messageId: z.string().optional(),
});

// ---- LTI Platform Notification Service + Asset Processor (issue 15) ---------------------------

/** `POST /lti/notices`: what a platform posts to a notice handler (each notice a signed JWT). */
export const LtiNoticeBatch = z
  .object({ notices: z.array(z.object({ jwt: z.string().min(1).max(65_536) }).loose()).min(1).max(100) })
  .loose()
  .meta({ id: 'LtiNoticeBatch' });
export type LtiNoticeBatch = z.infer<typeof LtiNoticeBatch>;

/** What became of one notice of a batch. */
export const LtiNoticeOutcome = z.enum(['accepted', 'duplicate', 'answered', 'ignored', 'refused']);
export const LtiNoticeResult = z.object({
  /** position in the batch */
  index: z.number().int(),
  noticeId: z.string().nullable(),
  type: z.string().nullable(),
  outcome: LtiNoticeOutcome,
  /** the HTTP status this notice alone would get */
  status: z.number().int(),
  /** for a refused notice: `/problems/lti/<rule>` and why */
  problem: z.object({ type: z.string(), detail: z.string() }).optional(),
});
export const LtiNoticeBatchResult = z.object({ notices: z.array(LtiNoticeResult) }).meta({ id: 'LtiNoticeBatchResult' });
export type LtiNoticeBatchResult = z.infer<typeof LtiNoticeBatchResult>;

/** An LMS assignment with kgrader attached as its asset processor. */
export const LtiAssetProcessorOut = z
  .object({
    id: z.string(),
    platformId: z.string(),
    issuer: z.string(),
    deploymentId: z.string(),
    activityId: z.string().nullable(),
    activityTitle: z.string().nullable(),
    assignmentId: z.string(),
    exerciseSlug: z.string(),
    exerciseVersion: z.string().nullable(),
    title: z.string(),
    createdAt: IsoDate,
  })
  .meta({ id: 'LtiAssetProcessor' });

export const LtiServiceCallStatus = z.enum(['pending', 'sending', 'sent', 'superseded', 'failed']);
/** A call kgrader owes a platform (asset report, notice-handler registration) and its delivery state. */
export const LtiServiceCallOut = z
  .object({
    id: z.string(),
    kind: z.enum(['asset_report', 'register_handler']),
    status: LtiServiceCallStatus,
    method: z.string(),
    url: z.string(),
    subject: z.string(),
    /** asset reports: the report's `processingProgress` and asset */
    processingProgress: z.string().nullable(),
    assetId: z.string().nullable(),
    noticeId: z.string().nullable(),
    submissionId: z.string().nullable(),
    attempts: z.number().int(),
    lastStatus: z.number().int().nullable(),
    lastError: z.string().nullable(),
    nextAttemptAt: IsoDate.nullable(),
    sentAt: IsoDate.nullable(),
    createdAt: IsoDate,
  })
  .meta({ id: 'LtiServiceCall' });

export const LtiNoticeStatus = z.enum(['received', 'processing', 'submitted', 'answered', 'ignored', 'rejected', 'failed']);
/** A notice a platform sent, what kgrader made of it, and the reports owed for it. */
export const LtiNoticeOut = z
  .object({
    id: z.string(),
    platformId: z.string(),
    deploymentId: z.string(),
    noticeId: z.string(),
    type: z.string(),
    status: LtiNoticeStatus,
    processorId: z.string().nullable(),
    submissionId: z.string().nullable(),
    ltiUserId: z.string().nullable(),
    ltiSubmissionId: z.string().nullable(),
    assets: z.array(z.object({ assetId: z.string(), name: z.string().nullable(), size: z.number().nullable() })),
    attempts: z.number().int(),
    duplicates: z.number().int(),
    lastError: z.string().nullable(),
    receivedAt: IsoDate,
    reports: z.array(LtiServiceCallOut),
  })
  .meta({ id: 'LtiNotice' });

export const LtiNoticesQuery = z.object({
  status: LtiNoticeStatus.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export const LtiServiceCallsQuery = z.object({
  kind: z.enum(['asset_report', 'register_handler']).optional(),
  status: LtiServiceCallStatus.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export const LtiServiceCallParams = z.object({ courseId: z.uuid(), callId: z.uuid() });
