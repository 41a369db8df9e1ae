export * from './signature.js';
export * from './ssrf.js';
export * from './deliver.js';
export * from './schedule.js';
export * from './outbox.js';
export * from './polling.js';
