//! Images for links: cover resizing, the generated preview card, and QR codes.

use std::{
    io::Cursor,
    sync::{Arc, OnceLock},
};

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
    let image = decode_upload(bytes)?;
    Ok(ProcessedCover { cover_jpeg: crop_jpeg(&image, COVER_SIZE)?, thumb_jpeg: crop_jpeg(&image, THUMB_SIZE)? })
}

/// Decodes an uploaded image by its content, within limits that stop decompression bombs.
fn decode_upload(bytes: &[u8]) -> Result<DynamicImage, MediaError> {
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
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => MediaError::TooLarge,
        _ => MediaError::NotAnImage,
    })
}

/// A creator's avatar: decoded by content like a cover, cropped square to 256x256, re-encoded
/// as JPEG (metadata dropped). CPU-heavy.
pub fn process_avatar(bytes: &[u8]) -> Result<Vec<u8>, MediaError> {
    let image = decode_upload(bytes)?;
    crop_jpeg(&image, AVATAR_SIZE)
}

pub const AVATAR_SIZE: (u32, u32) = (256, 256);

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
    /// The creator's accent colour (`#rrggbb`), the card's background.
    pub accent: &'a str,
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

fn render_svg(svg: &str) -> Result<tiny_skia::Pixmap, MediaError> {
    let options = usvg::Options { fontdb: fonts(), ..Default::default() };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| MediaError::Encode(e.to_string()))?;
    let mut pixmap = tiny_skia::Pixmap::new(COVER_SIZE.0, COVER_SIZE.1).ok_or(MediaError::TooLarge)?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    Ok(pixmap)
}

/// Renders the 1200x630 PNG preview used when a work has no cover. CPU-heavy: call on a
/// blocking thread.
pub fn render_card(text: &CardText<'_>) -> Result<Vec<u8>, MediaError> {
    render_svg(&card_svg(text))?.encode_png().map_err(|e| MediaError::Encode(e.to_string()))
}

/// The unfurl preview of a work with a cover: the 1200x630 cover with the title, creator and
/// price over a shade at its foot, as a JPEG (what every crawler reads). CPU-heavy.
pub fn render_cover_preview(cover_jpeg: &[u8], text: &CardText<'_>) -> Result<Vec<u8>, MediaError> {
    let cover = image::load_from_memory_with_format(cover_jpeg, ImageFormat::Jpeg).map_err(|_| MediaError::NotAnImage)?;
    let cover = cover.resize_to_fill(COVER_SIZE.0, COVER_SIZE.1, FilterType::Triangle).to_rgba8();
    let overlay = render_svg(&overlay_svg(text))?;
    let mut base =
        tiny_skia::Pixmap::from_vec(cover.into_raw(), tiny_skia::IntSize::from_wh(COVER_SIZE.0, COVER_SIZE.1).ok_or(MediaError::TooLarge)?)
            .ok_or(MediaError::TooLarge)?;
    base.draw_pixmap(0, 0, overlay.as_ref(), &tiny_skia::PixmapPaint::default(), tiny_skia::Transform::identity(), None);
    let rgba = image::RgbaImage::from_raw(COVER_SIZE.0, COVER_SIZE.1, base.take()).ok_or(MediaError::TooLarge)?;
    let rgb = DynamicImage::ImageRgba8(rgba).to_rgb8();
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
    rgb.write_with_encoder(encoder).map_err(|e| MediaError::Encode(e.to_string()))?;
    Ok(out)
}

/// A JPEG re-encoded as lossy WebP (about a third smaller at the same look), for the link
/// page's own `<picture>`; crawlers keep the JPEG. CPU-heavy.
pub fn jpeg_to_webp(jpeg: &[u8]) -> Result<Vec<u8>, MediaError> {
    let image = image::load_from_memory_with_format(jpeg, ImageFormat::Jpeg).map_err(|_| MediaError::NotAnImage)?.to_rgb8();
    let encoder = webp::Encoder::from_rgb(image.as_raw(), image.width(), image.height());
    Ok(encoder.encode(80.0).to_vec())
}

/// The price pill of cards and previews: its box and its text's centre.
fn price_pill(price: &str) -> (u32, u32, u32) {
    let width = 60 + price.chars().count() as u32 * 28;
    let x = 1120 - width;
    (x, width, x + width / 2)
}

fn title_lines(title: &str, first_y: u32) -> String {
    wrap(title, 26, 3)
        .iter()
        .enumerate()
        .map(|(i, line)| format!(r#"<tspan x="80" y="{}">{}</tspan>"#, first_y + i as u32 * 84, xml_escape(line)))
        .collect()
}

fn card_svg(text: &CardText<'_>) -> String {
    let (px, pw, tx) = price_pill(text.price);
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="630" viewBox="0 0 1200 630">
  <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="{accent}"/><stop offset="1" stop-color="{accent}" stop-opacity="0.72"/></linearGradient></defs>
  <rect width="1200" height="630" fill="#111827"/>
  <rect width="1200" height="630" fill="url(#g)"/>
  <text x="80" y="120" font-family="DejaVu Sans" font-weight="bold" font-size="44" fill="#ffffff" fill-opacity="0.75">clink</text>
  <text font-family="DejaVu Sans" font-weight="bold" font-size="72" fill="#ffffff">{title}</text>
  <text x="80" y="560" font-family="DejaVu Sans" font-size="38" fill="#ffffff" fill-opacity="0.9">by {creator}</text>
  <rect x="{px}" y="500" width="{pw}" height="84" rx="42" fill="#ffffff"/>
  <text x="{tx}" y="557" text-anchor="middle" font-family="DejaVu Sans" font-weight="bold" font-size="44" fill="{accent}">{price}</text>
</svg>"##,
        accent = xml_escape(text.accent),
        title = title_lines(text.title, 230),
        creator = xml_escape(&truncate(text.creator, 40)),
        price = xml_escape(text.price),
    )
}

/// The text over a cover: a dark shade rising from the foot, title, creator and price pill.
fn overlay_svg(text: &CardText<'_>) -> String {
    let (px, pw, tx) = price_pill(text.price);
    let lines = wrap(text.title, 26, 2).len() as u32;
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="630" viewBox="0 0 1200 630">
  <defs><linearGradient id="shade" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#000000" stop-opacity="0"/><stop offset="0.35" stop-color="#000000" stop-opacity="0.35"/><stop offset="1" stop-color="#000000" stop-opacity="0.85"/></linearGradient></defs>
  <rect y="230" width="1200" height="400" fill="url(#shade)"/>
  <text font-family="DejaVu Sans" font-weight="bold" font-size="64" fill="#ffffff">{title}</text>
  <text x="80" y="572" font-family="DejaVu Sans" font-size="34" fill="#ffffff" fill-opacity="0.92">by {creator}</text>
  <rect x="{px}" y="508" width="{pw}" height="84" rx="42" fill="#ffffff"/>
  <text x="{tx}" y="565" text-anchor="middle" font-family="DejaVu Sans" font-weight="bold" font-size="44" fill="{accent}">{price}</text>
</svg>"##,
        title = wrap(text.title, 26, 2)
            .iter()
            .enumerate()
            .map(|(i, line)| format!(r#"<tspan x="80" y="{}">{}</tspan>"#, 500 - (lines - 1) * 76 + i as u32 * 76 - 20, xml_escape(line)))
            .collect::<String>(),
        creator = xml_escape(&truncate(text.creator, 40)),
        price = xml_escape(text.price),
        accent = xml_escape(text.accent),
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
    Ok(code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(240, 240).quiet_zone(true).build())
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
        let png = render_card(&CardText {
            title: "A very long title that needs wrapping across several lines to fit the card nicely",
            creator: "Ann <script>",
            price: "€4.99",
            accent: "#1d4ed8",
        })
        .unwrap();
        let img = image::load_from_memory(&png).unwrap();
        assert_eq!((img.width(), img.height()), COVER_SIZE);
        assert!(wrap("one two three four five six seven eight nine ten eleven twelve", 10, 3).len() <= 3);
        assert!(card_svg(&CardText { title: "a<b", creator: "x&y", price: "£1", accent: "#000000" }).contains("a&lt;b"));
    }

    #[test]
    fn covers_become_previews_with_their_text_and_webp_pages() {
        let processed = process_cover(&png(1600, 900)).unwrap();
        let text = CardText { title: "Night Album", creator: "Bo", price: "€4.99", accent: "#7c3aed" };
        let preview = render_cover_preview(&processed.cover_jpeg, &text).unwrap();
        let img = image::load_from_memory(&preview).unwrap().to_rgb8();
        assert_eq!((img.width(), img.height()), COVER_SIZE);
        assert_eq!(&preview[..2], &[0xFF, 0xD8], "crawlers get a JPEG");
        // The price pill is white over the cover's foot; the cover's top is the cover itself.
        let (px, pw, _) = price_pill("€4.99");
        let pill = img.get_pixel(px + 8, 550);
        assert!(pill.0.iter().all(|&c| c > 240), "white pill at the foot: {pill:?}");
        let cover = image::load_from_memory(&processed.cover_jpeg).unwrap().to_rgb8();
        let (a, b) = (img.get_pixel(600, 40), cover.get_pixel(600, 40));
        assert!(a.0.iter().zip(b.0).all(|(x, y)| x.abs_diff(y) < 24), "top untouched: {a:?} vs {b:?}");
        assert!(pw > 100);

        let webp = jpeg_to_webp(&processed.cover_jpeg).unwrap();
        assert_eq!(&webp[..4], b"RIFF");
        assert_eq!(&webp[8..12], b"WEBP");
        let decoded = image::load_from_memory_with_format(&webp, ImageFormat::WebP).unwrap();
        assert_eq!((decoded.width(), decoded.height()), COVER_SIZE);
    }

    #[test]
    fn qr_codes_are_svg() {
        let svg = qr_svg("https://clink.example/l/AbCd1234").unwrap();
        assert!(svg.contains("<svg"));
    }
}
