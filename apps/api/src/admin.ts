#!/usr/bin/env node
// kgrader-admin: bootstrap users and tokens straight in the database (the API has no anonymous endpoints).
//   kgrader-admin create-user --email a@b.c --name "A B" [--admin] [--course-creator]
//   kgrader-admin issue-token --email a@b.c [--scope read|submit|instructor|admin] [--course ID] [--name cli] [--days 30]
//       default scope: admin for admins, instructor otherwise (what the user may do, no less);
//       --course limits the token to one course
//   kgrader-admin revoke-token --prefix kgr_abcdef
//   kgrader-admin lti-keygen [--file PATH] [--rotate]   LTI tool key file (default: $LTI_TOOL_KEYS);
//       creates it when missing, --rotate puts a new current key first and keeps the previous one
import { parseArgs } from 'node:util';
import { createDb, ensureDatabase, migrate } from '@kgrader/db';
import { ensureToolKeyFile, publicJwks } from '@kgrader/lti';
import { TokenScope } from '@kgrader/schemas';
import { z } from 'zod';
import { issueToken } from './lib/tokens.js';

const env = z.object({ DATABASE_URL: z.string().default('postgresql://postgres@127.0.0.1:5432/kgrader') }).parse(process.env);
const usage = 'usage: kgrader-admin create-user|issue-token|revoke-token|lti-keygen [--email E] [--name N] [--admin] [--course-creator] [--scope S] [--course ID] [--days D] [--prefix P] [--file F] [--rotate]';
let parsed: ReturnType<typeof parseOptions>;
try {
  parsed = parseOptions();
} catch (err) {
  // a bad option is a usage error, not a crash: no stack trace
  console.error(`kgrader-admin: ${(err as Error).message}\n${usage}`);
  process.exit(2);
}
const { positionals, values } = parsed;
if (values.help) {
  console.log(usage);
  process.exit(0);
}

function parseOptions() {
  return parseArgs({
  allowPositionals: true,
  options: {
    help: { type: 'boolean', short: 'h', default: false },
    email: { type: 'string' },
    name: { type: 'string' },
    admin: { type: 'boolean', default: false },
    'course-creator': { type: 'boolean', default: false },
    days: { type: 'string' },
    prefix: { type: 'string' },
    scope: { type: 'string' },
    course: { type: 'string' },
    file: { type: 'string' },
    rotate: { type: 'boolean', default: false },
  },
  });
}
const cmd = positionals[0];
if (cmd === 'lti-keygen') {
  // no database needed: the key file is shared by the API (JWKS) and the workers (AGS)
  const file = values.file ?? process.env['LTI_TOOL_KEYS'];
  if (!file) {
    console.error('lti-keygen: give --file PATH (or set LTI_TOOL_KEYS)');
    process.exit(2);
  }
  const r = await ensureToolKeyFile(file, { rotate: values.rotate });
  console.log(JSON.stringify({ file, created: r.created, rotated: r.rotated, kids: r.keys.map((k) => k.kid), jwks: publicJwks(r.keys) }));
  process.exit(0);
}
await ensureDatabase(env.DATABASE_URL);
await migrate({ databaseUrl: env.DATABASE_URL });
const db = createDb({ databaseUrl: env.DATABASE_URL, poolMax: 2 });
try {
  if (cmd === 'create-user') {
    const email = z.email().parse(values.email);
    const user = await db.user.upsert({
      where: { email },
      create: { email, name: values.name ?? email, isAdmin: values.admin, canCreateCourses: values['course-creator'] || values.admin },
      update: { ...(values.name ? { name: values.name } : {}), isAdmin: values.admin, canCreateCourses: values['course-creator'] || values.admin },
    });
    await db.auditEvent.create({ data: { action: 'user.upsert', targetType: 'user', targetId: user.id, data: { email, isAdmin: user.isAdmin, via: 'kgrader-admin' } } });
    console.log(JSON.stringify({ id: user.id, email: user.email, isAdmin: user.isAdmin, canCreateCourses: user.canCreateCourses }));
  } else if (cmd === 'issue-token') {
    const email = z.email().parse(values.email);
    const user = await db.user.findUnique({ where: { email } });
    if (!user) throw new Error(`no user ${email}; create it first`);
    const days = values.days ? z.coerce.number().int().positive().parse(values.days) : undefined;
    const scope = TokenScope.parse(values.scope ?? (user.isAdmin ? 'admin' : 'instructor'));
    const courseId = values.course ? z.uuid().parse(values.course) : null;
    const t = await issueToken(db, { userId: user.id, name: values.name ?? 'admin-cli', scope, courseId, issuedById: null, expiresInDays: days });
    console.log(JSON.stringify({ token: t.token, id: t.id, userId: t.userId, scope: t.scope, courseId: t.courseId, expiresAt: t.expiresAt }));
  } else if (cmd === 'revoke-token') {
    const prefix = z.string().min(8).parse(values.prefix);
    const n = await db.apiToken.updateMany({ where: { prefix, revokedAt: null }, data: { revokedAt: new Date() } });
    console.log(JSON.stringify({ revoked: n.count }));
  } else {
    console.error(usage);
    process.exitCode = 2;
  }
} finally {
  await db.$disconnect();
}
