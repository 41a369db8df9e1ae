// The harness cache shared by several workers (containers on one host share one cache volume,
// issue 11): processes building it at once into an empty cache all get the same complete binary,
// built in folders of their own and renamed into place (no pid-named staging, no folder left
// behind), and one already in place is never replaced or deleted under a reader.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const entry = fileURLToPath(new URL('../ts/index.js', import.meta.url));
const build = (cacheDir: string) =>
  run(process.execPath, ['--input-type=module', '-e', `import { ensureHarness } from ${JSON.stringify(entry)}; console.log(await ensureHarness(${JSON.stringify(cacheDir)}));`]).then((r) => r.stdout.trim());
const sha = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');

describe('the harness cache shared by several worker processes', { timeout: 300_000 }, () => {
  let cache: string;
  before(async () => {
    cache = await mkdtemp(join(tmpdir(), 'kgrader-harness-shared-'));
  });
  after(() => rm(cache, { recursive: true, force: true }));

  it('three processes building into one empty cache get one complete binary and leave no staging folder', async () => {
    const paths = await Promise.all([build(cache), build(cache), build(cache)]);
    assert.equal(new Set(paths).size, 1, paths.join(', '));
    const [path] = paths;
    const entries = await readdir(join(cache, 'harness'));
    assert.deepEqual(entries, [basename(dirname(path!))], `only the built folder: ${entries.join(', ')}`);
    const { stdout } = await run('file', ['-L', path!]).catch(() => ({ stdout: 'statically linked (no file(1))' }));
    assert.match(stdout, /statically linked/);
  });

  it('a cached binary is reused as it is: same inode, same bytes, while others ask for it', async () => {
    const path = await build(cache);
    const before = await stat(path);
    const digest = await sha(path);
    const again = await Promise.all([build(cache), build(cache), sha(path), sha(path)]);
    assert.deepEqual(again, [path, path, digest, digest]);
    const now = await stat(path);
    assert.equal(now.ino, before.ino, 'not replaced');
    assert.equal(now.mtimeMs, before.mtimeMs);
  });
});
