/** Why a login initiation, a launch or a service call was refused: one code per rule. */
export type LtiErrorCode =
  // login initiation
  | 'missing_parameter'
  | 'nrps_failed'
  | 'unknown_issuer'
  | 'unknown_client_id'
  | 'ambiguous_registration'
  | 'invalid_target_link_uri'
  // launch
  | 'missing_id_token'
  | 'malformed_token'
  | 'invalid_state'
  | 'missing_kid'
  | 'disallowed_algorithm'
  | 'unknown_kid'
  | 'jwks_unavailable'
  | 'bad_signature'
  | 'invalid_issuer'
  | 'invalid_audience'
  | 'invalid_azp'
  | 'token_expired'
  | 'invalid_iat'
  | 'missing_nonce'
  | 'nonce_mismatch'
  | 'nonce_replayed'
  | 'unknown_deployment'
  | 'invalid_message_type'
  | 'invalid_version'
  | 'missing_claim'
  | 'invalid_deep_linking'
  // notices (Platform Notification Service)
  | 'unknown_platform'
  | 'missing_jti'
  | 'notice_replayed'
  | 'invalid_notice'
  // services
  | 'token_request_failed'
  | 'score_rejected'
  | 'score_unavailable'
  | 'insecure_url'
  | 'service_call_failed'
  | 'asset_too_large'
  | 'asset_unavailable';

export class LtiError extends Error {
  override readonly name = 'LtiError';
  constructor(
    readonly code: LtiErrorCode,
    message: string,
    /** HTTP status the shell should answer with */
    readonly status: number = 400,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
