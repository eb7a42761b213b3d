//! Splitting a document's text into the chunks the index holds.

/// The longest chunk, in characters: big enough for a paragraph, small enough that a hit
/// points at the passage and a model's prompt holds several.
pub const CHUNK_CHARS: usize = 1000;

/// Splits `text` into chunks of at most `max` characters, at paragraph breaks where it can,
/// else at a line break or a space, else anywhere; whitespace-only pieces are dropped.
pub fn chunk_text(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut chunks = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let end = match rest.char_indices().nth(max) {
            None => rest.len(),
            Some((limit, _)) => {
                let window = &rest[..limit];
                ["\n\n", "\n", " "]
                    .iter()
                    .filter_map(|sep| window.rfind(sep).filter(|at| *at > limit / 2))
                    .next()
                    .unwrap_or(limit)
            }
        };
        let piece = rest[..end].trim();
        if !piece.is_empty() {
            chunks.push(piece.to_owned());
        }
        rest = rest[end..].trim_start();
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_break_at_paragraphs_and_stay_bounded() {
        let text = format!("{}\n\n{}", "a ".repeat(300), "b ".repeat(300));
        let chunks = chunk_text(&text, 1000);
        assert_eq!(chunks.len(), 2, "{chunks:?}");
        assert!(chunks[0].starts_with('a') && chunks[1].starts_with('b'));
        let long = "word ".repeat(1000);
        for chunk in chunk_text(&long, 100) {
            assert!(chunk.chars().count() <= 100);
            assert!(!chunk.starts_with(' ') && !chunk.ends_with(' '));
        }
        assert_eq!(chunk_text("x".repeat(250).as_str(), 100).len(), 3);
        assert!(chunk_text("  \n\n ", 100).is_empty());
        assert_eq!(chunk_text("héllo wörld", 5), ["héllo", "wörld"]);
    }
}
