export * from './catalog.js';
export * from './submission.js';
export * from './archive.js';
export * from './upload.js';
