//! Who may see what: the one place the gateway decides whether a user may see a practice, a
//! patient or an alert, used by API routes, alert audiences and SMS acknowledgements alike.
//!
//! Rules (DESIGN.md "Users, roles, access"):
//! - A super admin sees every practice; a customer admin every practice of their customer; staff
//!   the practices of their customer they were given.
//! - A patient is seen by whoever sees the patient's practice, unless every one of the patient's
//!   programs is restricted for that user (a patient in no program is never hidden).
//! - A super admin sees every customer and user; everyone else only their own customer and its
//!   users. Super admins may grant any role, customer admins any but super admin, staff none.
//! - An alert is about a patient: it is seen, told and acknowledged only by users who can see that
//!   patient. A locked user can act on nothing.
//!
//! Pure: it decides from the rows it is given and never loads anything.

use store::{Practice, Role, User};
use uuid::Uuid;

/// Whether `user` may know that the customer exists (anything else answers 404).
pub fn can_see_customer(user: &User, customer_id: Uuid) -> bool {
    user.role == Role::SuperAdmin || user.customer_id == Some(customer_id)
}

/// Whether `viewer` may know that `user` exists: super admins every user, everyone else the
/// users of their own customer.
pub fn can_see_user(viewer: &User, user: &User) -> bool {
    viewer.role == Role::SuperAdmin
        || (user.customer_id.is_some() && user.customer_id == viewer.customer_id)
}

/// Whether a user with role `granter` may give `role` to a user.
pub fn may_grant(granter: Role, role: Role) -> bool {
    match granter {
        Role::SuperAdmin => true,
        Role::CustomerAdmin => role != Role::SuperAdmin,
        Role::Staff => false,
    }
}

/// Whether `user` may see `practice` (tenancy and practice membership; locks are not looked at:
/// a locked user has no session to ask with).
pub fn can_see_practice(user: &User, practice: &Practice) -> bool {
    match user.role {
        Role::SuperAdmin => true,
        Role::CustomerAdmin => user.customer_id == Some(practice.customer_id),
        Role::Staff => {
            user.customer_id == Some(practice.customer_id)
                && user.practice_ids.contains(&practice.id)
        }
    }
}

/// Whether `user` works at `practice`: staff at the practices they were given, customer admins
/// at every practice of their customer. Super admins administer; they work at no practice (they
/// are never on a care team or told of a patient).
pub fn works_at(user: &User, practice: &Practice) -> bool {
    user.role != Role::SuperAdmin && can_see_practice(user, practice)
}

/// [`can_see_practice`] for a practice known to belong to the user's own customer (a row
/// reached through the user, such as a conversation of their care team), by its id alone.
pub fn can_see_practice_of_own_customer(user: &User, practice_id: Uuid) -> bool {
    match user.role {
        Role::SuperAdmin | Role::CustomerAdmin => true,
        Role::Staff => user.practice_ids.contains(&practice_id),
    }
}

/// Whether the patient's programs hide the patient from `user`: all of them are restricted for
/// the user. A patient in no program is never hidden.
pub fn hidden_by_restrictions(user: &User, patient_programs: &[String]) -> bool {
    !patient_programs.is_empty()
        && patient_programs
            .iter()
            .all(|program| user.restricted_programs.contains(program))
}

/// Whether `user` may see a patient of `practice` enrolled in `patient_programs`.
pub fn can_see_patient(user: &User, practice: &Practice, patient_programs: &[String]) -> bool {
    can_see_practice(user, practice) && !hidden_by_restrictions(user, patient_programs)
}

/// Whether `user` can act on an alert about a patient of `practice` in `patient_programs`: be
/// told of it, see it listed, acknowledge it. Only unlocked users who can see the patient.
pub fn can_act_on_alert(user: &User, practice: &Practice, patient_programs: &[String]) -> bool {
    user.locked_at.is_none() && can_see_patient(user, practice, patient_programs)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;

    fn practice(customer: Uuid) -> Practice {
        Practice {
            id: Uuid::from_u128(10),
            customer_id: customer,
            name: "Main Street".into(),
            timezone: chrono_tz::UTC.into(),
            sms_number: "+14155550100".into(),
            practice_group_id: None,
            escalation_delay_minutes: 10,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    fn user(role: Role, customer: Option<Uuid>, practices: &[Uuid], restricted: &[&str]) -> User {
        User {
            id: Uuid::from_u128(99),
            customer_id: customer,
            username: "u".into(),
            password_hash: String::new(),
            role,
            email: String::new(),
            first_name: "Nora".into(),
            last_name: String::new(),
            title: String::new(),
            mobile_phone: None,
            auto_logout_minutes: 30,
            locked_at: None,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            practice_ids: practices.to_vec(),
            restricted_programs: restricted.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn practices_are_seen_by_role_customer_and_membership() {
        let (acme, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let p = practice(acme);
        let cases = [
            (user(Role::SuperAdmin, None, &[], &[]), true),
            (user(Role::CustomerAdmin, Some(acme), &[], &[]), true),
            (user(Role::CustomerAdmin, Some(other), &[], &[]), false),
            (user(Role::Staff, Some(acme), &[p.id], &[]), true),
            (user(Role::Staff, Some(acme), &[], &[]), false),
            (user(Role::Staff, Some(other), &[p.id], &[]), false),
        ];
        for (u, expected) in cases {
            assert_eq!(can_see_practice(&u, &p), expected, "{:?}", u.role);
        }
    }

    #[test]
    fn a_patient_is_hidden_only_when_every_program_is_restricted() {
        let acme = Uuid::from_u128(1);
        let p = practice(acme);
        let staff = user(Role::Staff, Some(acme), &[p.id], &["hiv", "psych"]);
        let programs = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cases = [
            (programs(&[]), true),
            (programs(&["diabetes"]), true),
            (programs(&["hiv", "diabetes"]), true),
            (programs(&["hiv"]), false),
            (programs(&["hiv", "psych"]), false),
        ];
        for (list, expected) in cases {
            assert_eq!(can_see_patient(&staff, &p, &list), expected, "{list:?}");
        }
    }

    #[test]
    fn only_unlocked_users_who_see_the_patient_act_on_an_alert() {
        let acme = Uuid::from_u128(1);
        let p = practice(acme);
        let mut staff = user(Role::Staff, Some(acme), &[p.id], &["hiv"]);
        assert!(can_act_on_alert(&staff, &p, &[]));
        assert!(!can_act_on_alert(&staff, &p, &["hiv".to_string()]));
        staff.locked_at = Some(DateTime::<Utc>::UNIX_EPOCH);
        assert!(!can_act_on_alert(&staff, &p, &[]));
        let stranger = user(Role::Staff, Some(acme), &[], &[]);
        assert!(!can_act_on_alert(&stranger, &p, &[]));
    }

    #[test]
    fn admins_and_members_work_at_a_practice_super_admins_at_none() {
        let (acme, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let p = practice(acme);
        let cases = [
            (user(Role::SuperAdmin, None, &[], &[]), false, true),
            (user(Role::CustomerAdmin, Some(acme), &[], &[]), true, true),
            (
                user(Role::CustomerAdmin, Some(other), &[], &[]),
                false,
                true,
            ),
            (user(Role::Staff, Some(acme), &[p.id], &[]), true, true),
            (user(Role::Staff, Some(acme), &[], &[]), false, false),
        ];
        for (u, works, sees_by_id) in cases {
            assert_eq!(works_at(&u, &p), works, "{:?} {:?}", u.role, u.customer_id);
            assert_eq!(
                can_see_practice_of_own_customer(&u, p.id),
                sees_by_id,
                "{:?}",
                u.role
            );
        }
    }

    #[test]
    fn roles_are_granted_downwards_only() {
        use Role::*;
        let cases = [
            (SuperAdmin, SuperAdmin, true),
            (SuperAdmin, CustomerAdmin, true),
            (SuperAdmin, Staff, true),
            (CustomerAdmin, SuperAdmin, false),
            (CustomerAdmin, CustomerAdmin, true),
            (CustomerAdmin, Staff, true),
            (Staff, SuperAdmin, false),
            (Staff, CustomerAdmin, false),
            (Staff, Staff, false),
        ];
        for (granter, role, expected) in cases {
            assert_eq!(
                may_grant(granter, role),
                expected,
                "{granter:?} gives {role:?}"
            );
        }
    }

    #[test]
    fn customers_and_users_are_seen_within_the_customer_and_by_super_admins() {
        let (acme, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let colleague = user(Role::Staff, Some(acme), &[], &[]);
        let super_admin = user(Role::SuperAdmin, None, &[], &[]);
        let cases = [
            (user(Role::SuperAdmin, None, &[], &[]), true, true, true),
            (
                user(Role::CustomerAdmin, Some(acme), &[], &[]),
                true,
                true,
                false,
            ),
            (user(Role::Staff, Some(acme), &[], &[]), true, true, false),
            (
                user(Role::CustomerAdmin, Some(other), &[], &[]),
                false,
                false,
                false,
            ),
        ];
        for (viewer, sees_acme, sees_colleague, sees_super_admin) in cases {
            assert_eq!(
                can_see_customer(&viewer, acme),
                sees_acme,
                "{:?}",
                viewer.role
            );
            assert_eq!(
                can_see_user(&viewer, &colleague),
                sees_colleague,
                "{:?}",
                viewer.role
            );
            assert_eq!(
                can_see_user(&viewer, &super_admin),
                sees_super_admin,
                "{:?}",
                viewer.role
            );
        }
    }
}
