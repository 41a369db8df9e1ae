#!/usr/bin/env node
// kgrader-admin: bootstrap users and tokens straight in the database (the API has no anonymous endpoints).
//   kgrader-admin create-user --email a@b.c --name "A B" [--admin] [--course-creator]
//   kgrader-admin issue-token --email a@b.c [--name cli] [--days 30]
//   kgrader-admin revoke-token --prefix kgr_abcdef
import { parseArgs } from 'node:util';
import { createDb, ensureDatabase, migrate } from '@kgrader/db';
import { z } from 'zod';
import { issueToken } from './lib/tokens.js';

const env = z.object({ DATABASE_URL: z.string().default('postgresql://postgres@127.0.0.1:5432/kgrader') }).parse(process.env);
const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    email: { type: 'string' },
    name: { type: 'string' },
    admin: { type: 'boolean', default: false },
    'course-creator': { type: 'boolean', default: false },
    days: { type: 'string' },
    prefix: { type: 'string' },
  },
});
const usage = 'usage: kgrader-admin create-user|issue-token|revoke-token [--email E] [--name N] [--admin] [--course-creator] [--days D] [--prefix P]';
const cmd = positionals[0];
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
    const t = await issueToken(db, { userId: user.id, name: values.name ?? 'admin-cli', issuedById: null, expiresInDays: days });
    console.log(JSON.stringify({ token: t.token, id: t.id, userId: t.userId, expiresAt: t.expiresAt }));
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
