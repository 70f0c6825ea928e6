CREATE TABLE "guard_allowed_senders" (
	"tenant_id" uuid NOT NULL,
	"address" text NOT NULL,
	"added_by" text NOT NULL,
	"message_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "guard_allowed_senders_tenant_id_address_pk" PRIMARY KEY("tenant_id","address")
);
--> statement-breakpoint
ALTER TABLE "guard_allowed_senders" ADD CONSTRAINT "guard_allowed_senders_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
-- An allowed sender is its tenant's alone (see 0007_tenant_isolation.sql).
ALTER TABLE "guard_allowed_senders" ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY guard_allowed_senders_own_tenant ON guard_allowed_senders TO sealpost_gateway
  USING (tenant_id = ANY ((SELECT sealpost_scope())::uuid[])) WITH CHECK (tenant_id = ANY ((SELECT sealpost_scope())::uuid[]));
