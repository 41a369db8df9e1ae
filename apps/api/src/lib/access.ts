import type { Assignment, Db, Role, Submission, User } from '@kgrader/db';
import { forbidden, notFound } from '../errors.js';
import { courseRole } from './auth.js';

export async function loadAssignment(db: Db, user: User, assignmentId: string): Promise<{ assignment: Assignment; role: Role }> {
  const assignment = await db.assignment.findUnique({ where: { id: assignmentId } });
  if (!assignment) throw notFound('assignment');
  const role = await courseRole(db, user, assignment.courseId);
  if (!role) throw forbidden('you are not a member of this course');
  return { assignment, role };
}

/** A submission is visible to its author and to the instructors of its course. */
export async function loadSubmission(
  db: Db,
  user: User,
  submissionId: string,
): Promise<{ submission: Submission; assignment: Assignment; role: Role }> {
  const submission = await db.submission.findUnique({ where: { id: submissionId }, include: { assignment: true } });
  if (!submission) throw notFound('submission');
  const role = await courseRole(db, user, submission.assignment.courseId);
  if (!role || (role === 'student' && submission.userId !== user.id)) throw forbidden('you may not see this submission');
  const { assignment, ...rest } = submission;
  return { submission: rest, assignment, role };
}
