//! Images for links: cover resizing, the generated preview card, and QR codes.

use std::{io::Cursor, sync::{Arc, OnceLock}};

use image::{DynamicImage, ImageFormat, ImageReader, Limits, imageops::FilterType};
use resvg::{tiny_skia, usvg};

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("not a PNG, JPEG, WebP or GIF image")]
    NotAnImage,
    #[error("the image is too large to process")]
    TooLarge,
    #[error("image encoding failed: {0}")]
    Encode(String),
}

/// The Open Graph preview size (1.91:1) and the dashboard thumbnail size.
pub const COVER_SIZE: (u32, u32) = (1200, 630);
pub const THUMB_SIZE: (u32, u32) = (400, 210);

pub struct ProcessedCover {
    pub cover_jpeg: Vec<u8>,
    pub thumb_jpeg: Vec<u8>,
}

/// Decodes an uploaded cover by its content (never its name or claimed type), crops it to the
/// preview and thumbnail sizes and re-encodes it as JPEG. Re-encoding the pixels drops every
/// piece of metadata (EXIF, GPS, comments). CPU-heavy: call on a blocking thread.
pub fn process_cover(bytes: &[u8]) -> Result<ProcessedCover, MediaError> {
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|_| MediaError::NotAnImage)?;
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP | ImageFormat::Gif) => {}
        _ => return Err(MediaError::NotAnImage),
    }
    // Decompression bombs: refuse absurd dimensions before allocating pixels.
    let mut limits = Limits::default();
    limits.max_image_width = Some(10_000);
    limits.max_image_height = Some(10_000);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => MediaError::TooLarge,
        _ => MediaError::NotAnImage,
    })?;
    Ok(ProcessedCover {
        cover_jpeg: crop_jpeg(&image, COVER_SIZE)?,
        thumb_jpeg: crop_jpeg(&image, THUMB_SIZE)?,
    })
}

fn crop_jpeg(image: &DynamicImage, (w, h): (u32, u32)) -> Result<Vec<u8>, MediaError> {
    let resized = image.resize_to_fill(w, h, FilterType::Triangle).to_rgb8();
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
    resized.write_with_encoder(encoder).map_err(|e| MediaError::Encode(e.to_string()))?;
    Ok(out)
}

/// What the generated card shows.
pub struct CardText<'a> {
    pub title: &'a str,
    pub creator: &'a str,
    pub price: &'a str,
}

fn fonts() -> Arc<usvg::fontdb::Database> {
    static FONTS: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let mut db = usvg::fontdb::Database::new();
            // Bundled so the card renders the same on a machine without fonts.
            db.load_font_data(include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf").to_vec());
            db.load_font_data(include_bytes!("../../../assets/fonts/DejaVuSans.ttf").to_vec());
            db.set_sans_serif_family("DejaVu Sans");
            Arc::new(db)
        })
        .clone()
}

/// Renders the 1200x630 PNG preview used when a work has no cover. CPU-heavy: call on a
/// blocking thread.
pub fn render_card(text: &CardText<'_>) -> Result<Vec<u8>, MediaError> {
    let svg = card_svg(text);
    let options = usvg::Options { fontdb: fonts(), ..Default::default() };
    let tree = usvg::Tree::from_str(&svg, &options).map_err(|e| MediaError::Encode(e.to_string()))?;
    let mut pixmap = tiny_skia::Pixmap::new(COVER_SIZE.0, COVER_SIZE.1).ok_or(MediaError::TooLarge)?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| MediaError::Encode(e.to_string()))
}

fn card_svg(text: &CardText<'_>) -> String {
    let lines = wrap(text.title, 26, 3);
    let title_svg: String = lines
        .iter()
        .enumerate()
        .map(|(i, line)| format!(r#"<tspan x="80" y="{}">{}</tspan>"#, 230 + i as u32 * 84, xml_escape(line)))
        .collect();
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="630" viewBox="0 0 1200 630">
  <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#312e81"/><stop offset="1" stop-color="#6366f1"/></linearGradient></defs>
  <rect width="1200" height="630" fill="url(#g)"/>
  <text x="80" y="120" font-family="DejaVu Sans" font-weight="bold" font-size="44" fill="#c7d2fe">clink</text>
  <text font-family="DejaVu Sans" font-weight="bold" font-size="72" fill="#ffffff">{title_svg}</text>
  <text x="80" y="560" font-family="DejaVu Sans" font-size="38" fill="#e0e7ff">by {creator}</text>
  <rect x="{px}" y="500" width="{pw}" height="84" rx="42" fill="#ffffff"/>
  <text x="{tx}" y="557" text-anchor="middle" font-family="DejaVu Sans" font-weight="bold" font-size="44" fill="#312e81">{price}</text>
</svg>"##,
        creator = xml_escape(&truncate(text.creator, 40)),
        price = xml_escape(text.price),
        pw = 60 + text.price.chars().count() as u32 * 28,
        px = 1120 - (60 + text.price.chars().count() as u32 * 28),
        tx = 1120 - (60 + text.price.chars().count() as u32 * 28) / 2,
    )
}

/// Greedy word wrap to `width` characters, at most `max_lines`, ellipsis on overflow.
fn wrap(text: &str, width: usize, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let word = truncate(word, width);
        if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(&word);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        let last = lines.last_mut().expect("max_lines > 0");
        *last = format!("{}…", truncate(last, width - 1).trim_end());
    }
    lines
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_string() } else { format!("{}…", s.chars().take(max - 1).collect::<String>()) }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The link as a QR code, in SVG.
pub fn qr_svg(url: &str) -> Result<String, MediaError> {
    let code = qrcode::QrCode::new(url.as_bytes()).map_err(|e| MediaError::Encode(e.to_string()))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 255) as u8, (y % 255) as u8, 128]));
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(img).write_to(&mut Cursor::new(&mut out), ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn covers_are_cropped_and_reencoded() {
        let processed = process_cover(&png(800, 800)).unwrap();
        let cover = image::load_from_memory(&processed.cover_jpeg).unwrap();
        assert_eq!((cover.width(), cover.height()), COVER_SIZE);
        let thumb = image::load_from_memory(&processed.thumb_jpeg).unwrap();
        assert_eq!((thumb.width(), thumb.height()), THUMB_SIZE);
        assert_eq!(&processed.cover_jpeg[..2], &[0xFF, 0xD8], "JPEG output");
    }

    #[test]
    fn spoofed_images_are_rejected() {
        assert!(matches!(process_cover(b"<?php echo 'hi'; ?>"), Err(MediaError::NotAnImage)));
        // A real PNG signature followed by garbage.
        let mut fake = b"\x89PNG\r\n\x1a\n".to_vec();
        fake.extend_from_slice(&[0u8; 200]);
        assert!(process_cover(&fake).is_err());
        assert!(process_cover(b"GIF89a but not really").is_err());
    }

    #[test]
    fn card_renders_with_wrapped_title() {
        let png = render_card(&CardText { title: "A very long title that needs wrapping across several lines to fit the card nicely", creator: "Ann <script>", price: "€4.99" }).unwrap();
        let img = image::load_from_memory(&png).unwrap();
        assert_eq!((img.width(), img.height()), COVER_SIZE);
        assert!(wrap("one two three four five six seven eight nine ten eleven twelve", 10, 3).len() <= 3);
        assert!(card_svg(&CardText { title: "a<b", creator: "x&y", price: "£1" }).contains("a&lt;b"));
    }

    #[test]
    fn qr_codes_are_svg() {
        let svg = qr_svg("https://clink.example/l/AbCd1234").unwrap();
        assert!(svg.contains("<svg"));
    }
}
