//! Who may see what: the one place the gateway decides whether a user may see a practice, a
//! patient, the clinical part of a patient's record or an alert, used by API routes, the staff
//! console, alert audiences, reading notifications and SMS acknowledgements alike.
//!
//! Rules (DESIGN.md "Users, roles, access" and "Conversations", seed 003):
//! - A super admin sees every practice; a customer admin every practice of their customer; staff
//!   the practices of their customer they were given.
//! - A patient is seen by whoever sees the patient's practice, unless every one of the patient's
//!   programs is restricted for that user (a patient in no program is never hidden). That is
//!   *client access*: demographics, texting status, the conversation and the care team.
//! - *Case access* adds the clinical part (readings, reading-alert settings, alerts and reading
//!   notifications). It comes with an assignment to one of the patient's program enrolments
//!   (seed 003: "Case access allows users to see Client Details AND a Client's Clinical
//!   Information"); admins and the user on call at the patient's practice at this moment have it
//!   for every patient they see. A patient in no program has no case to separate the clinical
//!   part into: whoever sees such a patient sees all of it.
//! - A super admin sees every customer and user; everyone else only their own customer and its
//!   users. Super admins may grant any role, customer admins any but super admin, staff none.
//! - An alert is clinical: it is seen, told and acknowledged only by unlocked users with case
//!   access to its patient.
//!
//! Pure: it decides from the rows and links it is given and never loads anything; the services
//! load a user's links to a patient (`services::access`).

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

/// What a user may see of a patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PatientAccess {
    /// Nothing: the patient does not exist for the user (404).
    None,
    /// Demographics and the conversation, not the clinical part.
    Client,
    /// Everything, the clinical part included.
    Case,
}

/// A user's links to one patient that access depends on beyond tenancy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Links<'a> {
    /// The program enrolments of the patient this user is assigned to.
    pub enrolments: &'a [String],
    /// Whether the user is on call at the patient's practice at this moment.
    pub on_call: bool,
}

/// Whether `user` may see `practice` (tenancy and practice membership; locks are not looked at:
/// a locked user has no session to ask with).
pub fn can_see_practice(user: &User, practice: &Practice) -> bool {
    user.role == Role::SuperAdmin
        || (user.customer_id == Some(practice.customer_id) && member_of(user, practice.id))
}

/// The membership half of [`can_see_practice`], for rows already limited to the user's
/// customer that carry only a practice id (a conversation list).
pub fn member_of(user: &User, practice_id: Uuid) -> bool {
    match user.role {
        Role::SuperAdmin | Role::CustomerAdmin => true,
        Role::Staff => user.practice_ids.contains(&practice_id),
    }
}

/// Whether `user` works at `practice`: staff at the practices they were given, customer admins
/// at every practice of their customer. Super admins administer; they work at no practice (they
/// are never on a care team or told of a patient).
pub fn works_at(user: &User, practice: &Practice) -> bool {
    user.role != Role::SuperAdmin && can_see_practice(user, practice)
}

/// Whether `user` may be put on the care team or a program enrolment of a patient of
/// `practice`: an unlocked user who works there.
pub fn can_join_care_team(user: &User, practice: &Practice) -> bool {
    user.locked_at.is_none() && works_at(user, practice)
}

/// Whether the patient's programs hide the patient from `user`: all of them are restricted for
/// the user. A patient in no program is never hidden.
pub fn hidden_by_restrictions(user: &User, patient_programs: &[String]) -> bool {
    !patient_programs.is_empty()
        && patient_programs
            .iter()
            .all(|program| user.restricted_programs.contains(program))
}

/// Whether `user` may see a patient of `practice` enrolled in `patient_programs` at all (client
/// access).
pub fn can_see_patient(user: &User, practice: &Practice, patient_programs: &[String]) -> bool {
    can_see_practice(user, practice) && !hidden_by_restrictions(user, patient_programs)
}

/// What `user` may see of a patient of `practice` enrolled in `patient_programs`, given the
/// user's `links` to that patient.
pub fn patient_access(
    user: &User,
    practice: &Practice,
    patient_programs: &[String],
    links: Links<'_>,
) -> PatientAccess {
    if !can_see_patient(user, practice, patient_programs) {
        return PatientAccess::None;
    }
    let case = matches!(user.role, Role::SuperAdmin | Role::CustomerAdmin)
        || links.on_call
        || patient_programs.is_empty()
        || links
            .enrolments
            .iter()
            .any(|program| patient_programs.contains(program));
    if case {
        PatientAccess::Case
    } else {
        PatientAccess::Client
    }
}

/// Whether `user` may see the clinical part of the patient's record (readings, reading-alert
/// settings, alerts).
pub fn can_see_clinical(
    user: &User,
    practice: &Practice,
    patient_programs: &[String],
    links: Links<'_>,
) -> bool {
    patient_access(user, practice, patient_programs, links) == PatientAccess::Case
}

/// Whether `user` can act on an alert about a patient of `practice` in `patient_programs`: be
/// told of it, see it listed, acknowledge it. Only unlocked users with case access.
pub fn can_act_on_alert(
    user: &User,
    practice: &Practice,
    patient_programs: &[String],
    links: Links<'_>,
) -> bool {
    user.locked_at.is_none() && can_see_clinical(user, practice, patient_programs, links)
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
            texting_enabled: true,
            portal_enabled: true,
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
            supervisor_id: None,
        }
    }

    fn programs(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
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
    fn only_unlocked_users_of_the_customer_who_see_the_practice_join_a_care_team() {
        let (acme, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let p = practice(acme);
        let mut locked = user(Role::Staff, Some(acme), &[p.id], &[]);
        locked.locked_at = Some(DateTime::<Utc>::UNIX_EPOCH);
        let cases = [
            (user(Role::Staff, Some(acme), &[p.id], &[]), true),
            (user(Role::CustomerAdmin, Some(acme), &[], &[]), true),
            (user(Role::Staff, Some(acme), &[], &[]), false),
            (user(Role::Staff, Some(other), &[p.id], &[]), false),
            (user(Role::SuperAdmin, None, &[], &[]), false),
            (locked, false),
        ];
        for (u, expected) in cases {
            assert_eq!(can_join_care_team(&u, &p), expected, "{u:?}");
        }
    }

    #[test]
    fn a_patient_is_hidden_only_when_every_program_is_restricted() {
        let acme = Uuid::from_u128(1);
        let p = practice(acme);
        let staff = user(Role::Staff, Some(acme), &[p.id], &["hiv", "psych"]);
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
    fn case_access_comes_with_an_enrolment_a_role_or_being_on_call_now() {
        use PatientAccess::*;
        let (acme, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let p = practice(acme);
        let staff = user(Role::Staff, Some(acme), &[p.id], &[]);
        let restricted = user(Role::Staff, Some(acme), &[p.id], &["rpm"]);
        let admin = user(Role::CustomerAdmin, Some(acme), &[], &[]);
        let stranger = user(Role::Staff, Some(other), &[p.id], &[]);
        let rpm = programs(&["rpm"]);
        let ccm = programs(&["ccm"]);
        let none = Links::default();
        let in_rpm = Links {
            enrolments: &rpm,
            on_call: false,
        };
        let in_ccm_only = Links {
            enrolments: &ccm,
            on_call: false,
        };
        let on_call = Links {
            enrolments: &[],
            on_call: true,
        };
        let cases = [
            // (who, patient programs, links, expected)
            (&staff, programs(&["rpm"]), none, Client),
            (&staff, programs(&["rpm"]), in_rpm, Case),
            (&staff, programs(&["rpm", "ccm"]), in_rpm, Case),
            // An enrolment in a program the patient left gives nothing.
            (&staff, programs(&["rpm"]), in_ccm_only, Client),
            (&staff, programs(&["rpm"]), on_call, Case),
            // No program, no case: the record is one piece.
            (&staff, programs(&[]), none, Case),
            (&admin, programs(&["rpm"]), none, Case),
            // Restrictions hide the patient whatever the links.
            (&restricted, programs(&["rpm"]), in_rpm, None),
            (&restricted, programs(&["rpm"]), on_call, None),
            (&stranger, programs(&["rpm"]), in_rpm, None),
        ];
        for (who, list, links, expected) in cases {
            assert_eq!(
                patient_access(who, &p, &list, links),
                expected,
                "{:?} {list:?} {links:?}",
                who.role
            );
        }
    }

    #[test]
    fn only_unlocked_users_with_case_access_act_on_an_alert() {
        let acme = Uuid::from_u128(1);
        let p = practice(acme);
        let mut staff = user(Role::Staff, Some(acme), &[p.id], &["hiv"]);
        let none = Links::default();
        assert!(can_act_on_alert(&staff, &p, &[], none));
        assert!(!can_act_on_alert(&staff, &p, &programs(&["hiv"]), none));
        assert!(
            !can_act_on_alert(&staff, &p, &programs(&["rpm"]), none),
            "client access is not enough"
        );
        let rpm = programs(&["rpm"]);
        let in_rpm = Links {
            enrolments: &rpm,
            on_call: false,
        };
        assert!(can_act_on_alert(&staff, &p, &programs(&["rpm"]), in_rpm));
        staff.locked_at = Some(DateTime::<Utc>::UNIX_EPOCH);
        assert!(!can_act_on_alert(&staff, &p, &[], none));
        let stranger = user(Role::Staff, Some(acme), &[], &[]);
        assert!(!can_act_on_alert(&stranger, &p, &[], none));
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
            assert_eq!(member_of(&u, p.id), sees_by_id, "{:?}", u.role);
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
