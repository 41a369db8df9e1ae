export { buildApp, type BuildAppOptions, type RegisteredRoute } from './app.js';
export { ApiEnv, apiConfigFromEnv, OidcProviderConfig, type ApiConfig, type AuthConfig } from './config.js';
export type { ApiDeps, ExerciseCatalog } from './deps.js';
export { folderCatalog } from './catalog.js';
export { EventHub } from './lib/event-hub.js';
export { issueToken, hashToken, type IssuedToken } from './lib/tokens.js';
export { readTar, gunzipCapped, ArchiveError } from '@kgrader/exercises';
export { dashboardPlugin } from './routes/dashboard.js';
export { seedShippedExercises, contentHash } from './lib/exercises.js';
