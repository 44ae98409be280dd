-- 0003: what customer administration needs beyond 0001: default users of a customer and of a
-- practice group (they join new practices, and are the practices' fallback users), program
-- restrictions per user, and unique group names per customer.

CREATE TABLE customer_default_users (
    customer_id uuid NOT NULL REFERENCES customers (id),
    user_id     uuid NOT NULL REFERENCES users (id),
    PRIMARY KEY (customer_id, user_id)
);
CREATE INDEX customer_default_users_user_idx ON customer_default_users (user_id);

-- A group's default users replace the customer's for the practices in the group.
CREATE TABLE practice_group_default_users (
    practice_group_id uuid NOT NULL REFERENCES practice_groups (id),
    user_id           uuid NOT NULL REFERENCES users (id),
    PRIMARY KEY (practice_group_id, user_id)
);
CREATE INDEX practice_group_default_users_user_idx ON practice_group_default_users (user_id);

CREATE UNIQUE INDEX practice_groups_customer_id_name_key ON practice_groups (customer_id, lower(name));
CREATE INDEX practices_group_idx ON practices (practice_group_id) WHERE practice_group_id IS NOT NULL;

-- A patient whose every program is restricted for a user does not exist for that user.
CREATE TABLE user_restricted_programs (
    user_id uuid NOT NULL REFERENCES users (id),
    program text NOT NULL,
    PRIMARY KEY (user_id, program)
);
