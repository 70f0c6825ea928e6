CREATE TABLE "member_pgp_keys" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"address" text NOT NULL,
	"fingerprint" text NOT NULL,
	"public_key" "bytea" NOT NULL,
	"sealed_key" "bytea" NOT NULL,
	"wrapped_data_key" "bytea" NOT NULL,
	"algorithm" text NOT NULL,
	"expires_at" timestamp with time zone,
	"source" text NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "pgp_keys" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"address" text NOT NULL,
	"fingerprint" text NOT NULL,
	"key_data" "bytea" NOT NULL,
	"user_ids" jsonb NOT NULL,
	"algorithm" text NOT NULL,
	"key_created_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone,
	"source" text NOT NULL,
	"added_by" text NOT NULL,
	"message_id" uuid,
	"replaces_fingerprint" text,
	"prefer_encrypt" text,
	"first_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "member_pgp_keys" ADD CONSTRAINT "member_pgp_keys_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pgp_keys" ADD CONSTRAINT "pgp_keys_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "member_pgp_keys_tenant_address_fingerprint" ON "member_pgp_keys" USING btree ("tenant_id","address","fingerprint");--> statement-breakpoint
CREATE UNIQUE INDEX "pgp_keys_tenant_address_fingerprint" ON "pgp_keys" USING btree ("tenant_id","address","fingerprint");--> statement-breakpoint
-- OpenPGP keys, like certificates and members' S/MIME keys, are their tenant's alone (see 0007_tenant_isolation.sql).
ALTER TABLE "pgp_keys" ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY pgp_keys_own_tenant ON pgp_keys TO sealpost_gateway
  USING (tenant_id = ANY ((SELECT sealpost_scope())::uuid[])) WITH CHECK (tenant_id = ANY ((SELECT sealpost_scope())::uuid[]));
--> statement-breakpoint
ALTER TABLE "member_pgp_keys" ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY member_pgp_keys_own_tenant ON member_pgp_keys TO sealpost_gateway
  USING (tenant_id = ANY ((SELECT sealpost_scope())::uuid[])) WITH CHECK (tenant_id = ANY ((SELECT sealpost_scope())::uuid[]));
