CREATE TABLE "message_search" (
	"message_id" uuid PRIMARY KEY NOT NULL,
	"tenant_id" uuid NOT NULL,
	"sender_key" text NOT NULL,
	"message_id_header" text,
	"received_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "message_recipients" ADD COLUMN "address_key" text GENERATED ALWAYS AS (reverse(lower(address))) STORED;--> statement-breakpoint
ALTER TABLE "message_search" ADD CONSTRAINT "message_search_message_id_messages_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."messages"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "message_search_sender_idx" ON "message_search" USING btree ("tenant_id","sender_key" text_pattern_ops);--> statement-breakpoint
CREATE INDEX "message_search_message_id_idx" ON "message_search" USING btree ("tenant_id","message_id_header");--> statement-breakpoint
CREATE INDEX "messages_attention_idx" ON "messages" USING btree ("tenant_id","received_at") WHERE "messages"."state" in ('held', 'quarantined', 'rejected', 'bounced', 'partly_delivered');--> statement-breakpoint
CREATE INDEX "messages_verdict_idx" ON "messages" USING btree ("tenant_id","received_at") WHERE ("messages"."stage_results" -> 'guard' ->> 'action') in ('flag', 'quarantine', 'reject');--> statement-breakpoint
CREATE INDEX "message_recipients_search_idx" ON "message_recipients" USING btree ("tenant_id","address_key" text_pattern_ops);--> statement-breakpoint
-- The search keys of every message are written when it is stored, by the database itself, so no way of
-- storing a message can forget them; once per statement, for all the rows it stored.
CREATE FUNCTION sealpost_message_search_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO message_search (message_id, tenant_id, sender_key, message_id_header, received_at)
  SELECT id, tenant_id, reverse(lower(mail_from)), message_id_header, received_at FROM stored_messages;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER messages_search_keys AFTER INSERT ON messages REFERENCING NEW TABLE AS stored_messages
  FOR EACH STATEMENT EXECUTE FUNCTION sealpost_message_search_keys();
--> statement-breakpoint
-- Messages stored before this migration get their keys too.
INSERT INTO message_search (message_id, tenant_id, sender_key, message_id_header, received_at)
SELECT id, tenant_id, reverse(lower(mail_from)), message_id_header, received_at FROM messages;
--> statement-breakpoint
-- A message's search keys are its tenant's alone (see 0007_tenant_isolation.sql).
ALTER TABLE "message_search" ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY message_search_own_tenant ON message_search TO sealpost_gateway
  USING (tenant_id = ANY ((SELECT sealpost_scope())::uuid[])) WITH CHECK (tenant_id = ANY ((SELECT sealpost_scope())::uuid[]));
