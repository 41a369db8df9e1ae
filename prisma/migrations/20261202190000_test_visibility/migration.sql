-- Per-test visibility (issue 12, item 4): an assignment's overrides of the exercise's test
-- visibility (visible, hidden, after_due_date, after_published) and when its grades were published.
ALTER TABLE "Assignment" ADD COLUMN "testVisibility" JSONB NOT NULL DEFAULT '{}';
ALTER TABLE "Assignment" ADD COLUMN "gradesPublishedAt" TIMESTAMP(3);
