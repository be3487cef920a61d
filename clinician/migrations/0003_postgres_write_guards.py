"""On PostgreSQL, the database itself refuses what the ORM guards refuse.

- clinician_auditevent: append-only (no UPDATE, no DELETE).
- clinician_addendum: append-only, except re-encryption during key rotation.
- clinician_sessionnote: a signed row never changes or goes, except re-encryption during key
  rotation (`rotate_phi_keys` sets the transaction-local flag cyclecare.reencrypt = 'on').
SQLite has no such triggers; the model and queryset guards hold there.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION cyclecare_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND TG_ARGV[0] = 'reencrypt_ok'
       AND current_setting('cyclecare.reencrypt', true) = 'on' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'cyclecare: % on % is not allowed (append-only)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION cyclecare_signed_note_locked() RETURNS trigger AS $$
BEGIN
    IF OLD.status = 'signed' THEN
        IF TG_OP = 'UPDATE' AND current_setting('cyclecare.reencrypt', true) = 'on'
           AND NEW.status = OLD.status AND NEW.signed_at = OLD.signed_at
           AND NEW.signed_by_id = OLD.signed_by_id
           AND NEW.signed_content_sha256 = OLD.signed_content_sha256 THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'cyclecare: a signed note cannot be changed; add an addendum'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER clinician_auditevent_append_only
    BEFORE UPDATE OR DELETE ON clinician_auditevent
    FOR EACH ROW EXECUTE FUNCTION cyclecare_append_only('never');
CREATE TRIGGER clinician_addendum_append_only
    BEFORE UPDATE OR DELETE ON clinician_addendum
    FOR EACH ROW EXECUTE FUNCTION cyclecare_append_only('reencrypt_ok');
CREATE TRIGGER clinician_sessionnote_signed_locked
    BEFORE UPDATE OR DELETE ON clinician_sessionnote
    FOR EACH ROW EXECUTE FUNCTION cyclecare_signed_note_locked();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS clinician_sessionnote_signed_locked ON clinician_sessionnote;
DROP TRIGGER IF EXISTS clinician_addendum_append_only ON clinician_addendum;
DROP TRIGGER IF EXISTS clinician_auditevent_append_only ON clinician_auditevent;
DROP FUNCTION IF EXISTS cyclecare_signed_note_locked();
DROP FUNCTION IF EXISTS cyclecare_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("clinician", "0002_initial")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
