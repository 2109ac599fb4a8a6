ALTER TABLE "hosts" ADD COLUMN "sync_mode" text DEFAULT 'auto' NOT NULL;--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "sync_proven" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "sync_strict_since" timestamp with time zone;