-- 0003: what customer administration needs beyond 0001: default users of a customer and of a
-- practice group (they join new practices, and are the practices' fallback users), program
-- restrictions per user, and unique group names per customer. Kept in step with PostgreSQL.

CREATE TABLE customer_default_users (
    customer_id BLOB NOT NULL REFERENCES customers (id),
    user_id     BLOB NOT NULL REFERENCES users (id),
    PRIMARY KEY (customer_id, user_id)
) STRICT;
CREATE INDEX customer_default_users_user_idx ON customer_default_users (user_id);

CREATE TABLE practice_group_default_users (
    practice_group_id BLOB NOT NULL REFERENCES practice_groups (id),
    user_id           BLOB NOT NULL REFERENCES users (id),
    PRIMARY KEY (practice_group_id, user_id)
) STRICT;
CREATE INDEX practice_group_default_users_user_idx ON practice_group_default_users (user_id);

CREATE UNIQUE INDEX practice_groups_customer_id_name_key ON practice_groups (customer_id, lower(name));
CREATE INDEX practices_group_idx ON practices (practice_group_id) WHERE practice_group_id IS NOT NULL;

CREATE TABLE user_restricted_programs (
    user_id BLOB NOT NULL REFERENCES users (id),
    program TEXT NOT NULL,
    PRIMARY KEY (user_id, program)
) STRICT;
