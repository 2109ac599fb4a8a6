ALTER TABLE "events" ADD COLUMN "time_us" bigint;--> statement-breakpoint
ALTER TABLE "relay_seq" ADD COLUMN "time_us" bigint DEFAULT 0 NOT NULL;