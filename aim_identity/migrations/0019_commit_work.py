"""On PostgreSQL a transaction's audit entries, events and data versions are written by the database
at COMMIT, not by the application before it (unit_of_work.py).

A mutation inserts one `commit_work` row carrying them as JSON; a deferred constraint trigger applies
it while PostgreSQL commits: it bumps each organization's data version, chains the organization's
entries onto its head (the same bytes as protocol.audit_entry_hash, the canonical JSON split around the
sequence by audit/chain.py), inserts the outbox events and deletes the row. The organization's row and
its chain head, which order its writes, are then held from this point of COMMIT to its end, and never
across a round trip to the application. Organizations are locked in id order, each row before its
head, so two commits cannot deadlock."""

from tortoise import migrations
from tortoise.migrations import operations as ops

POSTGRES = """
CREATE TABLE commit_work (id BIGSERIAL PRIMARY KEY, work JSONB NOT NULL);

CREATE OR REPLACE FUNCTION aim_commit_work() RETURNS trigger AS $$
DECLARE
  org uuid;
  entry jsonb;
  head_sequence bigint;
  head_hash text;
BEGIN
  FOR org IN SELECT value::uuid FROM jsonb_array_elements_text(NEW.work->'organizations') ORDER BY 1 LOOP
    UPDATE organizations SET data_version = data_version + 1 WHERE id = org;
    IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(NEW.work->'entries') e
                   WHERE e->>'organization_id' = org::text) THEN
      CONTINUE;
    END IF;
    SELECT sequence, hash INTO head_sequence, head_hash FROM audit_chain_heads
      WHERE organization_id = org FOR UPDATE;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'organization % has no audit chain head', org USING ERRCODE = 'AIM01', DETAIL = org;
    END IF;
    FOR entry IN SELECT e FROM jsonb_array_elements(NEW.work->'entries') WITH ORDINALITY AS t(e, n)
                 WHERE e->>'organization_id' = org::text ORDER BY n LOOP
      head_sequence := head_sequence + 1;
      INSERT INTO audit_log (id, organization_id, sequence, occurred_at, actor_type, actor_id, action,
                             target_type, target_id, ip_address, user_agent, metadata, previous_hash, hash)
      VALUES ((entry->>'id')::uuid, org, head_sequence, (entry->>'occurred_at')::timestamptz,
              entry->>'actor_type', entry->>'actor_id', entry->>'action', entry->>'target_type',
              entry->>'target_id', entry->>'ip_address', entry->>'user_agent', entry->'metadata', head_hash,
              encode(sha256(convert_to(head_hash || chr(10) || (entry->>'before') || head_sequence
                                       || (entry->>'after'), 'UTF8')), 'hex'))
      RETURNING hash INTO head_hash;
    END LOOP;
    UPDATE audit_chain_heads SET sequence = head_sequence, hash = head_hash WHERE organization_id = org;
  END LOOP;
  -- After every organization is locked, so each organization's event ids follow its commits.
  INSERT INTO outbox_events (event_id, organization_id, kind, payload, created_at)
  SELECT (e->>'event_id')::uuid, (e->>'organization_id')::uuid, e->>'kind', e->'payload',
         (e->>'created_at')::timestamptz
  FROM jsonb_array_elements(NEW.work->'events') WITH ORDINALITY AS t(e, n) ORDER BY n;
  DELETE FROM commit_work WHERE id = NEW.id;
  RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER commit_work_at_commit AFTER INSERT ON commit_work
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION aim_commit_work();
"""


async def work_at_commit(apps, schema_editor) -> None:
    # SQLite has one writer at a time: there the application writes all of it in the transaction.
    if schema_editor.client.capabilities.dialect == "postgres":
        await schema_editor.client.execute_script(POSTGRES)


class Migration(migrations.Migration):
    dependencies = [("aim", "0018_audit_checkpoints")]
    operations = [ops.RunPython(work_at_commit)]
