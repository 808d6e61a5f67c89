"""The service's least-privilege database role (issue #16): ``flowcc_app``, with data access to
the service's tables and nothing else — no DDL, no writing to ``alembic_version``, and on
``audit_log`` only INSERT and SELECT. Retention's purge of audit entries older than the
shortest allowed retention goes through ``purge_audit_log``, a SECURITY DEFINER function that
deletes nothing younger than 365 days.

Migrations run as the owner of the schema (who needs CREATEROLE, or the role made beforehand);
the service connects as a login role that is a member of ``flowcc_app``
(docs/security.md: ``CREATE ROLE flowcc_service LOGIN PASSWORD '…' IN ROLE flowcc_app``).
Tables added by later migrations are granted through the default privileges set here.

Revision ID: 5c0e7a1d9b42
Revises: f746fbac414e
Create Date: 2026-11-30 16:50:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5c0e7a1d9b42"
down_revision: str | None = "f746fbac414e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "flowcc_app"
DATA = "SELECT, INSERT, UPDATE, DELETE, TRUNCATE"

UPGRADE = [
    f"""DO $$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
            CREATE ROLE {ROLE} NOLOGIN;
        END IF;
    END $$""",
    f"GRANT USAGE ON SCHEMA public TO {ROLE}",
    f"GRANT {DATA} ON ALL TABLES IN SCHEMA public TO {ROLE}",
    f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {ROLE}",
    f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {ROLE}",
    f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {ROLE}",
    f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {DATA} ON TABLES TO {ROLE}",
    f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {ROLE}",
    """CREATE FUNCTION purge_audit_log(before timestamptz) RETURNS bigint
        LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        WITH gone AS (
            DELETE FROM audit_log WHERE at < least(before, now() - interval '365 days')
            RETURNING 1
        )
        SELECT count(*) FROM gone
    $$""",
    "REVOKE ALL ON FUNCTION purge_audit_log(timestamptz) FROM PUBLIC",
    f"GRANT EXECUTE ON FUNCTION purge_audit_log(timestamptz) TO {ROLE}",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP FUNCTION purge_audit_log(timestamptz)")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {ROLE}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {ROLE}")
    # The role is the cluster's: other databases (another deployment, a test) may still use it.
    op.execute(
        f"""DO $$ BEGIN
            DROP ROLE IF EXISTS {ROLE};
        EXCEPTION WHEN dependent_objects_still_exist THEN
            RAISE NOTICE '{ROLE} is still granted in another database: kept';
        END $$"""
    )
