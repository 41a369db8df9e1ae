export * from './config.js';
export * from './exercises.js';
export * from './grade.js';
export * from './analyze.js';
export { SubmissionRejected, validateSubmissionFiles, type SubmittedFile } from '@kgrader/builder';
export { KernelNotBuiltError, locateKernel } from '@kgrader/kernel';
export * from './doctor.js';
export * from './chatter.js';
export { isSkippedFrame } from '@kgrader/log-parser';
