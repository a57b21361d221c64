//! The frame size of a copy: the source's, scaled down to fit a profile's `max_width` ×
//! `max_height` (display aspect ratio kept), and made a multiple of `frame_multiple` by adding a
//! black border on the right and bottom, never by cropping or stretching: every pixel of the
//! source stays in the copy. (x264 encodes 4:2:0 only at even sizes; a 641 × 361 camera frame
//! becomes 642 × 362 with a one-pixel border instead of losing a row and a column.)

use std::collections::BTreeMap;

/// Profile parameters the transcoder reads itself (besides putting them into templates).
pub const MAX_WIDTH: &str = "max_width";
pub const MAX_HEIGHT: &str = "max_height";
pub const MULTIPLE: &str = "frame_multiple";

/// Placeholders a video template may use; the transcoder fills them for each source.
pub const PLACEHOLDERS: [&str; 4] = ["scale_width", "scale_height", "pad_right", "pad_bottom"];

/// How one source's frames become the copy's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramePlan {
    /// Size after scaling (equal to the source's when it fits).
    pub scale: (u32, u32),
    /// Black columns added on the right and rows at the bottom.
    pub pad: (u32, u32),
}

impl FramePlan {
    /// The copy's frame size.
    pub fn output(&self) -> (u32, u32) {
        (self.scale.0 + self.pad.0, self.scale.1 + self.pad.1)
    }

    /// What happened to a `source`-sized frame, in words; `None` when it passes unchanged.
    pub fn describe(&self, source: (u32, u32), multiple: u32) -> Option<String> {
        let (w, h) = source;
        let (ow, oh) = self.output();
        if self.scale != source {
            Some(format!("frames scaled from {w}x{h} to {ow}x{oh} to fit the profile's size limit"))
        } else if self.pad != (0, 0) {
            Some(format!(
                "frames {w}x{h} given a black border of {} column(s) right and {} row(s) below to {ow}x{oh} \
                 (the encoder needs multiples of {multiple}; nothing cropped or scaled)",
                self.pad.0, self.pad.1
            ))
        } else {
            None
        }
    }

    /// The template values.
    pub fn params(&self) -> [(&'static str, String); 4] {
        [
            (PLACEHOLDERS[0], self.scale.0.to_string()),
            (PLACEHOLDERS[1], self.scale.1.to_string()),
            (PLACEHOLDERS[2], self.pad.0.to_string()),
            (PLACEHOLDERS[3], self.pad.1.to_string()),
        ]
    }
}

/// The limits a profile's params set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// 0 = no limit.
    pub max_width: u32,
    pub max_height: u32,
    pub multiple: u32,
}

impl Limits {
    /// Reads `max_width`, `max_height`, `frame_multiple` (all optional).
    ///
    /// # Errors
    /// A value that is not a whole number (named), or a multiple of 0.
    pub fn from_params(profile: &str, params: &BTreeMap<String, String>) -> anyhow::Result<Self> {
        let get = |k: &str, default: u32| -> anyhow::Result<u32> {
            params.get(k).map_or(Ok(default), |v| {
                v.trim().parse().map_err(|_| {
                    anyhow::anyhow!("profile {profile}: parameter {k} = {v:?} is not a whole number of pixels")
                })
            })
        };
        let l = Limits { max_width: get(MAX_WIDTH, 0)?, max_height: get(MAX_HEIGHT, 0)?, multiple: get(MULTIPLE, 1)? };
        if l.multiple == 0 {
            anyhow::bail!("profile {profile}: {MULTIPLE} must be at least 1");
        }
        if (l.max_width > 0 && l.max_width < l.multiple) || (l.max_height > 0 && l.max_height < l.multiple) {
            anyhow::bail!("profile {profile}: {MAX_WIDTH}/{MAX_HEIGHT} must be at least {MULTIPLE} ({})", l.multiple);
        }
        Ok(l)
    }

    /// The plan for a source of `w` × `h` pixels.
    pub fn plan(&self, w: u32, h: u32) -> FramePlan {
        let m = self.multiple;
        let (w, h) = (w.max(1), h.max(1));
        let fx = if self.max_width > 0 { f64::from(self.max_width) / f64::from(w) } else { f64::INFINITY };
        let fy = if self.max_height > 0 { f64::from(self.max_height) / f64::from(h) } else { f64::INFINITY };
        let f = fx.min(fy);
        if f >= 1.0 {
            let up = |v: u32| v.div_ceil(m) * m;
            return FramePlan { scale: (w, h), pad: (up(w) - w, up(h) - h) };
        }
        // Scaled: round down to the multiple, so the result stays within the limits.
        let down = |v: f64| {
            let v = v.floor() as u32;
            (v / m * m).max(m)
        };
        FramePlan { scale: (down(f64::from(w) * f), down(f64::from(h) * f)), pad: (0, 0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(w: u32, h: u32, m: u32) -> Limits {
        Limits { max_width: w, max_height: h, multiple: m }
    }

    #[test]
    fn a_frame_that_fits_is_kept_and_an_odd_one_padded_never_cropped() {
        let l = limits(1920, 1080, 2);
        assert_eq!(l.plan(1280, 720), FramePlan { scale: (1280, 720), pad: (0, 0) });
        let odd = l.plan(641, 361);
        assert_eq!(odd, FramePlan { scale: (641, 361), pad: (1, 1) });
        assert_eq!(odd.output(), (642, 362));
    }

    #[test]
    fn a_large_frame_is_scaled_to_fit_keeping_its_aspect_ratio() {
        let l = limits(1920, 1080, 2);
        assert_eq!(l.plan(3840, 2160).output(), (1920, 1080));
        // 4:3 at 2592 × 1944 → limited by height: 1440 × 1080.
        assert_eq!(l.plan(2592, 1944).output(), (1440, 1080));
        // Portrait phone video: limited by height, width even.
        let p = l.plan(1081, 1921);
        assert_eq!(p.pad, (0, 0));
        assert!(p.scale.1 <= 1080 && p.scale.0.is_multiple_of(2) && p.scale.1.is_multiple_of(2), "{p:?}");
        let ratio = f64::from(p.scale.0) / f64::from(p.scale.1);
        assert!((ratio - 1081.0 / 1921.0).abs() < 0.01, "{p:?}");
    }

    #[test]
    fn no_limits_means_the_source_size() {
        let l = limits(0, 0, 1);
        assert_eq!(l.plan(4097, 2161).output(), (4097, 2161));
    }

    #[test]
    fn bad_params_are_named() {
        let mut p = BTreeMap::new();
        p.insert(MAX_WIDTH.to_string(), "wide".to_string());
        let e = Limits::from_params("access", &p).unwrap_err().to_string();
        assert!(e.contains("max_width") && e.contains("wide"), "{e}");
        p.insert(MAX_WIDTH.to_string(), "1280".to_string());
        p.insert(MULTIPLE.to_string(), "0".to_string());
        assert!(Limits::from_params("access", &p).is_err());
    }
}
