import type { Finding } from '@kgrader/schemas';
import type { Marker } from './markers.js';

/**
 * Findings that appeared before the first marker matching `predicate` (e.g. before the module was
 * unloaded); all findings when no marker matches.
 */
export function findingsBeforeMarker(
  findings: readonly Finding[],
  markers: readonly Marker[],
  predicate: (marker: Marker) => boolean,
): Finding[] {
  const marker = markers.find(predicate);
  if (!marker) return [...findings];
  return findings.filter((f) => (f.line ?? 0) < marker.line);
}

