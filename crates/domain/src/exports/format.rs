//! The export file: NDJSON, one object per line. The first line is `{"header": …}`, then one
//! `{"table": …, "row": …}` per row, table after table (parents first, so that a loader can
//! insert in file order), and last `{"manifest": …}`: the rows counted per table and the
//! SHA-256 of every byte before the manifest line.

use std::collections::BTreeMap;
use std::io::BufRead;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{DomainError, DomainResult};
use crate::ids::OrganizationId;

/// What the header's `format` says.
pub const FORMAT: &str = "bulkhead-export";
/// The version of the file layout (not of the schema, which the header names too).
pub const FORMAT_VERSION: u32 = 1;

/// One stored row of one table, as the store renders it in JSON (column → value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportRow {
    /// The table it comes from.
    pub table: String,
    /// The row.
    pub row: Value,
}

/// The first line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`] of the writer.
    pub version: u32,
    /// The last migration of the database it came from: a loader must be at the same one.
    pub schema: String,
    /// The organization exported.
    pub organization_id: OrganizationId,
    /// When the snapshot was taken.
    pub exported_at: DateTime<Utc>,
}

/// The last line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Rows per table.
    pub counts: BTreeMap<String, u64>,
    /// SHA-256 (hex) of every byte before the manifest line.
    pub sha256: String,
}

/// Writes an export line by line, hashing and counting as it goes.
#[derive(Default)]
pub struct Encoder {
    hasher: Sha256,
    counts: BTreeMap<String, u64>,
}

impl Encoder {
    /// A fresh encoder.
    pub fn new() -> Self {
        Self::default()
    }

    fn line(&mut self, value: &Value) -> Vec<u8> {
        let mut line = value.to_string().into_bytes();
        line.push(b'\n');
        self.hasher.update(&line);
        line
    }

    /// The header line.
    pub fn header(&mut self, header: &Header) -> Vec<u8> {
        self.line(&serde_json::json!({ "header": header }))
    }

    /// One row's line.
    pub fn row(&mut self, row: &ExportRow) -> Vec<u8> {
        *self.counts.entry(row.table.clone()).or_default() += 1;
        self.line(&serde_json::json!({ "table": row.table, "row": row.row }))
    }

    /// The rows written so far, per table.
    pub fn counts(&self) -> &BTreeMap<String, u64> {
        &self.counts
    }

    /// The manifest line, which ends the export.
    pub fn finish(&mut self) -> Vec<u8> {
        let manifest = Manifest {
            counts: self.counts.clone(),
            sha256: hex::encode(std::mem::take(&mut self.hasher).finalize()),
        };
        let mut line = serde_json::json!({ "manifest": manifest })
            .to_string()
            .into_bytes();
        line.push(b'\n');
        line
    }
}

/// A whole export, read and checked.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Its header.
    pub header: Header,
    /// Its rows, in file order.
    pub rows: Vec<ExportRow>,
    /// Its manifest, which matched the rows.
    pub manifest: Manifest,
}

fn broken(message: impl Into<String>) -> DomainError {
    DomainError::invalid("export", "corrupt", message)
}

/// Reads an export and checks it against its own manifest: the header first, the manifest
/// last and nothing after it, the digest of every byte before it, and the count of each table.
pub fn decode(reader: impl BufRead) -> DomainResult<Decoded> {
    let mut hasher = Sha256::new();
    let mut header = None;
    let mut rows = Vec::new();
    let mut manifest: Option<Manifest> = None;
    for (number, line) in reader.split(b'\n').enumerate() {
        let line = line.map_err(|e| broken(format!("cannot read line {}: {e}", number + 1)))?;
        if line.is_empty() {
            continue;
        }
        if manifest.is_some() {
            return Err(broken("lines after the manifest"));
        }
        let value: Value = serde_json::from_slice(&line)
            .map_err(|e| broken(format!("line {} is not JSON: {e}", number + 1)))?;
        if let Some(found) = value.get("manifest") {
            manifest = Some(
                serde_json::from_value(found.clone())
                    .map_err(|e| broken(format!("the manifest: {e}")))?,
            );
            continue;
        }
        hasher.update(&line);
        hasher.update(b"\n");
        if header.is_none() {
            let found = value
                .get("header")
                .ok_or_else(|| broken("the first line is not the header"))?;
            let found: Header = serde_json::from_value(found.clone())
                .map_err(|e| broken(format!("the header: {e}")))?;
            if found.format != FORMAT || found.version != FORMAT_VERSION {
                return Err(broken(format!(
                    "not a {FORMAT} version {FORMAT_VERSION} file ({} version {})",
                    found.format, found.version
                )));
            }
            header = Some(found);
            continue;
        }
        rows.push(
            serde_json::from_value::<ExportRow>(value)
                .map_err(|e| broken(format!("line {}: {e}", number + 1)))?,
        );
    }
    let header = header.ok_or_else(|| broken("empty"))?;
    let manifest = manifest.ok_or_else(|| broken("no manifest: the file is cut short"))?;
    if hex::encode(hasher.finalize()) != manifest.sha256 {
        return Err(broken("the SHA-256 does not match the manifest"));
    }
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for row in &rows {
        *counts.entry(row.table.clone()).or_default() += 1;
    }
    if counts != manifest.counts {
        return Err(broken("the rows do not match the manifest's counts"));
    }
    Ok(Decoded {
        header,
        rows,
        manifest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut encoder = Encoder::new();
        let mut out = encoder.header(&Header {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            schema: "m1".into(),
            organization_id: OrganizationId::new(),
            exported_at: crate::now(),
        });
        for n in 0..3 {
            out.extend(encoder.row(&ExportRow {
                table: "projects".into(),
                row: serde_json::json!({ "n": n }),
            }));
        }
        out.extend(encoder.finish());
        out
    }

    #[test]
    fn an_export_reads_back_as_written() {
        let decoded = decode(sample().as_slice()).expect("intact");
        assert_eq!(decoded.rows.len(), 3);
        assert_eq!(decoded.manifest.counts["projects"], 3);
    }

    #[test]
    fn a_changed_cut_or_extended_export_is_refused() {
        let intact = String::from_utf8(sample()).expect("text");
        let tampered = intact.replace("{\"n\":1}", "{\"n\":7}");
        let lines: Vec<&str> = intact.lines().collect();
        let cut = format!("{}\n", lines[..lines.len() - 1].join("\n"));
        let dropped = format!("{}\n{}\n", lines[..2].join("\n"), lines[lines.len() - 1]);
        let extended = format!("{intact}{}\n", lines[1]);
        for bad in [tampered, cut, dropped, extended] {
            assert!(decode(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
