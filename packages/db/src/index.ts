export { createDb, isUniqueViolation, type Db, type DbOptions } from './client.js';
export { migrate, ensureDatabase, listMigrations, defaultMigrationsDir, type MigrationOptions, type MigrationReport } from './migrate.js';
export * from './queue.js';
export { Prisma } from './generated/client.js';
export * from './generated/enums.js';
export type {
  Course,
  User,
  Membership,
  Assignment,
  Submission,
  Blob,
  SubmissionFile,
  GradingRun,
  TestResult,
  Finding,
  SubmissionEvent,
  ApiToken,
  AuditEvent,
  Exercise,
  ExerciseVersion,
  SolutionCheck,
  VersionMove,
  VersionMoveItem,
  Session,
  UserIdentity,
  Extension,
} from './generated/client.js';
export { announceSubmission, recordSubmissionEvent, type PublishedEvent } from './events.js';
export type {
  LtiPlatform,
  LtiDeployment,
  LtiIdentity,
  LtiResourceLink,
  LtiPassback,
  LtiSessionHandoff,
  WebhookEndpoint,
  WebhookMessage,
  WebhookAttempt,
} from './generated/client.js';
export {
  PrismaRegistrationStore,
  PrismaLoginStateStore,
  PrismaNonceStore,
  PrismaOutboxStore,
  writeWebhookEvent,
  redeliverWebhookMessage,
  queuePassback,
  claimDuePassbacks,
  purgeExpiredLtiState,
  AGS_SCORE_SCOPE,
  type Tx,
} from './lms.js';
export type { LtiAssetProcessor, LtiNotice, LtiServiceCall } from './generated/client.js';
export {
  syntheticLtiEmail,
  ensureLtiUser,
  insertSubmission,
  queueServiceCall,
  queueAssetReports,
  queueGradedReports,
  reportSubject,
  claimDueServiceCalls,
  claimDueNotices,
  type ServiceCallKind,
  type StoredAsset,
} from './lms-assets.js';
export { pinnedVersion, decideVersion, NoPublishedVersionError } from './exercises.js';
export { effectiveDueAt, latePolicyOf, latenessOf, requeuePassbacks } from './late.js';
export { checkEnvironmentPin, environmentPins, type PinCheck } from './pins.js';
export type { EnvironmentPin } from './generated/client.js';
