export * from './kbuild.js';
export * from './diagnostics.js';
export * from './sandbox.js';
export * from './inspect.js';
export * from './policy.js';
