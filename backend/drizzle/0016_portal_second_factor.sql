CREATE TABLE "portal_factors" (
	"id" uuid PRIMARY KEY NOT NULL,
	"tenant_id" uuid NOT NULL,
	"address" text NOT NULL,
	"kind" text NOT NULL,
	"label" text NOT NULL,
	"sealed_secret" "bytea",
	"wrapped_data_key" "bytea",
	"last_step" bigint,
	"credential_id" text,
	"public_key" "bytea",
	"sign_count" bigint DEFAULT 0 NOT NULL,
	"transports" jsonb,
	"confirmed_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_used_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "portal_recovery_codes" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" uuid NOT NULL,
	"address" text NOT NULL,
	"code_hash" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"used_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "portal_messages" ADD COLUMN "require_second_factor" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "portal_sessions" ADD COLUMN "factor_required" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "portal_sessions" ADD COLUMN "factor_verified_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "portal_sessions" ADD COLUMN "factor_challenge" text;--> statement-breakpoint
CREATE INDEX "portal_factors_address_idx" ON "portal_factors" USING btree ("tenant_id","address");--> statement-breakpoint
CREATE UNIQUE INDEX "portal_factors_credential_idx" ON "portal_factors" USING btree ("tenant_id","credential_id") WHERE "portal_factors"."credential_id" is not null;--> statement-breakpoint
CREATE INDEX "portal_recovery_codes_address_idx" ON "portal_recovery_codes" USING btree ("tenant_id","address");--> statement-breakpoint
-- A recipient's factors and recovery codes are their tenant's alone (see 0007_tenant_isolation.sql).
ALTER TABLE "portal_factors" ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY portal_factors_own_tenant ON portal_factors TO sealpost_gateway
  USING (tenant_id = ANY ((SELECT sealpost_scope())::uuid[])) WITH CHECK (tenant_id = ANY ((SELECT sealpost_scope())::uuid[]));
--> statement-breakpoint
ALTER TABLE "portal_recovery_codes" ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY portal_recovery_codes_own_tenant ON portal_recovery_codes TO sealpost_gateway
  USING (tenant_id = ANY ((SELECT sealpost_scope())::uuid[])) WITH CHECK (tenant_id = ANY ((SELECT sealpost_scope())::uuid[]));
