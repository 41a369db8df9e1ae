export * from './submission.js';
export * from './kbuild.js';
export * from './diagnostics.js';
export * from './sandbox.js';
