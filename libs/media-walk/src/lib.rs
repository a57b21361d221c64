//! Structural walks of container files, written for evidence: what the file itself says, not
//! what a player makes of it. One module per container family:
//!
//! | module | container | timeline it returns | cut short when |
//! |---|---|---|---|
//! | [`ts`] | MPEG-TS (188-byte packets; 192-byte M2TS) | every PES's PTS/DTS, 33-bit wrap undone | partial last packet, unfinished PES |
//! | [`ps`] | MPEG-PS (MPEG-1/2 program stream, GB/T 28181) | every PES's PTS/DTS, wrap undone | pack or PES cut short |
//! | [`riff`] | AVI (incl. OpenDML) | chunk index × rate, zero-size chunks are dropped frames | chunk or list cut short, fewer frames than the header counts |
//! | [`flv`] | FLV | tag time (DTS) + composition time (PTS) | tag cut short |
//! | [`ebml`] | Matroska / WebM | none (GStreamer's block times are the block times) | element, cluster or block cut short |
//! | [`bmff`] | MP4 / MOV / fragmented MP4 | none (GStreamer's sample tables) | box past the end; also: encrypted, init segment without samples |
//!
//! Every walk reads the file once, front to back, in blocks (no seeking back, nothing held but
//! per-stream timelines of 24 bytes per sample), and never panics on any input (fuzzed).
//! Times are nanoseconds on the file's own clock.

pub mod bmff;
pub mod ebml;
pub mod flv;
pub mod mpeg;
pub mod ps;
pub mod riff;
pub mod ts;

use std::io::{BufReader, Read, Seek, SeekFrom};

use evidence_contracts::report::StreamKind;

/// One sample's (frame's, PES's, chunk's) timing, nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sample {
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    pub duration: Option<u64>,
    pub discont: bool,
}

/// The container families the walks know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    MpegTs,
    MpegPs,
    Matroska,
    Avi,
    Flv,
    Bmff,
    Unknown,
}

impl Family {
    /// The family from the first bytes of a file (at least 12; up to 1 KiB so that an MPEG-TS
    /// with junk in front of its first packet is known by three packets in a row).
    pub fn sniff(head: &[u8]) -> Family {
        let at = |i: usize, b: u8| head.get(i) == Some(&b);
        if head.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) {
            Family::Matroska
        } else if head.starts_with(b"RIFF") && head.get(8..12) == Some(b"AVI ") {
            Family::Avi
        } else if head.starts_with(b"FLV") {
            Family::Flv
        } else if head.starts_with(&[0, 0, 1, 0xba]) {
            Family::MpegPs
        } else if (at(0, 0x47) && (head.len() < 189 || at(188, 0x47))) || (at(4, 0x47) && at(196, 0x47)) {
            Family::MpegTs
        } else if matches!(
            head.get(4..8),
            Some(b"ftyp" | b"moov" | b"mdat" | b"free" | b"skip" | b"wide" | b"styp" | b"moof")
        ) {
            Family::Bmff
        } else if (0..188).any(|k| at(k, 0x47) && at(k + 188, 0x47) && at(k + 376, 0x47)) {
            Family::MpegTs
        } else {
            Family::Unknown
        }
    }
}

/// One elementary stream as the container writes it.
#[derive(Debug, Clone)]
pub struct RawStream {
    /// PID (TS), stream id (PS), stream number (AVI), tag type (FLV).
    pub id: u32,
    pub kind: StreamKind,
    /// What the container calls the codec (e.g. `H.264`, `G.711 A-law`), or empty.
    pub codec: String,
    /// MPEG-TS: the program (PMT) it belongs to; a multiplex carries programs on unrelated
    /// clocks. 0 elsewhere.
    pub program: u16,
    /// In file (decode) order.
    pub samples: Vec<Sample>,
}

/// Where the file is cut short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// Byte offset of the structure that is cut short.
    pub offset: u64,
    /// Bytes that structure still needed, when the container says.
    pub missing_bytes: Option<u64>,
    /// Time missing at the end, when the container says (frames counted in its header).
    pub missing_ns: Option<u64>,
    /// For people: which structure, e.g. `the last transport packet (104 of 188 bytes)`.
    pub what: String,
}

/// Something the container marks (or shows) at a point of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub kind: MarkKind,
    /// Index into [`Walk::streams`], when the mark belongs to one.
    pub stream: Option<usize>,
    /// Byte offset of the first packet concerned.
    pub offset: u64,
    /// Time on the stream's clock of the last sample before the mark (ns), when known.
    pub before_ns: Option<u64>,
    /// How many (packets lost, bytes skipped, marks) are summarised.
    pub count: u64,
    /// The PID (MPEG-TS) the mark is on, 0 when none.
    pub id: u32,
}

impl Mark {
    /// `bytes` at `offset` that are no structure of the container.
    pub fn garbage(offset: u64, bytes: u64) -> Mark {
        Mark { kind: MarkKind::Garbage, stream: None, offset, before_ns: None, count: bytes, id: 0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    /// MPEG-TS `discontinuity_indicator` set in an adaptation field.
    DiscontinuityFlag,
    /// MPEG-TS continuity counter: packets lost or repeated.
    CounterLoss,
    /// Bytes that are no structure of the container (lost sync, garbage) before the next one.
    Garbage,
}

/// What a walk found.
#[derive(Debug, Clone)]
pub struct Walk {
    pub family: Family,
    /// The streams' timelines as written, for the families whose own times the continuity check
    /// uses (TS, PS, AVI, FLV); empty for Matroska and MP4.
    pub streams: Vec<RawStream>,
    pub truncation: Option<Truncation>,
    pub marks: Vec<Mark>,
    /// MP4: the samples are encrypted (CENC: `encv`/`enca`/`sinf` in the movie box).
    pub encrypted: bool,
    /// MP4: a movie box without samples and no media data (an initialisation segment).
    pub init_only: bool,
    /// MP4: fragments (`moof`/`mdat`) without a movie box (a media segment whose
    /// initialisation segment is another file).
    pub segment_only: bool,
    /// MP4: the longest leading empty edit of a track's edit list (the presentation shows
    /// nothing for that long before the media starts), ns. Part of the stated duration that no
    /// data is meant to fill.
    pub empty_edit_ns: u64,
    /// Structures read (transport packets, PES, chunks, tags, boxes).
    pub units: u64,
    /// MP4: the movie box comes after the media data (`mdat`): not a faststart file.
    pub index_after_media: bool,
}

impl Walk {
    fn new(family: Family) -> Self {
        Walk {
            family,
            streams: Vec::new(),
            truncation: None,
            marks: Vec::new(),
            encrypted: false,
            init_only: false,
            segment_only: false,
            empty_edit_ns: 0,
            units: 0,
            index_after_media: false,
        }
    }
}

/// Walks a file of `len` bytes from its start.
///
/// # Errors
/// Read errors only; malformed structures are findings, never errors.
pub fn walk<R: Read + Seek>(r: R, len: u64) -> std::io::Result<Walk> {
    let mut r = BufReader::with_capacity(1 << 20, r);
    r.seek(SeekFrom::Start(0))?;
    let mut head = vec![0u8; 1024];
    let n = read_full(&mut r, &mut head)?;
    head.truncate(n);
    r.seek(SeekFrom::Start(0))?;
    let family = Family::sniff(&head);
    let w = match family {
        Family::MpegTs => ts::walk(r)?,
        Family::MpegPs => ps::walk(r)?,
        Family::Avi => riff::walk(&mut r, len)?,
        Family::Flv => flv::walk(&mut r, len)?,
        Family::Matroska => ebml::walk(&mut r, len)?,
        Family::Bmff => bmff::walk(&mut r, len)?,
        Family::Unknown => Walk::new(Family::Unknown),
    };
    Ok(w)
}

/// Reads until `buf` is full or the reader ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Moves to `target` (a seek within the buffer when it can: structure walks jump from header
/// to header, and a plain seek would drop the buffer every time).
fn goto(r: &mut BufReader<impl Read + Seek>, target: u64) -> std::io::Result<()> {
    let now = r.stream_position()?;
    match i64::try_from(target).ok().zip(i64::try_from(now).ok()) {
        Some((t, n)) => r.seek_relative(t - n),
        None => r.seek(SeekFrom::Start(target)).map(|_| ()),
    }
}
