-- Issue 13: one Finding contract from the engine to the API. The whole Finding the engine produced
-- is stored as `data` (suspect, consequenceOf, advisory, corrupted, access, truncated, stacks...);
-- kind, title, test, count and raw stay columns for queries. `sourceLines` was a stored copy of the
-- frames: it is now derived on read (sourceLinesOf), so it goes, like the split-out columns.

ALTER TABLE "Finding" ADD COLUMN "data" JSONB;

UPDATE "Finding" SET "data" = jsonb_strip_nulls(jsonb_build_object(
  'kind', "kind",
  'title', "title",
  'frames', "frames",
  'stacks', "stacks",
  'access', "access",
  'raw', "raw",
  'test', "test",
  'count', "count",
  'truncated', CASE WHEN "truncated" THEN true ELSE NULL END
));

ALTER TABLE "Finding" ALTER COLUMN "data" SET NOT NULL;
ALTER TABLE "Finding" DROP COLUMN "frames";
ALTER TABLE "Finding" DROP COLUMN "stacks";
ALTER TABLE "Finding" DROP COLUMN "sourceLines";
ALTER TABLE "Finding" DROP COLUMN "access";
ALTER TABLE "Finding" DROP COLUMN "truncated";
