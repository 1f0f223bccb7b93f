//! Identifier newtypes. User ids are random (v4) so that they never reveal sign-up time.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// A map keyed by ids, hashed with foldhash (randomly seeded per map) instead of SipHash: a
/// feed page builds several, and SipHash was a few percent of its time.
pub type IdMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// A set of ids, hashed like [`IdMap`].
pub type IdSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps an existing UUID (from storage or a parsed request).
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.as_hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text).map(Self)
            }
        }
    };
}

id_type!(
    /// A user account. Always random (v4): it must not leak when the account was created.
    UserId
);
id_type!(
    /// A refresh-token session family: every refresh token minted from one login shares it.
    SessionFamilyId
);

impl UserId {
    /// A fresh random user id.
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }
}

impl SessionFamilyId {
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }
}

id_type!(
    /// A post. Time-ordered (v7): its text form sorts by creation time, which cursors rely on.
    PostId
);
id_type!(
    /// A comment. Time-ordered (v7).
    CommentId
);
id_type!(
    /// A poll. Time-ordered (v7).
    PollId
);
id_type!(
    /// A block of an alias in an anonymous thread. Time-ordered (v7).
    AliasBlockId
);
id_type!(
    /// A block of an address or network (kept as keyed hashes). Time-ordered (v7).
    AddressBlockId
);
id_type!(
    /// A report of a post or comment.
    ReportId
);
id_type!(
    /// A domain event. Time-ordered (v7).
    EventId
);

id_type!(
    /// An upload. Random (v4): media ids appear in URLs and must not say when they were made.
    MediaId
);
id_type!(
    /// A queued job. Time-ordered (v7).
    JobId
);
id_type!(
    /// A device registered for push delivery. Random (v4).
    PushDeviceId
);

impl PushDeviceId {
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }
}

id_type!(
    /// An in-app notification. Time-ordered (v7): newest notifications have the highest ids.
    NotificationId
);

impl NotificationId {
    /// A fresh time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl MediaId {
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }
}

impl JobId {
    /// A fresh time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl PostId {
    /// A fresh time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl CommentId {
    /// A fresh time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl AddressBlockId {
    /// A fresh time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl AliasBlockId {
    /// A fresh time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl PollId {
    /// A fresh time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl ReportId {
    /// A fresh time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl EventId {
    /// A fresh time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}
