-- Issue 8: API tokens carry the scope they were issued for; grading runs carry a heartbeat.

-- CreateEnum
CREATE TYPE "TokenScope" AS ENUM ('read', 'submit', 'instructor', 'admin');

-- AlterTable: the scope is filled below, then required
ALTER TABLE "ApiToken" ADD COLUMN "scope" "TokenScope",
ADD COLUMN "courseId" UUID;

-- Existing tokens. A token an instructor minted for another user (POST
-- /courses/:id/members/:userId/tokens, the account-takeover path) becomes what it was meant to
-- be: a student token limited to the course it was issued in (found in its token.issue audit
-- event); without such an event it is revoked.
UPDATE "ApiToken" t SET
  "scope" = 'submit',
  "courseId" = (
    SELECT a."courseId" FROM "AuditEvent" a
    WHERE a.action = 'token.issue' AND a.data->>'tokenId' = t.id::text AND a."courseId" IS NOT NULL
    ORDER BY a."createdAt" LIMIT 1
  )
WHERE t."issuedById" IS NOT NULL AND t."issuedById" <> t."userId"
  AND NOT EXISTS (SELECT 1 FROM "User" i WHERE i.id = t."issuedById" AND i."isAdmin");
UPDATE "ApiToken" SET "revokedAt" = COALESCE("revokedAt", CURRENT_TIMESTAMP)
WHERE "scope" = 'submit' AND "courseId" IS NULL;
-- LTI session tokens (8 hours at most): limited to their launch's rights, not the user's admin rights
UPDATE "ApiToken" t SET
  "scope" = 'instructor',
  "courseId" = (
    SELECT a."courseId" FROM "AuditEvent" a
    WHERE a.action = 'token.issue' AND a.data->>'tokenId' = t.id::text
    ORDER BY a."createdAt" LIMIT 1
  )
WHERE t."scope" IS NULL AND t."name" = 'lti-session';
-- Every other token keeps what it could do: admin rights for admins (issued by the admin command,
-- by themselves or by another admin), the user's course roles otherwise.
UPDATE "ApiToken" t SET "scope" = CASE WHEN u."isAdmin" THEN 'admin'::"TokenScope" ELSE 'instructor'::"TokenScope" END
FROM "User" u WHERE u.id = t."userId" AND t."scope" IS NULL;

ALTER TABLE "ApiToken" ALTER COLUMN "scope" SET NOT NULL;

-- CreateIndex
CREATE INDEX "ApiToken_courseId_idx" ON "ApiToken"("courseId");

-- AddForeignKey
ALTER TABLE "ApiToken" ADD CONSTRAINT "ApiToken_courseId_fkey" FOREIGN KEY ("courseId") REFERENCES "Course"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AlterTable: the worker refreshes it while grading; the reconciler takes over runs whose heartbeat is stale
ALTER TABLE "GradingRun" ADD COLUMN "heartbeatAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;

-- CreateIndex
CREATE INDEX "GradingRun_status_heartbeatAt_idx" ON "GradingRun"("status", "heartbeatAt");
