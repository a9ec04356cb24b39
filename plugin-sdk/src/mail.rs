//! Email from the workspace's address (import `mail`, API 0.4.1), for a plugin whose manifest
//! asks for `permissions.mail` (emails an hour) and an admin granted it. The host checks the
//! addresses, queues the message before answering, sends it with the workspace's SMTP
//! settings (retrying like every email) and logs it as an `email` activity on the timelines
//! of the contacts it goes to, as the acting user. Past the granted number in the last hour,
//! a send is refused with `rate_limited`.
//!
//! ```ignore
//! use plugin_sdk::mail::{self, Outgoing};
//! let queued = mail::send(&Outgoing::new(["ada@example.com"], "Your ticket #42", "We are on it."))?;
//! ```

use crate::HostError;
use crate::imports as wit;

pub use crate::bindings::kith::plugin::mail::{Outgoing, Queued};

/// Queues `message`; answers its ids in the mail log. Refused (a [`HostError`]) without the
/// grant (`forbidden`), past the hourly number (`rate_limited`), before the workspace's mail
/// is set up (`conflict`), in `before_save` (`forbidden`), or for a bad address or subject
/// (`validation_failed`, naming the field).
pub fn send(message: &Outgoing) -> Result<Queued, HostError> {
    wit::mail_send(message)
}

impl Outgoing {
    /// A message to `to` with a subject and a plain-text body.
    pub fn new<I, S>(to: I, subject: impl Into<String>, body: impl Into<String>) -> Outgoing
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Outgoing {
            to: to.into_iter().map(Into::into).collect(),
            cc: Vec::new(),
            subject: subject.into(),
            body: body.into(),
            links: Vec::new(),
            reply_to: None,
        }
    }

    /// Adds a copy recipient.
    pub fn cc(mut self, address: impl Into<String>) -> Outgoing {
        self.cc.push(address.into());
        self
    }

    /// Logs the email on this record's timeline too.
    pub fn link(mut self, record_id: impl Into<String>) -> Outgoing {
        self.links.push(record_id.into());
        self
    }

    /// Answers a message — its id in the mail log, or its Message-ID (an email activity's
    /// `message_id`): the email continues its thread.
    pub fn reply_to(mut self, message_id: impl Into<String>) -> Outgoing {
        self.reply_to = Some(message_id.into());
        self
    }
}
