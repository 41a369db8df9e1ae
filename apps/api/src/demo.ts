#!/usr/bin/env node
// npm run demo: idempotently creates a demo course with the msgbuf assignment, one instructor and
// two students, issues fresh tokens (revoking the previous demo tokens) and prints ONE JSON object:
// { apiUrl, courseId, assignmentId, tokens: { instructor, student1, student2 } }
import { createDb, ensureDatabase, migrate, type Role } from '@kgrader/db';
import { ApiEnv, apiConfigFromEnv } from './config.js';
import { issueToken } from './lib/tokens.js';
import { seedShippedExercises } from './lib/exercises.js';

const env = ApiEnv.parse(process.env);
const config = apiConfigFromEnv(env);
await ensureDatabase(env.DATABASE_URL);
await migrate({ databaseUrl: env.DATABASE_URL });
const db = createDb({ databaseUrl: env.DATABASE_URL, poolMax: 2 });
try {
  await seedShippedExercises(db, { exercisesDir: config.exercisesDir });
  const people: { key: 'instructor' | 'student1' | 'student2'; email: string; name: string; role: Role }[] = [
    { key: 'instructor', email: 'instructor@demo.kgrader.test', name: 'Ada Instructor', role: 'instructor' },
    { key: 'student1', email: 'student1@demo.kgrader.test', name: 'Sam Student', role: 'student' },
    { key: 'student2', email: 'student2@demo.kgrader.test', name: 'Kim Student', role: 'student' },
  ];
  const course = await db.course.upsert({
    where: { code: 'demo-kernel-drivers' },
    create: { code: 'demo-kernel-drivers', title: 'Demo: Linux kernel drivers' },
    update: {},
  });
  let assignment = await db.assignment.findFirst({ where: { courseId: course.id, exerciseSlug: 'msgbuf' }, orderBy: { createdAt: 'asc' } });
  assignment ??= await db.assignment.create({
    data: {
      courseId: course.id,
      exerciseSlug: 'msgbuf',
      title: 'msgbuf: a message buffer character device',
      maxPoints: 100,
      rateLimitCount: 20,
      rateLimitWindowSeconds: 3600,
    },
  });
  const tokens: Record<string, string> = {};
  for (const p of people) {
    const user = await db.user.upsert({
      where: { email: p.email },
      create: { email: p.email, name: p.name, canCreateCourses: p.role === 'instructor' },
      update: {},
    });
    await db.membership.upsert({
      where: { userId_courseId: { userId: user.id, courseId: course.id } },
      create: { userId: user.id, courseId: course.id, role: p.role },
      update: { role: p.role },
    });
    await db.apiToken.updateMany({ where: { userId: user.id, name: 'demo', revokedAt: null }, data: { revokedAt: new Date() } });
    // students: submit to the demo course only; the instructor: their course roles (may create courses)
    tokens[p.key] = (
      await issueToken(db, p.role === 'student'
        ? { userId: user.id, name: 'demo', scope: 'submit', courseId: course.id, issuedById: null }
        : { userId: user.id, name: 'demo', scope: 'instructor', issuedById: null })
    ).token;
  }
  process.stdout.write(
    `${JSON.stringify({ apiUrl: config.publicUrl, courseId: course.id, assignmentId: assignment.id, tokens }, null, 2)}\n`,
  );
} finally {
  await db.$disconnect();
}
