-- Rosters (issue 12, item 3): LMS contexts seen in launches, with their NRPS memberships URL.

-- CreateTable
CREATE TABLE "LtiContext" (
    "platformId" UUID NOT NULL,
    "contextId" TEXT NOT NULL,
    "courseId" UUID NOT NULL,
    "title" TEXT,
    "membershipsUrl" TEXT,
    "lastSyncAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "LtiContext_pkey" PRIMARY KEY ("platformId","contextId")
);

-- CreateIndex
CREATE INDEX "LtiContext_courseId_idx" ON "LtiContext"("courseId");

-- AddForeignKey
ALTER TABLE "LtiContext" ADD CONSTRAINT "LtiContext_platformId_fkey" FOREIGN KEY ("platformId") REFERENCES "LtiPlatform"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "LtiContext" ADD CONSTRAINT "LtiContext_courseId_fkey" FOREIGN KEY ("courseId") REFERENCES "Course"("id") ON DELETE CASCADE ON UPDATE CASCADE;

