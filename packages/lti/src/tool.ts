import { randomBytes } from 'node:crypto';
import { createRemoteJWKSet, customFetch, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWSAlgorithm, type JWTPayload, type RemoteJWKSet } from 'jose';
import { AP_CLAIM, CLAIM, claimOf } from './claims.js';
import { LtiError, type LtiErrorCode } from './errors.js';
import { mapRoles, type KgraderRole } from './roles.js';
import type { Deployment, LoginState, LoginStateStore, NonceStore, PlatformRegistration, RegistrationStore } from './stores.js';

export interface LtiToolConfig {
  /** our launch endpoint: the `redirect_uri` the platform posts the id_token to */
  launchUrl: string;
  /** origins a `target_link_uri` may point at; default: the launch URL's origin */
  targetLinkOrigins?: readonly string[];
  registrations: RegistrationStore;
  states: LoginStateStore;
  nonces: NonceStore;
  /** how long a login may take before its state expires (default 10 min) */
  stateTtlMs?: number;
  /** tolerated clock skew on exp/iat (default 60 s) */
  clockToleranceSec?: number;
  /** oldest acceptable `iat` of a launch (default 10 min) */
  maxTokenAgeSec?: number;
  /** oldest acceptable `iat` of a notice (default 2 h: platforms sign notices valid for an hour and may queue them) */
  noticeMaxAgeSec?: number;
  /** accepted id_token algorithms (default RS256, the IMS default) */
  algorithms?: readonly JWSAlgorithm[];
  /**
   * platform JWKS caching: refetch on unknown kid at most every cooldownMs (default 30 s); `fetch`
   * replaces the HTTP client (the service passes an SSRF-guarded one)
   */
  jwks?: { cooldownMs?: number; cacheMaxAgeMs?: number; timeoutMs?: number; fetch?: typeof fetch };
  /** accept http:// platform URLs (tests on loopback only) */
  allowInsecureUrls?: boolean;
  /** clock, ms since epoch */
  now?: () => number;
}

/** OIDC third-party login initiation parameters (query string or form body). */
export interface LoginParams {
  iss?: string | undefined;
  login_hint?: string | undefined;
  target_link_uri?: string | undefined;
  lti_message_hint?: string | undefined;
  client_id?: string | undefined;
  lti_deployment_id?: string | undefined;
}

export interface LoginRedirect {
  /** answer 302 with this Location */
  redirectUrl: string;
  /** also set it in a cookie (SameSite=None; Secure; HttpOnly) and pass it back as `cookieState` */
  state: string;
  nonce: string;
  registrationId: string;
}

export interface LaunchInput {
  /** the `id_token` form field */
  idToken: string | undefined;
  /** the `state` form field */
  state: string | undefined;
  /** the state cookie set at login, when the browser sent it */
  cookieState?: string | undefined;
}

/** The Platform Notification Service claim of a launch: where to register notice handlers. */
export interface PnsClaim {
  /** `platform_notification_service_url` */
  url: string;
  scopes: string[];
  noticeTypes: string[];
  versions: string[];
}

/** Everything a launch tells kgrader, after every check passed. */
export interface LaunchContext {
  messageType: 'LtiResourceLinkRequest';
  registrationId: string;
  issuer: string;
  clientId: string;
  deploymentId: string;
  /** the kgrader course the deployment is bound to, when it is */
  courseId?: string | undefined;
  user: { sub: string; name?: string | undefined; givenName?: string | undefined; familyName?: string | undefined; email?: string | undefined };
  /** the LTI role URIs as sent */
  roles: string[];
  /** mapped kgrader role, null when no role maps (the shell refuses such launches) */
  role: KgraderRole | null;
  context?: { id: string; title?: string | undefined; label?: string | undefined; type?: string[] | undefined } | undefined;
  resourceLink: { id: string; title?: string | undefined; description?: string | undefined };
  targetLinkUri: string;
  /** AGS endpoint claim, when the platform grants grade services for this link */
  ags?: { lineitem?: string | undefined; lineitems?: string | undefined; scopes: string[] } | undefined;
  /** Names and Role Provisioning Services, when the platform offers it for this context */
  nrps?: { contextMembershipsUrl: string } | undefined;
  custom: Record<string, string>;
  returnUrl?: string | undefined;
  /** the Platform Notification Service claim, when the platform offers it */
  pns?: PnsClaim | undefined;
  /** the verified claim set */
  claims: JWTPayload;
}

/** `deep_linking_settings` of an LtiDeepLinkingRequest. */
export interface DeepLinkingSettings {
  returnUrl: string;
  acceptTypes: string[];
  acceptMultiple: boolean;
  /** opaque value to send back unchanged */
  data?: string | undefined;
  title?: string | undefined;
  text?: string | undefined;
}

/** An LtiDeepLinkingRequest (an instructor choosing content, e.g. attaching kgrader as asset processor). */
export interface DeepLinkingContext extends Omit<LaunchContext, 'messageType' | 'resourceLink'> {
  messageType: 'LtiDeepLinkingRequest';
  deepLinking: DeepLinkingSettings;
  /** the LMS assignment being set up (Asset Processor `activity` claim), when sent */
  activity?: { id: string; title?: string | undefined } | undefined;
}

/** A verified notice of the Platform Notification Service. */
export interface NoticeContext {
  registrationId: string;
  issuer: string;
  clientId: string;
  deploymentId: string;
  courseId?: string | undefined;
  notice: { id: string; type: string; timestamp?: string | undefined };
  /** the one-time id that was consumed: `jti`, else `nonce` */
  oneTimeId: string;
  claims: JWTPayload;
}

const token = (): string => randomBytes(24).toString('base64url');
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
const obj = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

function fail(code: LtiErrorCode, message: string, status = 400, cause?: unknown): never {
  throw new LtiError(code, message, status, cause === undefined ? undefined : { cause });
}

/** The LTI 1.3 tool core: OIDC login initiation and launch validation per the IMS Security Framework. */
export class LtiTool {
  private readonly jwksByUrl = new Map<string, RemoteJWKSet>();
  private readonly now: () => number;
  private readonly algorithms: JWSAlgorithm[];
  private readonly targetOrigins: Set<string>;

  constructor(private readonly config: LtiToolConfig) {
    this.now = config.now ?? Date.now;
    this.algorithms = [...(config.algorithms ?? ['RS256'])];
    this.targetOrigins = new Set((config.targetLinkOrigins ?? [config.launchUrl]).map((u) => new URL(u).origin));
  }

  private checkUrl(url: string, what: string): URL {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return fail('insecure_url', `${what} is not a URL`, 500);
    }
    if (u.protocol !== 'https:' && !(this.config.allowInsecureUrls && u.protocol === 'http:'))
      fail('insecure_url', `${what} must be https: ${url}`, 500);
    return u;
  }

  private targetAllowed(uri: string): boolean {
    try {
      const u = new URL(uri);
      return (u.protocol === 'https:' || (this.config.allowInsecureUrls === true && u.protocol === 'http:')) && this.targetOrigins.has(u.origin);
    } catch {
      return false;
    }
  }

  /** Handles `GET|POST /lti/login`: checks the initiation and builds the redirect to the platform. */
  async initiateLogin(params: LoginParams): Promise<LoginRedirect> {
    const iss = str(params.iss);
    const loginHint = str(params.login_hint);
    const target = str(params.target_link_uri);
    if (!iss) fail('missing_parameter', 'login initiation without iss');
    if (!loginHint) fail('missing_parameter', 'login initiation without login_hint');
    if (!target) fail('missing_parameter', 'login initiation without target_link_uri');
    const clientId = str(params.client_id);
    const regs = await this.config.registrations.findRegistrations(iss, clientId);
    if (regs.length === 0) {
      if (clientId && (await this.config.registrations.findRegistrations(iss)).length > 0)
        fail('unknown_client_id', `client_id ${clientId} is not registered for ${iss}`);
      fail('unknown_issuer', `no platform registered with issuer ${iss}`);
    }
    if (regs.length > 1) fail('ambiguous_registration', `several registrations for ${iss}: the platform must send client_id`);
    const reg = regs[0]!;
    if (!this.targetAllowed(target)) fail('invalid_target_link_uri', `target_link_uri ${target} is not a kgrader URL`);
    const auth = this.checkUrl(reg.authEndpoint, 'the platform auth endpoint');

    const state = token();
    const nonce = token();
    await this.config.states.put(state, { registrationId: reg.id, nonce, targetLinkUri: target, createdAt: this.now() }, this.config.stateTtlMs ?? 600_000);
    const q = auth.searchParams;
    q.set('scope', 'openid');
    q.set('response_type', 'id_token');
    q.set('response_mode', 'form_post');
    q.set('prompt', 'none');
    q.set('client_id', reg.clientId);
    q.set('redirect_uri', this.config.launchUrl);
    q.set('login_hint', loginHint);
    q.set('state', state);
    q.set('nonce', nonce);
    const messageHint = str(params.lti_message_hint);
    if (messageHint) q.set('lti_message_hint', messageHint);
    return { redirectUrl: auth.toString(), state, nonce, registrationId: reg.id };
  }

  private keySet(reg: PlatformRegistration): RemoteJWKSet {
    let set = this.jwksByUrl.get(reg.jwksUrl);
    if (!set) {
      const j = this.config.jwks ?? {};
      set = createRemoteJWKSet(this.checkUrl(reg.jwksUrl, 'the platform JWKS URL'), {
        cooldownDuration: j.cooldownMs ?? 30_000,
        cacheMaxAge: j.cacheMaxAgeMs ?? 600_000,
        timeoutDuration: j.timeoutMs ?? 5_000,
        ...(j.fetch ? { [customFetch]: j.fetch } : {}),
      });
      this.jwksByUrl.set(reg.jwksUrl, set);
    }
    return set;
  }

  private async verifySignatureAndTimes(idToken: string, reg: PlatformRegistration, maxTokenAgeSec: number = this.config.maxTokenAgeSec ?? 600): Promise<JWTPayload> {
    let header;
    try {
      header = decodeProtectedHeader(idToken);
    } catch (e) {
      return fail('malformed_token', 'the id_token is not a JWS', 400, e);
    }
    if (!header.alg || !this.algorithms.includes(header.alg as JWSAlgorithm))
      fail('disallowed_algorithm', `id_token algorithm ${header.alg ?? '(none)'} is not accepted (${this.algorithms.join(', ')})`);
    if (!str(header.kid)) fail('missing_kid', 'the id_token header has no kid');
    try {
      const { payload } = await jwtVerify(idToken, this.keySet(reg), {
        algorithms: this.algorithms,
        clockTolerance: this.config.clockToleranceSec ?? 60,
        maxTokenAge: maxTokenAgeSec,
        currentDate: new Date(this.now()),
        requiredClaims: ['iss', 'aud', 'exp', 'iat'],
      });
      return payload;
    } catch (e) {
      if (e instanceof errors.JWKSNoMatchingKey) fail('unknown_kid', `no key ${header.kid} in the platform JWKS (${reg.jwksUrl})`, 401, e);
      if (e instanceof errors.JWKSMultipleMatchingKeys) fail('unknown_kid', `several keys match ${header.kid} in the platform JWKS`, 401, e);
      if (e instanceof errors.JWSSignatureVerificationFailed) fail('bad_signature', 'the id_token signature does not verify against the platform key', 401, e);
      if (e instanceof errors.JWTExpired) {
        if (e.claim === 'exp') fail('token_expired', 'the id_token has expired', 401, e);
        fail('invalid_iat', `the id_token was issued too long ago: ${e.message}`, 401, e);
      }
      if (e instanceof errors.JWTClaimValidationFailed) {
        if (e.claim === 'iss') fail('invalid_issuer', 'the id_token has no iss', 401, e);
        if (e.claim === 'aud') fail('invalid_audience', 'the id_token has no aud', 401, e);
        if (e.claim === 'exp') fail('token_expired', `the id_token exp is invalid: ${e.message}`, 401, e);
        if (e.claim === 'iat') fail('invalid_iat', `the id_token iat is invalid: ${e.message}`, 401, e);
        fail('malformed_token', e.message, 401, e);
      }
      if (e instanceof errors.JOSEAlgNotAllowed) fail('disallowed_algorithm', e.message, 400, e);
      if (e instanceof errors.JWKSTimeout || e instanceof errors.JWKSInvalid || e instanceof TypeError || (e instanceof Error && e.name === 'SsrfError') || (e instanceof errors.JOSEError && e.code === 'ERR_JOSE_GENERIC'))
        fail('jwks_unavailable', `could not load the platform JWKS (${reg.jwksUrl}): ${(e as Error).message}`, 502, e);
      if (e instanceof errors.JOSEError) fail('malformed_token', e.message, 400, e);
      throw e;
    }
  }

  /**
   * Handles `POST /lti/launch`: validates the id_token as the IMS Security Framework (§5.1.3) and
   * LTI 1.3 Core require, consuming the state and nonce. Throws LtiError with one code per rule.
   * Only resource link launches; `validateLaunchMessage` also accepts deep linking requests.
   */
  async validateLaunch(input: LaunchInput): Promise<LaunchContext> {
    const ctx = await this.validateLaunchMessage(input, ['LtiResourceLinkRequest']);
    return ctx as LaunchContext;
  }

  /**
   * `validateLaunch` for the message types in `accept` (default: resource link launches and deep
   * linking requests).
   */
  async validateLaunchMessage(
    input: LaunchInput,
    accept: readonly LaunchContext['messageType'][] | readonly ('LtiResourceLinkRequest' | 'LtiDeepLinkingRequest')[] = ['LtiResourceLinkRequest', 'LtiDeepLinkingRequest'],
  ): Promise<LaunchContext | DeepLinkingContext> {
    const { claims, reg, deploymentId, deployment, login } = await this.checkLaunchToken(input);
    // 7. message type and version
    const messageType = claims[CLAIM.messageType];
    if (typeof messageType !== 'string' || !(accept as readonly string[]).includes(messageType))
      fail('invalid_message_type', `message_type ${String(messageType)} is not ${accept.join(' or ')}`);
    if (claims[CLAIM.version] !== '1.3.0') fail('invalid_version', `LTI version ${String(claims[CLAIM.version])} is not 1.3.0`);
    // 8. required LTI claims
    const sub = str(claims.sub);
    if (!sub) fail('missing_claim', 'anonymous launches are not supported (no sub)');
    const rolesClaim = claims[CLAIM.roles];
    if (!Array.isArray(rolesClaim)) fail('missing_claim', 'the launch has no roles claim');
    const roles = rolesClaim.filter((r): r is string => typeof r === 'string');
    const targetLinkUri = str(claims[CLAIM.targetLinkUri]) ?? login.targetLinkUri;
    if (!this.targetAllowed(targetLinkUri)) fail('invalid_target_link_uri', `target_link_uri ${targetLinkUri} is not a kgrader URL`);
    const common = this.commonContext(claims, reg, deploymentId, deployment, sub, roles, targetLinkUri);
    if (messageType === 'LtiDeepLinkingRequest') {
      const dl = obj(claims[CLAIM.deepLinkingSettings]);
      const returnUrl = str(dl?.['deep_link_return_url']);
      if (!dl || !returnUrl) fail('invalid_deep_linking', 'the deep linking request has no deep_link_return_url');
      this.checkUrl(returnUrl, 'deep_link_return_url');
      const strings = (v: unknown) => (Array.isArray(v) ? v.filter((t): t is string => typeof t === 'string') : []);
      const activity = obj(claimOf(claims, AP_CLAIM.activity));
      const activityId = str(activity?.['id']);
      return {
        ...common,
        messageType: 'LtiDeepLinkingRequest',
        deepLinking: {
          returnUrl,
          acceptTypes: strings(dl['accept_types']),
          acceptMultiple: dl['accept_multiple'] === true,
          data: str(dl['data']),
          title: str(dl['title']),
          text: str(dl['text']),
        },
        activity: activityId ? { id: activityId, title: str(activity?.['title']) } : undefined,
      };
    }
    const link = obj(claims[CLAIM.resourceLink]);
    const linkId = str(link?.['id']);
    if (!link || !linkId) fail('missing_claim', 'the launch has no resource_link id');
    return { ...common, messageType: 'LtiResourceLinkRequest', resourceLink: { id: linkId, title: str(link['title']), description: str(link['description']) } };
  }

  /** Steps 1-6 of a launch: state, signature, times, issuer, audience, one-time nonce, deployment. */
  private async checkLaunchToken(input: LaunchInput): Promise<{ claims: JWTPayload; reg: PlatformRegistration; deploymentId: string; deployment: Deployment; login: LoginState }> {
    const idToken = str(input.idToken);
    const state = str(input.state);
    if (!idToken) fail('missing_id_token', 'the launch has no id_token');
    if (!state) fail('invalid_state', 'the launch has no state');
    if (input.cookieState !== undefined && input.cookieState !== state) fail('invalid_state', 'the launch state does not match this browser’s login', 401);
    const login = await this.config.states.take(state);
    if (!login) fail('invalid_state', 'unknown or expired state: start the launch again from the LMS', 401);
    const reg = await this.config.registrations.getRegistration(login.registrationId);
    if (!reg) fail('unknown_issuer', 'the registration of this login was removed', 401);

    // 1. signature by kid, alg, exp, iat
    const claims = await this.verifySignatureAndTimes(idToken, reg);
    // 2. exact issuer
    if (claims.iss !== reg.issuer) fail('invalid_issuer', `iss ${String(claims.iss)} is not ${reg.issuer}`, 401);
    // 3-4. audience and authorized party
    this.checkAudience(claims, reg);
    // 5. one-time nonce bound to this login
    const nonce = str(claims['nonce']);
    if (!nonce) fail('missing_nonce', 'the id_token has no nonce', 401);
    const expMs = (claims.exp ?? 0) * 1000 + (this.config.clockToleranceSec ?? 60) * 1000;
    if (!(await this.config.nonces.consume(nonce, Math.max(expMs, this.now() + 60_000)))) fail('nonce_replayed', 'this id_token was already used', 401);
    if (nonce !== login.nonce) fail('nonce_mismatch', 'the id_token nonce is not the one sent at login', 401);
    // 6. deployment
    const deploymentId = str(claims[CLAIM.deploymentId]);
    if (!deploymentId) fail('unknown_deployment', 'the launch has no deployment_id', 403);
    const deployment = await this.config.registrations.findDeployment(reg.id, deploymentId);
    if (!deployment) fail('unknown_deployment', `deployment ${deploymentId} is not registered for ${reg.issuer}`, 403);
    return { claims, reg, deploymentId, deployment, login };
  }

  private checkAudience(claims: JWTPayload, reg: PlatformRegistration): void {
    const aud = claims.aud;
    const auds = Array.isArray(aud) ? aud : [aud];
    if (!auds.includes(reg.clientId)) fail('invalid_audience', `aud does not contain our client id ${reg.clientId}`, 401);
    const azp = claims['azp'];
    if (azp !== undefined && azp !== reg.clientId) fail('invalid_azp', `azp ${String(azp)} is not our client id`, 401);
    if (Array.isArray(aud) && aud.length > 1 && azp === undefined) fail('invalid_azp', 'aud lists several audiences but there is no azp', 401);
  }

  private commonContext(
    claims: JWTPayload,
    reg: PlatformRegistration,
    deploymentId: string,
    deployment: Deployment,
    sub: string,
    roles: string[],
    targetLinkUri: string,
  ): Omit<LaunchContext, 'messageType' | 'resourceLink'> {
    const ctx = obj(claims[CLAIM.context]);
    const ctxId = str(ctx?.['id']);
    const ags = obj(claims[CLAIM.agsEndpoint]);
    const nrpsUrl = str(obj(claims[CLAIM.nrps])?.['context_memberships_url']);
    const customRaw = obj(claims[CLAIM.custom]) ?? {};
    const custom: Record<string, string> = {};
    for (const [k, v] of Object.entries(customRaw)) if (typeof v === 'string') custom[k] = v;
    const typeList = Array.isArray(ctx?.['type']) ? (ctx['type'] as unknown[]).filter((t): t is string => typeof t === 'string') : undefined;

    const pnsRaw = obj(claims[CLAIM.platformNotificationService]);
    const pnsUrl = str(pnsRaw?.['platform_notification_service_url']);
    const strs = (v: unknown) => (Array.isArray(v) ? v.filter((t): t is string => typeof t === 'string') : []);
    return {
      registrationId: reg.id,
      issuer: reg.issuer,
      clientId: reg.clientId,
      deploymentId,
      courseId: deployment.courseId,
      user: {
        sub,
        name: str(claims['name']),
        givenName: str(claims['given_name']),
        familyName: str(claims['family_name']),
        email: str(claims['email']),
      },
      roles,
      role: mapRoles(roles),
      context: ctxId ? { id: ctxId, title: str(ctx?.['title']), label: str(ctx?.['label']), type: typeList } : undefined,
      targetLinkUri,
      ags: ags
        ? {
            lineitem: str(ags['lineitem']),
            lineitems: str(ags['lineitems']),
            scopes: Array.isArray(ags['scope']) ? (ags['scope'] as unknown[]).filter((s): s is string => typeof s === 'string') : [],
          }
        : undefined,
      nrps: nrpsUrl ? { contextMembershipsUrl: nrpsUrl } : undefined,
      custom,
      returnUrl: str(obj(claims[CLAIM.launchPresentation])?.['return_url']),
      pns: pnsUrl
        ? { url: pnsUrl, scopes: strs(pnsRaw?.['scope']), noticeTypes: strs(pnsRaw?.['notice_types_supported']), versions: strs(pnsRaw?.['service_versions']) }
        : undefined,
      claims,
    };
  }

  /**
   * Verifies one notice JWT of the Platform Notification Service, as a launch is verified: the
   * registration found by `iss` and `aud`, signature by `kid` against the platform JWKS, algorithm,
   * `exp`/`iat`, exact `iss`, `aud`/`azp`, a registered `deployment_id`, LTI version, the `notice`
   * claim, and a one-time `jti` (else `nonce`, which some platforms send instead) consumed in the
   * nonce store. Throws LtiError with one code per rule.
   */
  async validateNotice(jwt: string | undefined): Promise<NoticeContext> {
    const token = str(jwt);
    if (!token) fail('malformed_token', 'the notice has no jwt');
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(token);
    } catch (e) {
      return fail('malformed_token', 'the notice is not a JWT', 400, e);
    }
    const iss = str(unverified.iss);
    if (!iss) fail('invalid_issuer', 'the notice has no iss', 401);
    const regs = await this.config.registrations.findRegistrations(iss);
    if (regs.length === 0) fail('unknown_platform', `no platform registered with issuer ${iss}`, 401);
    const auds = (Array.isArray(unverified.aud) ? unverified.aud : [unverified.aud]).filter((a): a is string => typeof a === 'string');
    const azp = str(unverified['azp']);
    const matching = regs.filter((r) => auds.includes(r.clientId) && (azp === undefined || azp === r.clientId));
    if (matching.length === 0) fail('invalid_audience', `the notice is not addressed to a client id registered for ${iss}`, 401);
    if (matching.length > 1) fail('invalid_azp', 'the notice is addressed to several registrations: the platform must send azp', 401);
    const reg = matching[0]!;
    // signature and times, then the same checks on the verified claims
    const claims = await this.verifySignatureAndTimes(token, reg, this.config.noticeMaxAgeSec ?? 7200);
    if (claims.iss !== reg.issuer) fail('invalid_issuer', `iss ${String(claims.iss)} is not ${reg.issuer}`, 401);
    this.checkAudience(claims, reg);
    const deploymentId = str(claims[CLAIM.deploymentId]);
    if (!deploymentId) fail('unknown_deployment', 'the notice has no deployment_id', 403);
    const deployment = await this.config.registrations.findDeployment(reg.id, deploymentId);
    if (!deployment) fail('unknown_deployment', `deployment ${deploymentId} is not registered for ${reg.issuer}`, 403);
    const version = claims[CLAIM.version];
    if (version !== undefined && version !== '1.3.0') fail('invalid_version', `LTI version ${String(version)} is not 1.3.0`);
    const notice = obj(claims[CLAIM.notice]);
    const id = str(notice?.['id']);
    const type = str(notice?.['type']);
    if (!notice || !id || !type) fail('invalid_notice', 'the notice claim must carry an id and a type');
    const oneTime = str(claims.jti) ?? str(claims['nonce']);
    if (!oneTime) fail('missing_jti', 'the notice has neither jti nor nonce: it could be replayed', 401);
    const expMs = (claims.exp ?? 0) * 1000 + (this.config.clockToleranceSec ?? 60) * 1000;
    if (!(await this.config.nonces.consume(`notice:${reg.id}:${oneTime}`, Math.max(expMs, this.now() + 60_000))))
      fail('notice_replayed', 'this notice JWT was already received (same jti): a replay', 401);
    return {
      registrationId: reg.id,
      issuer: reg.issuer,
      clientId: reg.clientId,
      deploymentId,
      courseId: deployment.courseId,
      notice: { id, type, timestamp: str(notice['timestamp']) },
      oneTimeId: oneTime,
      claims,
    };
  }
}
