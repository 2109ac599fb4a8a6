CREATE TABLE "host_event_counts" (
	"host_id" integer NOT NULL,
	"minute" timestamp with time zone NOT NULL,
	"accepted" integer DEFAULT 0 NOT NULL,
	"rejected" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "host_event_counts_host_id_minute_pk" PRIMARY KEY("host_id","minute")
);
--> statement-breakpoint
CREATE INDEX "host_event_counts_minute_idx" ON "host_event_counts" USING btree ("minute");