-- Issue 15: LTI Platform Notification Service + Asset Processor: assignments with kgrader attached as
-- their asset processor, the notice inbox, and the outbox of calls owed to platforms (asset
-- reports, notice-handler registrations). Self-contained: new tables only.

-- CreateEnum
CREATE TYPE "LtiNoticeStatus" AS ENUM ('received', 'processing', 'submitted', 'answered', 'ignored', 'rejected', 'failed');

-- CreateEnum
CREATE TYPE "LtiServiceCallStatus" AS ENUM ('pending', 'sending', 'sent', 'superseded', 'failed');

-- CreateTable
CREATE TABLE "LtiAssetProcessor" (
    "id" UUID NOT NULL,
    "platformId" UUID NOT NULL,
    "deploymentId" TEXT NOT NULL,
    "activityId" TEXT,
    "activityTitle" TEXT,
    "contextId" TEXT,
    "assignmentId" UUID NOT NULL,
    "exerciseSlug" TEXT NOT NULL,
    "exerciseVersion" TEXT,
    "title" TEXT NOT NULL,
    "createdById" UUID,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "LtiAssetProcessor_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "LtiNotice" (
    "id" UUID NOT NULL,
    "platformId" UUID NOT NULL,
    "deploymentId" TEXT NOT NULL,
    "noticeId" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "noticeAt" TIMESTAMP(3),
    "status" "LtiNoticeStatus" NOT NULL DEFAULT 'received',
    "claims" JSONB NOT NULL,
    "assets" JSONB,
    "reportUrl" TEXT,
    "reportScope" TEXT,
    "toolUrl" TEXT,
    "processorId" UUID,
    "submissionId" UUID,
    "ltiUserId" TEXT,
    "ltiSubmissionId" TEXT,
    "duplicates" INTEGER NOT NULL DEFAULT 0,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "nextAttemptAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lockedUntil" TIMESTAMP(3),
    "lastError" TEXT,
    "receivedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "LtiNotice_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "LtiServiceCall" (
    "id" UUID NOT NULL,
    "platformId" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "method" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "scope" TEXT NOT NULL,
    "body" JSONB NOT NULL,
    "subject" TEXT NOT NULL,
    "noticeId" UUID,
    "submissionId" UUID,
    "status" "LtiServiceCallStatus" NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "nextAttemptAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lockedUntil" TIMESTAMP(3),
    "lastStatus" INTEGER,
    "lastError" TEXT,
    "sentAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "LtiServiceCall_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "LtiAssetProcessor_assignmentId_idx" ON "LtiAssetProcessor"("assignmentId");

-- CreateIndex
CREATE UNIQUE INDEX "LtiAssetProcessor_platformId_activityId_key" ON "LtiAssetProcessor"("platformId", "activityId");

-- CreateIndex
CREATE INDEX "LtiNotice_status_nextAttemptAt_idx" ON "LtiNotice"("status", "nextAttemptAt");

-- CreateIndex
CREATE INDEX "LtiNotice_submissionId_idx" ON "LtiNotice"("submissionId");

-- CreateIndex
CREATE INDEX "LtiNotice_platformId_receivedAt_idx" ON "LtiNotice"("platformId", "receivedAt");

-- CreateIndex
CREATE UNIQUE INDEX "LtiNotice_platformId_noticeId_key" ON "LtiNotice"("platformId", "noticeId");

-- CreateIndex
CREATE INDEX "LtiServiceCall_status_nextAttemptAt_idx" ON "LtiServiceCall"("status", "nextAttemptAt");

-- CreateIndex
CREATE INDEX "LtiServiceCall_subject_createdAt_idx" ON "LtiServiceCall"("subject", "createdAt");

-- CreateIndex
CREATE INDEX "LtiServiceCall_noticeId_idx" ON "LtiServiceCall"("noticeId");

-- CreateIndex
CREATE INDEX "LtiServiceCall_submissionId_idx" ON "LtiServiceCall"("submissionId");

-- CreateIndex
CREATE INDEX "LtiServiceCall_platformId_createdAt_idx" ON "LtiServiceCall"("platformId", "createdAt");

-- AddForeignKey
ALTER TABLE "LtiAssetProcessor" ADD CONSTRAINT "LtiAssetProcessor_platformId_fkey" FOREIGN KEY ("platformId") REFERENCES "LtiPlatform"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "LtiAssetProcessor" ADD CONSTRAINT "LtiAssetProcessor_assignmentId_fkey" FOREIGN KEY ("assignmentId") REFERENCES "Assignment"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "LtiNotice" ADD CONSTRAINT "LtiNotice_platformId_fkey" FOREIGN KEY ("platformId") REFERENCES "LtiPlatform"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "LtiNotice" ADD CONSTRAINT "LtiNotice_processorId_fkey" FOREIGN KEY ("processorId") REFERENCES "LtiAssetProcessor"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "LtiNotice" ADD CONSTRAINT "LtiNotice_submissionId_fkey" FOREIGN KEY ("submissionId") REFERENCES "Submission"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "LtiServiceCall" ADD CONSTRAINT "LtiServiceCall_platformId_fkey" FOREIGN KEY ("platformId") REFERENCES "LtiPlatform"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "LtiServiceCall" ADD CONSTRAINT "LtiServiceCall_noticeId_fkey" FOREIGN KEY ("noticeId") REFERENCES "LtiNotice"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "LtiServiceCall" ADD CONSTRAINT "LtiServiceCall_submissionId_fkey" FOREIGN KEY ("submissionId") REFERENCES "Submission"("id") ON DELETE SET NULL ON UPDATE CASCADE;

