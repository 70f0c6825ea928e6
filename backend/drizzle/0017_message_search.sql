ALTER TABLE "messages" ADD COLUMN "mail_from_key" text GENERATED ALWAYS AS (reverse(lower(mail_from))) STORED;--> statement-breakpoint
ALTER TABLE "message_recipients" ADD COLUMN "address_key" text GENERATED ALWAYS AS (reverse(lower(address))) STORED;--> statement-breakpoint
CREATE INDEX "messages_sender_search_idx" ON "messages" USING btree ("tenant_id","mail_from_key" text_pattern_ops);--> statement-breakpoint
CREATE INDEX "messages_message_id_idx" ON "messages" USING btree ("tenant_id","message_id_header");--> statement-breakpoint
CREATE INDEX "messages_attention_idx" ON "messages" USING btree ("tenant_id","received_at") WHERE "messages"."state" in ('held', 'quarantined', 'rejected', 'bounced', 'partly_delivered');--> statement-breakpoint
CREATE INDEX "messages_verdict_idx" ON "messages" USING btree ("tenant_id","received_at") WHERE ("messages"."stage_results" -> 'guard' ->> 'action') in ('flag', 'quarantine', 'reject');--> statement-breakpoint
CREATE INDEX "message_recipients_search_idx" ON "message_recipients" USING btree ("tenant_id","address_key" text_pattern_ops);