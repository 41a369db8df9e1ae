export * from './finding.js';
export * from './exercise.js';
export * from './result.js';
export * from './harness.js';
export * from './api.js';
export * from './lms.js';
export * from './service-config.js';
export * from './authoring.js';
