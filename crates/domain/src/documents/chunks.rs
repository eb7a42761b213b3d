//! Splitting a document's text into the chunks the index holds.

/// The longest chunk, in characters: big enough for a paragraph, small enough that a hit
/// points at the passage and a model's prompt holds several.
pub const CHUNK_CHARS: usize = 1000;

/// Splits `text` into chunks of at most `max` characters, at paragraph breaks where it can,
/// else at a line break or a space, else anywhere; whitespace-only pieces are dropped.
pub fn chunk_text(text: &str, max: usize) -> Vec<String> {
    let mut chunker = Chunker::new(max);
    let mut chunks = chunker.push(text);
    chunks.extend(chunker.finish());
    chunks
}

/// [`chunk_text`] over text that arrives in pieces, holding no more than the chunk being
/// cut: a document of any length is split with the memory of a few chunks. The chunks are
/// the same as `chunk_text` makes of the whole text, however it is cut into pieces.
#[derive(Debug)]
pub struct Chunker {
    max: usize,
    rest: String,
}

impl Chunker {
    /// A chunker of chunks of at most `max` characters (at least one).
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            rest: String::new(),
        }
    }

    /// Takes the next piece of the text; answers the chunks now complete.
    pub fn push(&mut self, piece: &str) -> Vec<String> {
        if self.rest.is_empty() {
            self.rest.push_str(piece.trim_start());
        } else {
            self.rest.push_str(piece);
        }
        let mut chunks = Vec::new();
        // A cut is decided by the first `max + 1` characters; with fewer, more may follow.
        while let Some((limit, _)) = self.rest.char_indices().nth(self.max) {
            let window = &self.rest[..limit];
            let end = ["\n\n", "\n", " "]
                .iter()
                .filter_map(|sep| window.rfind(sep).filter(|at| *at > limit / 2))
                .next()
                .unwrap_or(limit);
            let chunk = self.rest[..end].trim();
            if !chunk.is_empty() {
                chunks.push(chunk.to_owned());
            }
            let next = self.rest[end..].trim_start().len();
            self.rest.drain(..self.rest.len() - next);
        }
        chunks
    }

    /// The text is complete: answers its last chunk, if any, and leaves the chunker empty.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.rest);
        let last = rest.trim();
        (!last.is_empty()).then(|| last.to_owned())
    }
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

    #[test]
    fn pieces_make_the_chunks_the_whole_text_makes() {
        let text = format!(
            "  {}\n\n{}\nlast line with wörds {}  ",
            "alpha beta ".repeat(70),
            "gamma ".repeat(333),
            "ü".repeat(150)
        );
        let whole = chunk_text(&text, 100);
        assert!(whole.len() > 10);
        for size in [1, 2, 7, 64, 99, 100, 101, 1000, text.len()] {
            let mut chunker = Chunker::new(100);
            let mut chunks = Vec::new();
            let chars: Vec<char> = text.chars().collect();
            for piece in chars.chunks(size) {
                chunks.extend(chunker.push(&piece.iter().collect::<String>()));
            }
            chunks.extend(chunker.finish());
            assert_eq!(chunks, whole, "pieces of {size} characters");
        }
    }
}
