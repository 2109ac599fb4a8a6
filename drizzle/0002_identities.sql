CREATE TABLE "identities" (
	"did" text PRIMARY KEY NOT NULL,
	"doc" jsonb NOT NULL,
	"resolved_at" timestamp with time zone NOT NULL
);
