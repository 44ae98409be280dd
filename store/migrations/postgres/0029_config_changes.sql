-- 0029: configuration changes, for the gateway's in-process cache of what an inbound text needs
-- (the practice behind a number, its templates, who hears of texts and status changes, on-call).
--
-- Every change to a table that cache reads adds a row here and sends NOTIFY gateway_config, both
-- from triggers, so a change made by any process (another gateway, the CLI, psql) counts. The
-- inbound transaction reads max(id) and refuses to decide with a cache loaded before it
-- (store::CONFIG_CHANGED); the notification drops the cache at once on every instance, which also
-- covers two changes that commit out of id order. Inserts only: no row is a lock that writers
-- queue on.
CREATE TABLE config_changes (
    id bigserial PRIMARY KEY,
    table_name text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION note_config_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO config_changes (table_name) VALUES (TG_TABLE_NAME);
    PERFORM pg_notify('gateway_config', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER practices_config_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON practices
    FOR EACH STATEMENT EXECUTE FUNCTION note_config_change();
CREATE TRIGGER practice_templates_config_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON practice_templates
    FOR EACH STATEMENT EXECUTE FUNCTION note_config_change();
CREATE TRIGGER user_practices_config_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON user_practices
    FOR EACH STATEMENT EXECUTE FUNCTION note_config_change();
CREATE TRIGGER users_config_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION note_config_change();
CREATE TRIGGER user_notification_settings_config_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON user_notification_settings
    FOR EACH STATEMENT EXECUTE FUNCTION note_config_change();
CREATE TRIGGER practice_notification_defaults_config_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON practice_notification_defaults
    FOR EACH STATEMENT EXECUTE FUNCTION note_config_change();
CREATE TRIGGER on_call_windows_config_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON on_call_windows
    FOR EACH STATEMENT EXECUTE FUNCTION note_config_change();
CREATE TRIGGER on_call_overrides_config_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON on_call_overrides
    FOR EACH STATEMENT EXECUTE FUNCTION note_config_change();
CREATE TRIGGER care_team_config_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON care_team
    FOR EACH STATEMENT EXECUTE FUNCTION note_config_change();
CREATE TRIGGER patient_subscriptions_config_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON patient_subscriptions
    FOR EACH STATEMENT EXECUTE FUNCTION note_config_change();
-- Patients change often (texting state, last reading), but only who is on a number matters here.
CREATE TRIGGER patients_config_change AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF mobile_phone, practice_id
    ON patients FOR EACH STATEMENT EXECUTE FUNCTION note_config_change();
