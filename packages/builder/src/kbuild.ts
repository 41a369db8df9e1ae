/** How the submitted sources are laid out for Kbuild, and how to map build names back. */
export interface KbuildLayout {
  /** module name as the kernel will know it (`msgbuf` for msgbuf.ko) */
  module: string;
  /** the Kbuild file's text */
  kbuild: string;
  /** submitted name -> name in the build folder (only .c files that had to be renamed differ) */
  buildNames: Record<string, string>;
}

/** A module name the kernel accepts, derived from a file stem (`my-driver` -> `my_driver`). */
export function moduleNameFromStem(stem: string): string {
  const name = stem.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[A-Za-z_]/.test(name) ? name : `m_${name}`;
}

/**
 * Chooses the module name when the exercise does not fix one: the only .c file's stem, or the
 * stem of the file that calls module_init().
 */
export function inferModuleName(sources: ReadonlyArray<{ name: string; text: string }>): string {
  const cFiles = sources.filter((s) => s.name.endsWith('.c'));
  const withInit = cFiles.find((s) => /\bmodule_init\s*\(/.test(s.text)) ?? cFiles[0];
  if (!withInit) throw new Error('no .c file');
  return moduleNameFromStem(withInit.name.slice(0, -2));
}

/**
 * Writes the Kbuild for one module built from every submitted .c file, with -g so findings map
 * to source lines, and gcc's stack-frame warning at the exercise's limit. Kbuild forbids an object named like a composite module, so such a file is
 * renamed `<module>_main.c` in the build folder (and mapped back when reporting).
 */
export function kbuildFor(module: string, fileNames: readonly string[], stackFrameBytes = 1024): KbuildLayout {
  const cFiles = fileNames.filter((n) => n.endsWith('.c')).sort();
  const buildNames: Record<string, string> = {};
  for (const name of fileNames) buildNames[name] = name;
  // -Wframe-larger-than: kernel stacks are 16 KiB for a whole call chain; a big frame is a finding
  const header = `# written by kgrader: the submission may not bring its own build files\nccflags-y := -g -Wall -Wframe-larger-than=${stackFrameBytes}\n`;
  if (cFiles.length === 1 && cFiles[0] === `${module}.c`) {
    return { module, kbuild: `${header}obj-m := ${module}.o\n`, buildNames };
  }
  const taken = new Set(cFiles);
  const freeName = () => {
    for (let i = 1; ; i++) {
      const candidate = `${module}_main${i === 1 ? '' : i}.c`;
      if (!taken.has(candidate)) return candidate;
    }
  };
  const objects = cFiles.map((name) => {
    const buildName = name === `${module}.c` ? freeName() : name;
    buildNames[name] = buildName;
    return buildName.replace(/\.c$/, '.o');
  });
  return { module, kbuild: `${header}obj-m := ${module}.o\n${module}-y := ${objects.join(' ')}\n`, buildNames };
}
