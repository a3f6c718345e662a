//! [`Dictionary`]: the dictionary half of [`PlainColumnWriter`](crate::plain_column::PlainColumnWriter) for
//! flat columns Parquet writes with a dictionary (labels, units, years, dates: few distinct values).
//!
//! parquet's writer hashes every value through a generic interner, buffers its ids as `u64`, encodes them
//! through a general RLE encoder and compares every value with the page's min and max. Here a value is looked
//! up once in a small table of `u32` ids, the page's bounds are updated only when a value is used for the first
//! time in that page (its dictionary entry is compared, not every value), and the ids are written as the
//! RLE/bit-packed hybrid in one pass. The dictionary page is the entries in PLAIN layout, kept that way from
//! the start, so its size is known at every value (parquet's fallback rule compares it with the limit).

use crate::plain_column::{i64_values, put_varint, Bounds, Layout};
use arrow::array::{ArrayRef, AsArray};
use arrow::datatypes::{Date32Type, Float64Type};
use hashbrown::HashTable;
use parquet::errors::Result;

/// The dictionary of one column chunk and the ids of the page being filled.
pub(crate) struct Dictionary {
    layout: Layout,
    /// Entry ids by value.
    table: HashTable<u32>,
    /// The dictionary page's body: the entries PLAIN-encoded, in id order.
    plain: Vec<u8>,
    /// Byte entries: where each entry's bytes start in `plain` (after its 4-byte length).
    starts: Vec<u32>,
    /// Byte entries of at most 16 bytes: their [`ShortKey`], compared instead of the bytes (unused for longer
    /// entries).
    short_keys: Vec<ShortKey>,
    /// Fixed-width entries as 64-bit patterns (integers sign-extended, doubles' bits), for lookups.
    words: Vec<u64>,
    /// The open page's value ids.
    page_ids: Vec<u32>,
    /// For every entry, the last page it was used in: a first use updates the page's bounds.
    last_page: Vec<u32>,
    /// Number of the open page (from 1; 0 in `last_page` means never used).
    page: u32,
}

impl Dictionary {
    pub(crate) fn new(layout: Layout) -> Self {
        Dictionary {
            layout,
            table: HashTable::new(),
            plain: Vec::new(),
            starts: Vec::new(),
            short_keys: Vec::new(),
            words: Vec::new(),
            page_ids: Vec::new(),
            last_page: Vec::new(),
            page: 1,
        }
    }

    /// Entries so far.
    pub(crate) fn len(&self) -> usize {
        self.last_page.len()
    }

    /// Size of the dictionary page's body (what parquet compares with `dictionary_page_size_limit`).
    pub(crate) fn encoded_size(&self) -> usize {
        self.plain.len()
    }

    /// The dictionary page's body and its number of entries.
    pub(crate) fn page_body(&self) -> (&[u8], usize) {
        (&self.plain, self.len())
    }

    /// Bytes the open page's ids take at most (parquet's estimate, which decides where pages are cut).
    pub(crate) fn estimated_page_size(&self) -> usize {
        let groups = self.page_ids.len().div_ceil(8);
        let width = self.bit_width() as usize;
        1 + (groups + groups * width).max(groups * (1 + width.div_ceil(8)))
    }

    /// Bits per id: enough for the largest id.
    fn bit_width(&self) -> u8 {
        (u32::BITS - (self.len().saturating_sub(1) as u32).leading_zeros()) as u8
    }

    /// Add rows `start..end` of `array` (the non-null ones) to the open page; `bounds` gets every entry used
    /// for the first time in the page.
    pub(crate) fn append(
        &mut self,
        array: &ArrayRef,
        start: usize,
        end: usize,
        valid: impl Fn(usize) -> bool,
        bounds: &mut Bounds,
    ) -> Result<()> {
        match self.layout {
            Layout::Bytes => {
                let a = array.as_string::<i32>();
                for i in (start..end).filter(|&i| valid(i)) {
                    let id = self.bytes_id(a.value(i).as_bytes());
                    if self.first_use(id) {
                        bounds.bytes(self.entry_bytes(id as usize));
                    }
                }
            }
            Layout::Double => {
                let values = array.as_primitive::<Float64Type>().values();
                for i in (start..end).filter(|&i| valid(i)) {
                    let id = self.word_id(values[i].to_bits());
                    if self.first_use(id) {
                        bounds.double(values[i]);
                    }
                }
            }
            Layout::Int32 => {
                let values = array.as_primitive::<Date32Type>().values();
                for i in (start..end).filter(|&i| valid(i)) {
                    let id = self.word_id(values[i] as i64 as u64);
                    if self.first_use(id) {
                        bounds.int(values[i] as i64);
                    }
                }
            }
            Layout::Int64 => {
                let values = i64_values(array)?;
                for i in (start..end).filter(|&i| valid(i)) {
                    let id = self.word_id(values[i] as u64);
                    if self.first_use(id) {
                        bounds.int(values[i]);
                    }
                }
            }
        }
        Ok(())
    }

    /// Record `id` in the open page; true if the page had not used it yet.
    #[inline]
    fn first_use(&mut self, id: u32) -> bool {
        self.page_ids.push(id);
        let last = &mut self.last_page[id as usize];
        let first = *last != self.page;
        *last = self.page;
        first
    }

    fn entry_bytes(&self, id: usize) -> &[u8] {
        entry(&self.plain, &self.starts, id)
    }

    #[inline]
    fn bytes_id(&mut self, value: &[u8]) -> u32 {
        // Labels, units and codes are mostly short: their key is compared as two words, not byte by byte.
        if let Some(key) = ShortKey::of(value) {
            let hash = key.hash();
            let keys = &self.short_keys;
            return match self.table.find(hash, |&id| keys[id as usize] == key) {
                Some(&id) => id,
                None => self.insert_bytes(value, hash, key),
            };
        }
        let hash = hash_bytes(value);
        let (plain, starts) = (&self.plain, &self.starts);
        match self.table.find(hash, |&id| entry(plain, starts, id as usize) == value) {
            Some(&id) => id,
            None => self.insert_bytes(value, hash, ShortKey::LONG),
        }
    }

    #[cold]
    #[inline(never)]
    fn insert_bytes(&mut self, value: &[u8], hash: u64, key: ShortKey) -> u32 {
        let id = self.last_page.len() as u32;
        let (plain, starts, keys) = (&self.plain, &self.starts, &self.short_keys);
        self.table.insert_unique(hash, id, |&id| entry_hash(plain, starts, keys, id as usize));
        self.plain.extend_from_slice(&(value.len() as u32).to_le_bytes());
        self.starts.push(self.plain.len() as u32);
        self.plain.extend_from_slice(value);
        self.short_keys.push(key);
        self.last_page.push(0);
        id
    }

    #[inline]
    fn word_id(&mut self, word: u64) -> u32 {
        let hash = hash_word(word);
        let words = &self.words;
        match self.table.find(hash, |&id| words[id as usize] == word) {
            Some(&id) => id,
            None => self.insert_word(word, hash),
        }
    }

    #[cold]
    #[inline(never)]
    fn insert_word(&mut self, word: u64, hash: u64) -> u32 {
        let id = self.last_page.len() as u32;
        let words = &self.words;
        self.table.insert_unique(hash, id, |&id| hash_word(words[id as usize]));
        match self.layout {
            Layout::Int32 => self.plain.extend_from_slice(&(word as i32).to_le_bytes()),
            _ => self.plain.extend_from_slice(&word.to_le_bytes()),
        }
        self.words.push(word);
        self.last_page.push(0);
        id
    }

    /// Append the open page's ids to `out` (bit width byte, then the RLE/bit-packed hybrid) and start a new
    /// page.
    pub(crate) fn finish_page(&mut self, out: &mut Vec<u8>) {
        encode_ids(&self.page_ids, self.bit_width(), out);
        self.page_ids.clear();
        self.page += 1;
    }
}

/// Entry `id` of a byte dictionary: its bytes in the PLAIN page body `plain`.
fn entry<'a>(plain: &'a [u8], starts: &[u32], id: usize) -> &'a [u8] {
    let start = starts[id] as usize;
    let end = starts.get(id + 1).map_or(plain.len(), |&next| next as usize - 4);
    &plain[start..end]
}

pub(crate) fn hash_bytes(value: &[u8]) -> u64 {
    twox_hash::XxHash3_64::oneshot(value)
}

/// The hash byte entry `id` was filed under: its [`ShortKey`]'s when it has one, else its bytes'.
fn entry_hash(plain: &[u8], starts: &[u32], keys: &[ShortKey], id: usize) -> u64 {
    match keys[id] {
        ShortKey::LONG => hash_bytes(entry(plain, starts, id)),
        key => key.hash(),
    }
}

/// A byte string of at most 16 bytes as two words and its length, read with overlapping loads (as xxh3 reads
/// short input): for one length, every byte lands in a word, so equal keys mean equal strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ShortKey {
    words: [u64; 2],
    len: u8,
}

impl ShortKey {
    /// The key of entries longer than 16 bytes (no short key has this length).
    const LONG: ShortKey = ShortKey { words: [0, 0], len: u8::MAX };

    #[inline(always)]
    fn of(v: &[u8]) -> Option<ShortKey> {
        let n = v.len();
        let word = |at: usize| u64::from_le_bytes(v[at..at + 8].try_into().expect("8 bytes"));
        let half = |at: usize| u32::from_le_bytes(v[at..at + 4].try_into().expect("4 bytes")) as u64;
        let words = match n {
            0 => [0, 0],
            1..=3 => [v[0] as u64 | (v[n / 2] as u64) << 8 | (v[n - 1] as u64) << 16, 0],
            4..=7 => [half(0) | half(n - 4) << 32, 0],
            8..=16 => [word(0), word(n - 8)],
            _ => return None,
        };
        Some(ShortKey { words, len: n as u8 })
    }

    /// A folded multiply of the words (and length): high and low bits both depend on every input bit.
    #[inline(always)]
    fn hash(self) -> u64 {
        let a = self.words[0] ^ 0x243F_6A88_85A3_08D3 ^ (self.len as u64) << 56;
        let b = self.words[1] ^ 0x1319_8A2E_0370_7344;
        let product = (a as u128) * (b as u128 | 1);
        hash_word((product as u64) ^ ((product >> 64) as u64) ^ b)
    }
}

/// A 64-bit mix (folded multiply): high and low bits both depend on every input bit.
pub(crate) fn hash_word(word: u64) -> u64 {
    let product = (word as u128) * 0x9E37_79B9_7F4A_7C15;
    (product as u64) ^ ((product >> 64) as u64)
}

/// Writes `bit_width` as one byte, then `ids` as the RLE/bit-packed hybrid: runs of at least eight equal ids as
/// RLE runs, the rest bit-packed in groups of eight (the last group padded with zeros).
pub(crate) fn encode_ids(ids: &[u32], bit_width: u8, out: &mut Vec<u8>) {
    out.push(bit_width);
    encode_hybrid(ids, bit_width, out);
}

/// `values` as the RLE/bit-packed hybrid of `bit_width` bits (no width byte; levels are written this way, from
/// one byte each).
pub(crate) fn encode_hybrid<T: Copy + Eq + Into<u32>>(ids: &[T], bit_width: u8, out: &mut Vec<u8>) {
    let value_bytes = (bit_width as usize).div_ceil(8);
    let mut literal_start = 0;
    let mut i = 0;
    while i < ids.len() {
        let id = ids[i];
        let mut j = i + 1;
        while j < ids.len() && ids[j] == id {
            j += 1;
        }
        if j - i < 8 {
            // Too short for an RLE run whatever the alignment (most ids of a mixed column).
            i = j;
            continue;
        }
        // A bit-packed run holds whole groups of eight: the run first tops up the pending literals.
        let top_up = (8 - (i - literal_start) % 8) % 8;
        if j - i >= top_up + 8 {
            let run_start = i + top_up;
            bit_pack(&ids[literal_start..run_start], bit_width, out);
            put_varint(out, ((j - run_start) as u64) << 1);
            out.extend_from_slice(&id.into().to_le_bytes()[..value_bytes]);
            literal_start = j;
        }
        i = j;
    }
    bit_pack(&ids[literal_start..], bit_width, out);
}

/// One bit-packed run of `values` (LSB first), padded with zeros to a whole group of eight.
fn bit_pack<T: Copy + Into<u32>>(values: &[T], bit_width: u8, out: &mut Vec<u8>) {
    if values.is_empty() {
        return;
    }
    let groups = values.len().div_ceil(8);
    put_varint(out, ((groups as u64) << 1) | 1);
    let end = out.len() + groups * bit_width as usize;
    let (mut pending, mut bits) = (0u64, 0u32);
    for &v in values {
        pending |= (v.into() as u64) << bits;
        bits += bit_width as u32;
        while bits >= 8 {
            out.push(pending as u8);
            pending >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 {
        out.push(pending as u8);
    }
    out.resize(end, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes the hybrid the way the format describes it (independent of the encoder's choices).
    fn decode(data: &[u8], count: usize) -> Vec<u32> {
        let width = data[0] as usize;
        let mut pos = 1;
        let mut out = Vec::new();
        let varint = |pos: &mut usize| {
            let (mut v, mut shift) = (0u64, 0);
            loop {
                let b = data[*pos];
                *pos += 1;
                v |= ((b & 0x7f) as u64) << shift;
                shift += 7;
                if b < 0x80 {
                    return v;
                }
            }
        };
        while out.len() < count {
            let header = varint(&mut pos);
            if header & 1 == 0 {
                let mut bytes = [0u8; 4];
                bytes[..width.div_ceil(8)].copy_from_slice(&data[pos..pos + width.div_ceil(8)]);
                pos += width.div_ceil(8);
                out.extend(std::iter::repeat_n(u32::from_le_bytes(bytes), (header >> 1) as usize));
            } else {
                let values = (header >> 1) as usize * 8;
                for k in 0..values {
                    let mut v = 0u32;
                    for b in 0..width {
                        let bit = k * width + b;
                        v |= (((data[pos + bit / 8] >> (bit % 8)) & 1) as u32) << b;
                    }
                    out.push(v);
                }
                pos += (header >> 1) as usize * width;
            }
        }
        assert_eq!(pos, data.len(), "trailing bytes");
        out.truncate(count);
        out
    }

    #[test]
    fn ids_round_trip_through_runs_and_groups() {
        let mut cases: Vec<(Vec<u32>, u8)> = vec![
            (vec![], 0),
            (vec![0; 5], 0),
            (vec![0; 100], 0),
            (vec![1, 2, 3], 2),
            ((0..1000).map(|i| i % 7).collect(), 3),
            ((0..1000).map(|i| (i / 13) % 5).collect(), 3),
            ((0..777).map(|i| if i % 100 < 50 { 9 } else { i % 300 }).collect(), 9),
            ((0..300).map(|i| (i * 7919) % 70_000).collect(), 17),
            ((0..64).map(|i| if i < 3 { i } else { 100_000 }).collect(), 17),
            ((0..999).map(|i| (i * 40_503) % 65_536).collect(), 16),
            ((0..203).map(|i| (i * 2_654_435_761u64 % (1 << 32)) as u32).collect(), 32),
            ((0..517).map(|i| if i % 97 < 40 { 255 } else { (i * 31) % 256 }).collect(), 8),
        ];
        cases.push(((0..50).map(|i| [0, 0, 0, 1][i % 4]).chain([1; 20]).collect(), 1));
        for (ids, width) in cases {
            let mut out = Vec::new();
            encode_ids(&ids, width, &mut out);
            assert_eq!(out[0], width);
            assert_eq!(decode(&out, ids.len()), ids, "width {width}");
        }
    }

    #[test]
    fn byte_entries_are_found_again_whatever_their_length() {
        // Strings of 0..=20 bytes over three letters: many share their first or last bytes, and a string and
        // its doubling share both words of their short keys, so only an exact key keeps them apart.
        let mut next = crate::tests::xorshift(0x5eed);
        let mut reference: std::collections::HashMap<Vec<u8>, u32> = std::collections::HashMap::new();
        let mut d = Dictionary::new(Layout::Bytes);
        let mut values: Vec<Vec<u8>> = (0..3000)
            .map(|_| {
                let len = (next() % 21) as usize;
                (0..len).map(|_| b"ab\xc3"[(next() % 3) as usize]).collect()
            })
            .collect();
        values.extend([b"abcdefgh".to_vec(), b"abcdefghabcdefgh".to_vec(), b"abcdabcd".to_vec(), b"abcd".to_vec()]);
        for v in &values {
            let expected = reference.len() as u32;
            let expected = *reference.entry(v.clone()).or_insert(expected);
            assert_eq!(d.bytes_id(v), expected, "{:?}", String::from_utf8_lossy(v));
        }
        assert_eq!(d.len(), reference.len());
        for (v, &id) in &reference {
            assert_eq!(d.entry_bytes(id as usize), v.as_slice());
        }
    }

    #[test]
    fn equal_values_share_an_entry_and_bit_widths_grow() {
        let mut d = Dictionary::new(Layout::Double);
        let ids: Vec<u32> = [1.0, f64::NAN, 1.0, -0.0, 0.0, f64::NAN].iter().map(|v| d.word_id(v.to_bits())).collect();
        // NaN is one entry (same bits), and -0.0 and 0.0 are two (parquet compares bytes too).
        assert_eq!(ids, vec![0, 1, 0, 2, 3, 1]);
        assert_eq!((d.len(), d.encoded_size(), d.bit_width()), (4, 32, 2));
        let mut s = Dictionary::new(Layout::Bytes);
        for v in ["b", "", "b", "äö", ""] {
            s.bytes_id(v.as_bytes());
        }
        assert_eq!(s.len(), 3);
        assert_eq!(s.entry_bytes(1), b"");
        assert_eq!(s.entry_bytes(2), "äö".as_bytes());
        assert_eq!(s.encoded_size(), 3 * 4 + 1 + 4);
        assert_eq!(Dictionary::new(Layout::Int64).bit_width(), 0);
    }
}
