CREATE TABLE "audit_log" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" uuid NOT NULL,
	"seq" bigint NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"action" text NOT NULL,
	"actor_id" text,
	"actor_address" text,
	"client_ip" text,
	"subject_id" text,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"prev_hash" text NOT NULL,
	"hash" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "portal_digests" (
	"tenant_id" uuid NOT NULL,
	"address" text NOT NULL,
	"last_sent_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "portal_links" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"token_hash" text NOT NULL,
	"address" text NOT NULL,
	"purpose" text NOT NULL,
	"thread_id" uuid,
	"portal_message_id" uuid,
	"expires_at" timestamp with time zone NOT NULL,
	"used_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "portal_links_token_hash_unique" UNIQUE("token_hash")
);
--> statement-breakpoint
CREATE TABLE "portal_messages" (
	"id" uuid PRIMARY KEY NOT NULL,
	"tenant_id" uuid NOT NULL,
	"thread_id" uuid NOT NULL,
	"source_message_id" uuid,
	"direction" text NOT NULL,
	"delivery_mode" text DEFAULT 'portal_secure' NOT NULL,
	"from_address" text NOT NULL,
	"to_address" text NOT NULL,
	"message_id_header" text,
	"size_bytes" integer NOT NULL,
	"content_sha256" text NOT NULL,
	"content" "bytea" NOT NULL,
	"wrapped_data_key" "bytea" NOT NULL,
	"meta" "bytea" NOT NULL,
	"meta_wrapped_data_key" "bytea" NOT NULL,
	"read_receipt" boolean DEFAULT false NOT NULL,
	"no_reply" boolean DEFAULT false NOT NULL,
	"sent_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone,
	"first_read_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	"deleted_by_sender_at" timestamp with time zone,
	"deleted_by_recipient_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "portal_rate_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"bucket" text NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "portal_sessions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"token_hash" text NOT NULL,
	"browser_secret_hash" text NOT NULL,
	"csrf_token" text NOT NULL,
	"address" text NOT NULL,
	"role" text,
	"client_ip" text NOT NULL,
	"bind_to_ip" boolean DEFAULT true NOT NULL,
	"link_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"ended_at" timestamp with time zone,
	CONSTRAINT "portal_sessions_token_hash_unique" UNIQUE("token_hash")
);
--> statement-breakpoint
CREATE TABLE "portal_tenant_settings" (
	"tenant_id" uuid PRIMARY KEY NOT NULL,
	"settings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "portal_threads" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"member_address" text NOT NULL,
	"external_address" text NOT NULL,
	"subject_key" text NOT NULL,
	"message_count" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_message_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "portal_messages" ADD CONSTRAINT "portal_messages_thread_id_portal_threads_id_fk" FOREIGN KEY ("thread_id") REFERENCES "public"."portal_threads"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "audit_log_tenant_seq_idx" ON "audit_log" USING btree ("tenant_id","seq");--> statement-breakpoint
CREATE INDEX "audit_log_subject_idx" ON "audit_log" USING btree ("tenant_id","subject_id");--> statement-breakpoint
CREATE UNIQUE INDEX "portal_digests_address_idx" ON "portal_digests" USING btree ("tenant_id","address");--> statement-breakpoint
CREATE INDEX "portal_links_address_idx" ON "portal_links" USING btree ("tenant_id","address");--> statement-breakpoint
CREATE UNIQUE INDEX "portal_messages_source_recipient_idx" ON "portal_messages" USING btree ("source_message_id","to_address") WHERE "portal_messages"."source_message_id" is not null;--> statement-breakpoint
CREATE INDEX "portal_messages_thread_idx" ON "portal_messages" USING btree ("thread_id","sent_at");--> statement-breakpoint
CREATE INDEX "portal_messages_message_id_idx" ON "portal_messages" USING btree ("tenant_id","message_id_header");--> statement-breakpoint
CREATE INDEX "portal_messages_from_idx" ON "portal_messages" USING btree ("tenant_id","from_address");--> statement-breakpoint
CREATE INDEX "portal_rate_events_bucket_idx" ON "portal_rate_events" USING btree ("bucket","at");--> statement-breakpoint
CREATE INDEX "portal_threads_lookup_idx" ON "portal_threads" USING btree ("tenant_id","member_address","external_address","subject_key");--> statement-breakpoint
CREATE INDEX "portal_threads_external_idx" ON "portal_threads" USING btree ("tenant_id","external_address");--> statement-breakpoint
CREATE INDEX "portal_threads_member_idx" ON "portal_threads" USING btree ("tenant_id","member_address");