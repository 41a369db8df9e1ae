// The environment every worker of the service must share to grade alike (issue 11): the grading
// kernel's key per flavor and the LTI tool key. The first worker to check a name pins its own
// value; a later worker whose value differs is told so and must refuse (it would grade on another
// kernel, or sign grade passbacks with a key the LMS does not know). Moving a pin is deliberate:
// `repin` replaces it with the caller's value (the first worker of an upgraded fleet).
import type { Db } from './client.js';

export type PinCheck =
  | { ok: true; name: string; value: string; pinnedBy: string; pinnedNow: boolean }
  | { ok: false; name: string; value: string; pinned: string; pinnedBy: string; pinnedAt: Date };

export async function checkEnvironmentPin(db: Db, name: string, value: string, opts: { by: string; repin?: boolean }): Promise<PinCheck> {
  if (opts.repin) {
    await db.environmentPin.upsert({ where: { name }, create: { name, value, pinnedBy: opts.by }, update: { value, pinnedBy: opts.by, pinnedAt: new Date() } });
    return { ok: true, name, value, pinnedBy: opts.by, pinnedNow: true };
  }
  // insert-if-absent: two workers starting together pin once, the loser reads the winner's pin
  const inserted = await db.$executeRaw`INSERT INTO "EnvironmentPin" (name, value, "pinnedBy") VALUES (${name}, ${value}, ${opts.by}) ON CONFLICT (name) DO NOTHING`;
  if (inserted === 1) return { ok: true, name, value, pinnedBy: opts.by, pinnedNow: true };
  const pin = await db.environmentPin.findUniqueOrThrow({ where: { name } });
  if (pin.value === value) return { ok: true, name, value, pinnedBy: pin.pinnedBy, pinnedNow: false };
  return { ok: false, name, value, pinned: pin.value, pinnedBy: pin.pinnedBy, pinnedAt: pin.pinnedAt };
}

/** The service's pins, by name. */
export async function environmentPins(db: Db): Promise<Record<string, string>> {
  const rows = await db.environmentPin.findMany();
  return Object.fromEntries(rows.map((r) => [r.name, r.value]));
}
