CREATE TABLE "collection_backfills" (
	"host_id" integer PRIMARY KEY NOT NULL,
	"cursor" text,
	"done" integer DEFAULT 0 NOT NULL,
	"failed" integer DEFAULT 0 NOT NULL,
	"state" text DEFAULT 'running' NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "collections" (
	"id" serial PRIMARY KEY NOT NULL,
	"nsid" text NOT NULL,
	CONSTRAINT "collections_nsid_unique" UNIQUE("nsid")
);
--> statement-breakpoint
CREATE TABLE "repo_collections" (
	"collection_id" integer NOT NULL,
	"uid" bigint NOT NULL,
	CONSTRAINT "repo_collections_collection_id_uid_pk" PRIMARY KEY("collection_id","uid")
);
