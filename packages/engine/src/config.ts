import { fileURLToPath } from 'node:url';
import { shippedExercisesDir } from '@kgrader/exercises';
import { hostVmSlots } from '@kgrader/vm';

/** The repository root (engine lives at packages/engine/dist/src). */
export const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

/** Settings the apps parse from their environment once and pass down. */
export interface EngineConfig {
  /** where the kernel, the harness binary and the accelerator probe are cached */
  cacheDir: string;
  exercisesDir: string;
  accel: 'auto' | 'kvm' | 'tcg';
  /** static busybox put into the initramfs */
  busybox: string;
  vmMemoryMiB: number;
  vmCpus: number;
  /**
   * restore each grading VM from a saved, booted state (created on first use, per kernel,
   * harness and VM settings) instead of booting it; a failed restore falls back to a boot
   */
  vmSnapshots: boolean;
  /**
   * grading VMs this host runs at once, shared by every process using this cache folder
   * (flock'ed slot files under `<cacheDir>/vm-slots`); default: cores / vCPUs, capped by memory
   */
  vmSlots: number;
  /** keep the per-run work folder (build tree, initramfs, logs) for debugging */
  keepWorkDir: boolean;
}

export function defaultEngineConfig(cacheDir: string): EngineConfig {
  return {
    cacheDir,
    exercisesDir: shippedExercisesDir,
    accel: 'auto',
    busybox: '/bin/busybox',
    vmMemoryMiB: 512,
    vmCpus: 2,
    vmSnapshots: true,
    vmSlots: hostVmSlots(2, 512),
    keepWorkDir: false,
  };
}
