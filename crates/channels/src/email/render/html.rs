//! The text/html part, written for mail clients rather than browsers: a table for the
//! page frame (Outlook lays out little else), inline styles only (many clients drop
//! `<style>` blocks), no scripts, and every value escaped where it lands.

use std::fmt;

use super::layout::{web_url, Block, Card, Layout, Link, Media};
use super::{Brand, Unsubscribe};

const FONT: &str = "font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,\
                    Helvetica,Arial,sans-serif;";
const PAGE: &str = "#f3f4f6";
const INK: &str = "#111827";
const BODY_INK: &str = "#374151";
const MUTED: &str = "#6b7280";
const RULE: &str = "#e5e7eb";
/// Tidings' default brand colour, for a configured one that is not a hex colour.
const DEFAULT_BRAND: &str = "#1a73e8";

/// The HTML part for `layout`.
pub(super) fn write_html(
    subject: &str,
    layout: &Layout,
    brand: &Brand,
    unsubscribe: Option<&Unsubscribe>,
) -> String {
    let colors = Colors::of(brand);
    let mut out = String::with_capacity(4096);
    open_document(&mut out, subject);
    write_header(&mut out, brand, &colors);

    out.push_str("<tr><td style=\"background-color:#ffffff;border-radius:8px;padding:24px;\">\n");
    for block in &layout.blocks {
        write_block(&mut out, block, &colors);
    }
    write_buttons(&mut out, &layout.links, &colors, ButtonStyle::Outline);
    out.push_str("</td></tr>\n");

    write_footer(&mut out, brand, unsubscribe);
    close_document(&mut out);
    out
}

/// The brand colour, checked, and the text colour that reads on it.
struct Colors {
    brand: String,
    on_brand: &'static str,
}

impl Colors {
    fn of(brand: &Brand) -> Colors {
        // Escaping keeps a colour inside its attribute but not inside its CSS
        // property ("red;background:url(...)"), so only plain hex colours are taken.
        let color = brand.color.trim();
        match hex_rgb(color) {
            Some(rgb) => Colors {
                brand: color.to_string(),
                on_brand: text_color_on(rgb),
            },
            None => Colors {
                brand: DEFAULT_BRAND.to_string(),
                on_brand: "#ffffff",
            },
        }
    }
}

#[derive(Clone, Copy)]
enum ButtonStyle {
    /// Filled with the brand colour: a card's own actions.
    Solid,
    /// Outlined: the message's chips, under everything else.
    Outline,
}

fn open_document(out: &mut String, subject: &str) {
    out.push_str(&format!(
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light\">\n<title>{}</title>\n</head>\n\
         <body style=\"margin:0;padding:0;background-color:{PAGE};\">\n\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" \
         border=\"0\" style=\"background-color:{PAGE};\">\n\
         <tr><td align=\"center\" style=\"padding:24px 12px;\">\n\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" \
         border=\"0\" style=\"max-width:600px;\">\n",
        Escaped(subject)
    ));
}

fn close_document(out: &mut String) {
    out.push_str("</table>\n</td></tr>\n</table>\n</body>\n</html>\n");
}

/// The shop's logo, or its name in the brand colour.
fn write_header(out: &mut String, brand: &Brand, colors: &Colors) {
    let name = Escaped(brand.shop_name.trim());
    let logo = brand.logo_url.as_deref().and_then(web_url);
    let inner = match logo {
        Some(src) => format!(
            "<img src=\"{}\" alt=\"{name}\" height=\"40\" \
             style=\"display:block;height:40px;width:auto;border:0;\">",
            Escaped(&src)
        ),
        None => format!(
            "<span style=\"{FONT}font-size:20px;font-weight:bold;color:{};\">{name}</span>",
            colors.brand
        ),
    };
    out.push_str(&format!(
        "<tr><td style=\"padding:0 4px 16px;\">{inner}</td></tr>\n"
    ));
}

fn write_block(out: &mut String, block: &Block, colors: &Colors) {
    match block {
        Block::Text(text) => write_paragraph(out, text, 16, INK),
        Block::Card(card) => write_card(out, card, colors),
        Block::Carousel(cards) => write_carousel(out, cards, colors),
        Block::Media(media) => write_media(out, media, None, colors),
    }
}

fn write_paragraph(out: &mut String, text: &str, size: u32, color: &str) {
    out.push_str(&format!(
        "<p style=\"margin:0 0 16px;{FONT}font-size:{size}px;line-height:1.5;color:{color};\">\
         {}</p>\n",
        Lines(text.trim())
    ));
}

/// Cards of a fixed width that sit side by side where the window is wide enough and
/// wrap into a stack on a phone, with no media queries (which many clients drop).
fn write_carousel(out: &mut String, cards: &[Card], colors: &Colors) {
    out.push_str("<div style=\"font-size:0;line-height:0;\">\n");
    for card in cards {
        out.push_str(
            "<div style=\"display:inline-block;vertical-align:top;width:100%;\
             max-width:260px;margin:0 12px 0 0;font-size:16px;line-height:1.5;\">\n",
        );
        write_card(out, card, colors);
        out.push_str("</div>\n");
    }
    out.push_str("</div>\n");
}

fn write_card(out: &mut String, card: &Card, colors: &Colors) {
    out.push_str(&format!(
        "<div style=\"border:1px solid {RULE};border-radius:8px;overflow:hidden;\
         background-color:#ffffff;margin:0 0 16px;\">\n"
    ));
    if let Some(media) = &card.media {
        write_media(out, media, card.title.as_deref(), colors);
    }
    out.push_str("<div style=\"padding:16px;\">\n");
    if let Some(title) = &card.title {
        out.push_str(&format!(
            "<p style=\"margin:0 0 8px;{FONT}font-size:18px;font-weight:bold;\
             line-height:1.3;color:{INK};\">{}</p>\n",
            Lines(title.trim())
        ));
    }
    if let Some(description) = &card.description {
        write_paragraph(out, description, 15, BODY_INK);
    }
    write_buttons(out, &card.links, colors, ButtonStyle::Solid);
    out.push_str("</div>\n</div>\n");
}

/// An image at full width (linked when it stands for a file), or a file's link.
fn write_media(out: &mut String, media: &Media, alt: Option<&str>, colors: &Colors) {
    match media {
        Media::Image { src, href } => {
            let image = format!(
                "<img src=\"{}\" alt=\"{}\" width=\"100%\" \
                 style=\"display:block;width:100%;height:auto;border:0;\">",
                Escaped(src),
                Escaped(alt.unwrap_or("").trim())
            );
            match href {
                Some(href) => out.push_str(&format!(
                    "<a href=\"{}\" target=\"_blank\">{image}</a>\n",
                    Escaped(href)
                )),
                None => out.push_str(&format!("{image}\n")),
            }
        }
        Media::File(link) => out.push_str(&format!(
            "<p style=\"margin:0 0 16px;{FONT}font-size:15px;\">\
             <a href=\"{}\" target=\"_blank\" style=\"color:{};\">{}</a></p>\n",
            Escaped(&link.href),
            colors.brand,
            Escaped(&link.label)
        )),
    }
}

fn write_buttons(out: &mut String, links: &[Link], colors: &Colors, style: ButtonStyle) {
    if links.is_empty() {
        return;
    }
    let look = match style {
        ButtonStyle::Solid => format!(
            "background-color:{};color:{};border:1px solid {};",
            colors.brand, colors.on_brand, colors.brand
        ),
        ButtonStyle::Outline => format!(
            "background-color:#ffffff;color:{INK};border:1px solid {};",
            colors.brand
        ),
    };
    out.push_str("<div>\n");
    for link in links {
        out.push_str(&format!(
            "<a href=\"{}\" target=\"_blank\" style=\"display:inline-block;margin:8px 8px 0 0;\
             padding:10px 16px;border-radius:6px;{look}{FONT}font-size:14px;\
             font-weight:bold;text-decoration:none;\">{}</a>\n",
            Escaped(&link.href),
            Escaped(link.label.trim())
        ));
    }
    out.push_str("</div>\n");
}

fn write_footer(out: &mut String, brand: &Brand, unsubscribe: Option<&Unsubscribe>) {
    let unsubscribe = unsubscribe.map(|unsubscribe| {
        format!(
            "<br><a href=\"{}\" target=\"_blank\" style=\"color:{MUTED};\
             text-decoration:underline;\">{}</a>",
            Escaped(unsubscribe.url()),
            Escaped(unsubscribe.label())
        )
    });
    out.push_str(&format!(
        "<tr><td style=\"padding:16px 4px 0;text-align:center;{FONT}font-size:12px;\
         line-height:1.5;color:{MUTED};\">{}{}</td></tr>\n",
        Escaped(brand.shop_name.trim()),
        unsubscribe.unwrap_or_default()
    ));
}

/// The red, green and blue of `#rgb` or `#rrggbb`.
fn hex_rgb(color: &str) -> Option<[u8; 3]> {
    let hex = color.strip_prefix('#')?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |text: &str| u8::from_str_radix(text, 16).ok();
    match hex.len() {
        3 => {
            let mut rgb = [0; 3];
            for (i, c) in hex.chars().enumerate() {
                rgb[i] = channel(&format!("{c}{c}"))?;
            }
            Some(rgb)
        }
        6 => Some([
            channel(&hex[0..2])?,
            channel(&hex[2..4])?,
            channel(&hex[4..6])?,
        ]),
        _ => None,
    }
}

/// White text when it reaches WCAG's 4.5:1 contrast on the colour, ink otherwise: a
/// shop with a pale yellow brand still gets readable buttons, and the usual mid-tone
/// brand blues keep the white text designers expect.
fn text_color_on(rgb: [u8; 3]) -> &'static str {
    let linear = |channel: u8| {
        let c = f64::from(channel) / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let [r, g, b] = rgb;
    let luminance = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    let white_contrast = 1.05 / (luminance + 0.05);
    if white_contrast >= 4.5 {
        "#ffffff"
    } else {
        INK
    }
}

/// Text escaped for HTML element content and for quoted attribute values.
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&#39;")?,
                c => f.write_fmt(format_args!("{c}"))?,
            }
        }
        Ok(())
    }
}

/// Escaped text whose line breaks show as `<br>`.
struct Lines<'a>(&'a str);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.replace("\r\n", "\n");
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                f.write_str("<br>\n")?;
            }
            Escaped(line).fmt(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_markup_character_is_escaped() {
        let text = Escaped("<a href=\"x\">Tom & Jerry's</a>").to_string();
        assert_eq!(
            text,
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;"
        );
        assert_eq!(Lines("a<b\nc").to_string(), "a&lt;b<br>\nc");
    }

    #[test]
    fn only_hex_brand_colours_are_taken() {
        assert_eq!(hex_rgb("#1a73e8"), Some([0x1a, 0x73, 0xe8]));
        assert_eq!(hex_rgb("#fff"), Some([255, 255, 255]));
        for bad in [
            "red",
            "#12345",
            "#gggggg",
            "1a73e8",
            "#fff;background:url(x)",
            "",
        ] {
            assert_eq!(hex_rgb(bad), None, "{bad}");
        }
    }

    #[test]
    fn buttons_get_text_that_reads_on_the_brand() {
        assert_eq!(text_color_on([0x1a, 0x73, 0xe8]), "#ffffff");
        assert_eq!(text_color_on([0, 0, 0]), "#ffffff");
        assert_eq!(text_color_on([0xff, 0xeb, 0x3b]), INK);
        assert_eq!(text_color_on([0xff, 0xff, 0xff]), INK);
    }
}
