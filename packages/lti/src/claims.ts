/** Claim names of LTI 1.3 Core and LTI Advantage used by the tool. */
export const CLAIM = {
  messageType: 'https://purl.imsglobal.org/spec/lti/claim/message_type',
  version: 'https://purl.imsglobal.org/spec/lti/claim/version',
  deploymentId: 'https://purl.imsglobal.org/spec/lti/claim/deployment_id',
  targetLinkUri: 'https://purl.imsglobal.org/spec/lti/claim/target_link_uri',
  resourceLink: 'https://purl.imsglobal.org/spec/lti/claim/resource_link',
  roles: 'https://purl.imsglobal.org/spec/lti/claim/roles',
  context: 'https://purl.imsglobal.org/spec/lti/claim/context',
  custom: 'https://purl.imsglobal.org/spec/lti/claim/custom',
  launchPresentation: 'https://purl.imsglobal.org/spec/lti/claim/launch_presentation',
  agsEndpoint: 'https://purl.imsglobal.org/spec/lti-ags/claim/endpoint',
  // LTI Deep Linking 2.0
  deepLinkingSettings: 'https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings',
  contentItems: 'https://purl.imsglobal.org/spec/lti-dl/claim/content_items',
  deepLinkingData: 'https://purl.imsglobal.org/spec/lti-dl/claim/data',
  deepLinkingMessage: 'https://purl.imsglobal.org/spec/lti-dl/claim/msg',
  // LTI Platform Notification Service 1.0
  platformNotificationService: 'https://purl.imsglobal.org/spec/lti/claim/platformnotificationservice',
  notice: 'https://purl.imsglobal.org/spec/lti/claim/notice',
  /** Names and Role Provisioning Services: { context_memberships_url, service_versions } */
  nrps: 'https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice',
} as const;

/**
 * LTI Asset Processor 1.0 claims. Platforms disagree on the namespace (Canvas sends
 * `spec/lti/claim/...`, the 1EdTech drafts and other platforms `spec/lti-ap/claim/...`, some send
 * `activity`/`submission` under `spec/lti-aip/claim/...`): every name lists the variants accepted,
 * the first one being the one kgrader writes.
 */
export const AP_CLAIM = {
  activity: ['https://purl.imsglobal.org/spec/lti/claim/activity', 'https://purl.imsglobal.org/spec/lti-ap/claim/activity', 'https://purl.imsglobal.org/spec/lti-aip/claim/activity'],
  submission: ['https://purl.imsglobal.org/spec/lti/claim/submission', 'https://purl.imsglobal.org/spec/lti-ap/claim/submission', 'https://purl.imsglobal.org/spec/lti-aip/claim/submission'],
  forUser: ['https://purl.imsglobal.org/spec/lti/claim/for_user', 'https://purl.imsglobal.org/spec/lti-ap/claim/for_user'],
  assetService: ['https://purl.imsglobal.org/spec/lti/claim/assetservice', 'https://purl.imsglobal.org/spec/lti-ap/claim/assetservice', 'https://purl.imsglobal.org/spec/lti-aip/claim/assetservice'],
  assetReport: ['https://purl.imsglobal.org/spec/lti/claim/assetreport', 'https://purl.imsglobal.org/spec/lti-ap/claim/assetreport', 'https://purl.imsglobal.org/spec/lti-aip/claim/assetreport'],
} as const;

/** The first of `names` present in `claims`. */
export function claimOf(claims: Record<string, unknown>, names: readonly string[]): unknown {
  for (const n of names) if (claims[n] !== undefined) return claims[n];
  return undefined;
}

/** OAuth 2 scopes of the Platform Notification Service and the Asset Processor services. */
export const PNS_SCOPE = {
  noticeHandlers: 'https://purl.imsglobal.org/spec/lti/scope/noticehandlers',
} as const;
/** Used when the notice does not name the scope (the notice's own `scope` list wins). */
export const AP_SCOPE = {
  assetReadonly: 'https://purl.imsglobal.org/spec/lti-ap/scope/asset.readonly',
  report: 'https://purl.imsglobal.org/spec/lti-ap/scope/report',
} as const;

/** Notice types kgrader handles. */
export const NOTICE_TYPE = {
  helloWorld: 'LtiHelloWorldNotice',
  assetProcessorSubmission: 'LtiAssetProcessorSubmissionNotice',
} as const;

/** The deep linking content item type of an asset processor. */
export const ASSET_PROCESSOR_ITEM = 'ltiAssetProcessor';


/** The NRPS scope (read the context's memberships). */
export const NRPS_SCOPE = 'https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly';
export const NRPS_CONTENT_TYPE = 'application/vnd.ims.lti-nrps.v2.membershipcontainer+json';

/** AGS OAuth 2 scopes. */
export const AGS_SCOPE = {
  lineitem: 'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem',
  lineitemReadonly: 'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly',
  resultReadonly: 'https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly',
  score: 'https://purl.imsglobal.org/spec/lti-ags/scope/score',
} as const;

export const SCORE_CONTENT_TYPE = 'application/vnd.ims.lis.v1.score+json';
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
