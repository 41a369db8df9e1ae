export * from './config.js';
export * from './grade.js';
export * from './analyze.js';
export * from './run-analysis.js';
export * from './vm-image.js';
export {
  listExercises,
  loadExercise,
  loadShippedExercise,
  shippedExercisesDir,
  UnknownExerciseError,
  SubmissionRejected,
  validateSubmissionFiles,
  type SubmittedFile,
  acceptUpload,
  checkUploadName,
  archiveCap,
  rawUploadCap,
  fileSetSha256,
  UploadRejected,
  ArchiveError,
  gunzipCapped,
  readTar,
  type RawUpload,
  type AcceptedFile,
} from '@kgrader/exercises';
export { KernelNotBuiltError, locateKernel } from '@kgrader/kernel';
export * from './doctor.js';
export * from './chatter.js';
export { isSkippedFrame } from '@kgrader/log-parser';
export * from './suspects.js';
