-- Issue 11: grading is the same on every host. Each run records what graded it, and the service
-- pins the environment every worker must share (the first worker pins; one that differs refuses).

-- AlterTable
ALTER TABLE "GradingRun" ADD COLUMN "kernelKey" TEXT,
ADD COLUMN "harnessHash" TEXT,
ADD COLUMN "exerciseHash" TEXT;

-- CreateTable
CREATE TABLE "EnvironmentPin" (
    "name" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    "pinnedBy" TEXT NOT NULL,
    "pinnedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "EnvironmentPin_pkey" PRIMARY KEY ("name")
);
