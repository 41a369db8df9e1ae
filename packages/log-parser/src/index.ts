export { parseConsoleLog, foldDuplicates, type ParsedLog } from './parse-console-log.js';
export { splitLinePrefix, stripLinePrefix, type SplitLine } from './line-prefix.js';
export { parseFrame, parseRipFrame, parseAtFrame, titleName } from './frames.js';
export { isSkippedFrame, pickTitleFrame, type SkipProfile } from './frame-selection.js';
export { parseMarker, testAtLine, type Marker, type MarkerType } from './markers.js';
export { matchReportHeader, FAMILIES, type FamilyId, type EndRule } from './families.js';
export { findingsBeforeMarker, findingsOfTest } from './queries.js';
