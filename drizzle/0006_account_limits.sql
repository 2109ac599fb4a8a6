ALTER TABLE "accounts" ADD COLUMN "throttled" text;--> statement-breakpoint
ALTER TABLE "accounts" ADD COLUMN "throttled_until" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "accounts" ADD COLUMN "held_commit" "bytea";--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "account_limit" integer;--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "tier" text DEFAULT 'new' NOT NULL;--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "promoted_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "last_throttled_at" timestamp with time zone;