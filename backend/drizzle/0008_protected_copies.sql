CREATE TABLE "protected_copies" (
	"id" uuid PRIMARY KEY NOT NULL,
	"tenant_id" uuid NOT NULL,
	"message_id" uuid NOT NULL,
	"mode" text NOT NULL,
	"recipients" text[] NOT NULL,
	"content" "bytea" NOT NULL,
	"wrapped_data_key" "bytea" NOT NULL,
	"size_bytes" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "deliveries" ADD COLUMN "protected_copy_id" uuid;--> statement-breakpoint
ALTER TABLE "protected_copies" ADD CONSTRAINT "protected_copies_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "protected_copies" ADD CONSTRAINT "protected_copies_message_id_messages_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."messages"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "protected_copies_message_idx" ON "protected_copies" USING btree ("message_id");--> statement-breakpoint
-- A protected copy is its tenant's, like the message it was made from (see 0007_tenant_isolation.sql).
ALTER TABLE "protected_copies" ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY protected_copies_own_tenant ON protected_copies TO sealpost_gateway
  USING (tenant_id = ANY ((SELECT sealpost_scope())::uuid[])) WITH CHECK (tenant_id = ANY ((SELECT sealpost_scope())::uuid[]));
