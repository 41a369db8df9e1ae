-- Similarity checks (issue 12, item 6): runs (a durable job per check, claimed by workers with a lease)
-- and the pairs above the threshold with their matching fragments; when the after-due check was queued.

-- CreateEnum
CREATE TYPE "SimilarityStatus" AS ENUM ('queued', 'running', 'done', 'error');

-- AlterTable
ALTER TABLE "Assignment" ADD COLUMN     "similarityDueRunAt" TIMESTAMP(3);

-- CreateTable
CREATE TABLE "SimilarityRun" (
    "id" UUID NOT NULL,
    "assignmentId" UUID NOT NULL,
    "status" "SimilarityStatus" NOT NULL DEFAULT 'queued',
    "trigger" TEXT NOT NULL,
    "threshold" DOUBLE PRECISION NOT NULL,
    "students" INTEGER,
    "error" TEXT,
    "createdById" UUID,
    "lockedUntil" TIMESTAMP(3),
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "SimilarityRun_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SimilarityPair" (
    "id" UUID NOT NULL,
    "runId" UUID NOT NULL,
    "leftSubmissionId" UUID NOT NULL,
    "rightSubmissionId" UUID NOT NULL,
    "similarity" DOUBLE PRECISION NOT NULL,
    "longest" INTEGER NOT NULL,
    "overlap" INTEGER NOT NULL,
    "fragments" JSONB NOT NULL,

    CONSTRAINT "SimilarityPair_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "SimilarityRun_assignmentId_createdAt_idx" ON "SimilarityRun"("assignmentId", "createdAt");

-- CreateIndex
CREATE INDEX "SimilarityRun_status_createdAt_idx" ON "SimilarityRun"("status", "createdAt");

-- CreateIndex
CREATE INDEX "SimilarityPair_runId_similarity_idx" ON "SimilarityPair"("runId", "similarity");

-- AddForeignKey
ALTER TABLE "SimilarityRun" ADD CONSTRAINT "SimilarityRun_assignmentId_fkey" FOREIGN KEY ("assignmentId") REFERENCES "Assignment"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SimilarityPair" ADD CONSTRAINT "SimilarityPair_runId_fkey" FOREIGN KEY ("runId") REFERENCES "SimilarityRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

