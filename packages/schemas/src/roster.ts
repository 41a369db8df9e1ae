import { z } from 'zod';

// Course rosters (issue 12, item 3): a CSV import (email, name, role) or an LTI Names and Role
// Provisioning Services sync, previewed (dry run) and then applied. Enrolment rules hold: only this
// course's memberships are written, never a user's other courses or account, and nobody is demoted.

export const RosterImport = z.object({
  /** the CSV text: a header line with `email` (required), `name`, `role` (student|instructor, default student) */
  csv: z.string().min(1).max(1024 * 1024),
  /** true (default): only say what would change */
  dryRun: z.boolean().default(true),
});

export const RosterSync = z.object({
  /** the LTI platform registration of this course to ask (default: the only one that has a memberships URL) */
  platformId: z.uuid().optional(),
  dryRun: z.boolean().default(true),
});

const Row = z.object({ email: z.string(), name: z.string(), role: z.enum(['student', 'instructor']) });
export const RosterPlan = z
  .object({
    dryRun: z.boolean(),
    source: z.enum(['csv', 'lti']),
    /** new members (`newUser`: no kgrader account yet, one is created) */
    add: z.array(Row.extend({ newUser: z.boolean() })),
    /** members whose role goes up (student -> instructor) */
    change: z.array(Row.extend({ from: z.enum(['student', 'instructor']) })),
    unchanged: z.array(Row),
    /** rows that are not applied, each with why (line: CSV line number) */
    refused: z.array(z.object({ line: z.number().int().optional(), email: z.string().optional(), reason: z.string() })),
  })
  .meta({ id: 'RosterPlan' });
export type RosterPlan = z.infer<typeof RosterPlan>;
