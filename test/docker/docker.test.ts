// The Docker deployment's cheap checks (issue 11), part of `npm test`. Without a Docker engine
// only the file checks run and the container checks are skipped, saying so; with an engine, they
// run only when the image is already built (`docker compose build`, or test/docker/scale.mjs):
// the suite never builds images. The scale test itself is test/docker/scale.mjs (by hand, and in
// CI where Docker answers).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const IMAGE = process.env['KGRADER_IMAGE'] ?? 'kgrader:local';
const profile = join(repo, 'deploy/seccomp/worker.json');

/** Why the container checks cannot run here, or null. */
async function dockerMissing(): Promise<string | null> {
  try {
    await run('docker', ['version', '--format', '{{.Server.Version}}'], { timeout: 10_000 });
  } catch {
    return 'no Docker engine answers (start dockerd to run the container checks)';
  }
  try {
    await run('docker', ['image', 'inspect', IMAGE], { timeout: 10_000 });
  } catch {
    return `the image ${IMAGE} is not built (docker compose build, or node test/docker/scale.mjs); the suite never builds it`;
  }
  return null;
}
const skip = await dockerMissing();
if (skip) process.stdout.write(`# docker: container checks skipped: ${skip}\n`);

// the compile sandbox as packages/builder runs it (a subset: namespaces, mounts, no capabilities)
const BWRAP = ['bwrap', '--unshare-all', '--die-with-parent', '--new-session', '--cap-drop', 'ALL', '--dev', '/dev', '--tmpfs', '/tmp', '--ro-bind', '/usr', '/usr', '--tmpfs', '/usr/local', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', '--clearenv', '--', '/usr/bin/id', '-u'];

describe('Docker deployment', { timeout: 120_000 }, () => {
  it("the Dockerfile copies every workspace's package.json before npm ci (the cached dependency layer)", async () => {
    const dockerfile = await readFile(join(repo, 'Dockerfile'), 'utf8');
    const { workspaces } = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { workspaces: string[] };
    let n = 0;
    for (const glob of workspaces) {
      const parent = glob.replace(/\/\*$/, '');
      for (const dir of await readdir(join(repo, parent))) {
        if (!existsSync(join(repo, parent, dir, 'package.json'))) continue;
        n++;
        assert.match(dockerfile, new RegExp(`^COPY ${parent}/${dir}/package\\.json[^\\n]* ${parent}/${dir}/$`, 'm'), `Dockerfile: COPY ${parent}/${dir}/package.json ${parent}/${dir}/`);
      }
    }
    assert.ok(n >= 10, `${n} workspaces`);
    assert.ok(dockerfile.indexOf('RUN npm ci') < dockerfile.indexOf('COPY . .'), 'npm ci before the sources');
  });

  it('the seccomp profile is what deploy/seccomp/generate.mjs makes, and grants bubblewrap no more than it needs', { skip: existsSync('/usr/include/x86_64-linux-gnu/asm/unistd_64.h') ? false : 'no kernel headers (linux-libc-dev)' }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kgrader-seccomp-'));
    try {
      await run(process.execPath, [join(repo, 'deploy/seccomp/generate.mjs'), join(dir, 'worker.json')]);
      assert.equal(await readFile(profile, 'utf8'), await readFile(join(dir, 'worker.json'), 'utf8'), 'deploy/seccomp/worker.json is stale: run node deploy/seccomp/generate.mjs');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const p = JSON.parse(await readFile(profile, 'utf8')) as { defaultAction: string; syscalls: { names: string[]; action: string; args?: unknown[] }[] };
    assert.equal(p.defaultAction, 'SCMP_ACT_ERRNO', 'an allow-list');
    const allowed = new Set(p.syscalls.filter((s) => s.action === 'SCMP_ACT_ALLOW' && !s.args).flatMap((s) => s.names));
    for (const needed of ['clone', 'unshare', 'mount', 'umount2', 'pivot_root', 'ioctl', 'execve']) assert.ok(allowed.has(needed), needed);
    for (const refused of ['init_module', 'finit_module', 'kexec_load', 'bpf', 'setns', 'open_by_handle_at', 'keyctl', 'perf_event_open', 'reboot', 'personality']) assert.ok(!allowed.has(refused), refused);
    // and the compose file uses it, with no privilege or capability added anywhere
    const { services } = parse(await readFile(join(repo, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Record<string, unknown>> };
    for (const name of ['prepare', 'worker']) assert.deepEqual(services[name]!['security_opt'], ['seccomp:./deploy/seccomp/worker.json', 'apparmor:unconfined'], name);
    for (const [name, s] of Object.entries(services)) {
      assert.ok(!s['privileged'] && !s['cap_add'] && !s['devices'], `${name}: no privilege, capability or device added`);
      assert.ok(!String(s['security_opt'] ?? '').includes('unconfined') || String(s['security_opt']).includes('seccomp:./'), `${name}: seccomp stays confined`);
    }
  });

  it('in the image, the build sandbox works under the compose security options and not under Docker defaults', { skip: skip ?? false }, async () => {
    const opts = ['run', '--rm', '--network', 'none', '--entrypoint', ''];
    const ok = await run('docker', [...opts, '--security-opt', `seccomp=${profile}`, '--security-opt', 'apparmor=unconfined', IMAGE, ...BWRAP], { timeout: 60_000 });
    assert.equal(ok.stdout.trim(), '0', 'uid 0 of its own user namespace');
    await assert.rejects(run('docker', [...opts, IMAGE, ...BWRAP], { timeout: 60_000 }), /No permissions to create new namespace|Operation not permitted/);
    // the profile refuses what the worker never needs, even to root in the container
    const sec = ['--security-opt', `seccomp=${profile}`, '--security-opt', 'apparmor=unconfined'];
    const ns = await run('docker', [...opts, ...sec, IMAGE, 'sh', '-c', 'unshare --user --map-root-user true && echo userns-ok; nsenter --target 1 --mount true 2>&1 || echo setns-refused'], { timeout: 60_000 });
    assert.match(ns.stdout, /userns-ok/);
    assert.match(ns.stdout, /setns-refused/);
    // the doctor, which the worker's /healthz runs, tells the two apart
    const doctor = (extra: string[]) =>
      run('docker', [...opts, '-e', 'KGRADER_ACCEL=tcg', ...extra, IMAGE, 'node', 'apps/cli/bin/kgrader.js', 'doctor'], { timeout: 60_000 }).then(
        (r) => r.stdout,
        (e: { stdout?: string }) => e.stdout ?? '',
      );
    assert.match(await doctor(sec), /^ok +bubblewrap sandbox/m);
    assert.match(await doctor([]), /^FAIL +bubblewrap sandbox/m);
  });

  it('the worker entrypoint gives the container the KVM device and nothing else (usable when the host has KVM)', { skip: skip ?? false }, async () => {
    const script = 'test -c /dev/kvm && echo node; node -e "try{require(\'fs\').openSync(\'/dev/kvm\',\'r+\');console.log(\'open\')}catch(e){console.log(e.code)}"; mknod /tmp/sda b 8 0 && (head -c1 /tmp/sda >/dev/null 2>&1 && echo disk-readable || echo disk-refused)';
    const { stdout } = await run('docker', ['run', '--rm', '--network', 'none', '--device-cgroup-rule', 'c 10:232 rwm', '--security-opt', `seccomp=${profile}`, '--security-opt', 'apparmor=unconfined', IMAGE, 'sh', '-c', script], { timeout: 60_000 });
    assert.match(stdout, /^node$/m);
    assert.match(stdout, existsSync('/dev/kvm') ? /^open$/m : /^(open|ENXIO|ENODEV|ENOENT)$/m);
    assert.match(stdout, /disk-refused/, 'other devices stay out of reach');
  });
});

