//! A conversation's care-team panel: who is on the patient's care team or follows them, and
//! how each is told of new messages.

use maud::{Markup, html};

use crate::services::conversations::PanelEntry;
use crate::services::users::display_name as full_name;

pub(super) fn care_team(panel: &[PanelEntry]) -> Markup {
    html! {
        section.card aria-labelledby="team-heading" {
            h2 #team-heading { "Care team" }
            @if panel.is_empty() {
                p.muted { "Nobody is on this patient's care team or follows them." }
            } @else {
                ul.list {
                    @for entry in panel {
                        li {
                            span {
                                (full_name(&entry.user))
                                @if !entry.user.title.is_empty() { span.muted { ", " (entry.user.title) } }
                            }
                            span.muted {
                                @if entry.on_care_team { "Care team" } @else if entry.subscribed { "Follows" }
                                @if !entry.programs.is_empty() { " · " (entry.programs.join(", ")) }
                                " · " @if entry.channels_now.is_empty() { "not told of new messages" } @else { "told of new messages by " (entry.channels_now.join(", ")) }
                            }
                        }
                    }
                }
            }
        }
    }
}
