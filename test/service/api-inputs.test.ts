// Issue 8, smaller items: bad inputs get a clear error and lose nothing. A multipart body without
// a boundary (was 500), an assignment edit with opensAt >= dueAt (answered 422 but saved), and
// submitted files that are not UTF-8 (mangled by /files).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { api, filesForm, seed, startApi, submit, type Seed, type TestEnv } from './helpers.js';

let env: TestEnv;
let s: Seed;

before(async () => {
  env = await startApi('inputs');
  s = await seed(env.db);
});
after(() => env?.close());

const isProblem = (r: { status: number; headers: Headers; body: any }, status: number) => {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(r.body.status, status);
};

describe('multipart bodies the parser cannot read', () => {
  const post = (contentType: string, body: string) =>
    api(env, 'POST', `/api/v1/assignments/${s.assignmentId}/submissions`, { token: s.users.student1.token, headers: { 'content-type': contentType }, body });

  it('multipart/form-data without a boundary: 400 problem+json saying so, nothing stored', async () => {
    const n0 = await env.db.submission.count();
    const r = await post('multipart/form-data', '--x\r\nContent-Disposition: form-data; name="f"; filename="msgbuf.c"\r\n\r\nint a;\r\n--x--\r\n');
    isProblem(r, 400);
    assert.match(r.body.detail, /boundary/);
    assert.equal(r.body.type, '/problems/bad-multipart');
    assert.equal(await env.db.submission.count(), n0);
  });

  it('a body that is not the multipart it claims: 400, not 500', async () => {
    const r = await post('multipart/form-data; boundary=abc', 'this is not multipart at all');
    assert.ok(r.status === 400 || r.status === 422, `${r.status} ${JSON.stringify(r.body)}`);
    assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/);
  });

  it('a body cut off in the middle of a part: 400, nothing stored', async () => {
    const n0 = await env.db.submission.count();
    const r = await post('multipart/form-data; boundary=abc', '--abc\r\nContent-Disposition: form-data; name="f"; filename="msgbuf.c"\r\n\r\nint a;');
    isProblem(r, 400);
    assert.equal(await env.db.submission.count(), n0);
  });
});

describe('assignment edits', () => {
  it('opensAt at or after dueAt: 422 and nothing is saved (neither the dates nor the other fields)', async () => {
    const before = await env.db.assignment.findUniqueOrThrow({ where: { id: s.assignmentId } });
    const due = new Date(Date.now() + 86_400_000);
    const r = await api(env, 'PATCH', `/api/v1/assignments/${s.assignmentId}`, {
      token: s.users.instructor.token,
      json: { title: 'should not stick', opensAt: new Date(due.getTime() + 1000).toISOString(), dueAt: due.toISOString() },
    });
    isProblem(r, 422);
    assert.match(r.body.detail, /opensAt must be before dueAt/);
    const after = await env.db.assignment.findUniqueOrThrow({ where: { id: s.assignmentId } });
    assert.deepEqual(after, before, 'unchanged');
    assert.equal(await env.db.auditEvent.count({ where: { action: 'assignment.update', targetId: s.assignmentId } }), 0);
    // a due date moved before the stored opening date is refused the same way
    await api(env, 'PATCH', `/api/v1/assignments/${s.assignmentId}`, { token: s.users.instructor.token, json: { opensAt: due.toISOString() } });
    const r2 = await api(env, 'PATCH', `/api/v1/assignments/${s.assignmentId}`, { token: s.users.instructor.token, json: { dueAt: due.toISOString() } });
    isProblem(r2, 422);
    assert.equal((await env.db.assignment.findUniqueOrThrow({ where: { id: s.assignmentId } })).dueAt, null);
    const ok = await api(env, 'PATCH', `/api/v1/assignments/${s.assignmentId}`, { token: s.users.instructor.token, json: { opensAt: null } });
    assert.equal(ok.status, 200);
  });
});

describe('submitted bytes are served exactly', () => {
  it('a file that is not UTF-8: /files gives it in base64, /files/:name byte for byte as application/octet-stream', async () => {
    // Latin-1 comment, a lone 0xff and a NUL: not UTF-8
    const bytes = Buffer.concat([Buffer.from('/* caf'), Buffer.from([0xe9, 0x20, 0xff, 0x00]), Buffer.from(' */\nint x;\n')]);
    const text = '\ufeff/* héllo ✓ */\nint y;\n'; // UTF-8 with a byte order mark, kept as is
    const r = await submit(env, s.assignmentId, s.users.student1.token, [
      { name: 'latin1.c', content: bytes },
      { name: 'utf8.h', content: text },
    ]);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const list = await api(env, 'GET', `/api/v1/submissions/${r.body.id}/files`, { token: s.users.student1.token });
    assert.equal(list.status, 200);
    const [latin1, utf8] = list.body.files;
    assert.equal(latin1.encoding, 'base64');
    assert.deepEqual(Buffer.from(latin1.content, 'base64'), bytes);
    assert.equal(latin1.size, bytes.length);
    assert.equal(utf8.encoding, 'utf-8');
    assert.equal(utf8.content, text);

    const raw = await fetch(`${env.baseUrl}/api/v1/submissions/${r.body.id}/files/latin1.c`, { headers: { authorization: `Bearer ${s.users.student1.token}` } });
    assert.equal(raw.status, 200);
    assert.equal(raw.headers.get('content-type'), 'application/octet-stream');
    assert.equal(raw.headers.get('x-content-type-options'), 'nosniff');
    assert.match(raw.headers.get('content-disposition') ?? '', /^attachment; filename="latin1.c"$/);
    assert.deepEqual(Buffer.from(await raw.arrayBuffer()), bytes);
    const rawText = await fetch(`${env.baseUrl}/api/v1/submissions/${r.body.id}/files/utf8.h`, { headers: { authorization: `Bearer ${s.users.student1.token}` } });
    assert.equal(rawText.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.deepEqual(Buffer.from(await rawText.arrayBuffer()), Buffer.from(text));
    const missing = await api(env, 'GET', `/api/v1/submissions/${r.body.id}/files/nope.c`, { token: s.users.student1.token });
    isProblem(missing, 404);
    const other = await api(env, 'GET', `/api/v1/submissions/${r.body.id}/files/latin1.c`, { token: s.users.student2.token });
    isProblem(other, 403);
  });

  it('multipart fields are not confused with files: a form with only a text field is refused clearly', async () => {
    const fd = filesForm([]);
    fd.append('note', 'hello');
    const r = await api(env, 'POST', `/api/v1/assignments/${s.assignmentId}/submissions`, { token: s.users.student1.token, form: fd });
    isProblem(r, 422);
    assert.match(r.body.detail, /no files/);
  });
});
