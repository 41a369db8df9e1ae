export { parseConsoleLog, foldDuplicates, isCorruptedCopyOf, type ParsedLog, type ParseOptions } from './parse-console-log.js';
export { splitLinePrefix, stripLinePrefix, type SplitLine } from './line-prefix.js';
export { parseFrame, parseRipFrame, parseAtFrame, titleName } from './frames.js';
export { isSkippedFrame, pickTitleFrame, canonicalFrameName } from './guilty-frame.js';
export {
  classifyMarkerLine,
  parseMarker,
  testAtLine,
  MARKER_NONCE_RE,
  type ForgedMarker,
  type Marker,
  type MarkerType,
} from './markers.js';
export {
  matchReportHeader,
  REPORT_GROUPS,
  type EndRule,
  type ReportGroup,
  type TitleFormat,
  type StackRule,
  type HeaderMatch,
} from './families.js';
export { describe, canonicalTitle, type Description } from './title.js';
export { findingsBeforeMarker } from './queries.js';
