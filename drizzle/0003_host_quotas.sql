ALTER TABLE "hosts" ADD COLUMN "events_per_hour" integer;--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "events_per_day" integer;--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "throttled_until" timestamp with time zone;