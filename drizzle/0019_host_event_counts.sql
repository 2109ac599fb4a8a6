CREATE TABLE "host_event_counts" (
	"host_id" integer NOT NULL,
	"minute" timestamp with time zone NOT NULL,
	"accepted" integer DEFAULT 0 NOT NULL,
	"rejected" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "host_event_counts_minute_host_id_pk" PRIMARY KEY("minute","host_id")
);
