/** kgrader's course roles an LTI launch can grant. */
export type KgraderRole = 'instructor' | 'student';

const V2 = 'http://purl.imsglobal.org/vocab/lis/v2/';

/**
 * Maps one LTI role URI to a kgrader course role. Context (membership) roles decide: Instructor and
 * its sub-roles (TeachingAssistant, Grader...) and Administrator give `instructor`; Learner and its
 * sub-roles give `student`. System and institution Administrators are instructors too. Institution
 * roles such as `institution/person#Instructor` (faculty somewhere) give nothing: they say nothing
 * about this course. LTI 1.1-style short names (`Instructor`, `Learner`) are accepted.
 */
export function mapRole(role: string): KgraderRole | null {
  const short = role.trim();
  if (short === 'Instructor' || short === 'TeachingAssistant' || short === 'Administrator') return 'instructor';
  if (short === 'Learner') return 'student';
  if (!short.startsWith(V2)) return null;
  const rest = short.slice(V2.length);
  if (rest === 'membership#Instructor' || rest.startsWith('membership/Instructor#')) return 'instructor';
  if (rest === 'membership#Administrator' || rest.startsWith('membership/Administrator#')) return 'instructor';
  if (rest === 'system/person#Administrator' || rest === 'institution/person#Administrator') return 'instructor';
  if (rest === 'membership#Learner' || rest.startsWith('membership/Learner#')) return 'student';
  return null;
}

/** The strongest kgrader role among a launch's roles (instructor over student), null when none maps. */
export function mapRoles(roles: readonly string[]): KgraderRole | null {
  let out: KgraderRole | null = null;
  for (const r of roles) {
    const m = mapRole(r);
    if (m === 'instructor') return 'instructor';
    if (m === 'student') out = 'student';
  }
  return out;
}
