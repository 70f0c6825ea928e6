CREATE TABLE "member_keys" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"address" text NOT NULL,
	"fingerprint" text NOT NULL,
	"certificate" "bytea" NOT NULL,
	"chain" jsonb NOT NULL,
	"sealed_key" "bytea" NOT NULL,
	"wrapped_data_key" "bytea" NOT NULL,
	"subject" text NOT NULL,
	"issuer" text NOT NULL,
	"not_before" timestamp with time zone NOT NULL,
	"not_after" timestamp with time zone NOT NULL,
	"source" text NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tenant_cas" (
	"tenant_id" uuid PRIMARY KEY NOT NULL,
	"certificate" "bytea" NOT NULL,
	"sealed_key" "bytea" NOT NULL,
	"wrapped_data_key" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "member_keys" ADD CONSTRAINT "member_keys_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tenant_cas" ADD CONSTRAINT "tenant_cas_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "member_keys_tenant_address_fingerprint" ON "member_keys" USING btree ("tenant_id","address","fingerprint");--> statement-breakpoint
-- Members' keys and the tenant's CA are their tenant's alone (see 0007_tenant_isolation.sql).
ALTER TABLE "member_keys" ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY member_keys_own_tenant ON member_keys TO sealpost_gateway
  USING (tenant_id = ANY ((SELECT sealpost_scope())::uuid[])) WITH CHECK (tenant_id = ANY ((SELECT sealpost_scope())::uuid[]));
--> statement-breakpoint
ALTER TABLE "tenant_cas" ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_cas_own_tenant ON tenant_cas TO sealpost_gateway
  USING (tenant_id = ANY ((SELECT sealpost_scope())::uuid[])) WITH CHECK (tenant_id = ANY ((SELECT sealpost_scope())::uuid[]));
