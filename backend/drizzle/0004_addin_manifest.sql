CREATE TABLE "addin_manifest_revisions" (
	"revision" integer PRIMARY KEY NOT NULL,
	"content_hash" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
