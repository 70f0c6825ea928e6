ALTER TABLE "certificates" ADD COLUMN "expiry_warned_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "member_keys" ADD COLUMN "expiry_warned_at" timestamp with time zone;