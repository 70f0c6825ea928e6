-- Tenant isolation in the database. The gateway's queries run as the role sealpost_gateway, which owns no
-- table, is no superuser and has no BYPASSRLS, so the row-level security policies below always apply to it.
-- A transaction names the tenants it works for in the setting sealpost.tenant_ids (db/tenant-scope.ts);
-- every row of another tenant is invisible to it and cannot be written by it. Work that by its nature spans
-- tenants (claiming the queue, finding the tenant of a link, session or API token) goes through the few
-- SECURITY DEFINER functions at the end, which return only what that job needs.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sealpost_gateway') THEN
    CREATE ROLE sealpost_gateway NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
  END IF;
EXCEPTION
  -- Several databases of one server (or several gateways starting together) may create it at once.
  WHEN duplicate_object OR unique_violation THEN NULL;
  WHEN insufficient_privilege THEN
    RAISE EXCEPTION 'the database user % may not create the role sealpost_gateway', current_user
      USING HINT = format('As a superuser, run once: CREATE ROLE sealpost_gateway NOLOGIN; GRANT sealpost_gateway TO %I;', current_user);
END
$$;
--> statement-breakpoint
DO $$
BEGIN
  IF NOT pg_has_role(current_user, 'sealpost_gateway', 'MEMBER') THEN
    EXECUTE format('GRANT sealpost_gateway TO %I', current_user);
  END IF;
EXCEPTION
  WHEN duplicate_object OR unique_violation THEN NULL;
  WHEN insufficient_privilege OR invalid_grant_operation THEN
    RAISE EXCEPTION 'the database user % may not take the role sealpost_gateway', current_user
      USING HINT = format('As a superuser, run once: GRANT sealpost_gateway TO %I;', current_user);
END
$$;
--> statement-breakpoint
GRANT USAGE ON SCHEMA public TO sealpost_gateway;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO sealpost_gateway;
--> statement-breakpoint
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO sealpost_gateway;
--> statement-breakpoint
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO sealpost_gateway;
--> statement-breakpoint
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO sealpost_gateway;
--> statement-breakpoint
-- The tenants of the current transaction; none when the setting is absent, so a forgotten scope sees nothing.
CREATE OR REPLACE FUNCTION sealpost_scope() RETURNS uuid[] LANGUAGE sql STABLE AS $$
  SELECT coalesce(string_to_array(nullif(current_setting('sealpost.tenant_ids', true), ''), ',')::uuid[], '{}'::uuid[])
$$;
--> statement-breakpoint
-- The directory (tenants, their domains and connectors) is read before a message's tenant is known, so the
-- gateway may read all of it; it changes only the tenants in scope. Everything else is the tenant's own.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenants_read ON tenants FOR SELECT TO sealpost_gateway USING (true);
--> statement-breakpoint
CREATE POLICY tenants_create ON tenants FOR INSERT TO sealpost_gateway WITH CHECK (true);
--> statement-breakpoint
CREATE POLICY tenants_change ON tenants FOR UPDATE TO sealpost_gateway
  USING (id = ANY ((SELECT sealpost_scope())::uuid[])) WITH CHECK (id = ANY ((SELECT sealpost_scope())::uuid[]));
--> statement-breakpoint
CREATE POLICY tenants_remove ON tenants FOR DELETE TO sealpost_gateway USING (id = ANY ((SELECT sealpost_scope())::uuid[]));
--> statement-breakpoint
DO $$
DECLARE
  name text;
BEGIN
  FOREACH name IN ARRAY ARRAY['tenant_domains', 'connectors'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', name);
    EXECUTE format('CREATE POLICY %I ON %I FOR SELECT TO sealpost_gateway USING (true)', name || '_read', name);
    EXECUTE format('CREATE POLICY %I ON %I FOR INSERT TO sealpost_gateway WITH CHECK (tenant_id = ANY ((SELECT sealpost_scope())::uuid[]))', name || '_create', name);
    EXECUTE format('CREATE POLICY %I ON %I FOR UPDATE TO sealpost_gateway USING (tenant_id = ANY ((SELECT sealpost_scope())::uuid[])) WITH CHECK (tenant_id = ANY ((SELECT sealpost_scope())::uuid[]))', name || '_change', name);
    EXECUTE format('CREATE POLICY %I ON %I FOR DELETE TO sealpost_gateway USING (tenant_id = ANY ((SELECT sealpost_scope())::uuid[]))', name || '_remove', name);
  END LOOP;
  FOREACH name IN ARRAY ARRAY['members', 'api_tokens', 'tenant_keys', 'messages', 'deliveries', 'message_trace',
      'portal_tenant_settings', 'portal_threads', 'portal_messages', 'portal_links', 'portal_sessions', 'portal_digests',
      'audit_log'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', name);
    EXECUTE format('CREATE POLICY %I ON %I TO sealpost_gateway USING (tenant_id = ANY ((SELECT sealpost_scope())::uuid[])) WITH CHECK (tenant_id = ANY ((SELECT sealpost_scope())::uuid[]))', name || '_own_tenant', name);
  END LOOP;
END
$$;
--> statement-breakpoint
-- A message's recipients carry its tenant, so their policy is the same as every other table's.
ALTER TABLE message_recipients ADD COLUMN tenant_id uuid;
--> statement-breakpoint
UPDATE message_recipients r SET tenant_id = m.tenant_id FROM messages m WHERE m.id = r.message_id;
--> statement-breakpoint
ALTER TABLE message_recipients ALTER COLUMN tenant_id SET NOT NULL;
--> statement-breakpoint
ALTER TABLE message_recipients ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY message_recipients_own_tenant ON message_recipients TO sealpost_gateway
  USING (tenant_id = ANY ((SELECT sealpost_scope())::uuid[])) WITH CHECK (tenant_id = ANY ((SELECT sealpost_scope())::uuid[]));
--> statement-breakpoint
-- Claims a batch of received messages for the stages, across tenants; the caller then works on each in its
-- tenant's scope.
CREATE OR REPLACE FUNCTION sealpost_claim_pipeline(owner text, lease_seconds double precision, batch integer)
RETURNS SETOF messages LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  UPDATE messages m
     SET pipeline_lease_owner = owner, pipeline_locked_until = now() + make_interval(secs => lease_seconds)
    FROM (SELECT id FROM messages
           WHERE state = 'received' AND pipeline_next_at <= now()
             AND (pipeline_locked_until IS NULL OR pipeline_locked_until < now())
           ORDER BY pipeline_next_at
           LIMIT batch
           FOR UPDATE SKIP LOCKED) due
   WHERE m.id = due.id
  RETURNING m.*
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION sealpost_renew_pipeline_leases(owner text, lease_seconds double precision)
RETURNS void LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  UPDATE messages SET pipeline_locked_until = now() + make_interval(secs => lease_seconds)
   WHERE pipeline_lease_owner = owner AND state = 'received'
$$;
--> statement-breakpoint
-- Claims due deliveries across tenants.
CREATE OR REPLACE FUNCTION sealpost_claim_deliveries(owner text, lease_seconds double precision, batch integer)
RETURNS SETOF deliveries LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  UPDATE deliveries d
     SET status = 'delivering', locked_by = owner,
         locked_until = now() + make_interval(secs => lease_seconds), attempts = d.attempts + 1
    FROM (SELECT id FROM deliveries
           WHERE (status IN ('queued', 'held') AND next_attempt_at <= now())
              OR (status = 'delivering' AND locked_until < now())
           ORDER BY next_attempt_at
           LIMIT batch
           FOR UPDATE SKIP LOCKED) due
   WHERE d.id = due.id
  RETURNING d.*
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION sealpost_renew_delivery_leases(owner text, lease_seconds double precision)
RETURNS void LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  UPDATE deliveries SET locked_until = now() + make_interval(secs => lease_seconds)
   WHERE locked_by = owner AND status = 'delivering'
$$;
--> statement-breakpoint
-- Whose API token, portal link or portal session this is: the tenant only, nothing else of the row.
CREATE OR REPLACE FUNCTION sealpost_tenant_of_api_token(hash text)
RETURNS uuid LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT tenant_id FROM api_tokens WHERE token_hash = hash
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION sealpost_tenant_of_portal_link(hash text)
RETURNS uuid LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT tenant_id FROM portal_links WHERE token_hash = hash
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION sealpost_tenant_of_portal_session(hash text)
RETURNS uuid LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT tenant_id FROM portal_sessions WHERE token_hash = hash
$$;
--> statement-breakpoint
REVOKE EXECUTE ON FUNCTION sealpost_claim_pipeline(text, double precision, integer), sealpost_renew_pipeline_leases(text, double precision),
  sealpost_claim_deliveries(text, double precision, integer), sealpost_renew_delivery_leases(text, double precision),
  sealpost_tenant_of_api_token(text), sealpost_tenant_of_portal_link(text), sealpost_tenant_of_portal_session(text) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION sealpost_claim_pipeline(text, double precision, integer), sealpost_renew_pipeline_leases(text, double precision),
  sealpost_claim_deliveries(text, double precision, integer), sealpost_renew_delivery_leases(text, double precision),
  sealpost_tenant_of_api_token(text), sealpost_tenant_of_portal_link(text), sealpost_tenant_of_portal_session(text) TO sealpost_gateway;
