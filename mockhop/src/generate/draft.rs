//! A delivery before it has its place in the stream: what the stream's loop
//! and the duplicate events both make.

use archiver::record::Message;

/// A delivery before it has its place in the stream.
pub(crate) struct Draft {
    pub message: Message,
    pub partition_hint: u32,
    pub labels: Vec<&'static str>,
}
