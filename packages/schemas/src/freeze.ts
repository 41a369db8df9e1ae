/**
 * Freezes a parsed configuration all the way down: the apps parse their environment once at boot
 * and pass the result on; nothing may change it afterwards (an assignment throws in ESM's strict
 * mode instead of silently reconfiguring a running service).
 */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}
