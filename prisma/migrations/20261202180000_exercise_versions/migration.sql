-- Exercise authoring and versions (issue 12, item 1): exercises with a draft, immutable versions,
-- the solution checks of a version being published, assignments pinning a version, grading runs
-- recording the version they graded against, and version moves with the verdicts before.
-- The shipped exercises are seeded as version 1 by the API at start (they are read from exercises/).

-- CreateEnum
CREATE TYPE "ExerciseVersionStatus" AS ENUM ('checking', 'published', 'rejected', 'error');

-- CreateEnum
CREATE TYPE "SolutionCheckStatus" AS ENUM ('queued', 'running', 'passed', 'failed', 'error');

-- AlterTable
ALTER TABLE "Assignment" ADD COLUMN     "exerciseVersionId" UUID;

-- AlterTable
ALTER TABLE "GradingRun" ADD COLUMN     "exerciseVersionId" UUID;

-- CreateTable
CREATE TABLE "Exercise" (
    "id" UUID NOT NULL,
    "slug" TEXT NOT NULL,
    "courseId" UUID,
    "draft" JSONB NOT NULL,
    "createdById" UUID,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Exercise_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ExerciseVersion" (
    "id" UUID NOT NULL,
    "exerciseId" UUID NOT NULL,
    "version" INTEGER NOT NULL,
    "status" "ExerciseVersionStatus" NOT NULL DEFAULT 'checking',
    "spec" JSONB NOT NULL,
    "handout" TEXT NOT NULL,
    "starterFiles" JSONB NOT NULL,
    "solutions" JSONB NOT NULL,
    "contentHash" TEXT NOT NULL,
    "origin" TEXT NOT NULL DEFAULT 'publish',
    "createdById" UUID,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "decidedAt" TIMESTAMP(3),

    CONSTRAINT "ExerciseVersion_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SolutionCheck" (
    "id" UUID NOT NULL,
    "versionId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "status" "SolutionCheckStatus" NOT NULL DEFAULT 'queued',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "problems" TEXT[],
    "verdict" "Verdict",
    "summary" TEXT,
    "result" JSONB,
    "workerId" TEXT,
    "heartbeatAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "SolutionCheck_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "VersionMove" (
    "id" UUID NOT NULL,
    "assignmentId" UUID NOT NULL,
    "fromVersionId" UUID,
    "toVersionId" UUID NOT NULL,
    "actorId" UUID,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "VersionMove_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "VersionMoveItem" (
    "moveId" UUID NOT NULL,
    "submissionId" UUID NOT NULL,
    "userId" UUID NOT NULL,
    "beforeVerdict" "Verdict",
    "beforeScore" DOUBLE PRECISION,
    "beforeStatus" "SubmissionStatus" NOT NULL,

    CONSTRAINT "VersionMoveItem_pkey" PRIMARY KEY ("moveId","submissionId")
);

-- CreateIndex
CREATE UNIQUE INDEX "Exercise_slug_key" ON "Exercise"("slug");

-- CreateIndex
CREATE INDEX "Exercise_courseId_idx" ON "Exercise"("courseId");

-- CreateIndex
CREATE UNIQUE INDEX "ExerciseVersion_exerciseId_version_key" ON "ExerciseVersion"("exerciseId", "version");

-- CreateIndex
CREATE INDEX "SolutionCheck_status_idx" ON "SolutionCheck"("status");

-- CreateIndex
CREATE UNIQUE INDEX "SolutionCheck_versionId_name_key" ON "SolutionCheck"("versionId", "name");

-- CreateIndex
CREATE INDEX "VersionMove_assignmentId_createdAt_idx" ON "VersionMove"("assignmentId", "createdAt");

-- AddForeignKey
ALTER TABLE "Assignment" ADD CONSTRAINT "Assignment_exerciseVersionId_fkey" FOREIGN KEY ("exerciseVersionId") REFERENCES "ExerciseVersion"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Exercise" ADD CONSTRAINT "Exercise_courseId_fkey" FOREIGN KEY ("courseId") REFERENCES "Course"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ExerciseVersion" ADD CONSTRAINT "ExerciseVersion_exerciseId_fkey" FOREIGN KEY ("exerciseId") REFERENCES "Exercise"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SolutionCheck" ADD CONSTRAINT "SolutionCheck_versionId_fkey" FOREIGN KEY ("versionId") REFERENCES "ExerciseVersion"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "VersionMove" ADD CONSTRAINT "VersionMove_assignmentId_fkey" FOREIGN KEY ("assignmentId") REFERENCES "Assignment"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "VersionMoveItem" ADD CONSTRAINT "VersionMoveItem_moveId_fkey" FOREIGN KEY ("moveId") REFERENCES "VersionMove"("id") ON DELETE CASCADE ON UPDATE CASCADE;


-- A version's content never changes once written: only its status may move, once, from checking.
CREATE FUNCTION "exercise_version_immutable"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW."exerciseId" IS DISTINCT FROM OLD."exerciseId" OR NEW."version" IS DISTINCT FROM OLD."version"
     OR NEW."spec" IS DISTINCT FROM OLD."spec" OR NEW."handout" IS DISTINCT FROM OLD."handout"
     OR NEW."starterFiles" IS DISTINCT FROM OLD."starterFiles" OR NEW."solutions" IS DISTINCT FROM OLD."solutions"
     OR NEW."contentHash" IS DISTINCT FROM OLD."contentHash" OR NEW."origin" IS DISTINCT FROM OLD."origin"
     OR NEW."createdAt" IS DISTINCT FROM OLD."createdAt" THEN
    RAISE EXCEPTION 'exercise version % of exercise % is immutable', OLD."version", OLD."exerciseId" USING ERRCODE = 'check_violation';
  END IF;
  IF NEW."status" IS DISTINCT FROM OLD."status" AND OLD."status" <> 'checking' THEN
    RAISE EXCEPTION 'exercise version % of exercise % was already decided (%)', OLD."version", OLD."exerciseId", OLD."status" USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER "ExerciseVersion_immutable" BEFORE UPDATE ON "ExerciseVersion" FOR EACH ROW EXECUTE FUNCTION "exercise_version_immutable"();
