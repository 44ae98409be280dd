-- 0029: configuration changes, for the gateway's in-process cache of what an inbound text needs.
-- Kept in step with PostgreSQL (no NOTIFY here: one process owns the file, and the inbound
-- transaction's read of max(id) is what makes a change count for the next text).
CREATE TABLE config_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    table_name TEXT NOT NULL
);

CREATE TRIGGER practices_config_insert AFTER INSERT ON practices
BEGIN INSERT INTO config_changes (table_name) VALUES ('practices'); END;
CREATE TRIGGER practices_config_update AFTER UPDATE ON practices
BEGIN INSERT INTO config_changes (table_name) VALUES ('practices'); END;
CREATE TRIGGER practices_config_delete AFTER DELETE ON practices
BEGIN INSERT INTO config_changes (table_name) VALUES ('practices'); END;
CREATE TRIGGER practice_templates_config_insert AFTER INSERT ON practice_templates
BEGIN INSERT INTO config_changes (table_name) VALUES ('practice_templates'); END;
CREATE TRIGGER practice_templates_config_update AFTER UPDATE ON practice_templates
BEGIN INSERT INTO config_changes (table_name) VALUES ('practice_templates'); END;
CREATE TRIGGER practice_templates_config_delete AFTER DELETE ON practice_templates
BEGIN INSERT INTO config_changes (table_name) VALUES ('practice_templates'); END;
CREATE TRIGGER user_practices_config_insert AFTER INSERT ON user_practices
BEGIN INSERT INTO config_changes (table_name) VALUES ('user_practices'); END;
CREATE TRIGGER user_practices_config_update AFTER UPDATE ON user_practices
BEGIN INSERT INTO config_changes (table_name) VALUES ('user_practices'); END;
CREATE TRIGGER user_practices_config_delete AFTER DELETE ON user_practices
BEGIN INSERT INTO config_changes (table_name) VALUES ('user_practices'); END;
CREATE TRIGGER users_config_insert AFTER INSERT ON users
BEGIN INSERT INTO config_changes (table_name) VALUES ('users'); END;
CREATE TRIGGER users_config_update AFTER UPDATE ON users
BEGIN INSERT INTO config_changes (table_name) VALUES ('users'); END;
CREATE TRIGGER users_config_delete AFTER DELETE ON users
BEGIN INSERT INTO config_changes (table_name) VALUES ('users'); END;
CREATE TRIGGER user_notification_settings_config_insert AFTER INSERT ON user_notification_settings
BEGIN INSERT INTO config_changes (table_name) VALUES ('user_notification_settings'); END;
CREATE TRIGGER user_notification_settings_config_update AFTER UPDATE ON user_notification_settings
BEGIN INSERT INTO config_changes (table_name) VALUES ('user_notification_settings'); END;
CREATE TRIGGER user_notification_settings_config_delete AFTER DELETE ON user_notification_settings
BEGIN INSERT INTO config_changes (table_name) VALUES ('user_notification_settings'); END;
CREATE TRIGGER practice_notification_defaults_config_insert AFTER INSERT ON practice_notification_defaults
BEGIN INSERT INTO config_changes (table_name) VALUES ('practice_notification_defaults'); END;
CREATE TRIGGER practice_notification_defaults_config_update AFTER UPDATE ON practice_notification_defaults
BEGIN INSERT INTO config_changes (table_name) VALUES ('practice_notification_defaults'); END;
CREATE TRIGGER practice_notification_defaults_config_delete AFTER DELETE ON practice_notification_defaults
BEGIN INSERT INTO config_changes (table_name) VALUES ('practice_notification_defaults'); END;
CREATE TRIGGER on_call_windows_config_insert AFTER INSERT ON on_call_windows
BEGIN INSERT INTO config_changes (table_name) VALUES ('on_call_windows'); END;
CREATE TRIGGER on_call_windows_config_update AFTER UPDATE ON on_call_windows
BEGIN INSERT INTO config_changes (table_name) VALUES ('on_call_windows'); END;
CREATE TRIGGER on_call_windows_config_delete AFTER DELETE ON on_call_windows
BEGIN INSERT INTO config_changes (table_name) VALUES ('on_call_windows'); END;
CREATE TRIGGER on_call_overrides_config_insert AFTER INSERT ON on_call_overrides
BEGIN INSERT INTO config_changes (table_name) VALUES ('on_call_overrides'); END;
CREATE TRIGGER on_call_overrides_config_update AFTER UPDATE ON on_call_overrides
BEGIN INSERT INTO config_changes (table_name) VALUES ('on_call_overrides'); END;
CREATE TRIGGER on_call_overrides_config_delete AFTER DELETE ON on_call_overrides
BEGIN INSERT INTO config_changes (table_name) VALUES ('on_call_overrides'); END;
CREATE TRIGGER care_team_config_insert AFTER INSERT ON care_team
BEGIN INSERT INTO config_changes (table_name) VALUES ('care_team'); END;
CREATE TRIGGER care_team_config_update AFTER UPDATE ON care_team
BEGIN INSERT INTO config_changes (table_name) VALUES ('care_team'); END;
CREATE TRIGGER care_team_config_delete AFTER DELETE ON care_team
BEGIN INSERT INTO config_changes (table_name) VALUES ('care_team'); END;
CREATE TRIGGER patient_subscriptions_config_insert AFTER INSERT ON patient_subscriptions
BEGIN INSERT INTO config_changes (table_name) VALUES ('patient_subscriptions'); END;
CREATE TRIGGER patient_subscriptions_config_update AFTER UPDATE ON patient_subscriptions
BEGIN INSERT INTO config_changes (table_name) VALUES ('patient_subscriptions'); END;
CREATE TRIGGER patient_subscriptions_config_delete AFTER DELETE ON patient_subscriptions
BEGIN INSERT INTO config_changes (table_name) VALUES ('patient_subscriptions'); END;
CREATE TRIGGER patients_config_insert AFTER INSERT ON patients
BEGIN INSERT INTO config_changes (table_name) VALUES ('patients'); END;
CREATE TRIGGER patients_config_delete AFTER DELETE ON patients
BEGIN INSERT INTO config_changes (table_name) VALUES ('patients'); END;
CREATE TRIGGER patients_config_update AFTER UPDATE OF mobile_phone, practice_id ON patients
BEGIN INSERT INTO config_changes (table_name) VALUES ('patients'); END;
