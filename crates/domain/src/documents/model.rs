//! The document entity: an uploaded file of the organization, its extracted text's state, and
//! the types the server accepts.

use serde_json::{Map, Value};

use crate::error::{DomainError, DomainResult};
use crate::ids::{DocumentId, OrganizationId, ProjectId};
use crate::resource::{Record, Resource, set_if_given};
use crate::scope::Permission;
use crate::text::{bounded, one_of};

/// The resource description of documents, for the kit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Documents;

/// A stored document.
pub type Document = Record<Documents>;

/// The types the server accepts: each is checked against the file's own bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentType {
    /// `text/plain`.
    Text,
    /// `text/markdown`.
    Markdown,
    /// `text/csv`.
    Csv,
    /// `application/json`.
    Json,
    /// `text/html`.
    Html,
    /// `application/pdf`.
    Pdf,
}

impl DocumentType {
    /// Every accepted type.
    pub const ALL: [DocumentType; 6] = [
        Self::Text,
        Self::Markdown,
        Self::Csv,
        Self::Json,
        Self::Html,
        Self::Pdf,
    ];

    /// The media type, as stored and served.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Text => "text/plain",
            Self::Markdown => "text/markdown",
            Self::Csv => "text/csv",
            Self::Json => "application/json",
            Self::Html => "text/html",
            Self::Pdf => "application/pdf",
        }
    }

    /// Whether the file is its own text, in UTF-8 (text, Markdown, CSV, JSON): it can be
    /// indexed piece by piece as it is read, where HTML and PDF need a parser over the whole.
    pub fn is_plain_text(self) -> bool {
        matches!(self, Self::Text | Self::Markdown | Self::Csv | Self::Json)
    }

    /// The type named by a stored or filtered media type.
    pub fn parse(field: &str, raw: &str) -> DomainResult<Self> {
        one_of(field, raw, &Self::ALL, Self::mime)
    }

    /// The type a client declared for `filename`: its part's media type (parameters such as
    /// `charset` ignored), or, when that says nothing (`application/octet-stream` or absent),
    /// the file name's extension. Anything else is [`DomainError::UnsupportedType`].
    pub fn declared(media_type: Option<&str>, filename: &str) -> DomainResult<Self> {
        let essence = media_type
            .and_then(|m| m.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
            .filter(|m| !m.is_empty() && m != "application/octet-stream");
        let found = match essence.as_deref() {
            Some("text/x-markdown") => Some(Self::Markdown),
            Some(mime) => Self::ALL.into_iter().find(|t| t.mime() == mime),
            None => {
                let extension = filename
                    .rsplit_once('.')
                    .map(|(_, e)| e.to_ascii_lowercase())
                    .unwrap_or_default();
                match extension.as_str() {
                    "txt" | "text" => Some(Self::Text),
                    "md" | "markdown" => Some(Self::Markdown),
                    "csv" => Some(Self::Csv),
                    "json" => Some(Self::Json),
                    "html" | "htm" => Some(Self::Html),
                    "pdf" => Some(Self::Pdf),
                    _ => None,
                }
            }
        };
        found.ok_or_else(|| {
            let accepted: Vec<&str> = Self::ALL.iter().map(|t| t.mime()).collect();
            DomainError::UnsupportedType(format!(
                "the file's type must be one of {}",
                accepted.join(", ")
            ))
        })
    }

    /// Whether the file's first bytes (`head`, all of them for a small file) are what this type
    /// says, or [`DomainError::UnsupportedType`]: a PDF starts with `%PDF-`; the text types are
    /// UTF-8 (a character cut at the end of `head` aside) without NUL bytes and not a binary
    /// format in disguise; JSON starts with `{` or `[`, HTML with `<`.
    pub fn check_bytes(self, head: &[u8], complete: bool) -> DomainResult<()> {
        let refuse = || {
            Err(DomainError::UnsupportedType(format!(
                "the file's bytes are not {}",
                self.mime()
            )))
        };
        if self == Self::Pdf {
            return if head.starts_with(b"%PDF-") {
                Ok(())
            } else {
                refuse()
            };
        }
        if infer::get(head).is_some_and(|kind| kind.matcher_type() != infer::MatcherType::Text)
            || head.contains(&0)
        {
            return refuse();
        }
        let text = match std::str::from_utf8(head) {
            Ok(text) => text,
            // A multi-byte character cut by the end of the head is not an error.
            Err(e) if !complete && e.error_len().is_none() => {
                std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default()
            }
            Err(_) => return refuse(),
        };
        let start = text.trim_start_matches('\u{feff}').trim_start();
        let ok = match self {
            Self::Json => start.starts_with(['{', '[']),
            Self::Html => start.starts_with('<'),
            _ => true,
        };
        if ok { Ok(()) } else { refuse() }
    }
}

/// Where a document's text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentStatus {
    /// Stored; its text is not extracted yet.
    Uploaded,
    /// A worker is extracting and indexing its text.
    Processing,
    /// Its text is indexed and searchable.
    Ready,
    /// Its text could not be extracted (`error` says why); the file stays downloadable.
    Failed,
}

impl DocumentStatus {
    /// Every status.
    pub const ALL: [DocumentStatus; 4] =
        [Self::Uploaded, Self::Processing, Self::Ready, Self::Failed];

    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uploaded => "uploaded",
            Self::Processing => "processing",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }

    /// The status named `raw`, or a validation error on `field`.
    pub fn parse(field: &str, raw: &str) -> DomainResult<Self> {
        one_of(field, raw, &Self::ALL, Self::as_str)
    }
}

/// Where a blob lives in storage: built from the organization and document ids only, never
/// from anything a client sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    /// The key of document `id`'s file in organization `organization`.
    pub fn document(organization: OrganizationId, id: DocumentId) -> Self {
        Self(format!("organizations/{organization}/documents/{id}"))
    }

    /// The prefix under which organization `organization`'s documents' files live.
    pub fn documents_of(organization: OrganizationId) -> String {
        format!("organizations/{organization}/documents/")
    }

    /// A key as the store lists it.
    pub fn stored(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    /// The organization and document a key built by [`BlobKey::document`] names.
    pub fn document_of(&self) -> Option<(OrganizationId, DocumentId)> {
        let rest = self.0.strip_prefix("organizations/")?;
        let (org, rest) = rest.split_once('/')?;
        let id = rest.strip_prefix("documents/")?;
        Some((
            OrganizationId::from_uuid(org.parse().ok()?),
            DocumentId::from_uuid(id.parse().ok()?),
        ))
    }

    /// The key as a path.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A file name made safe to store and to send back in `Content-Disposition`: the last path
/// component only (so `../../etc/passwd` is `passwd`), control and shell-special characters
/// replaced by `_`, no leading dots, at most 200 characters; `document` if nothing is left.
pub fn sanitize_filename(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ' | '(' | ')') {
                c
            } else {
                '_'
            }
        })
        .take(200)
        .collect();
    let trimmed = cleaned.trim().trim_start_matches(['.', ' ']).trim();
    if trimmed.is_empty() || trimmed.chars().all(|c| c == '_') {
        "document".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// A document's own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentFields {
    /// 1 to 200 characters; the file name unless the uploader gave one.
    pub title: String,
    /// The sanitized file name.
    pub filename: String,
    /// Its type, checked against its bytes.
    pub content_type: DocumentType,
    /// Its size in bytes.
    pub size_bytes: i64,
    /// The SHA-256 of its bytes, in hex, computed while they streamed in.
    pub sha256: String,
    /// The project it belongs to, if any.
    pub project_id: Option<ProjectId>,
    /// Where its text is.
    pub status: DocumentStatus,
    /// Why its text could not be extracted.
    pub error: Option<String>,
    /// How many indexed chunks its text makes.
    pub chunk_count: i64,
}

/// A partial update: only the title changes.
#[derive(Debug, Clone, Default)]
pub struct UpdateDocument {
    /// A new title.
    pub title: Option<String>,
}

/// A validated partial update.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DocumentChanges {
    /// A new title.
    pub title: Option<String>,
}

/// List filters of documents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentFilter {
    /// Only documents of this project.
    pub project_id: Option<ProjectId>,
    /// Only documents of this type.
    pub content_type: Option<DocumentType>,
}

/// Validates a document's title.
pub fn title(raw: &str) -> DomainResult<String> {
    bounded("title", raw, 1, 200)
}

impl Resource for Documents {
    type Id = DocumentId;
    type Fields = DocumentFields;
    type Filter = DocumentFilter;
    // Documents are created by an upload, never from a body: see `DocumentService::upload`.
    type Create = DocumentFields;
    type Patch = UpdateDocument;
    type Changes = DocumentChanges;

    const NAME: &'static str = "document";
    const READ: Permission = Permission::DocumentsRead;
    const WRITE: Permission = Permission::DocumentsWrite;
    const DELETE: Permission = Permission::DocumentsDelete;
    const SORTS: &'static [&'static str] = &["title", "size_bytes"];

    fn validate(input: DocumentFields) -> DomainResult<DocumentFields> {
        title(&input.title)?;
        Ok(input)
    }

    fn changes(patch: UpdateDocument) -> DomainResult<DocumentChanges> {
        Ok(DocumentChanges {
            title: patch.title.as_deref().map(title).transpose()?,
        })
    }

    fn apply(fields: &mut DocumentFields, changes: &DocumentChanges) -> bool {
        set_if_given(&mut fields.title, &changes.title)
    }

    fn audit_fields(fields: &DocumentFields) -> Map<String, Value> {
        let mut recorded = Map::new();
        recorded.insert("title".into(), fields.title.clone().into());
        recorded.insert("filename".into(), fields.filename.clone().into());
        recorded.insert("content_type".into(), fields.content_type.mime().into());
        recorded.insert("size_bytes".into(), fields.size_bytes.into());
        recorded.insert("sha256".into(), fields.sha256.clone().into());
        recorded.insert(
            "project_id".into(),
            fields.project_id.map(|p| p.to_string()).into(),
        );
        recorded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_lose_their_paths_and_specials() {
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_filename("..\\..\\boot.ini"), "boot.ini");
        assert_eq!(sanitize_filename(".hidden"), "hidden");
        assert_eq!(sanitize_filename("a\nb\"c;.txt"), "a_b_c_.txt");
        assert_eq!(sanitize_filename("../"), "document");
        assert_eq!(sanitize_filename("Résumé (v2).pdf"), "Résumé (v2).pdf");
        assert_eq!(sanitize_filename(&"x".repeat(300)).len(), 200);
    }

    #[test]
    fn declared_types_come_from_the_part_or_the_extension() {
        assert_eq!(
            DocumentType::declared(Some("text/plain; charset=utf-8"), "a.bin").ok(),
            Some(DocumentType::Text)
        );
        assert_eq!(
            DocumentType::declared(Some("application/octet-stream"), "notes.MD").ok(),
            Some(DocumentType::Markdown)
        );
        assert!(matches!(
            DocumentType::declared(Some("image/png"), "a.png"),
            Err(DomainError::UnsupportedType(_))
        ));
        assert!(DocumentType::declared(None, "a.exe").is_err());
    }

    #[test]
    fn bytes_must_be_what_the_type_says() {
        assert!(
            DocumentType::Pdf
                .check_bytes(b"%PDF-1.7\n...", false)
                .is_ok()
        );
        assert!(DocumentType::Pdf.check_bytes(b"hello", true).is_err());
        // A PDF declared as text is refused too: the bytes decide.
        assert!(
            DocumentType::Text
                .check_bytes(b"%PDF-1.7\n%\xe2\xe3", false)
                .is_err()
        );
        // A PNG, an executable and a zip declared as text.
        assert!(
            DocumentType::Text
                .check_bytes(b"\x89PNG\r\n\x1a\n\0\0", false)
                .is_err()
        );
        assert!(
            DocumentType::Text
                .check_bytes(b"MZ\x90\0\x03", false)
                .is_err()
        );
        assert!(
            DocumentType::Csv
                .check_bytes(b"PK\x03\x04rest", false)
                .is_err()
        );
        assert!(
            DocumentType::Json
                .check_bytes(b"  {\"a\": 1}", true)
                .is_ok()
        );
        assert!(DocumentType::Json.check_bytes(b"hello", true).is_err());
        assert!(
            DocumentType::Html
                .check_bytes(b"<!doctype html>", true)
                .is_ok()
        );
        assert!(DocumentType::Text.check_bytes(b"\xff\xfe", true).is_err());
        // A character cut at the end of the head is fine until the file ends there.
        assert!(
            DocumentType::Text
                .check_bytes("é".as_bytes().split_at(1).0, false)
                .is_ok()
        );
        assert!(
            DocumentType::Text
                .check_bytes("é".as_bytes().split_at(1).0, true)
                .is_err()
        );
    }

    #[test]
    fn keys_are_built_from_ids_only() {
        let (org, id) = (OrganizationId::new(), DocumentId::new());
        let key = BlobKey::document(org, id);
        assert_eq!(key.as_str(), format!("organizations/{org}/documents/{id}"));
        assert!(key.as_str().starts_with(&BlobKey::documents_of(org)));
        assert_eq!(BlobKey::stored(key.as_str()).document_of(), Some((org, id)));
        assert_eq!(
            BlobKey::stored("organizations/x/documents/y").document_of(),
            None
        );
    }
}
