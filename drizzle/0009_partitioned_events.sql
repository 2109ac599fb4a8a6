-- The event log becomes range-partitioned by seq, so that retention drops whole partitions instead of deleting rows
-- (dead tuples at the ingest rate), and loses its indexes on did and created_at (neither is read any more). The
-- events kept so far become the first partition as they are, without a copy. (drizzle-kit wrote the first three
-- statements; it does not model partitioning, so the rest is written by hand.)
CREATE TABLE "event_partitions" (
	"name" text PRIMARY KEY NOT NULL,
	"from_seq" bigint NOT NULL,
	"to_seq" bigint NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
DROP INDEX "events_created_at_idx";--> statement-breakpoint
DROP INDEX "events_did_idx";--> statement-breakpoint
ALTER TABLE "events" RENAME TO "events_legacy";--> statement-breakpoint
ALTER TABLE "events_legacy" RENAME CONSTRAINT "events_pkey" TO "events_legacy_pkey";--> statement-breakpoint
CREATE TABLE "events" (
	"seq" bigint NOT NULL,
	"did" text NOT NULL,
	"kind" text NOT NULL,
	"frame" bytea NOT NULL,
	"host_id" integer NOT NULL,
	"upstream_seq" bigint,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "events_pkey" PRIMARY KEY ("seq")
) PARTITION BY RANGE ("seq");
--> statement-breakpoint
DO $$
DECLARE top bigint;
BEGIN
  SELECT COALESCE(max(seq), 0) + 1 INTO top FROM events_legacy;
  -- A constraint that proves the range lets ATTACH skip its own scan.
  EXECUTE format('ALTER TABLE events_legacy ADD CONSTRAINT events_legacy_range CHECK (seq >= 0 AND seq < %s)', top);
  EXECUTE format('ALTER TABLE events ATTACH PARTITION events_legacy FOR VALUES FROM (0) TO (%s)', top);
  ALTER TABLE events_legacy DROP CONSTRAINT events_legacy_range;
  INSERT INTO event_partitions (name, from_seq, to_seq) VALUES ('events_legacy', 0, top);
END $$;
