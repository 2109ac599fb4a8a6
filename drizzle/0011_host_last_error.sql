ALTER TABLE "hosts" ALTER COLUMN "status" SET DEFAULT 'connecting';--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "last_error" text;--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "last_error_at" timestamp with time zone;--> statement-breakpoint
-- Hosts were marked active at admission: those that never connected were never subscribed.
UPDATE "hosts" SET "status" = 'connecting' WHERE "status" = 'active' AND "last_connected_at" IS NULL;
