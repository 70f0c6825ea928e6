ALTER TABLE "members" ADD COLUMN "entra_object_id" text;--> statement-breakpoint
CREATE UNIQUE INDEX "members_tenant_entra_object_idx" ON "members" USING btree ("tenant_id","entra_object_id");